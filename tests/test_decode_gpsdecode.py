"""Differential test: our NMEA layer and decoder against gpsd's C decoder `gpsdecode -j` on real captures.

Both decoders get exactly the lines our NMEA layer accepts (gpsdecode reads tag blocks and USCG metadata
itself but verifies no tag-block checksum, so the lines we reject would only add noise). The two streams
of decoded messages are aligned by (type, MMSI) and compared field by field. What gpsdecode does
differently, found by experiment:

- type 24: gpsdecode keeps part A and prints one record when part B of the same MMSI arrives (name from
  A, call sign and ship type from B); a part B without an earlier part A prints nothing. We emit one
  record per part.
- not available: gpsdecode prints lat 91 / lon 181, course 360, heading 511, speed "nan" (type 27:
  speed 63, course 511); those are null on our side.
- type 27 positions are printed with one decimal, so they are compared to 0.05 degrees.
- gpsdecode prints values no encoder may send (MMSI above 999999999, latitude -101, course 363...),
  which we reject as out_of_range: each such gpsdecode record must show a value out of range.
- gpsdecode drops type 27 payloads longer than 168 bits, as we do, and some short type 26 binary
  messages that we keep (type, MMSI and time only).
- GNSS quality (issue 13): gpsdecode prints `second` (raw, 60-63 included) and `raim` as we do, but the
  radio status only as the raw number `radio`: the field's bits as an unsigned integer, most significant
  bit first, 19 bits in types 1-3 and 20 in type 18 (SOTDMA/ITDMA selector, then the same 19 bits). The
  sync state is the top two of those 19 bits, `(radio >> 17) & 3`. A type 18 from a "CS" unit (`cs`
  true) carries a fixed filler there, so no sync state (null), as on our side.
"""

from __future__ import annotations

import collections
import difflib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from monitor.decode import decode_records
from monitor.nmea import NmeaAssembler

DATA = Path(__file__).parent / "data"
CAPTURES = sorted(p for p in DATA.glob("[lp]*/*") if p.suffix != ".json")

POSITION_TYPES = (1, 2, 3, 4, 9, 11, 18, 19, 21, 27)  # 17 carries a DGNSS reference station: not compared
COURSE_TYPES = (1, 2, 3, 9, 18, 19, 27)
HEADING_TYPES = (1, 2, 3, 18, 19)
SECOND_TYPES = (1, 2, 3, 18, 19)  # the UTC second time stamp
RAIM_TYPES = (1, 2, 3, 18, 19, 27)
SYNC_TYPES = (1, 2, 3, 18)  # a radio status (SOTDMA or ITDMA communication state)
# Binary application messages: gpsd applies layout checks of its own to some of them (e.g. drops
# 72- and 80-bit type 26), and they carry nothing the monitor uses, so a record only we emit is allowed.
BINARY_TYPES = (25, 26)


def gpsdecode(lines: list[bytes]) -> list[dict[str, Any]]:
    exe = shutil.which("gpsdecode")
    if exe is None:
        pytest.fail("gpsdecode not found: install Debian's gpsd-clients (`make debs` does it)")
    proc = subprocess.run(
        [exe, "-j"], input=b"\n".join(lines) + b"\n", capture_output=True, check=True, timeout=60
    )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def accepted_lines(path: Path) -> list[bytes]:
    """The lines of a capture that our NMEA layer does not reject, in order."""
    asm = NmeaAssembler(dedup_window_s=0, max_ahead_s=0, max_behind_s=0)  # gpsdecode: every message
    keep = []
    for line in path.read_bytes().splitlines():
        before = sum(asm.rejects.values())
        asm.push_lines([line])
        if sum(asm.rejects.values()) == before and line.strip():
            keep.append(line.strip())
    return keep


def ours(lines: list[bytes]) -> tuple[list[dict[str, Any]], collections.Counter[str]]:
    asm = NmeaAssembler(dedup_window_s=0, max_ahead_s=0, max_behind_s=0)
    rejects: collections.Counter[str] = collections.Counter()
    return list(decode_records(asm.push_lines(lines), rejects)), rejects


def _na(value: Any, *missing: float) -> float | None:
    if value is None or isinstance(value, str) or value in missing:
        return None
    return float(value)


def _text(value: Any) -> str | None:
    return (value.rstrip("@ ") or None) if isinstance(value, str) else None


def normalized(g: dict[str, Any]) -> dict[str, Any]:
    """gpsdecode's record with its not-available conventions turned into None, in our key names."""
    t = g["type"]
    rec: dict[str, Any] = {"type": t, "mmsi": g["mmsi"]}
    if t in POSITION_TYPES:
        rec["lat"] = _na(g.get("lat"), 91.0)
        rec["lon"] = _na(g.get("lon"), 181.0)
    if t in COURSE_TYPES:
        rec["sog"] = _na(g.get("speed"), 63.0) if t == 27 else _na(g.get("speed"), 102.3, 1023.0)
        rec["cog"] = _na(g.get("course"), 511.0) if t == 27 else _na(g.get("course"), 360.0)
    if t in HEADING_TYPES:
        rec["heading"] = _na(g.get("heading"), 511)
    if t in SECOND_TYPES:
        rec["second"] = g.get("second")
    if t in RAIM_TYPES:
        rec["raim"] = g.get("raim")
    if t in SYNC_TYPES:
        rec["sync_state"] = None if g.get("cs") else (g["radio"] >> 17) & 3
    if "shipname" in g or t == 21:
        rec["name"] = _text(g.get("shipname", g.get("name")))
    if "callsign" in g:
        rec["callsign"] = _text(g["callsign"])
    if "shiptype" in g and t in (5, 19, 24):  # type 23's shiptype is a filter, not a vessel's
        rec["ship_type"] = g["shiptype"] or None
    return rec


