"""Watchlists: which lists a vessel is on, by IMO number, MMSI or flag (MID), and the desk's entry for it.

A list (`[watchlists.NAME]`, monitor.config.Watchlist) names vessels by `imos`, `mmsis`, `mids`, and a CSV
`file` whose rows carry the desk's facts (operator, crew, note, entry number). The IMO number is the
ship's own for life, while its MMSI and flag change with a sale or a flag hop: a vessel matches by IMO
first, then by MMSI, then by MID. A row with only a name never matches: names are reused and misspelt
too often to decide that a ship is sanctioned or carries nationals.

The file is read and checked when the configuration is loaded (monitor.config), so a bad IMO is refused
with its line at start (exit 3) or on SIGHUP (the reload is refused and the old lists stay in force).

`ofac_sdn_rows` turns OFAC's published `sdn.csv` into watchlist rows (`watchlist import ofac-sdn`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from monitor.errors import ConfigError
from monitor.mid import mid_of

if TYPE_CHECKING:
    from monitor.config import Watchlist

# The columns a watchlist file may have (CONTRACT "Watchlists"); the header names the ones it uses.
COLUMNS = ("imo", "mmsi", "name", "operator", "crew", "note", "entry")
# What `watchlist import ofac-sdn` writes, in this order.
OFAC_COLUMNS = ("imo", "mmsi", "name", "note", "entry")


def imo_valid(imo: int) -> bool:
    """True for a 7-digit IMO ship number whose last digit is its check digit: the first six digits
    weighted 7, 6, 5, 4, 3, 2, summed, mod 10 (IMO Resolution A.1078(28))."""
    if not 1_000_000 <= imo <= 9_999_999:
        return False
    digits = [int(c) for c in str(imo)]
    return sum(d * w for d, w in zip(digits[:6], range(7, 1, -1), strict=True)) % 10 == digits[6]


@dataclass(frozen=True)
class WatchEntry:
    """One row of a watchlist file: the vessel's keys and what the desk knows about it."""

    watchlist: str  # the list's name (as in `vessel.watch`); "" until Watchlists files it under one
    imo: int | None = None
    mmsi: int | None = None
    name: str | None = None
    operator: str | None = None
    crew: str | None = None  # free text as the desk keeps it ("21 KR", "18 (6 Korean)")
    note: str | None = None
    entry: str | None = None  # the list's own reference (OFAC's ent_num, a case number)


