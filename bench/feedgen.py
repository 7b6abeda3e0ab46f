"""Two benchmark feeds of issue 10: a fleet all at sea, and a GNSS storm with half the fleet on land.

    .venv/bin/python bench/feedgen.py {atsea,storm} OUT [--vessels 2000] [--messages 1000000] [--seed 1]

Both are class A position reports (type 1, 168 bits, one sentence each) with a tag block
(`\\s:sim1,c:<unix>*hh\\`), from `vessels` vessels that each report every 10 s, each at its own phase of
the 10 s (so the feed is in time order and a second holds a tenth of the fleet): 1M lines from 2,000
vessels span 5,000 s of feed time, 500 reports a vessel. No static data, no duplicates, no junk.

  atsea  every vessel on open water of the zone file's regions and strait (`zones/hormuz.geojson`):
         at least 500 m off every `land` feature, port and anchorage. Speeds spread evenly over 0-16 kn
         (vessel i of n sails at (i + 0.5) / n * 16 kn, shuffled; so an eighth are under 2 kn, the loiter
         and encounter threshold), each report's speed jittered by 0.1 kn. Courses wander (a random walk
         of 4 degrees per report); a move that would end off open water is not made, and the vessel
         turns back (course + 180 ± 45 degrees).
  storm  half the vessels as in `atsea`; the other half spoofed onto land for the whole run: their fixes
         lie inside the `land` features (Natural Earth land), at least 500 m from the coast and off every
         port, within the regions' bounding box, and wander there the same way (turning back at the coast),
         at the speeds and courses their reports give.

Deterministic for a seed (numpy's PCG64). The motion is a loop over the 500 report rounds, each a
vectorized step of the whole fleet (shapely's `contains_xy` on the prepared open-water or land area); the
sentences are encoded with numpy as fixed-width byte rows, checksums included. A sample of each feed is
decoded back with pyais and checked against the generated values before the file is written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import box, shape

ROOT = Path(__file__).resolve().parents[1]
ZONES = ROOT / "zones" / "hormuz.geojson"
EPOCH = 1_750_377_600  # 2025-06-20 00:00 UTC, the simulator's start
INTERVAL_S = 10
MAX_SPEED_KN = 16.0
SLOW_KN = 2.0
TURN_SD_DEG = 4.0  # the course's random walk per report
MARGIN_DEG = 0.005  # about 500 m: clear of the coast, ports and anchorages
METRES_PER_DEG = 111_320.0
KNOT_MS = 1852.0 / 3600.0
KINDS = ("atsea", "storm")
CHUNK = 100_000  # rows encoded at a time
# Flag states of the Gulf's shipping: Iran, UAE, Liberia, Marshall Is., Hong Kong, Panama, Saudi Arabia.
_MIDS = (422, 470, 636, 538, 477, 353, 403)

Floats = NDArray[np.float64]


# --------------------------------------------------------------------------------------------------
# Where vessels may be


def _zone_shapes(path: Path) -> dict[str, list[Any]]:
    by_kind: dict[str, list[Any]] = {}
    for f in json.loads(path.read_text())["features"]:
        by_kind.setdefault(f["properties"]["kind"], []).append(shape(f["geometry"]))
    return by_kind


def areas(path: Path = ZONES) -> tuple[Any, Any]:
    """(open water, spoofable land), both prepared: open water is the regions and the strait less land,
    ports and anchorages with a 500 m margin; spoofable land is land at least 500 m inside the coast, off
    every port (with the margin), within the regions' bounding box."""
    k = _zone_shapes(path)
    land = shapely.union_all(k["land"])
    harbours = shapely.union_all(k["port"] + k.get("anchorage", []))
    sea = shapely.union_all(k["region"] + k.get("strait", []))
    water = sea.difference(shapely.union_all([land, harbours]).buffer(MARGIN_DEG))
    ashore = land.buffer(-MARGIN_DEG).difference(harbours.buffer(MARGIN_DEG)).intersection(box(*sea.bounds))
    shapely.prepare(water)
    shapely.prepare(ashore)
    return water, ashore