def out_of_range(g: dict[str, Any]) -> bool:
    """Whether gpsdecode's record shows a value our decoder rejects as out_of_range."""
    n = normalized(g)
    lat, lon = n.get("lat"), n.get("lon")
    cog, heading = n.get("cog"), n.get("heading")
    return (
        n["mmsi"] == 0
        or n["mmsi"] > 999_999_999
        or (lat is not None and abs(lat) > 90)
        or (lon is not None and abs(lon) > 180)
        or (cog is not None and cog > 360)
        or (heading is not None and heading >= 360)
    )


def compare(path: Path) -> tuple[collections.Counter[str], list[str]]:
    """Align and compare one capture; returns agreement counts and the list of problems."""
    lines = accepted_lines(path)
    theirs = gpsdecode(lines)
    mine, _ = ours(lines)
    # Fold our type 24 parts like gpsdecode does: part A is remembered, part B carries the record.
    folded: list[dict[str, Any]] = []
    names: dict[int, str | None] = {}
    for rec in mine:
        if rec["type"] == 24:
            if rec["part"] == 0:
                names[rec["mmsi"]] = rec["name"]
                continue
            if rec["mmsi"] not in names:
                continue  # gpsdecode prints nothing for a part B without a part A
            folded.append({**rec, "name": names.pop(rec["mmsi"])})
            continue
        folded.append(rec)
    a = [(r["type"], r["mmsi"]) for r in folded]
    b = [(g["type"], g["mmsi"]) for g in theirs]
    counts: collections.Counter[str] = collections.Counter()
    problems: list[str] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for rec, g in zip(folded[i1:i2], theirs[j1:j2], strict=True):
                compare_fields(rec, normalized(g), counts, problems, path)
            continue
        for rec in folded[i1:i2]:
            if rec["type"] in BINARY_TYPES:
                counts["binary_only_ours"] += 1
            else:
                problems.append(f"{path.name}: only we decoded {rec}")
        for g in theirs[j1:j2]:
            if out_of_range(g):
                counts["rejected_out_of_range"] += 1
            else:
                problems.append(f"{path.name}: only gpsdecode decoded {g}")
    return counts, problems


def compare_fields(
    rec: dict[str, Any],
    exp: dict[str, Any],
    counts: collections.Counter[str],
    problems: list[str],
    path: Path,
) -> None:
    counts["messages"] += 1
    if "lat" in exp:
        tol = 0.05 if exp["type"] == 27 else 1.01e-6  # gpsdecode prints type 27 with one decimal
        counts["positions"] += 1
        if all(
            (x is None and y is None) or (x is not None and y is not None and abs(x - y) <= tol)
            for x, y in ((rec.get("lat"), exp["lat"]), (rec.get("lon"), exp["lon"]))
        ):
            counts["positions_agree"] += 1
        else:
            problems.append(f"{path.name}: position {rec} vs gpsdecode {exp}")
    for key, tol in (("sog", 0.05), ("cog", 0.05), ("heading", 0.0)):
        if key not in exp:
            continue
        x, y = rec.get(key), exp[key]
        counts[key] += 1
        if (x is None and y is None) or (x is not None and y is not None and abs(x - y) <= tol + 1e-9):
            counts[f"{key}_agree"] += 1
        else:
            problems.append(f"{path.name}: {key} {x} vs gpsdecode {y} in {rec}")
    for key in ("name", "callsign", "ship_type", "second", "raim", "sync_state"):
        if key not in exp:
            continue
        counts[key] += 1
        if rec.get(key) == exp[key]:
            counts[f"{key}_agree"] += 1
        else:
            problems.append(f"{path.name}: {key} {rec.get(key)!r} vs gpsdecode {exp[key]!r} in {rec}")


def test_gpsdecode_is_installed() -> None:
    """The differential test needs gpsd's gpsdecode; its absence is a failure, not a skip."""
    assert shutil.which("gpsdecode"), "gpsdecode not found: install Debian's gpsd-clients (`make debs`)"


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_decode_agrees_with_gpsdecode(path: Path) -> None:
    """On every real capture, ≥99% of positions and 100% of MMSIs, types, speeds, courses, headings,
    names, call signs, ship types, time stamp seconds, RAIM flags and sync states agree with gpsdecode;
    every gpsdecode record we do not emit shows a value out of range."""
    counts, problems = compare(path)
    breakdown = "\n".join([f"{k}: {v}" for k, v in sorted(counts.items())] + problems[:40])
    assert counts["messages"] > 0, breakdown
    if counts["positions"]:
        assert counts["positions_agree"] >= 0.99 * counts["positions"], breakdown
    for key in ("sog", "cog", "heading", "name", "callsign", "ship_type", "second", "raim", "sync_state"):
        assert counts[f"{key}_agree"] == counts[key], breakdown
    assert not [p for p in problems if "position" not in p.split(":")[1]], breakdown


def test_gnss_fields_are_compared_on_the_captures() -> None:
    """The captures hold what the GNSS-quality comparison needs: hundreds of time stamps, RAIM flags and
    sync states compared with gpsdecode's, and class B reports from "CS" units (no sync state) among them."""
    totals: collections.Counter[str] = collections.Counter()
    cs_units = 0
    for path in CAPTURES:
        counts, _ = compare(path)
        totals.update(counts)
        cs_units += sum(1 for g in gpsdecode(accepted_lines(path)) if g["type"] == 18 and g.get("cs"))
    assert min(totals["second"], totals["raim"], totals["sync_state"]) > 500, totals
    assert cs_units > 0