def read_watchlist_file(path: str | Path, watchlist: str = "") -> tuple[WatchEntry, ...]:
    """The rows of a watchlist CSV file; ConfigError naming the file and line for any bad row.

    The header is matched case-insensitively; an unknown column is refused, as unknown config keys are:
    a misspelt `IMO No` would otherwise leave every row unmatched while the list looks loaded.
    """
    origin = str(path)
    try:
        # utf-8-sig: a spreadsheet saved as "CSV UTF-8" starts with a byte-order mark.
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise ConfigError(origin, "no such file (watchlist file)") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(origin, f"not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(origin, f"cannot read watchlist file: {exc.strerror or exc}") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise ConfigError(origin, f"line 1: empty file, expected a header (columns: {', '.join(COLUMNS)})")
    names = [h.strip().lower() for h in header]
    unknown = [h for h in names if h not in COLUMNS]
    if unknown:
        raise ConfigError(origin, f"line 1: unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)})")
    if "imo" not in names and "mmsi" not in names:
        raise ConfigError(origin, "line 1: no 'imo' or 'mmsi' column: no row could ever match a vessel")
    if len(set(names)) != len(names):
        raise ConfigError(origin, "line 1: a column is named twice")
    entries: list[WatchEntry] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank lines between groups of ships
        if len(row) > len(names):
            raise ConfigError(origin, f"line {line}: {len(row)} fields, the header has {len(names)}")
        cells = {k: v.strip() or None for k, v in zip(names, row, strict=False)}
        entries.append(
            WatchEntry(
                watchlist,
                imo=_imo_cell(cells.get("imo"), origin, line),
                mmsi=_mmsi_cell(cells.get("mmsi"), origin, line),
                name=cells.get("name"),
                operator=cells.get("operator"),
                crew=cells.get("crew"),
                note=cells.get("note"),
                entry=cells.get("entry"),
            )
        )
    return tuple(entries)


def parse_imo(text: str) -> int:
    """An IMO number as people write it ("9123456", "IMO 9123456", "IMO9123456"); ValueError naming
    the problem when it is not one or fails its check digit."""
    digits = re.sub(r"^imo[\s:]*", "", text.strip(), flags=re.IGNORECASE)
    if not re.fullmatch(r"[0-9]{7}", digits):
        raise ValueError(f"IMO number {text!r} is not 7 digits")
    imo = int(digits)
    if not imo_valid(imo):
        raise ValueError(f"IMO number {imo} fails its check digit")
    return imo


def _imo_cell(text: str | None, origin: str, line: int) -> int | None:
    if text is None:
        return None
    try:
        return parse_imo(text)
    except ValueError as exc:
        raise ConfigError(origin, f"line {line}: {exc}") from exc


def _mmsi_cell(text: str | None, origin: str, line: int) -> int | None:
    if text is None:
        return None
    if not re.fullmatch(r"[0-9]{9}", text):
        raise ConfigError(origin, f"line {line}: MMSI {text!r} is not 9 digits")
    return int(text)


class Watchlists:
    """The lists in force, indexed for the engine: `match` when a vessel is first seen and whenever a
    static report brings its IMO, `entries_for` for what the desk knows (the roster, the vessel API)."""

    def __init__(self, lists: Mapping[str, Watchlist]) -> None:
        self.names = tuple(sorted(lists))
        self.roster = frozenset(name for name, w in lists.items() if w.roster)
        self._by_imo: dict[int, list[WatchEntry]] = {}
        self._by_mmsi: dict[int, list[WatchEntry]] = {}
        self._by_mid: dict[int, set[str]] = {}
        for name in self.names:
            w = lists[name]
            keyed = [WatchEntry(name, imo=imo) for imo in w.imos]
            keyed += [WatchEntry(name, mmsi=mmsi) for mmsi in w.mmsis]
            keyed += [replace(e, watchlist=name) for e in w.entries]
            for e in keyed:
                if e.imo is not None:
                    self._by_imo.setdefault(e.imo, []).append(e)
                if e.mmsi is not None:
                    self._by_mmsi.setdefault(e.mmsi, []).append(e)
            for mid in w.mids:
                self._by_mid.setdefault(mid, set()).add(name)

    def match(self, mmsi: int, imo: int | None = None) -> list[str]:
        """The names of the lists the vessel is on, sorted (the alert's `vessel.watch`)."""
        names = {e.watchlist for e in self.entries_for(mmsi, imo)}
        mid = mid_of(mmsi)
        if mid is not None:
            names |= self._by_mid.get(mid, set())
        return sorted(names)

    def entries_for(self, mmsi: int | None, imo: int | None = None) -> list[WatchEntry]:
        """The entries naming this vessel: those found by its IMO number first (the ship's own for life),
        then those by its MMSI; each entry once."""
        found: list[WatchEntry] = []
        if imo is not None:
            found += self._by_imo.get(imo, ())
        if mmsi is not None:
            found += [e for e in self._by_mmsi.get(mmsi, ()) if e not in found]
        return found

    def entry_for(self, mmsi: int | None, imo: int | None = None) -> WatchEntry | None:
        """The desk's entry for the vessel (its IMO's first, else its MMSI's), or None."""
        found = self.entries_for(mmsi, imo)
        return found[0] if found else None


# ---- OFAC's SDN list ------------------------------------------------------------------------------------

# sdn.csv has no header row; these are its columns (OFAC's "SDN.CSV" data specification).
SDN_COLUMNS = (
    "ent_num", "SDN_Name", "SDN_Type", "Program", "Title", "Call_Sign", "Vess_type", "Tonnage", "GRT",
    "Vess_flag", "Vess_owner", "Remarks",
)
_SDN_EMPTY = "-0-"  # OFAC's marker for an empty field
# In the remarks: "Vessel Registration Identification IMO 9187629; MMSI 572469210; ...".
_SDN_IMO = re.compile(r"\bIMO\s*:?\s*([0-9]+)", re.IGNORECASE)
_SDN_MMSI = re.compile(r"\bMMSI\s*:?\s*([0-9]{9})\b", re.IGNORECASE)


@dataclass(frozen=True)
class SdnResult:
    """What `ofac_sdn_rows` found: the rows to write, and why each vessel entry left out was left out."""

    rows: list[dict[str, str]]  # watchlist rows (OFAC_COLUMNS)
    warnings: list[str]  # "line N: ..." for vessel entries skipped


def _sdn_field(value: str) -> str:
    value = value.strip()
    return "" if value == _SDN_EMPTY else value


def ofac_sdn_rows(lines: Iterable[str]) -> SdnResult:
    """Every vessel entry of OFAC's sdn.csv with a valid IMO number, as watchlist rows; vessel entries
    without one, or whose IMO fails its check digit, are skipped with a warning (an MMSI alone is
    kept: OFAC lists some vessels only by it)."""
    rows: list[dict[str, str]] = []
    warnings: list[str] = []
    reader = csv.reader(lines)
    for row in reader:
        if len(row) < len(SDN_COLUMNS) or _sdn_field(row[2]).lower() != "vessel":
            continue  # individuals, entities, aircraft; and the file's end-of-file marker line
        ent_num, name, program, remarks = (_sdn_field(row[i]) for i in (0, 1, 3, 11))
        program = "; ".join(program.split("] ["))  # several programs: "SDGT] [IRGC"
        where = f"line {reader.line_num}: entry {ent_num} {name}"
        mmsi_m = _SDN_MMSI.search(remarks)
        mmsi = mmsi_m.group(1) if mmsi_m else ""
        imos = _SDN_IMO.findall(remarks)
        imo = ""
        if imos:
            try:
                imo = str(parse_imo(imos[0]))
            except ValueError as exc:
                warnings.append(f"{where}: skipped, {exc}")
                continue
        elif not mmsi:
            warnings.append(f"{where}: skipped, no IMO number or MMSI in the remarks")
            continue
        rows.append({"imo": imo, "mmsi": mmsi, "name": name, "note": program, "entry": ent_num})
    return SdnResult(rows, warnings)


def write_rows(out: TextIO, rows: Sequence[Mapping[str, str]], columns: Sequence[str] = OFAC_COLUMNS) -> None:
    """The rows as a watchlist CSV with its header."""
    w = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)

