"""Maritime Identification Digits (MID): which country an MMSI belongs to.

The table (`monitor/data/mid.csv`) is the ITU allocation list of ITU-R M.585 / the ITU MARS database,
one row per MID with the ISO 3166-1 alpha-2 code of the country or territory. It is data rather than
code so that a new ITU allocation is a one-line change reviewable without reading Python.

`flag_of` runs once per alert and once per vessel in the tracker, so the table is loaded lazily on first
use and kept as two 1000-slot lists indexed by MID: a lookup is integer arithmetic plus one list index.
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import io
from typing import NamedTuple

__all__ = ["MidEntry", "country_of_mid", "flag_of", "mid_of", "mid_table"]

_DATA_PACKAGE = "monitor.data"
_TABLE_FILE = "mid.csv"


class MidEntry(NamedTuple):
    """One row of the ITU MID table."""

    mid: int
    alpha2: str  # ISO 3166-1 alpha-2 of the country or territory (parent code where it has none)
    country: str  # English name, with the territory where the ITU allocates to one
    note: str  # why an alpha-2 was chosen where the choice is not obvious; empty otherwise


class _Table(NamedTuple):
    entries: tuple[MidEntry, ...]
    alpha2_by_mid: list[str | None]  # index = MID, 0..999
    country_by_mid: list[str | None]


@functools.cache
def _table() -> _Table:
    """Read and check the packaged CSV once; a broken table is a packaging bug, so fail loudly."""
    text = importlib.resources.files(_DATA_PACKAGE).joinpath(_TABLE_FILE).read_text(encoding="utf-8")
    alpha2_by_mid: list[str | None] = [None] * 1000
    country_by_mid: list[str | None] = [None] * 1000
    entries: list[MidEntry] = []
    for row in csv.DictReader(io.StringIO(text)):
        entry = MidEntry(int(row["mid"]), row["alpha2"], row["country"], row.get("note") or "")
        if not 200 <= entry.mid <= 799:
            raise ValueError(f"{_TABLE_FILE}: MID {entry.mid} outside 200..799")
        if alpha2_by_mid[entry.mid] is not None:
            raise ValueError(f"{_TABLE_FILE}: MID {entry.mid} listed twice")
        alpha2_by_mid[entry.mid] = entry.alpha2
        country_by_mid[entry.mid] = entry.country
        entries.append(entry)
    return _Table(tuple(entries), alpha2_by_mid, country_by_mid)


def mid_table() -> tuple[MidEntry, ...]:
    """Every allocated MID, in file order (ascending MID)."""
    return _table().entries


def mid_of(mmsi: int) -> int | None:
    """The MID embedded in an MMSI, or None when the MMSI's form carries none.

    ITU-R M.585 forms, written as 9 digits (leading zeros are lost in the integer AIS carries):
    ship station MIDxxxxxx, group ship station 0MIDxxxxx, coast station 00MIDxxxx,
    SAR aircraft 111MIDxxx, aid to navigation 99MIDxxxx, craft associated with a parent ship
    98MIDxxxx, handheld VHF with DSC/GNSS 8MIDxxxxx. A MID always starts with 2..7.
    SART/MOB/EPIRB identities (970/972/974...) and anything else carry no MID.

    The MID returned is structural: it may be unallocated (e.g. 217); `flag_of` then gives None.
    """
    if mmsi < 2_000_000 or mmsi > 999_999_999:
        return None
    if mmsi >= 100_000_000:  # 9 significant digits
        lead = mmsi // 100_000_000
        if 2 <= lead <= 7:  # ship station MIDxxxxxx: by far the commonest, so tested first
            return mmsi // 1_000_000
        if lead == 8:  # handheld 8MIDxxxxx
            mid = mmsi // 100_000 % 1000
        elif lead == 9:
            prefix = mmsi // 10_000_000
            if prefix not in (98, 99):  # 97x: SART, MOB, EPIRB-AIS carry no MID
                return None
            mid = mmsi // 10_000 % 1000
        elif mmsi // 1_000_000 == 111:  # SAR aircraft 111MIDxxx
            mid = mmsi // 1000 % 1000
        else:
            return None
    elif mmsi >= 20_000_000:  # group ship station 0MIDxxxxx (8 significant digits)
        mid = mmsi // 100_000
    elif mmsi < 10_000_000:  # coast station 00MIDxxxx (7 significant digits)
        mid = mmsi // 10_000
    else:  # 01xxxxxxx: no such form
        return None
    return mid if 200 <= mid <= 799 else None


def flag_of(mmsi: int) -> str | None:
    """ISO 3166-1 alpha-2 of the MMSI's MID; None if the MMSI has no MID or the MID is unallocated."""
    mid = mid_of(mmsi)
    return None if mid is None else _table().alpha2_by_mid[mid]


def country_of_mid(mid: int) -> str | None:
    """English name of the country or territory a MID is allocated to; None if unallocated."""
    if not 0 <= mid <= 999:
        return None
    return _table().country_by_mid[mid]