def _inside(area: Any, lon: Floats, lat: Floats) -> NDArray[np.bool_]:
    return np.asarray(shapely.contains_xy(area, lon, lat), dtype=bool)


def _scatter(rng: np.random.Generator, area: Any, n: int) -> tuple[Floats, Floats]:
    """n points drawn uniformly (in degrees) over `area`, by rejection from its bounding box."""
    x0, y0, x1, y1 = area.bounds
    lon, lat = np.empty(0), np.empty(0)
    while len(lon) < n:
        x, y = rng.uniform(x0, x1, 4 * n), rng.uniform(y0, y1, 4 * n)
        ok = _inside(area, x, y)
        lon, lat = np.r_[lon, x[ok]], np.r_[lat, y[ok]]
    return lon[:n], lat[:n]


# --------------------------------------------------------------------------------------------------
# Motion


def tracks(kind: str, vessels: int, rounds: int, seed: int, path: Path = ZONES) -> dict[str, NDArray[Any]]:
    """The fleet's reports, one row per report round and one column per vessel: lon, lat, sog, cog
    (float64), and per vessel: mmsi, phase (0-9 s), spoofed (bool)."""
    if kind not in KINDS:
        raise ValueError(f"unknown feed kind {kind!r}: {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    water, ashore = areas(path)
    spoofed = np.zeros(vessels, dtype=bool)
    if kind == "storm":
        spoofed[rng.permutation(vessels)[: vessels // 2]] = True
    lon = np.empty(vessels)
    lat = np.empty(vessels)
    for area, which in ((water, ~spoofed), (ashore, spoofed)):
        lon[which], lat[which] = _scatter(rng, area, int(which.sum()))
    speed = rng.permutation((np.arange(vessels) + 0.5) / vessels * MAX_SPEED_KN)
    cog = rng.uniform(0.0, 360.0, vessels)
    mids = rng.choice(np.array(_MIDS), vessels)
    mmsi = np.unique(mids * 1_000_000 + rng.integers(0, 1_000_000, vessels))
    while len(mmsi) < vessels:  # (a collision: draw more, keep the first `vessels` distinct)
        more = rng.choice(np.array(_MIDS), vessels) * 1_000_000 + rng.integers(0, 1_000_000, vessels)
        mmsi = np.unique(np.r_[mmsi, more])
    mmsi = rng.permutation(mmsi[:vessels])
    phase = rng.integers(0, INTERVAL_S, vessels)

    out_lon = np.empty((rounds, vessels))
    out_lat = np.empty((rounds, vessels))
    out_sog = np.empty((rounds, vessels))
    out_cog = np.empty((rounds, vessels))
    step_m = speed * KNOT_MS * INTERVAL_S
    for r in range(rounds):
        out_lon[r], out_lat[r] = lon, lat
        out_sog[r] = np.clip(speed + rng.normal(0.0, 0.1, vessels), 0.0, None)
        out_cog[r] = cog
        # The next position: a step along the course; a vessel whose step would leave its area stays
        # where it is and turns back.
        rad = np.radians(cog)
        nlat = lat + step_m * np.cos(rad) / METRES_PER_DEG
        nlon = lon + step_m * np.sin(rad) / (METRES_PER_DEG * np.cos(np.radians(lat)))
        ok = np.empty(vessels, dtype=bool)
        ok[~spoofed] = _inside(water, nlon[~spoofed], nlat[~spoofed])
        ok[spoofed] = _inside(ashore, nlon[spoofed], nlat[spoofed])
        lon = np.where(ok, nlon, lon)
        lat = np.where(ok, nlat, lat)
        turn = np.where(ok, rng.normal(0.0, TURN_SD_DEG, vessels), 180.0 + rng.uniform(-45.0, 45.0, vessels))
        cog = (cog + turn) % 360.0
    return {"lon": out_lon, "lat": out_lat, "sog": out_sog, "cog": out_cog, "mmsi": mmsi, "phase": phase,
            "spoofed": spoofed}


# --------------------------------------------------------------------------------------------------
# Encoding


# Type 1 fields as (name, bit offset from the first bit, width): ITU-R M.1371-5, table 46.
_TYPE1 = (("type", 0, 6), ("repeat", 6, 2), ("mmsi", 8, 30), ("status", 38, 4), ("rot", 42, 8),
          ("sog", 50, 10), ("accuracy", 60, 1), ("lon", 61, 28), ("lat", 89, 27), ("cog", 116, 12),
          ("heading", 128, 9), ("second", 137, 6), ("maneuver", 143, 2), ("spare", 145, 3), ("raim", 148, 1),
          ("radio", 149, 19))
_WORD = 42  # 168 bits as four 42-bit words: 7 six-bit characters each, and one word fits a uint64


def _armor_payload(fields: dict[str, NDArray[np.int64]], n: int) -> NDArray[np.uint8]:
    """(n, 28) ASCII bytes: the armoured 168-bit payloads of n type 1 reports."""
    words = np.zeros((4, n), dtype=np.uint64)
    for name, offset, width in _TYPE1:
        value = fields.get(name)
        if value is None:
            continue
        value = value.astype(np.uint64) & np.uint64((1 << width) - 1)
        for k in range(4):
            a, b = max(offset, k * _WORD), min(offset + width, (k + 1) * _WORD)
            if a >= b:
                continue
            part = (value >> np.uint64(offset + width - b)) & np.uint64((1 << (b - a)) - 1)
            words[k] |= part << np.uint64((k + 1) * _WORD - b)
    six = np.empty((n, 28), dtype=np.uint8)
    for k in range(4):
        for j in range(7):
            six[:, 7 * k + j] = ((words[k] >> np.uint64(36 - 6 * j)) & np.uint64(63)).astype(np.uint8)
    return np.where(six < 40, six + 48, six + 56).astype(np.uint8)


_HEX = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)


def _with_checksum(body: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """body rows followed by `*` and the two hex digits of their XOR."""
    x = np.bitwise_xor.reduce(body, axis=1)
    return np.concatenate([body, np.full((len(body), 1), ord("*"), np.uint8),
                           _HEX[x >> 4][:, None], _HEX[x & 15][:, None]], axis=1)


def _const(text: str, n: int) -> NDArray[np.uint8]:
    return np.broadcast_to(np.frombuffer(text.encode("ascii"), dtype=np.uint8), (n, len(text)))


def _digits(values: NDArray[np.int64], width: int) -> NDArray[np.uint8]:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((values[:, None] // powers) % 10 + ord("0")).astype(np.uint8)


def encode(t: NDArray[np.int64], mmsi: NDArray[np.int64], lon: Floats, lat: Floats, sog: Floats, cog: Floats,
           channel: NDArray[np.bool_]) -> NDArray[np.uint8]:
    """(n, 72) bytes: each row one line `\\s:sim1,c:<t>*hh\\!AIVDM,1,1,,<A|B>,<payload>,0*hh` and `\\n`.
    Fields rounded as pyais would read them back: 1/10000 minute, tenths of a knot and a degree."""
    n = len(t)
    cog10 = np.rint(cog * 10.0).astype(np.int64) % 3600
    payload = _armor_payload({
        "type": np.ones(n, np.int64), "mmsi": mmsi, "status": np.zeros(n, np.int64),
        "rot": np.full(n, 0x80, np.int64),  # -128: rate of turn not available
        "sog": np.minimum(np.rint(sog * 10.0).astype(np.int64), 1022),
        "lon": np.rint(lon * 600_000.0).astype(np.int64), "lat": np.rint(lat * 600_000.0).astype(np.int64),
        "cog": cog10, "heading": ((cog10 + 5) // 10) % 360, "second": t % 60,
    }, n)
    if t.min() < 10**9 or t.max() >= 10**10:
        raise ValueError("tag-block times must have ten digits")
    tag = _with_checksum(np.concatenate([_const("s:sim1,c:", n), _digits(t, 10)], axis=1))
    chan = np.where(channel, ord("B"), ord("A")).astype(np.uint8)[:, None]
    body = _with_checksum(np.concatenate([_const("AIVDM,1,1,,", n), chan, _const(",", n), payload,
                                          _const(",0", n)], axis=1))
    return np.concatenate([_const("\\", n), tag, _const("\\!", n), body, _const("\n", n)], axis=1)


def _check(rows: NDArray[np.uint8], t: NDArray[np.int64], mmsi: NDArray[np.int64], lon: Floats, lat: Floats,
           sog: Floats, cog: Floats) -> None:
    """Decode some rows back with pyais (an independent decoder) and compare every field written."""
    from pyais.stream import IterMessages

    pick = np.linspace(0, len(rows) - 1, min(len(rows), 500)).astype(np.int64)
    lines = [bytes(rows[i]).rstrip(b"\n") for i in pick]
    for i, msg in zip(pick.tolist(), IterMessages(lines)):
        d = msg.decode().asdict()
        tag = msg.tag_block
        tag.init()
        want = (1, int(mmsi[i]), round(lon[i] * 600_000) / 600_000, round(lat[i] * 600_000) / 600_000,
                min(round(sog[i] * 10), 1022) / 10, round(cog[i] * 10) % 3600 / 10, int(t[i]) % 60, int(t[i]))
        got = (d["msg_type"], d["mmsi"], d["lon"], d["lat"], d["speed"], d["course"], d["second"],
               int(tag.receiver_timestamp))
        if not all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(got, want)):
            raise AssertionError(f"row {i}: encoded {want}, pyais decodes {got}: {lines[i]!r}")


def lines(kind: str, vessels: int = 2000, messages: int = 1_000_000, seed: int = 1) -> NDArray[np.uint8]:
    """The whole feed: (messages, 72) bytes, in time order (ties in vessel order)."""
    rounds = -(-messages // vessels)
    tr = tracks(kind, vessels, rounds, seed)
    t = (EPOCH + np.arange(rounds)[:, None] * INTERVAL_S + tr["phase"][None, :]).ravel()
    order = np.argsort(t, kind="stable")[:messages]
    mmsi = np.broadcast_to(tr["mmsi"], (rounds, vessels)).ravel()[order]
    channel = np.broadcast_to((np.arange(rounds) % 2 == 1)[:, None], (rounds, vessels)).ravel()[order]
    t = t[order]
    lon, lat, sog, cog = (tr[f].ravel()[order] for f in ("lon", "lat", "sog", "cog"))
    # In chunks: the encoder's temporaries take about 300 bytes a row.
    parts = []
    for i in range(0, messages, CHUNK):
        c = slice(i, i + CHUNK)
        parts.append(encode(t[c], mmsi[c], lon[c], lat[c], sog[c], cog[c], channel[c]))
    rows = np.concatenate(parts)
    _check(rows, t, mmsi, lon, lat, sog, cog)
    return rows


def write(kind: str, out: Path, vessels: int = 2000, messages: int = 1_000_000, seed: int = 1) -> int:
    rows = lines(kind, vessels, messages, seed)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(np.ascontiguousarray(rows).tobytes())
    tmp.rename(out)
    return len(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=KINDS)
    ap.add_argument("out", type=Path)
    ap.add_argument("--vessels", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.vessels < 1 or args.messages < 1:
        ap.error("--vessels and --messages must be positive")
    n = write(args.kind, args.out, args.vessels, args.messages, args.seed)
    print(f"wrote {n} lines to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
