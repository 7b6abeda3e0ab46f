"""Synthetic AIS traffic: realistic NMEA feeds for the tests, the demo and the benchmark.

Not part of the installed package (mostly scenario data written as code): the tests, bench/ and
`make sample` import it from the checkout as `tools.simulate`. It imports from `monitor` (the NMEA
checksum), never the other way round.

A `Scenario` is a list of `VesselPlan`s: waypoints (lon, lat), a speed, stops at waypoints (moored or at
anchor) and the AIS habits of the transponder. `generate()` turns it into time-ordered NMEA 0183 lines as
a shore receiver would log them: each line carries an NMEA 4.0 tag block with the receiver (`s:`) and
the receive time (`c:`, UNIX seconds). Class A vessels send types 1/3 and 5, class B types 18 and 24.

Everything is deterministic: the same scenario gives the same bytes (one `random.Random(seed)`, no wall
clock, vessels processed in list order). Reports fall on whole seconds of the scenario clock, so a test
can recompute a reported position from the tag block's `c:` with `state_at()`.

Position reports (types 1, 3, 18) come from a small dedicated encoder: pyais's `encode_dict` costs about
45 us a message, too slow for the million-line benchmark feed. The rarer static messages (5, 24) go
through pyais. tests/test_simulate.py checks that both produce identical sentences.

Run `python tools/simulate.py --sample OUT` for the bundled sample (what `make sample` does), or
`python tools/simulate.py --vessels N --messages M --seed S OUT` for a benchmark feed.
"""

from __future__ import annotations

import argparse
import gzip
import heapq
import itertools
import math
import os
import random
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import BinaryIO, Literal

from pyais.encode import encode_dict

from monitor.nmea import nmea_checksum

__all__ = [
    "MALFORMED_KINDS",
    "ROUTES",
    "SAMPLE_DURATION_S",
    "SAMPLE_EVENTS",
    "SAMPLE_NEGATIVES",
    "SAMPLE_START",
    "SAMPLE_TRANSITS",
    "STATUS_AT_ANCHOR",
    "STATUS_MOORED",
    "STATUS_UNDER_WAY",
    "Scenario",
    "TrafficTruth",
    "VesselPlan",
    "VesselState",
    "benchmark_lines",
    "benchmark_scenario",
    "encode_position",
    "generate",
    "imo_with_check_digit",
    "main",
    "plan_reports",
    "report_interval",
    "sample_scenario",
    "state_at",
    "traffic_scenario",
    "write_feed",
]

STATUS_UNDER_WAY = 0
STATUS_AT_ANCHOR = 1
STATUS_MOORED = 5

# The kinds of malformed line `Scenario.malformed_every` inserts, in the order they cycle.
MALFORMED_KINDS: tuple[str, ...] = (
    "bad_checksum",  # a copy of a real sentence whose NMEA checksum is wrong
    "truncated",  # a real line cut off in the middle of its payload (no checksum left)
    "garbage",  # printable noise, no NMEA structure
    "non_utf8",  # a real line with bytes 0xFF 0xFE in its payload (checksum computed over them)
    "unknown_sentence",  # a well-formed $GPGGA sentence with a valid tag block: not AIS
    "bad_tag_block",  # a valid sentence behind a tag block whose checksum is wrong
)

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
KNOT_MS = 1852.0 / 3600.0

# Each extra receiver hears this share of the messages, 1-4 s later (its own clock and queue).
DUPLICATE_PROBABILITY = 0.3
DUPLICATE_DELAY_S = (1, 4)
# One class A position report in this many is a type 3 (reply to an interrogation) instead of a type 1.
TYPE3_EVERY = 20

_SIXBIT_CHARS = "".join(chr(v + 48) if v < 40 else chr(v + 56) for v in range(64))
# Two armour characters per 12 bits: 14 table look-ups arm a 168-bit position report.
_ARMOR12 = tuple(_SIXBIT_CHARS[v >> 6] + _SIXBIT_CHARS[v & 63] for v in range(4096))
_SHIFTS168 = tuple(range(156, -1, -12))
# AIS six-bit text (names, call signs): what type 5 and 24 can carry.
_SIXBIT_TEXT = set("@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_ !\"#$%&'()*+,-./0123456789:;<=>?")


# --------------------------------------------------------------------------------------------------
# Plans


@dataclass
class VesselPlan:
    """What one vessel does in a scenario.

    The vessel reports from `start_s` at `route[0]`, sails the waypoints in order at `speed_kn`, stops
    `waits[i]` seconds at waypoint i (status 1 at anchor when i is in `anchored`, else 5 moored;
    `math.inf` stays for good), and falls silent after the last waypoint (and its wait), or at `end_s`.

    `silences` switch its AIS off for a while: nothing at all is sent in [start, end), while the vessel
    keeps moving along its plan; it reports again from `end` on (a position first, static data within a
    minute). `spoofs` falsify its GNSS for a while: in [start, end) every position it reports is the
    fixed (lon, lat) of the window (plus the usual noise), with its real speed, course and status.
    """

    mmsi: int
    route: list[tuple[float, float]]  # (lon, lat) waypoints, GeoJSON order
    speed_kn: float  # speed over ground between waypoints
    start_s: float = 0.0  # seconds after the scenario start of the first report (rounded up to a second)
    report_interval_s: float | None = None  # None: the ITU-R M.1371 rate, see report_interval()
    ais_class: Literal["A", "B"] = "A"
    name: str | None = None
    callsign: str | None = None
    imo: int | None = None
    ship_type: int | None = None
    draught: float | None = None  # metres
    destination: str | None = None
    waits: dict[int, float] = field(default_factory=dict)  # waypoint index -> seconds stopped there
    anchored: frozenset[int] = frozenset()  # waypoint indices whose wait is at anchor (status 1)
    static_interval_s: float = 360.0  # type 5 (class A) or 24 A+B (class B)
    # Seconds after the first report of the first static message; None: within a minute (a transponder
    # start-up). A fleet already under way when a recording begins has its static data at any phase.
    first_static_s: float | None = None
    end_s: float | None = None  # falls silent from this time on
    noise_m: float | None = None  # GNSS jitter (standard deviation, m); None: the scenario's noise_m
    dimensions: tuple[int, int, int, int] | None = None  # to bow, stern, port, starboard (m)
    eta: datetime | None = None  # type 5 ETA (month, day, hour, minute UTC)
    # (start_s, end_s) windows, seconds after the scenario start, with the AIS switched off.
    silences: list[tuple[float, float]] = field(default_factory=list)
    # (start_s, end_s, lon, lat): positions reported in the window are this fixed point (GNSS spoofing).
    spoofs: list[tuple[float, float, float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Validate once here so generate() can trust every field.
        if not 1 <= self.mmsi <= 999_999_999:
            raise ValueError(f"mmsi {self.mmsi}: must be 1..999999999")
        if not self.route:
            raise ValueError(f"mmsi {self.mmsi}: empty route")
        for lon, lat in self.route:
            if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
                raise ValueError(f"mmsi {self.mmsi}: waypoint ({lon}, {lat}) is not (lon, lat)")
        if not 0.0 < self.speed_kn <= 102.2:
            raise ValueError(f"mmsi {self.mmsi}: speed_kn {self.speed_kn} not in (0, 102.2]")
        if self.ais_class not in ("A", "B"):
            raise ValueError(f"mmsi {self.mmsi}: ais_class must be 'A' or 'B'")
        if self.report_interval_s is not None and self.report_interval_s < 1.0:
            raise ValueError(f"mmsi {self.mmsi}: report_interval_s below 1 s")
        if self.static_interval_s < 1.0:
            raise ValueError(f"mmsi {self.mmsi}: static_interval_s below 1 s")
        if self.first_static_s is not None and not self.first_static_s >= 0.0:
            raise ValueError(f"mmsi {self.mmsi}: first_static_s must be >= 0")
        for index, seconds in self.waits.items():
            if not 0 <= index < len(self.route) or seconds < 0:
                raise ValueError(f"mmsi {self.mmsi}: bad wait {index}: {seconds}")
        if not self.anchored <= set(self.waits):
            raise ValueError(f"mmsi {self.mmsi}: anchored names waypoints without a wait")
        for label, text in (
            ("name", self.name),
            ("callsign", self.callsign),
            ("destination", self.destination),
        ):
            if text is not None and not set(text) <= _SIXBIT_TEXT:
                raise ValueError(f"mmsi {self.mmsi}: {label} {text!r} has characters AIS cannot send")
        if self.imo is not None and not 0 <= self.imo < 2**30:
            raise ValueError(f"mmsi {self.mmsi}: imo {self.imo} out of range")
        for start, end in self.silences:
            if not 0.0 <= start < end:
                raise ValueError(f"mmsi {self.mmsi}: silence ({start}, {end}) is not 0 <= start < end")
        for start, end, lon, lat in self.spoofs:
            if not (0.0 <= start < end and math.isfinite(end)):
                raise ValueError(f"mmsi {self.mmsi}: spoof window ({start}, {end}) is not 0 <= start < end")
            if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
                raise ValueError(f"mmsi {self.mmsi}: spoofed point ({lon}, {lat}) is not (lon, lat)")


@dataclass
class Scenario:
    """A set of vessel plans on one clock, and how the receivers log them."""

    start: datetime  # UTC, timezone-aware
    duration_s: float
    vessels: list[VesselPlan]
    seed: int = 0
    noise_m: float = 0.0  # gaussian position noise (GNSS jitter, standard deviation in metres)
    malformed_every: int = 0  # one malformed line every N lines, cycling MALFORMED_KINDS; 0 = none
    receivers: int = 1  # >1: other receivers repeat some messages a few seconds later

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("Scenario.start must be timezone-aware (UTC)")
        if self.duration_s <= 0:
            raise ValueError("Scenario.duration_s must be positive")
        if self.malformed_every < 0 or self.malformed_every == 1:
            raise ValueError("Scenario.malformed_every must be 0 (none) or at least 2")
        if self.receivers < 1:
            raise ValueError("Scenario.receivers must be at least 1")
        if self.noise_m < 0:
            raise ValueError("Scenario.noise_m must not be negative")
        mmsis = [v.mmsi for v in self.vessels]
        if len(set(mmsis)) != len(mmsis):
            raise ValueError("Scenario.vessels: duplicate MMSI")


@dataclass(frozen=True)
class VesselState:
    """Where a plan puts a vessel at one time, before noise and encoding."""

    lon: float
    lat: float
    sog_kn: float
    cog_deg: float
    status: int  # 0 under way, 1 at anchor, 5 moored

    @property
    def heading(self) -> int:
        return round(self.cog_deg) % 360


def report_interval(ais_class: Literal["A", "B"], sog_kn: float, status: int) -> int:
    """The ITU-R M.1371 reporting interval in seconds (without the course-change speed-ups).

    Class A: 3 min at anchor or moored below 3 kn; otherwise 10 s up to 14 kn, 6 s up to 23 kn, 2 s above.
    Class B (CS): 3 min below 2 kn, 30 s otherwise.
    """
    if ais_class == "B":
        return 180 if sog_kn <= 2.0 else 30
    if status in (STATUS_AT_ANCHOR, STATUS_MOORED) and sog_kn < 3.0:
        return 180
    if sog_kn <= 14.0:
        return 10
    if sog_kn <= 23.0:
        return 6
    return 2


def imo_with_check_digit(first_six: int) -> int:
    """The 7-digit IMO number whose first six digits are `first_six` (weights 7..2, mod 10)."""
    if not 100_000 <= first_six <= 999_999:
        raise ValueError("an IMO number has six digits before its check digit")
    digits = [int(c) for c in str(first_six)]
    check = sum(d * w for d, w in zip(digits, range(7, 1, -1), strict=True)) % 10
    return first_six * 10 + check


# --------------------------------------------------------------------------------------------------
# Kinematics


def _leg_geometry(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """Distance (m) and course (deg) of the straight lon/lat line a -> b, on a local flat projection.

    The track is interpolated linearly in lon/lat, so the equirectangular approximation at the mid
    latitude is exactly the line the vessel follows; over tens of nautical miles it differs from the
    great circle by far less than the coastline's own accuracy.
    """
    coslat = math.cos(math.radians((a[1] + b[1]) / 2.0))
    dx = (b[0] - a[0]) * coslat
    dy = b[1] - a[1]
    distance = math.hypot(dx, dy) * METRES_PER_DEG
    course = math.degrees(math.atan2(dx, dy)) % 360.0
    return distance, course


@dataclass(frozen=True)
class _Segment:
    t0: float
    t1: float
    lon: float
    lat: float
    vlon: float  # degrees per second
    vlat: float
    sog_kn: float
    cog_deg: float
    status: int


class _Track:
    """A plan flattened into time segments (moving legs and stops) on the scenario clock."""

    def __init__(self, plan: VesselPlan) -> None:
        self.plan = plan
        courses: list[float] = []
        lengths: list[float] = []
        for a, b in itertools.pairwise(plan.route):
            length, course = _leg_geometry(a, b)
            lengths.append(length)
            courses.append(course)
        segments: list[_Segment] = []
        t = float(plan.start_s)
        speed_ms = plan.speed_kn * KNOT_MS
        for i, (lon, lat) in enumerate(plan.route):
            wait = plan.waits.get(i, 0.0)
            if wait > 0:
                # A stopped ship keeps the heading it arrived on (or will leave on, at the start).
                cog = courses[i - 1] if i > 0 else (courses[0] if courses else 0.0)
                status = STATUS_AT_ANCHOR if i in plan.anchored else STATUS_MOORED
                segments.append(_Segment(t, t + wait, lon, lat, 0.0, 0.0, 0.0, cog, status))
                t += wait
            if i < len(lengths) and lengths[i] > 0 and math.isfinite(t):
                duration = lengths[i] / speed_ms
                nlon, nlat = plan.route[i + 1]
                segments.append(
                    _Segment(
                        t,
                        t + duration,
                        lon,
                        lat,
                        (nlon - lon) / duration,
                        (nlat - lat) / duration,
                        plan.speed_kn,
                        courses[i],
                        STATUS_UNDER_WAY,
                    )
                )
                t += duration
        self.segments = segments
        end = t if segments else float(plan.start_s)
        if plan.end_s is not None:
            end = min(end, plan.end_s)
        self.end = end
        self.cursor = 0

    def state(self, t: float) -> VesselState | None:
        """The state at time t; None before the start, after the end or after the route."""
        if t < self.plan.start_s or t >= self.end:
            return None
        segments = self.segments
        i = self.cursor
        if i >= len(segments) or segments[i].t0 > t:
            i = 0  # times are asked in order by generate(); anything else restarts the search
        while i < len(segments) and t >= segments[i].t1:
            i += 1
        if i >= len(segments):
            return None
        self.cursor = i
        s = segments[i]
        dt = t - s.t0
        return VesselState(s.lon + s.vlon * dt, s.lat + s.vlat * dt, s.sog_kn, s.cog_deg, s.status)

    def next_segment(self, t: float) -> _Segment | None:
        """The segment after the one holding t, if any (call after state(t))."""
        for s in self.segments[self.cursor :]:
            if s.t0 > t:
                return s
        return None


def state_at(plan: VesselPlan, t: float) -> VesselState | None:
    """Where `plan` puts its vessel `t` seconds after the scenario start (None when not reporting)."""
    return _Track(plan).state(t)


# --------------------------------------------------------------------------------------------------
# Encoding


def _armor168(bits: int) -> str:
    return "".join([_ARMOR12[(bits >> s) & 4095] for s in _SHIFTS168])


def encode_position(
    msg_type: int,
    mmsi: int,
    lon: float,
    lat: float,
    sog_kn: float,
    cog_deg: float,
    heading: int,
    second: int,
    status: int = STATUS_UNDER_WAY,
) -> str:
    """The armoured 168-bit payload (28 characters, 0 fill bits) of a type 1, 3 or 18 position report.

    Fields as pyais would set them from the same values: lon/lat rounded to 1/10000 minute, sog and cog
    to tenths, rate of turn not available (type 1/3), accuracy 0, RAIM 0, radio 0; a type 18 says it is a
    carrier-sense unit with display 0, DSC, whole band and message 22.
    """
    lon_i = round(lon * 600_000.0) & 0xFFFFFFF
    lat_i = round(lat * 600_000.0) & 0x7FFFFFF
    sog_i = min(round(sog_kn * 10.0), 1022)
    cog_i = round(cog_deg * 10.0) % 3600
    if msg_type == 18:
        bits = (
            (18 << 162)
            | (mmsi << 130)
            | (sog_i << 112)
            | (lon_i << 83)
            | (lat_i << 56)
            | (cog_i << 44)
            | (heading << 35)
            | (second << 29)
            | (0b1011 << 23)  # cs, display, dsc, band: a class B CS unit with DSC on the whole band
            | (0b100 << 20)  # msg22, assigned, raim
        )
    elif msg_type in (1, 2, 3):
        bits = (
            (msg_type << 162)
            | (mmsi << 130)
            | (status << 126)
            | (0x80 << 118)  # rate of turn -128: not available
            | (sog_i << 108)
            | (lon_i << 79)
            | (lat_i << 52)
            | (cog_i << 40)
            | (heading << 31)
            | (second << 25)
        )
    else:
        raise ValueError(f"encode_position: type {msg_type} is not a position report")
    return _armor168(bits)


def _default_dimensions(ship_type: int | None) -> tuple[int, int, int, int]:
    kind = (ship_type or 0) // 10
    if kind in (7, 8):
        return (180, 40, 16, 16)
    if kind == 6:
        return (35, 10, 5, 5)
    if ship_type == 30:
        return (14, 4, 3, 3)
    if ship_type == 37:
        return (10, 3, 2, 2)
    return (40, 10, 5, 5)


def _static_sentences(plan: VesselPlan, channel: str, seq_id: int) -> list[str]:
    """Type 5 (two fragments) for class A, type 24 part A and part B for class B, via pyais."""
    to_bow, to_stern, to_port, to_starboard = plan.dimensions or _default_dimensions(plan.ship_type)
    common: dict[str, str | int | float | bytes | bool] = {
        "mmsi": plan.mmsi,
        "callsign": plan.callsign or "",
        "ship_type": plan.ship_type or 0,
        "to_bow": to_bow,
        "to_stern": to_stern,
        "to_port": to_port,
        "to_starboard": to_starboard,
    }
    if plan.ais_class == "B":
        part_a = encode_dict(
            {"type": 24, "mmsi": plan.mmsi, "partno": 0, "shipname": plan.name or ""},
            talker_id="AI",
            sentence_type="VDM",
            radio_channel=channel,
        )
        part_b = encode_dict(
            {"type": 24, "partno": 1, "vendorid": "SIM", **common},
            talker_id="AI",
            sentence_type="VDM",
            radio_channel=channel,
        )
        return [*part_a, *part_b]
    eta = plan.eta.astimezone(UTC) if plan.eta is not None else None
    data: dict[str, str | int | float | bytes | bool] = {
        "type": 5,
        "ais_version": 2,
        "imo": plan.imo or 0,
        "shipname": plan.name or "",
        "epfd": 1,  # GPS
        # 0/0/24/60 is AIS's "ETA not available".
        "month": eta.month if eta else 0,
        "day": eta.day if eta else 0,
        "hour": eta.hour if eta else 24,
        "minute": eta.minute if eta else 60,
        "draught": round(plan.draught or 0.0, 1),
        "destination": plan.destination or "",
        **common,
    }
    return encode_dict(data, talker_id="AI", sentence_type="VDM", radio_channel=channel, seq_id=seq_id)


# --------------------------------------------------------------------------------------------------
# The simulation


_REPORT, _STATIC, _REPEAT = 0, 1, 2


class _Vessel:
    __slots__ = ("channel_flip", "noise_m", "plan", "reports", "silences", "spoofs", "static_cache", "track")

    def __init__(self, plan: VesselPlan, noise_m: float) -> None:
        self.plan = plan
        self.track = _Track(plan)
        self.noise_m = noise_m
        self.reports = 0
        self.channel_flip = 0
        self.static_cache: dict[tuple[str, int], list[str]] = {}
        self.silences = tuple(sorted(plan.silences))
        self.spoofs = tuple(plan.spoofs)

    def silent_until(self, t: float) -> float | None:
        """The end of the silence holding t (math.inf for good), or None when the AIS is on."""
        for start, end in self.silences:
            if start <= t < end:
                # Back-to-back windows make one long silence.
                until = end
                for later_start, later_end in self.silences:
                    if later_start <= until < later_end:
                        until = later_end
                return until
        return None


class _Simulation:
    """Merges every vessel's reports, the extra receivers' repeats and the malformed lines in time order."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        self.epoch = math.floor(scenario.start.timestamp())
        self.vessels = [
            _Vessel(p, scenario.noise_m if p.noise_m is None else p.noise_m) for p in scenario.vessels
        ]
        self.heap: list[tuple[int, int, int, int, list[str]]] = []
        self.order = itertools.count()
        self.seq_id = 0  # the sequential message id of multi-sentence messages, cycling 0-9
        self.tag_cache: dict[tuple[int, int], str] = {}
        self.last_single: tuple[int, str] | None = None  # (time, line) of the latest 1-sentence line
        self.malformed_kind = 0

    # One heap entry: (time, tie-break counter, what, vessel or receiver index, sentences).
    def _push(self, t: int, what: int, index: int, sentences: list[str]) -> None:
        heapq.heappush(self.heap, (t, next(self.order), what, index, sentences))

    def _tag(self, receiver: int, t: int) -> str:
        key = (receiver, t)
        tag = self.tag_cache.get(key)
        if tag is None:
            if len(self.tag_cache) > 4096:
                self.tag_cache.clear()
            body = f"s:sim{receiver},c:{self.epoch + t}"
            tag = f"\\{body}*{nmea_checksum(body.encode('ascii')):02X}\\"
            self.tag_cache[key] = tag
        return tag

    def events(self) -> Iterator[tuple[int, int, list[str]]]:
        """(time, receiver, sentences) in time order, each a whole message."""
        duration = self.scenario.duration_s
        for index, vessel in enumerate(self.vessels):
            first = math.ceil(vessel.plan.start_s)
            if first < duration and vessel.track.state(first) is not None:
                self._push(first, _REPORT, index, [])
                # The first static message follows the first position within a minute (unless the plan
                # says when).
                after_s = vessel.plan.first_static_s
                delay = self.rng.randint(1, 60) if after_s is None else max(1, round(after_s))
                self._push(first + delay, _STATIC, index, [])
        heap = self.heap
        while heap:
            t, _, what, index, sentences = heapq.heappop(heap)
            if t >= duration:
                continue
            if what == _REPEAT:
                yield t, index, sentences
                continue
            vessel = self.vessels[index]
            plan = vessel.plan
            state = vessel.track.state(t)
            if state is None:
                continue  # the vessel has fallen silent: nothing more from it
            if vessel.silences:
                until = vessel.silent_until(t)
                if until is not None:
                    # AIS switched off: nothing now; when it comes back on, a position report at once
                    # and static data within a minute, as after a transponder start-up.
                    if math.isfinite(until):
                        resume = math.ceil(until)
                        if what == _REPORT:
                            self._push(resume, _REPORT, index, [])
                        else:
                            self._push(resume + self.rng.randint(1, 60), _STATIC, index, [])
                    continue
            if what == _REPORT:
                sentences = self._position(vessel, state, t)
                interval = vessel.plan.report_interval_s
                step = max(1, round(interval if interval is not None else self._interval(plan, state)))
                following = t + step
                # A ship that gets under way (or speeds up) reports at once on its new, faster rate.
                after = vessel.track.next_segment(t)
                if (interval is None and after is not None and after.t0 < following
                        and self._interval(plan, after) < step):
                    following = max(t + 1, math.ceil(after.t0))
                self._push(following, _REPORT, index, [])
            else:
                sentences = self._static(vessel)
                self._push(t + max(1, round(vessel.plan.static_interval_s)), _STATIC, index, [])
            yield t, 1, sentences
            for receiver in range(2, self.scenario.receivers + 1):
                if self.rng.random() < DUPLICATE_PROBABILITY:
                    delay = self.rng.randint(*DUPLICATE_DELAY_S)
                    # A repeat is logged late, so it could land inside a silence that began just after
                    # the message was sent: leave it out, a silent window holds no line at all.
                    if vessel.silences and vessel.silent_until(t + delay) is not None:
                        continue
                    self._push(t + delay, _REPEAT, receiver, sentences)

    @staticmethod
    def _interval(plan: VesselPlan, state: VesselState | _Segment) -> int:
        return report_interval(plan.ais_class, round(state.sog_kn, 1), state.status)

    def _position(self, vessel: _Vessel, state: VesselState, t: int) -> list[str]:
        plan = vessel.plan
        lon, lat = state.lon, state.lat
        for start, end, spoof_lon, spoof_lat in vessel.spoofs:
            if start <= t < end:
                # Spoofed GNSS: the receiver reports the false fix; speed and course stay the real ones.
                lon, lat = spoof_lon, spoof_lat
                break
        if vessel.noise_m > 0:
            # Gaussian jitter, clipped at 3 sigma so one unlucky draw is not a position jump.
            limit = 3.0 * vessel.noise_m
            north = max(-limit, min(limit, self.rng.gauss(0.0, vessel.noise_m)))
            east = max(-limit, min(limit, self.rng.gauss(0.0, vessel.noise_m)))
            lat += north / METRES_PER_DEG
            lon += east / (METRES_PER_DEG * math.cos(math.radians(lat)))
        second = (self.epoch + t) % 60
        vessel.reports += 1
        msg_type = 18 if plan.ais_class == "B" else 3 if vessel.reports % TYPE3_EVERY == 0 else 1
        payload = encode_position(
            msg_type, plan.mmsi, lon, lat, state.sog_kn, state.cog_deg, state.heading, second, state.status
        )
        vessel.channel_flip ^= 1
        # Class A alternates between the two AIS channels; so does this.
        channel = "B" if vessel.channel_flip else "A"
        body = f"AIVDM,1,1,,{channel},{payload},0"
        return [f"!{body}*{nmea_checksum(body.encode('ascii')):02X}"]

    def _static(self, vessel: _Vessel) -> list[str]:
        vessel.channel_flip ^= 1
        channel = "B" if vessel.channel_flip else "A"
        seq = 0
        if vessel.plan.ais_class == "A":
            seq = self.seq_id
            self.seq_id = (self.seq_id + 1) % 10
        key = (channel, seq)
        cached = vessel.static_cache.get(key)
        if cached is None:
            # Static data does not change during a scenario: encode each variant once.
            cached = _static_sentences(vessel.plan, channel, seq)
            vessel.static_cache[key] = cached
        return cached

    def groups(self) -> Iterator[list[bytes]]:
        """The output lines, grouped by message (a malformed line is a group of its own)."""
        every = self.scenario.malformed_every
        since = 0
        for t, receiver, sentences in self.events():
            tag = self._tag(receiver, t)
            # Malformed lines go between messages, never between the fragments of one.
            if every and since >= every - 1:
                yield [self._malformed(t)]
                since = 0
            if len(sentences) == 1:
                line = tag + sentences[0]
                self.last_single = (t, line)
                yield [line.encode("ascii")]
            else:
                yield [(tag + sentence).encode("ascii") for sentence in sentences]
            since += len(sentences)

    def lines(self) -> Iterator[bytes]:
        for group in self.groups():
            yield from group

    def _malformed(self, t: int) -> bytes:
        kind = MALFORMED_KINDS[self.malformed_kind % len(MALFORMED_KINDS)]
        self.malformed_kind += 1
        rng = self.rng
        if self.last_single is None and kind not in ("garbage", "unknown_sentence"):
            kind = "garbage"  # nothing to corrupt yet
        if kind == "garbage":
            alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 #%&()+-./:;<=>?@^_~"
            return "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 70))).encode("ascii")
        if kind == "unknown_sentence":
            moment = self.scenario.start + timedelta(seconds=t)
            body = f"GPGGA,{moment:%H%M%S}.00,2630.000,N,05630.000,E,1,08,0.9,12.0,M,-30.0,M,,"
            sentence = f"${body}*{nmea_checksum(body.encode('ascii')):02X}"
            return (self._tag(1, t) + sentence).encode("ascii")
        assert self.last_single is not None
        _, line = self.last_single
        tag_end = line.index("!")
        tag, sentence = line[:tag_end], line[tag_end:]
        if kind == "bad_checksum":
            checksum = int(sentence[-2:], 16)
            return f"{tag}{sentence[:-2]}{(checksum ^ 0x5A):02X}".encode("ascii")
        if kind == "truncated":
            cut = rng.randint(len(sentence) // 3, len(sentence) - 12)
            return (tag + sentence[:cut]).encode("ascii")
        if kind == "non_utf8":
            raw = sentence[1:-3].encode("ascii")
            middle = raw.rindex(b",", 0, len(raw) - 2) - 10
            raw = raw[:middle] + b"\xff\xfe" + raw[middle:]
            return tag.encode("ascii") + b"!" + raw + f"*{nmea_checksum(raw):02X}".encode("ascii")
        # bad_tag_block
        tag_checksum = int(tag[-3:-1], 16)
        return f"{tag[:-3]}{(tag_checksum ^ 0x5A):02X}\\{sentence}".encode("ascii")


class _ReportLog(_Simulation):
    """A simulation that notes when one vessel's position reports are sent."""

    def __init__(self, scenario: Scenario, mmsi: int) -> None:
        super().__init__(scenario)
        self.mmsi = mmsi
        self.times: list[float] = []

    def _position(self, vessel: _Vessel, state: VesselState, t: int) -> list[str]:
        if vessel.plan.mmsi == self.mmsi:
            self.times.append(float(t))
        return super()._position(vessel, state, t)


def plan_reports(scenario: Scenario, mmsi: int) -> list[float]:
    """The times (seconds after the scenario start) at which vessel `mmsi` sends a position report.

    These are the receiver `sim1` times of its types 1/3/18, in order; the repeats of other receivers
    are not counted. Report times depend on the plan alone (never on the random draws), so the vessel
    is simulated on its own.
    """
    plans = [p for p in scenario.vessels if p.mmsi == mmsi]
    if not plans:
        raise KeyError(f"no vessel {mmsi} in the scenario")
    log = _ReportLog(replace(scenario, vessels=plans, receivers=1, malformed_every=0), mmsi)
    for _ in log.events():
        pass
    return log.times


def generate(scenario: Scenario) -> Iterator[bytes]:
    """NMEA lines (without newline) of the scenario, in time order.

    Every line but the malformed ones is `\\s:sim<receiver>,c:<unix seconds>*hh\\!AIVDM,...*hh`.
    """
    return _Simulation(scenario).lines()


def write_feed(path: str | os.PathLike[str], lines: Iterable[bytes]) -> int:
    """Write `lines` to `path`, one per line; gzip when the name ends in .gz. Returns the line count.

    The gzip header carries no file name and mtime 0, so the same lines always give the same bytes.
    """
    with open(path, "wb") as raw:
        if os.fspath(path).endswith(".gz"):
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as packed:
                return _write_lines(packed, lines)
        return _write_lines(raw, lines)


def _write_lines(out: BinaryIO | gzip.GzipFile, lines: Iterable[bytes]) -> int:
    count = 0
    batch: list[bytes] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= 4096:
            out.write(b"\n".join(batch) + b"\n")
            count += len(batch)
            batch = []
    if batch:
        out.write(b"\n".join(batch) + b"\n")
        count += len(batch)
    return count


# --------------------------------------------------------------------------------------------------
# Geography of the sample and the benchmark. Lane centre lines are the OSM seamark ways of the Hormuz
# TSS (ODbL, (c) OpenStreetMap contributors): 220138792 inbound/northern (flow about 287 deg), 220138816
# outbound/southern (about 104 deg). The other waypoints were placed by hand in open water and are
# checked against Natural Earth 1:10m land in tests/test_simulate.py.

_LANE_INBOUND: list[tuple[float, float]] = [
    (56.6734317, 26.5035035),
    (56.5916022, 26.6238492),
    (56.4649679, 26.624089),
    (56.345175, 26.5950641),
]
_LANE_OUTBOUND: list[tuple[float, float]] = [
    (56.3805226, 26.520249),
    (56.4785837, 26.5584126),
    (56.550218, 26.5584726),
    (56.6113218, 26.4679635),
]
# Northbound in the Gulf of Oman keeps to the east, southbound to the west (keep to starboard).
_OMAN_NORTHBOUND = [(56.80, 25.60), (56.78, 25.95), (56.76, 26.20), (56.72, 26.42)]
_OMAN_SOUTHBOUND = [(56.66, 26.25), (56.68, 25.95), (56.72, 25.60), (56.80, 25.20), (57.05, 24.80)]
# Inside the Gulf, west of the lanes: between Musandam and Qeshm, then on to the ports.
_GULF_WESTBOUND = [(56.20, 26.50), (56.00, 26.45), (55.75, 26.33)]
_GULF_EASTBOUND = [(55.85, 26.28), (56.10, 26.40), (56.30, 26.47)]
_TO_JEBEL_ALI = [(55.55, 26.05), (55.30, 25.60), (55.10, 25.20), (55.02, 25.06)]
_FROM_JEBEL_ALI = [(55.06, 25.10), (55.22, 25.40), (55.42, 25.75), (55.62, 26.05)]
_TO_DUBAI = [(55.55, 26.05), (55.35, 25.55), (55.27, 25.33)]
_TO_RAS_TANURA = [
    (55.45, 26.40),
    (54.90, 26.43),
    (54.20, 26.45),
    (53.60, 26.50),
    (52.60, 26.85),
    (51.50, 27.00),
    (50.60, 26.80),
]
_FROM_RAS_TANURA = [
    (50.60, 26.75),
    (52.00, 26.85),
    (53.50, 26.45),
    (54.20, 26.36),
    (54.80, 26.36),
    (55.40, 26.34),
]
_TO_RAS_LAFFAN = [
    (55.45, 26.40),
    (54.90, 26.43),
    (54.20, 26.45),
    (53.50, 26.40),
    (52.20, 26.25),
    (51.75, 26.00),
]
_FROM_RAS_LAFFAN = [
    (51.80, 25.97),
    (52.20, 26.20),
    (53.50, 26.33),
    (54.20, 26.36),
    (54.80, 26.36),
    (55.40, 26.34),
]
_TO_ARABIAN_SEA = [(57.30, 24.40), (58.00, 23.80)]

# Named routes, (lon, lat). Transits go from well south of the outer gate to well west of the inner
# gate (or back); the rest are port calls and local traffic.
ROUTES: dict[str, list[tuple[float, float]]] = {
    "inbound-jebel-ali": [*_OMAN_NORTHBOUND, *_LANE_INBOUND, *_GULF_WESTBOUND, *_TO_JEBEL_ALI],
    "inbound-dubai": [*_OMAN_NORTHBOUND, *_LANE_INBOUND, *_GULF_WESTBOUND, *_TO_DUBAI],
    "inbound-ras-tanura": [*_OMAN_NORTHBOUND, *_LANE_INBOUND, *_GULF_WESTBOUND, *_TO_RAS_TANURA],
    "inbound-ras-laffan": [*_OMAN_NORTHBOUND, *_LANE_INBOUND, *_GULF_WESTBOUND, *_TO_RAS_LAFFAN],
    "outbound-jebel-ali": [*_FROM_JEBEL_ALI, *_GULF_EASTBOUND, *_LANE_OUTBOUND, *_OMAN_SOUTHBOUND],
    "outbound-ras-tanura": [*_FROM_RAS_TANURA, *_GULF_EASTBOUND, *_LANE_OUTBOUND, *_OMAN_SOUTHBOUND],
    "outbound-ras-laffan": [*_FROM_RAS_LAFFAN, *_GULF_EASTBOUND, *_LANE_OUTBOUND, *_OMAN_SOUTHBOUND],
}
TRANSIT_ROUTES = tuple(ROUTES)

_FUJAIRAH_BERTH = (56.374, 25.176)
_BANDAR_ABBAS_BERTH = (56.075, 27.090)  # Shahid Rajaee
_KHASAB_HARBOUR = (56.235, 26.228)
_QESHM_PIER = (56.295, 26.955)
_BANDAR_ABBAS_PIER = (56.272, 27.185)
_FUJAIRAH_ANCHORAGE_EAST_EDGE = 56.56  # zones/hormuz.geojson: fujairah-anchorage spans 56.37-56.56 E
_BANDAR_ABBAS_APPROACH = [(56.455, 26.72), (56.425, 26.95), (56.30, 27.04), (56.15, 27.075)]
_BANDAR_ABBAS_BAHONAR = (56.21, 27.145)  # inside the bandar-abbas-shahid-bahonar port zone
_MINA_RASHID_BERTH = (55.285, 25.268)
# Where the spoofed GNSS puts vessels: Bandar Abbas international airport, 5 km inland, in no port.
_SPOOF_SPOT = (56.37, 27.245)
# Where ARVAND NOOR's one bad fix lands: open water 30 km south of its track at 07:00.
_JUMP_SPOT = (56.62, 26.17)
_BANDAR_ABBAS_DEPARTURE = [(56.15, 27.065), (56.30, 27.025), (56.43, 26.94), (56.44, 26.75), (56.30, 26.56)]

ROUTES.update(
    {
        "fujairah-call": [
            (56.95, 24.85),
            (56.62, 25.08),
            (56.42, 25.16),
            _FUJAIRAH_BERTH,
            (56.42, 25.19),
            (56.62, 25.10),
            (56.95, 24.90),
            *_TO_ARABIAN_SEA,
        ],
        "fujairah-bunker": [(56.47, 25.16), (56.40, 25.17), _FUJAIRAH_BERTH, (56.42, 25.20), (56.50, 25.22)],
        "bandar-abbas-arrival": [
            *_OMAN_NORTHBOUND,
            *_LANE_INBOUND[:3],
            *_BANDAR_ABBAS_APPROACH,
            _BANDAR_ABBAS_BERTH,
        ],
        "bandar-abbas-departure": [
            _BANDAR_ABBAS_BERTH,
            *_BANDAR_ABBAS_DEPARTURE,
            *_LANE_OUTBOUND,
            *_OMAN_SOUTHBOUND,
        ],
        "qeshm-ferry": [_BANDAR_ABBAS_PIER, (56.30, 27.06), _QESHM_PIER],
        "dhow-qeshm-khasab": [
            (56.18, 26.78),
            (56.20, 26.50),
            (56.24, 26.30),
            (56.237, 26.25),
            _KHASAB_HARBOUR,
        ],
        "dhow-khasab-qeshm": [
            _KHASAB_HARBOUR,
            (56.238, 26.25),
            (56.25, 26.30),
            (56.24, 26.55),
            (56.28, 26.80),
            _QESHM_PIER,
        ],
        "dubai-cruise": [(55.15, 25.32), (55.05, 25.25), (54.98, 25.32), (55.10, 25.40), (55.15, 25.32)],
        "dibba-fishing": [(56.40, 25.62), (56.48, 25.70), (56.44, 25.78), (56.52, 25.74), (56.46, 25.66)],
        "ras-al-khaimah-fishing": [(55.88, 25.82), (55.80, 25.90), (55.72, 25.86), (55.82, 25.78)],
    }
)


def _advance(route: Sequence[tuple[float, float]], nautical_miles: float) -> list[tuple[float, float]]:
    """The rest of `route` from the point `nautical_miles` along it (the route's end if it is shorter)."""
    remaining = nautical_miles * 1852.0
    for i, (a, b) in enumerate(itertools.pairwise(route)):
        length, _ = _leg_geometry(a, b)
        if remaining < length:
            f = remaining / length
            start = (round(a[0] + (b[0] - a[0]) * f, 6), round(a[1] + (b[1] - a[1]) * f, 6))
            return [start, *route[i + 1 :]]
        remaining -= length
    return [route[-1]]


def _route_length_nm(route: Sequence[tuple[float, float]]) -> float:
    return sum(_leg_geometry(a, b)[0] for a, b in itertools.pairwise(route)) / 1852.0


# --------------------------------------------------------------------------------------------------
# The bundled sample

SAMPLE_START = datetime(2025, 6, 20, 0, 0, 0, tzinfo=UTC)
SAMPLE_DURATION_S = 8 * 3600.0
# The vessels of the sample that complete a transit of the strait (both gates) within it.
SAMPLE_TRANSITS: dict[int, Literal["inbound", "outbound"]] = {
    636019874: "inbound",
    352418006: "inbound",
    440318275: "inbound",
    419006538: "inbound",
    466001827: "inbound",
    441092730: "inbound",
    248715093: "inbound",
    241385017: "outbound",
    563071948: "outbound",
    440627158: "outbound",
    257331064: "outbound",
    466014392: "outbound",
    477528113: "outbound",
    636092817: "outbound",  # KESTREL DAWN, with 70 min of AIS silence on the way
}
# The vessels of the sample that should raise each behaviour alert (replayed with the default config).
# An encounter is one alert about the pair: the lower MMSI, with the other in details.other_mmsi.
SAMPLE_EVENTS: dict[str, list[int]] = {
    "loiter": [356718204],  # PERSEUS GLORY drifts in the strait from 04:30: alert at 05:30
    "dark": [355204871, 636092817],  # GRAND VEGA (silent for good from 03:20), KESTREL DAWN (04:30)
    "reappeared": [636092817],  # KESTREL DAWN at 05:40
    "position_jump": [422208375],  # ARVAND NOOR, one fix 30 km off at 07:00
    # GNSS spoofing 00:38-01:40 onto Bandar Abbas airport: one on_land each; the fifth raises the
    # posture to ELEVATED (00:48), which falls back to NORMAL two hours later (02:48).
    "on_land": [538009316, 636021557, 240917002, 229604318, 419072240, 311000472],
    "wrong_way": [422519044],  # SHAHIN 3 down the inbound lane from 04:44
    "encounter": [373905126, 538071242],  # DELTA NAJM alongside SAPPHIRE CROWN from 04:37
    # MARLIN BUNKER moors 2 h in Fujairah port (its 1 h at anchor before is too short for a call).
    "port_call": [370114562],
}
# Vessels placed so that a detector must NOT fire for them.
SAMPLE_NEGATIVES: dict[str, list[int]] = {
    "wrong_way": [422520675],  # BAHAR 5 crosses both lanes at right angles
    "encounter": [240917002, 470518226],  # ATHINA GRACE and AL MARJAN, 280 m apart in the anchorage
    # ... the same pair waits all day; PARVAZ 2 moors 30 min at the Qeshm pier, in no port zone.
    "loiter": [240917002, 470518226, 422513390],
    # SEA BREEZE 7 switches off in Mina Rashid; DARYA NOOR ends its trip in Khasab harbour.
    "dark": [470208844, 422512708],
    # The spoofed vessels' true fixes after the spoofing are no jump: the spoofed ones never moved the
    # track.
    "position_jump": [538009316, 636021557, 240917002, 229604318, 419072240, 311000472],
    # Waiting at anchor all day (no departure), and 30 min at a pier in no port zone: no port call.
    "port_call": [240917002, 470518226, 422513390],
}


def sample_scenario() -> Scenario:
    """The scenario of examples/hormuz-sample.nmea.gz (see examples/README.md): 38 vessels, 8 hours."""
    h = 3600.0
    m = 60.0

    def eta(**delta: float) -> datetime:
        return SAMPLE_START + timedelta(**delta)

    A = frozenset
    inbound_jebel_ali = ROUTES["inbound-jebel-ali"]
    # NORDIC TERN leaves the outbound route south of the strait for the Fujairah anchorage.
    to_fujairah = [*_advance(ROUTES["outbound-ras-laffan"], 228)[:-3], (56.60, 25.55), (56.53, 25.27)]
    to_bandar_abbas = _advance(ROUTES["bandar-abbas-arrival"], 5)
    ferry = _ferry_route(3)
    # GNSS spoofing from 00:38: six vessels off Fujairah and Khor Fakkan report the same spot inland
    # for 20-60 min (start, end in seconds).
    spoofed: dict[int, list[tuple[float, float]]] = {
        538009316: [(38 * m, 60 * m)],  # CORAL STAR, leaves its anchorage meanwhile
        636021557: [(40 * m, 80 * m)],  # SEA SCEPTRE
        240917002: [(42 * m, 65 * m)],  # ATHINA GRACE
        229604318: [(44 * m, 90 * m)],  # BLUE LAGUNA
        419072240: [(46 * m, 100 * m)],  # KAVERI STAR
        311000472: [(48 * m, 75 * m)],  # CAPE SELENE
    }
    # KESTREL DAWN: outbound, switches its AIS off for 70 min from 04:30 on the lane's last leg.
    kestrel = _advance(ROUTES["outbound-ras-tanura"], 265.5)
    # The ship-to-ship transfer spot, in open water east of the Fujairah anchorage; the daughter
    # vessel anchors about 190 m east-north-east of the mother.
    sts = (56.66, 25.30)
    sts_alongside = (56.6618, 25.3005)
    # The drifter: to and fro with the tide, 0.5 kn, never more than 850 m from where it started.
    drift_a, drift_b = (56.620, 26.050), (56.614, 26.056)
    vessels = [
        # Inbound transits through the northern lane, from the Gulf of Oman into the Persian Gulf.
        VesselPlan(
            636019874,
            _advance(ROUTES["inbound-ras-tanura"], 9),
            13.5,
            name="AURORA CRESCENT",
            callsign="A8QX7",
            imo=imo_with_check_digit(939271),
            ship_type=80,
            draught=10.6,
            destination="SA RTA",
            dimensions=(280, 50, 30, 30),
            eta=eta(hours=34),
        ),
        VesselPlan(
            352418006,
            inbound_jebel_ali,
            18.5,
            start_s=0.5 * h,
            name="MERIDIAN TIDE",
            callsign="3EKV4",
            imo=imo_with_check_digit(975513),
            ship_type=71,
            draught=13.2,
            destination="AE JEA",
            dimensions=(300, 66, 24, 24),
            eta=eta(hours=11),
        ),
        VesselPlan(
            440318275,
            _advance(ROUTES["inbound-ras-tanura"], 8),
            13.8,
            start_s=900,
            name="HANBADA PIONEER",
            callsign="D7HP2",
            imo=imo_with_check_digit(981240),
            ship_type=80,
            draught=10.2,
            destination="SA RTA",
            dimensions=(280, 50, 30, 30),
            eta=eta(hours=33),
        ),
        VesselPlan(
            419006538,
            _advance(ROUTES["inbound-dubai"], 10),
            12.5,
            name="SAGAR KIRAN",
            callsign="AVPK5",
            imo=imo_with_check_digit(951863),
            ship_type=70,
            draught=9.1,
            destination="AE DXB",
            dimensions=(150, 30, 14, 14),
        ),
        VesselPlan(
            466001827,
            _advance(ROUTES["inbound-ras-laffan"], 5),
            17.0,
            start_s=1200,
            name="SEALINE DUNE",
            callsign="A7LD3",
            imo=imo_with_check_digit(967702),
            ship_type=84,
            draught=11.4,
            destination="QA RLF",
            dimensions=(250, 45, 25, 25),
            eta=eta(hours=20),
        ),
        VesselPlan(
            441092730,
            ROUTES["inbound-ras-tanura"],
            15.5,
            name="DAEYANG HORIZON",
            callsign="D8DH9",
            imo=imo_with_check_digit(978854),
            ship_type=82,
            draught=9.8,
            destination="SA RTA",
            dimensions=(190, 35, 16, 16),
            eta=eta(hours=27),
        ),
        VesselPlan(
            248715093,
            _advance(inbound_jebel_ali, 12),
            19.5,
            start_s=2.5 * h,
            name="OCEAN LYRA",
            callsign="9HA5521",
            imo=imo_with_check_digit(969014),
            ship_type=70,
            draught=12.8,
            destination="AE JEA",
            dimensions=(290, 60, 22, 22),
        ),
        # Outbound transits through the southern lane, from the Persian Gulf to the Gulf of Oman.
        VesselPlan(
            241385017,
            _advance(ROUTES["outbound-ras-tanura"], 289),
            12.8,
            name="PELAGOS SPIRIT",
            callsign="SVDK6",
            imo=imo_with_check_digit(944617),
            ship_type=80,
            draught=21.4,
            destination="SG SIN",
            dimensions=(280, 50, 30, 30),
        ),
        VesselPlan(
            563071948,
            _advance(ROUTES["outbound-jebel-ali"], 80),
            19.0,
            name="LION CITY BRIGHT",
            callsign="9V3172",
            imo=imo_with_check_digit(972046),
            ship_type=70,
            draught=14.1,
            destination="IN NSA",
            dimensions=(300, 66, 24, 24),
        ),
        VesselPlan(
            440627158,
            _advance(ROUTES["outbound-jebel-ali"], 70),
            20.5,
            start_s=1 * h,
            name="SAMHAN ORION",
            callsign="D7SO8",
            imo=imo_with_check_digit(983318),
            ship_type=71,
            draught=14.6,
            destination="KR PUS",
            dimensions=(310, 56, 25, 25),
            eta=eta(days=16),
        ),
        VesselPlan(
            257331064,
            to_fujairah,
            14.5,
            name="NORDIC TERN",
            callsign="LAGT4",
            imo=imo_with_check_digit(936605),
            ship_type=80,
            draught=15.2,
            destination="AE FJR",
            dimensions=(200, 44, 21, 21),
            waits={len(to_fujairah) - 1: math.inf},
            anchored=A({len(to_fujairah) - 1}),
        ),
        VesselPlan(
            466014392,
            _advance(ROUTES["outbound-ras-laffan"], 226),
            18.5,
            name="CORNICHE AURORA",
            callsign="A7CA5",
            imo=imo_with_check_digit(961142),
            ship_type=84,
            draught=12.1,
            destination="JP TYO",
            dimensions=(250, 45, 25, 25),
        ),
        VesselPlan(
            477528113,
            _advance(ROUTES["outbound-jebel-ali"], 86),
            12.2,
            name="JADE FORTUNE",
            callsign="VRPF3",
            imo=imo_with_check_digit(955089),
            ship_type=70,
            draught=13.0,
            destination="CN TAO",
            dimensions=(190, 35, 16, 16),
        ),
        # Outbound, but goes silent in the strait after 3 h 20 min (a `dark` vessel).
        VesselPlan(
            355204871,
            _advance(ROUTES["outbound-ras-tanura"], 292),
            13.0,
            end_s=12000,
            name="GRAND VEGA",
            callsign="3FGV8",
            imo=imo_with_check_digit(928873),
            ship_type=80,
            draught=20.3,
            destination="MY PKG",
            dimensions=(250, 50, 23, 23),
        ),
        # Leaves the Fujairah anchorage after 45 min for the Persian Gulf (too slow to finish the transit).
        VesselPlan(
            538009316,
            [(56.50, 25.26), (56.70, 25.45), *inbound_jebel_ali],
            14.0,
            name="CORAL STAR",
            callsign="V7CS2",
            imo=imo_with_check_digit(947736),
            ship_type=80,
            draught=11.0,
            destination="AE JEA",
            dimensions=(150, 33, 16, 16),
            waits={0: 2700},
            anchored=A({0}),
            noise_m=15.0,
            spoofs=[(start, end, *_SPOOF_SPOT) for start, end in spoofed[538009316]],
        ),
        # Port calls: Fujairah (moored 1 h 30 min) and Bandar Abbas (arrival, departure).
        VesselPlan(
            470311052,
            ROUTES["fujairah-call"],
            14.0,
            name="FALCON FEEDER",
            callsign="A6FF4",
            imo=imo_with_check_digit(919307),
            ship_type=70,
            draught=8.4,
            destination="AE FJR",
            dimensions=(120, 30, 12, 12),
            waits={3: 1.5 * h},
        ),
        VesselPlan(
            370114562,
            ROUTES["fujairah-bunker"],
            9.0,
            name="MARLIN BUNKER",
            callsign="3EMB6",
            imo=imo_with_check_digit(924456),
            ship_type=80,
            draught=6.5,
            destination="AE FJR",
            dimensions=(90, 20, 9, 9),
            waits={0: 1 * h, 2: 2 * h, 4: math.inf},
            anchored=A({0, 4}),
            noise_m=15.0,
        ),
        VesselPlan(
            422206614,
            to_bandar_abbas,
            14.0,
            name="KAVIR SAHEL",
            callsign="EPKS3",
            imo=imo_with_check_digit(917284),
            ship_type=70,
            draught=10.5,
            destination="IR BND",
            dimensions=(170, 30, 14, 14),
            waits={len(to_bandar_abbas) - 1: math.inf},
        ),
        VesselPlan(
            422208375,
            ROUTES["bandar-abbas-departure"],
            12.5,
            name="ARVAND NOOR",
            callsign="EPAN7",
            imo=imo_with_check_digit(923519),
            ship_type=70,
            draught=9.6,
            destination="IN MUN",
            dimensions=(150, 28, 13, 13),
            waits={0: 1.5 * h},
            # One report at 07:00 (10 s apart under way: the window holds exactly one) is 30 km off.
            spoofs=[(7 * h, 7 * h + 10, *_JUMP_SPOT)],
        ),
        # A fast passenger ferry shuttling Bandar Abbas - Qeshm at 24.5 kn (2 s reports under way).
        VesselPlan(
            422301146,
            ferry,
            24.5,
            name="SETAREH QESHM 2",
            callsign="EPSQ2",
            imo=imo_with_check_digit(912883),
            ship_type=60,
            draught=1.8,
            destination="IR QSM",
            dimensions=(30, 10, 5, 5),
            waits={i: (2400 if i < len(ferry) - 1 else math.inf) for i in range(0, len(ferry), 2)},
        ),
        # Waiting at anchor off Fujairah and Khor Fakkan (3 min reports, +-30 m GNSS jitter).
        *(
            VesselPlan(
                mmsi,
                [position],
                10.0,
                name=name,
                callsign=callsign,
                imo=imo_with_check_digit(imo),
                ship_type=ship_type,
                draught=draught,
                destination=destination,
                waits={0: math.inf},
                anchored=A({0}),
                noise_m=15.0,
                spoofs=[(start, end, *_SPOOF_SPOT) for start, end in spoofed.get(mmsi, [])],
            )
            for mmsi, position, name, callsign, imo, ship_type, draught, destination in (
                (636021557, (56.45, 25.12), "SEA SCEPTRE", "A8SS3", 934582, 80, 12.5, "AE FJR"),
                (240917002, (56.50, 25.20), "ATHINA GRACE", "SVAG4", 941178, 81, 14.0, "AE FJR"),
                (229604318, (56.42, 25.25), "BLUE LAGUNA", "9HBL9", 956620, 80, 9.2, "AE FJR"),
                (419072240, (56.52, 25.07), "KAVERI STAR", "AVKS2", 929431, 70, 10.1, "AE FJR FOR ORDERS"),
                # Right on the anchorage's eastern edge: the jitter takes it in and out of the zone.
                (
                    371550093,
                    (_FUJAIRAH_ANCHORAGE_EAST_EDGE, 25.17),
                    "ORIENT HALO",
                    "3FOH5",
                    938851,
                    80,
                    11.8,
                    "AE FJR",
                ),
                (311000472, (56.43, 25.40), "CAPE SELENE", "C6CS8", 949914, 70, 11.0, "AE KLF"),
                # About 280 m from ATHINA GRACE: close, slow and together for hours, but in an anchorage.
                (470518226, (56.5022, 25.2015), "AL MARJAN", "A6AM2", 962257, 80, 8.8, "AE FJR"),
            )
        ),
        # Class B: dhows between Qeshm and Khasab, a pleasure craft off Dubai, fishing boats.
        VesselPlan(
            422512708,
            ROUTES["dhow-qeshm-khasab"],
            8.0,
            ais_class="B",
            name="DARYA NOOR",
            callsign="EPDN",
            ship_type=70,
            waits={4: math.inf},
            dimensions=(20, 6, 4, 4),
        ),
        # Moors 30 min at the Qeshm pier (no port zone there: a longer stop would be loitering), then on
        # to Bandar Abbas.
        VesselPlan(
            422513390,
            [*ROUTES["dhow-khasab-qeshm"], (56.30, 27.06), _BANDAR_ABBAS_BAHONAR],
            7.5,
            start_s=600,
            ais_class="B",
            name="PARVAZ 2",
            callsign="EPPZ",
            ship_type=70,
            waits={0: 0.75 * h, 5: 0.5 * h, 7: math.inf},
            dimensions=(18, 5, 4, 4),
        ),
        # Two laps off Dubai from 02:00, then into Mina Rashid, where it switches its AIS off at 06:15
        # (silent in a port: not dark).
        VesselPlan(
            470208844,
            [*ROUTES["dubai-cruise"] * 2, (55.22, 25.30), _MINA_RASHID_BERTH],
            16.0,
            start_s=2 * h,
            end_s=6.25 * h,
            ais_class="B",
            name="SEA BREEZE 7",
            callsign="A6SB7",
            ship_type=37,
            dimensions=(11, 3, 2, 2),
            waits={11: math.inf},
        ),
        VesselPlan(
            461004127,
            ROUTES["dibba-fishing"] * 4,
            4.5,
            ais_class="B",
            name="HAMOOR 2",
            callsign="A4HM2",
            ship_type=30,
            waits=dict.fromkeys(range(1, 20, 2), 1200),
            dimensions=(14, 4, 3, 3),
        ),
        VesselPlan(
            470219563,
            ROUTES["ras-al-khaimah-fishing"] * 5,
            5.0,
            start_s=300,
            ais_class="B",
            name="SAQR 11",
            callsign="A6SQ1",
            ship_type=30,
            waits=dict.fromkeys(range(2, 20, 3), 900),
            dimensions=(15, 4, 3, 3),
        ),
        # Outbound transit with a gap: AIS off 04:30-05:40 at the end of the outbound lane (`dark` at
        # 05:14:50, `reappeared` at 05:40 some 16 NM further on), then out through the outer gate.
        VesselPlan(
            636092817,
            kestrel,
            14.0,
            name="KESTREL DAWN",
            callsign="A8KD6",
            imo=imo_with_check_digit(958301),
            ship_type=80,
            draught=16.8,
            destination="IN SIK",
            dimensions=(230, 44, 21, 21),
            silences=[(4.5 * h, 4.5 * h + 70 * m)],
        ),
        # Wrong way: a small Iranian coaster leaves the Bandar Abbas approach at 04:00 and runs
        # east-south-east down the inbound lane (flow 287 deg) at 9 kn, against the traffic.
        VesselPlan(
            422519044,
            [
                (56.44, 26.75),
                (56.47, 26.63),
                (56.59, 26.625),
                (56.67, 26.50),
                (56.80, 26.25),
                (56.90, 25.95),
                (57.00, 25.60),
            ],
            9.0,
            start_s=4 * h,
            ais_class="B",
            name="SHAHIN 3",
            callsign="EPSH3",
            ship_type=70,
            dimensions=(28, 7, 4, 4),
        ),
        # Crosses both lanes heading 006 deg, at right angles to the traffic (COLREG rule 10), then
        # makes for Bandar Abbas (Shahid Bahonar) and moors.
        VesselPlan(
            422520675,
            [(56.50, 26.42), (56.53, 26.70), (56.425, 26.95), (56.30, 27.04), _BANDAR_ABBAS_BAHONAR],
            8.0,
            start_s=30 * m,
            ais_class="B",
            name="BAHAR 5",
            callsign="EPBH5",
            ship_type=70,
            dimensions=(24, 6, 4, 4),
            waits={4: math.inf},
        ),
        # Ship-to-ship transfer in open water: the mother anchors at 04:23 and stays; the daughter
        # anchors alongside from about 04:35 for 1 h 30 min, then sails for the Arabian Sea.
        VesselPlan(
            538071242,
            [(56.95, 24.95), sts],
            11.0,
            start_s=2 * h,
            name="SAPPHIRE CROWN",
            callsign="V7SC4",
            imo=imo_with_check_digit(927764),
            ship_type=80,
            draught=19.5,
            destination="AE FJR OPL",
            dimensions=(290, 55, 29, 29),
            waits={1: math.inf},
            anchored=A({1}),
            noise_m=10.0,
        ),
        VesselPlan(
            373905126,
            [(56.72, 25.62), sts_alongside, (57.05, 24.80), *_TO_ARABIAN_SEA],
            12.0,
            start_s=3 * h,
            name="DELTA NAJM",
            callsign="3EDN7",
            imo=imo_with_check_digit(931150),
            ship_type=80,
            draught=9.4,
            destination="PK KHI",
            dimensions=(150, 33, 13, 13),
            waits={1: 1.5 * h},
            anchored=A({1}),
            noise_m=10.0,
        ),
        # Drifting in the strait from 04:30 (engine trouble): under 1 kn, within 850 m, till the end.
        VesselPlan(
            356718204,
            [drift_a, drift_b] * 3,
            0.5,
            start_s=4.5 * h,
            name="PERSEUS GLORY",
            callsign="3FPG9",
            imo=imo_with_check_digit(915528),
            ship_type=80,
            draught=7.2,
            destination="IQ BSR",
            dimensions=(110, 22, 9, 9),
        ),
    ]
    return Scenario(
        start=SAMPLE_START,
        duration_s=SAMPLE_DURATION_S,
        vessels=vessels,
        seed=20250620,
        noise_m=4.0,
        malformed_every=500,
        receivers=2,
    )


def _ferry_route(round_trips: int) -> list[tuple[float, float]]:
    """Bandar Abbas pier -> Qeshm pier -> back, `round_trips` times (waypoints 0, 2, 4, ... are piers)."""
    pier_a, middle, pier_b = ROUTES["qeshm-ferry"]
    route = [pier_a]
    for _ in range(round_trips):
        route += [middle, pier_b, middle, pier_a]
    return route


# --------------------------------------------------------------------------------------------------
# Benchmark feeds

# Closed loops for class A traffic: in through the northern lane, back out through the southern one.
_CIRCUITS: tuple[list[tuple[float, float]], ...] = (
    [*ROUTES["inbound-jebel-ali"], *ROUTES["outbound-jebel-ali"], (56.95, 25.05)],
    [*ROUTES["inbound-ras-tanura"], *ROUTES["outbound-ras-tanura"], (56.95, 25.05)],
    [*ROUTES["inbound-ras-laffan"], *ROUTES["outbound-ras-laffan"], (56.95, 25.05)],
    [*ROUTES["inbound-dubai"], *ROUTES["outbound-jebel-ali"][1:], (56.95, 25.05)],
)
# Class B craft go back and forth along these.
_LOCAL_ROUTES = (
    "dhow-qeshm-khasab",
    "dhow-khasab-qeshm",
    "dubai-cruise",
    "dibba-fishing",
    "ras-al-khaimah-fishing",
    "qeshm-ferry",
)
# Anchorage boxes (lon min, lon max, lat min, lat max) well inside the zone file's anchorages.
_ANCHOR_BOXES = ((56.42, 56.54, 25.05, 25.28), (56.40, 56.47, 25.34, 25.44))
_BENCH_MIDS = (
    636,
    538,
    351,
    352,
    353,
    355,
    370,
    371,
    563,
    477,
    240,
    241,
    229,
    248,
    256,
    440,
    441,
    419,
    422,
    470,
    461,
    466,
    403,
    408,
    447,
    431,
    257,
    219,
    311,
    412,
)
# Shares chosen so that the feed is about 85 % class A position reports, 10 % class B and 5 % static.
_BENCH_CLASS_B_SHARE = 0.29
_BENCH_ANCHORED_SHARE = 0.14


# --------------------------------------------------------------------------------------------------
# Multi-day traffic through the strait (issue 12: transit statistics, traffic drop and recovery)

# Short passages, from just south of the outer gate to just west of the inner gate (and back): the
# transit is the whole plan, so a vessel reports only while it matters and a 10-day feed stays small.
TRAFFIC_INBOUND = [*_OMAN_NORTHBOUND, *_LANE_INBOUND, *_GULF_WESTBOUND]
TRAFFIC_OUTBOUND = [*_GULF_EASTBOUND[:2], *_LANE_OUTBOUND, *_OMAN_SOUTHBOUND[1:4]]
# A normal day's transits by class; tankers alternate laden (inbound) and ballast... by plan below.
TRAFFIC_DAY: dict[str, int] = {"tanker": 4, "cargo": 3, "passenger": 1, "other": 1, "unknown": 1}
TRAFFIC_COLLAPSE: dict[str, int] = {"tanker": 1, "cargo": 1}
_TRAFFIC_TYPES = {"tanker": 80, "cargo": 70, "passenger": 60, "other": 30, "unknown": None}
_TANKER_DIMENSIONS = (280, 50, 25, 25)  # 330 m: a reference draught of 0.065 * 330 = 21.45 m
TANKER_LADEN_DRAUGHT = 20.5  # 0.96 of the reference: laden
TANKER_BALLAST_DRAUGHT = 10.0  # 0.47: ballast
_TRAFFIC_SPEED_KN = 14.0


@dataclass
class TrafficTruth:
    """What a traffic scenario's plans make, per UTC day (index from the scenario's start): the transits
    counted (a vessel recrossing within 48 h once), by direction and class, tankers laden and ballast;
    and the vessels placed so that no transit may be counted for them."""

    days: list[dict[str, int]]
    turned_back: list[int]  # crossed the outer gate and went back out the way they came
    recrossed: list[int]  # crossed inbound, then outbound within 48 h: one transit, on the first day


def traffic_scenario(days: int = 10, collapse_day: int | None = 7, seed: int = 0,
                     per_day: dict[str, int] | None = None,
                     collapse: dict[str, int] | None = None) -> tuple[Scenario, TrafficTruth]:
    """`days` UTC days of passages of the strait of Hormuz: each day `per_day` transits by class
    (TRAFFIC_DAY), `collapse` (TRAFFIC_COLLAPSE) on `collapse_day`; plus one vessel that turns back after
    the outer gate (day 4) and one that crosses in on day 2 and back out the next day. Each passage lies
    wholly within its day (checked here), so the day it counts in is the day of its plan; reports every
    5 minutes, static data every 30."""
    per_day = dict(TRAFFIC_DAY if per_day is None else per_day)
    collapse = dict(TRAFFIC_COLLAPSE if collapse is None else collapse)
    rng = random.Random(seed)
    start = datetime(2026, 2, 23, tzinfo=UTC)
    plans: list[VesselPlan] = []
    truth: list[dict[str, int]] = []
    mmsi = 538_100_000
    day_s = 86_400.0
    longest = max(_route_length_nm(TRAFFIC_INBOUND), _route_length_nm(TRAFFIC_OUTBOUND))
    passage_s = longest * 1852.0 / (_TRAFFIC_SPEED_KN * KNOT_MS)

    def plan(day: int, k: int, n: int, cls: str, route_in: bool) -> VesselPlan:
        nonlocal mmsi
        mmsi += 1
        # Spread over the day's first 14 hours, so the passage (about 7 h) ends well before midnight.
        offset = 1_800.0 + k * (14 * 3600.0 / max(n, 1)) + rng.uniform(0.0, 600.0)
        assert offset + passage_s < day_s - 1_800.0, "a passage must lie within its day"
        tanker = cls == "tanker"
        return VesselPlan(
            mmsi, TRAFFIC_INBOUND if route_in else TRAFFIC_OUTBOUND, _TRAFFIC_SPEED_KN,
            start_s=day * day_s + offset, report_interval_s=300.0, static_interval_s=1_800.0,
            # No static report at all from an `unknown` vessel (the plan ends before its first one).
            first_static_s=10 * day_s if cls == "unknown" else 30.0,
            name=f"TRAFFIC {mmsi % 100_000}", ship_type=_TRAFFIC_TYPES[cls],
            draught=(TANKER_LADEN_DRAUGHT if route_in else TANKER_BALLAST_DRAUGHT) if tanker else 9.0,
            dimensions=_TANKER_DIMENSIONS if tanker else None,
        )

    for day in range(days):
        mix = collapse if day == collapse_day else per_day
        row = {"total": 0, "inbound": 0, "outbound": 0, "laden": 0, "ballast": 0,
               **dict.fromkeys(_TRAFFIC_TYPES, 0)}
        n = sum(mix.values())
        k = 0
        for cls, count in mix.items():
            for _ in range(count):
                inbound = k % 2 == 0
                plans.append(plan(day, k, n, cls, inbound))
                row["total"] += 1
                row["inbound" if inbound else "outbound"] += 1
                row[cls] += 1
                if cls == "tanker":
                    row["laden" if inbound else "ballast"] += 1  # laden in, ballast out (see plan())
                k += 1
        truth.append(row)
    turned_back: list[int] = []
    recrossed: list[int] = []
    if days > 4:
        # Through the outer gate, 25 nm on, and back the same way: no transit.
        there = TRAFFIC_INBOUND[:3]
        mmsi += 1
        plans.append(VesselPlan(mmsi, [*there, *there[-2::-1]], 12.0, start_s=4 * day_s + 3_600.0,
                                report_interval_s=300.0, static_interval_s=1_800.0, first_static_s=30.0,
                                ship_type=80, draught=15.0, name="TURNS BACK"))
        turned_back.append(mmsi)
    if days > 3:
        # In on day 2 (its day's count has it), 18 hours alongside west of the inner gate, and out again
        # on day 3: within 48 h, so not counted again.
        mmsi += 1
        route = [*TRAFFIC_INBOUND, *TRAFFIC_OUTBOUND]
        wait = len(TRAFFIC_INBOUND) - 1
        plans.append(VesselPlan(mmsi, route, _TRAFFIC_SPEED_KN, start_s=2 * day_s + 3_600.0,
                                report_interval_s=300.0, static_interval_s=1_800.0, first_static_s=30.0,
                                ship_type=70, draught=9.0, name="COMES BACK", waits={wait: 18 * 3600.0}))
        back_s = 2 * day_s + 3_600.0 + passage_s + 18 * 3600.0
        assert back_s > 3 * day_s and back_s + passage_s < 4 * day_s
        recrossed.append(mmsi)
        for key in ("total", "inbound", "cargo"):
            truth[2][key] += 1
    scenario = Scenario(start=start, duration_s=days * day_s, vessels=plans, seed=seed)
    return scenario, TrafficTruth(truth, turned_back, recrossed)


def benchmark_scenario(vessels: int, seed: int = 0, duration_s: float = 86_400.0) -> Scenario:
    """`vessels` vessels in and around the strait and both gulfs, on loops that last `duration_s`."""
    if vessels < 1:
        raise ValueError("benchmark_scenario: at least one vessel")
    rng = random.Random(seed)
    mmsis: set[int] = set()
    plans: list[VesselPlan] = []
    for i in range(vessels):
        mmsi = 0
        while mmsi == 0 or mmsi in mmsis:
            mmsi = rng.choice(_BENCH_MIDS) * 1_000_000 + rng.randint(0, 999_999)
        mmsis.add(mmsi)
        start = float(rng.randint(0, 9))  # spread the first reports over the first ten seconds
        # The fleet is under way when the recording begins: each vessel's static data comes at its own
        # phase of the 6-minute cycle, so the share of static messages is the same whatever the fleet
        # size and however short the feed (all starting within a minute made them a fifth of the lines
        # of a short, 50,000-vessel feed).
        first_static = rng.uniform(1.0, 360.0)
        draw = rng.random()
        if draw < _BENCH_CLASS_B_SHARE:
            local = ROUTES[rng.choice(_LOCAL_ROUTES)]
            speed = rng.uniform(5.0, 15.0)
            loop = [*local, *local[-2::-1]]
            laps = math.ceil(duration_s * speed * KNOT_MS / 1852.0 / _route_length_nm(loop)) + 1
            route = _advance(loop * laps, rng.uniform(0.0, _route_length_nm(loop)))
            plans.append(
                VesselPlan(
                    mmsi,
                    route,
                    speed,
                    start_s=start,
                    first_static_s=first_static,
                    ais_class="B",
                    name=f"SIM CRAFT {i}",
                    callsign=f"S{i % 1_000_000}",
                    ship_type=rng.choice((30, 37, 70, 79)),
                )
            )
            continue
        ship = VesselPlan(
            mmsi,
            [(0.0, 0.0)],
            10.0,
            start_s=start,
            first_static_s=first_static,
            name=f"SIM VESSEL {i}",
            callsign=f"X{i % 1_000_000}",
            imo=imo_with_check_digit(100_000 + i % 900_000),
            ship_type=rng.choice((70, 71, 79, 80, 81, 84)),
            draught=round(rng.uniform(6.0, 20.0), 1),
            destination="AE JEA",
        )
        if draw < _BENCH_CLASS_B_SHARE + _BENCH_ANCHORED_SHARE:
            lon0, lon1, lat0, lat1 = rng.choice(_ANCHOR_BOXES)
            spot = (round(rng.uniform(lon0, lon1), 5), round(rng.uniform(lat0, lat1), 5))
            anchor = {0: math.inf}
            plans.append(replace(ship, route=[spot], waits=anchor, anchored=frozenset(anchor), noise_m=15.0))
            continue
        circuit = rng.choice(_CIRCUITS)
        speed = round(rng.uniform(10.0, 20.0), 1)
        laps = math.ceil(duration_s * speed * KNOT_MS / 1852.0 / _route_length_nm(circuit)) + 1
        route = _advance(circuit * laps, rng.uniform(0.0, _route_length_nm(circuit)))
        plans.append(replace(ship, route=route, speed_kn=speed))
    return Scenario(start=SAMPLE_START, duration_s=duration_s, vessels=plans, seed=seed, noise_m=4.0)


def benchmark_lines(vessels: int, messages: int, seed: int = 0) -> Iterator[bytes]:
    """Exactly `messages` lines (NMEA sentences) of `benchmark_scenario(vessels, seed)`.

    A two-sentence type 5 that would not fit whole at the end is left out, so the feed never ends on
    half a message.
    """
    if messages < 1:
        raise ValueError("benchmark_lines: at least one message")
    # Every vessel reports at least every 3 minutes: this is always long enough, and costs nothing
    # more because the simulation is lazy.
    duration = messages / vessels * 180.0 + 3600.0
    count = 0
    for group in _Simulation(benchmark_scenario(vessels, seed, duration)).groups():
        if count + len(group) > messages:
            continue
        yield from group
        count += len(group)
        if count == messages:
            return


# --------------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    """`python tools/simulate.py --sample OUT`, `--traffic DAYS OUT` or `--vessels N --messages M [--seed S]
    OUT`."""
    parser = argparse.ArgumentParser(
        prog="python tools/simulate.py",
        description="Write a synthetic NMEA AIS feed (gzip when OUT ends in .gz).",
    )
    parser.add_argument("out", metavar="OUT", help="output file, or - for stdout")
    parser.add_argument("--sample", action="store_true", help="the bundled Hormuz sample scenario")
    parser.add_argument("--traffic", type=int, metavar="DAYS",
                        help="days of strait traffic, a one-day collapse on the eighth (traffic_scenario)")
    parser.add_argument("--vessels", type=int, help="benchmark feed: number of vessels")
    parser.add_argument("--messages", type=int, help="benchmark feed: number of lines")
    parser.add_argument("--seed", type=int, default=0, help="benchmark feed: random seed (default 0)")
    args = parser.parse_args(argv)
    if args.traffic is not None:
        if args.sample or args.vessels is not None or args.messages is not None or args.traffic < 1:
            parser.error("--traffic DAYS (a positive number) goes alone")
        collapse = 7 if args.traffic > 8 else None
        lines: Iterable[bytes] = generate(traffic_scenario(args.traffic, collapse, args.seed)[0])
    elif args.sample == (args.vessels is not None or args.messages is not None):
        parser.error("give either --sample or both --vessels and --messages")
    elif args.sample:
        lines = generate(sample_scenario())
    else:
        if args.vessels is None or args.messages is None or args.vessels < 1 or args.messages < 1:
            parser.error("--vessels and --messages must both be positive integers")
        lines = benchmark_lines(args.vessels, args.messages, args.seed)
    if args.out == "-":
        count = _write_lines(sys.stdout.buffer, lines)
        sys.stdout.buffer.flush()
    else:
        count = write_feed(args.out, lines)
    print(f"wrote {count} lines to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
