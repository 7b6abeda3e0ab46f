"""Watchlists by IMO number and from a CSV file, and the OFAC SDN import (issue 14, points 1-2).

The truth comes from the test itself: IMO check digits worked out here, static-report times read from the
simulated feed's own lines, the OFAC rows read off the fixture by eye.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from monitor.config import Watchlist, load_settings
from monitor.errors import ConfigError
from monitor.pipeline import Pipeline
from monitor.service import Service
from monitor.watchlists import Watchlists, imo_valid, ofac_sdn_rows, parse_imo, read_watchlist_file
from tests.scenarios import (
    _LINE,
    HOUR,
    T0,
    _sixbit,
    lines_of,
    run_lines,
    scenario,
    seconds,
    zonefile,
)
from tools.simulate import ROUTES, VesselPlan, _advance, write_feed

ROOT = Path(__file__).resolve().parents[1]
SDN = ROOT / "tests" / "data" / "ofac" / "sdn.csv"

PANAMA = 352_001_234  # MID 352: Panama
PANAMA_NEW = 373_500_017  # MID 373: Panama too, the same ship's next MMSI
GABON = 626_004_411  # MID 626: Gabon


def check_digit(first_six: str) -> int:
    """IMO check digit worked out by hand: the six digits weighted 7, 6, 5, 4, 3, 2, summed, mod 10."""
    return sum(int(d) * w for d, w in zip(first_six, (7, 6, 5, 4, 3, 2), strict=True)) % 10


# 9304356: 9*7 + 3*6 + 0*5 + 4*4 + 3*3 + 5*2 = 116, check digit 6.
IMO = int("930435" + str(check_digit("930435")))
assert IMO == 9_304_356


def static_times(lines: list[bytes], mmsi: int) -> list[float]:
    """Seconds after START of every type 5 (first fragment) the first receiver logged from `mmsi`."""
    out: list[float] = []
    for line in lines:
        m = _LINE.match(line)
        if m is None or m.group(1) != b"sim1" or m.group(4) != b"2" or m.group(5) != b"1":
            continue
        payload = m.group(6).decode()
        if _sixbit(payload, 0, 6) == 5 and _sixbit(payload, 8, 30) == mmsi:
            out.append(float(int(m.group(2)) - T0))
    return out


def inbound(mmsi: int, *, nm: float = 60.0, **kw: Any) -> VesselPlan:
    """A tanker on the inbound lane towards Ras Tanura, `nm` along the route at the start."""
    return VesselPlan(mmsi, _advance(ROUTES["inbound-ras-tanura"], nm), 14.0, name="ASTRA VENTURE", imo=IMO,
                      ship_type=80, **kw)


def write_config(tmp_path: Path, csv_text: str, name: str = "desk") -> Path:
    (tmp_path / f"{name}.csv").write_text(csv_text, encoding="utf-8")
    config = tmp_path / "monitor.toml"
    # A relative file: resolved against the config file's directory, not the working directory.
    config.write_text(f'[watchlists.{name}]\nfile = "{name}.csv"\n', encoding="utf-8")
    return config


class _Notifier:
    def notify(self, state: str) -> None:
        pass


def test_check_digit_matches_hand_computation() -> None:
    """imo_valid accepts exactly the 7-digit numbers whose last digit is the weighted sum mod 10."""
    for first_six in ("930435", "925387", "941610", "100000", "999999"):
        good = int(first_six + str(check_digit(first_six)))
        assert imo_valid(good)
        for wrong in range(10):
            if wrong != check_digit(first_six):
                assert not imo_valid(int(first_six + str(wrong)))
    assert not imo_valid(930435)  # six digits
    assert not imo_valid(93043560)  # eight
    assert parse_imo("IMO 9304356") == parse_imo(" imo:9304356") == parse_imo("9304356") == IMO
    with pytest.raises(ValueError, match="not 7 digits"):
        parse_imo("93-04356")


def test_panama_ship_listed_by_imo_is_watched_from_its_static_report(tmp_path: Path) -> None:
    """A Panama-flagged ship on a CSV list by IMO only: unwatched until its type 5 gives the IMO, then its
    alerts carry the list's name and are at least `warning` (CONTRACT: a watched vessel's alerts)."""
    lines = lines_of(scenario(inbound(PANAMA, first_static_s=1800.0), duration_s=4 * HOUR))
    first_static = static_times(lines, PANAMA)[0]
    config = write_config(tmp_path, f"imo,name,operator,crew\n{IMO},ASTRA VENTURE,Hanbit Shipping,21\n")
    alerts = [a for a in run_lines(lines, config=config) if a["mmsi"] == PANAMA]
    before = [a for a in alerts if seconds(a["time"]) < first_static]
    after = [a for a in alerts if seconds(a["time"]) > first_static]
    assert before and after
    assert all(a["vessel"]["watch"] == [] for a in before)
    for a in after:
        assert a["vessel"]["watch"] == ["desk"], a
        assert a["vessel"]["imo"] == IMO
        assert a["severity"] in ("warning", "critical"), a
    # The default list is replaced by the file's: only `desk` is in force.
    assert load_settings(config, env={}).watchlists.keys() == {"desk"}


def test_same_imo_under_a_new_mmsi_is_watched_at_once(tmp_path: Path) -> None:
    """The listed ship goes silent and comes back under another MMSI (flag hopping within Panama's
    MIDs): the new MMSI is watched from its first type 5, and the old one's `dark` carries the list too."""
    switch = 3000.0
    old = inbound(PANAMA, first_static_s=0.0, end_s=switch)
    sailed = 14.0 * (switch + 600.0) / 3600.0  # it kept sailing at 14 kn while silent
    new = inbound(PANAMA_NEW, nm=60.0 + sailed, start_s=switch + 600.0, first_static_s=0.0)
    lines = lines_of(scenario(old, new, duration_s=4 * HOUR))
    first_static = static_times(lines, PANAMA_NEW)[0]
    config = write_config(tmp_path, f"imo\n{IMO}\n")
    pipeline = Pipeline(load_settings(config, env={}), zonefile())
    upto = next(i for i, line in enumerate(lines)
                if int(line.split(b"c:")[1].split(b"*")[0]) - T0 > first_static)
    alerts = [a.to_dict() for a in pipeline.process_lines(lines[:upto])]
    assert pipeline.engine.vessels[PANAMA_NEW].watch == ["desk"]
    assert pipeline.engine.vessels[PANAMA_NEW].info()["watch"] == ["desk"]
    alerts += [a.to_dict() for a in pipeline.process_lines(lines[upto:])]
    new_after = [a for a in alerts if a["mmsi"] == PANAMA_NEW and seconds(a["time"]) > first_static]
    assert new_after and all(a["vessel"]["watch"] == ["desk"] for a in new_after)
    dark = [a for a in alerts if a["mmsi"] == PANAMA and a["kind"] == "dark"]
    assert dark and dark[0]["vessel"]["watch"] == ["desk"] and dark[0]["severity"] != "info"


def test_bad_check_digit_in_the_file_exits_3_naming_file_and_line(tmp_path: Path) -> None:
    """`replay --config` with a watchlist row whose IMO fails its check digit: exit 3, one line naming the
    CSV file and the line (the header is line 1)."""
    bad = IMO + 1 if IMO % 10 != 9 else IMO - 1
    config = write_config(tmp_path, f"imo,name\n{IMO},ASTRA VENTURE\n{bad},WRONG DIGIT\n")
    feed = tmp_path / "feed.nmea.gz"
    write_feed(feed, lines_of(scenario(duration_s=600.0)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    r = subprocess.run([sys.executable, "-m", "monitor", "replay", str(feed), "--config", str(config)],
                       cwd=ROOT, capture_output=True, env=env, timeout=120, check=False)
    assert r.returncode == 3
    err = r.stderr.decode()
    assert f"{tmp_path / 'desk.csv'}: line 3: IMO number {bad} fails its check digit" in err


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "line 1: empty file"),
        ("imo,flag\n9304356,PA\n", "line 1: unknown column 'flag'"),
        ("name,operator\nASTRA VENTURE,Hanbit\n", "line 1: no 'imo' or 'mmsi' column"),
        ("imo,IMO\n9304356,9304356\n", "line 1: a column is named twice"),
        ("imo\n9304356,352001234\n", "line 2: 2 fields, the header has 1"),
        ("imo,mmsi\n\n9304356,35200123\n", "line 3: MMSI '35200123' is not 9 digits"),
        ("imo\nIMO 930435\n", "line 2: IMO number 'IMO 930435' is not 7 digits"),
    ],
)
def test_bad_watchlist_file_is_refused_with_its_line(tmp_path: Path, text: str, problem: str) -> None:
    """Each kind of bad file is refused when the configuration loads, naming the file and the line."""
    config = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    assert caught.value.path == str(tmp_path / "desk.csv")
    assert caught.value.problem.startswith(problem), caught.value.problem


def test_unreadable_watchlist_files_are_refused(tmp_path: Path) -> None:
    """A missing file, a directory, or bytes that are not UTF-8 are config errors (exit 3), not crashes."""
    config = tmp_path / "monitor.toml"
    config.write_text('[watchlists.desk]\nfile = "missing.csv"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(config, env={})
    (tmp_path / "dir.csv").mkdir()
    config.write_text('[watchlists.desk]\nfile = "dir.csv"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot read watchlist file"):
        load_settings(config, env={})
    (tmp_path / "latin.csv").write_bytes(b"imo,name\n9304356,S\xe3O PAULO\n")
    config.write_text('[watchlists.desk]\nfile = "latin.csv"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(config, env={})


def test_absolute_and_empty_file_paths(tmp_path: Path) -> None:
    """An absolute `file` is taken as it is; an empty one means no file (the list's other keys only)."""
    listed = tmp_path / "lists" / "desk.csv"
    listed.parent.mkdir()
    listed.write_text(f"imo\n{IMO}\n", encoding="utf-8")
    config = tmp_path / "etc" / "monitor.toml"
    config.parent.mkdir()
    config.write_text(f'[watchlists.desk]\nfile = {json.dumps(str(listed))}\n[watchlists.none]\nfile = ""\n'
                      'mmsis = [352001234]\n', encoding="utf-8")
    settings = load_settings(config, env={})
    assert [e.imo for e in settings.watchlists["desk"].entries] == [IMO]
    assert settings.watchlists["none"].entries == ()
    assert Watchlists(settings.watchlists).match(PANAMA, IMO) == ["desk", "none"]


def test_imos_key_is_checked_like_the_file() -> None:
    """`imos = [...]` in the TOML refuses a bad check digit, naming the key."""
    with pytest.raises(ConfigError, match=r"watchlists\.x\.imos\.0: .*9304357 is not 7 digits with a valid"):
        load_settings(None, env={"MONITOR_WATCHLISTS": '{"x": {"imos": [9304357]}}'})
    settings = load_settings(None, env={"MONITOR_WATCHLISTS": '{"x": {"imos": [9304356], "roster": true}}'})
    assert settings.watchlists["x"].imos == [IMO]
    assert settings.watchlists["x"].roster


def test_matching_order_and_the_desks_entry(tmp_path: Path) -> None:
    """IMO first, then MMSI, then MID; a name alone never matches; the entry carries the desk's facts."""
    path = tmp_path / "desk.csv"
    path.write_text(
        "\ufeffIMO,MMSI,Name,Operator,Crew,Note,Entry\n"  # a spreadsheet's byte-order mark and capitals
        f"{IMO},,ASTRA VENTURE,Hanbit Shipping,21 (6 KR),chartered,K-12\n"
        ",352009999,BY MMSI ONLY,,,,K-13\n"
        ",,NAME ONLY,,,,K-14\n",
        encoding="utf-8",
    )
    desk = Watchlist(file=str(path), roster=True)
    lists = Watchlists({"desk": desk, "korea": Watchlist(mids=[440, 441]),
                        "other": Watchlist(imos=[IMO], mmsis=[PANAMA])})
    assert lists.roster == {"desk"}
    assert lists.match(PANAMA) == ["other"]  # by MMSI, before its IMO is known
    assert lists.match(PANAMA_NEW, IMO) == ["desk", "other"]  # by IMO, whatever the MMSI
    assert lists.match(440_123_456) == ["korea"]
    assert lists.match(352_009_999) == ["desk"]
    assert lists.match(999_999_999) == []  # no MID: nothing by flag
    entry = lists.entry_for(PANAMA_NEW, IMO)
    assert entry is not None
    assert (entry.watchlist, entry.operator, entry.crew, entry.note, entry.entry) == (
        "desk", "Hanbit Shipping", "21 (6 KR)", "chartered", "K-12")
    # IMO entries first, then MMSI entries, each once.
    assert [(e.watchlist, e.imo, e.mmsi) for e in lists.entries_for(PANAMA, IMO)] == [
        ("desk", IMO, None), ("other", IMO, None), ("other", None, PANAMA)]
    assert lists.entry_for(PANAMA_NEW) is None
    assert all(e.name != "NAME ONLY" for e in lists.entries_for(None, None))
    assert [e.entry for e in read_watchlist_file(path)] == ["K-12", "K-13", "K-14"]


def test_reload_picks_up_an_edited_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGHUP's path: the file edited to list the ship's IMO, the reloaded pipeline watches the vessel at
    once (its IMO was heard before the reload), and later alerts carry the list. A file broken meanwhile
    is refused by Service.reload, and the lists in force stay."""
    lines = lines_of(scenario(inbound(PANAMA, first_static_s=0.0), duration_s=4 * HOUR))
    config = write_config(tmp_path, "imo,name\n")
    pipeline = Pipeline(load_settings(config, env={}), zonefile())
    half = len(lines) // 4
    pipeline.process_lines(lines[:half])
    assert pipeline.engine.vessels[PANAMA].imo == IMO
    assert pipeline.engine.vessels[PANAMA].watch == []
    (tmp_path / "desk.csv").write_text(f"imo,name\n{IMO},ASTRA VENTURE\n", encoding="utf-8")
    pipeline.reload(load_settings(config, env={}), zonefile())
    assert pipeline.engine.vessels[PANAMA].watch == ["desk"]
    later = [a.to_dict() for a in pipeline.process_lines(lines[half:])]
    ours = [a for a in later if a["mmsi"] == PANAMA]
    assert ours and all(a["vessel"]["watch"] == ["desk"] for a in ours)

    # (sdnotify's notifier, without NOTIFY_SOCKET, leaves a socket unclosed: a recording stand-in.)
    monkeypatch.setattr("monitor.service.sdnotify.SystemdNotifier", _Notifier)
    service = Service(load_settings(config, env={}), zonefile(), config_path=str(config))
    service.pipeline.process_lines(lines[:half])
    assert service.pipeline.engine.vessels[PANAMA].watch == ["desk"]
    (tmp_path / "desk.csv").write_text(f"imo,name\n{IMO + 1}\n", encoding="utf-8")
    assert service.reload() is False
    assert service.pipeline.engine.vessels[PANAMA].watch == ["desk"]
    (tmp_path / "desk.csv").write_text("imo,name\n", encoding="utf-8")
    assert service.reload() is True
    assert service.pipeline.engine.vessels[PANAMA].watch == []
    (tmp_path / "desk.csv").write_text(f"imo,operator,crew\n{IMO},Hanbit Shipping,21\n", encoding="utf-8")
    assert service.reload() is True
    detail = service.vessel(PANAMA)
    assert detail is not None and detail["watch"] == ["desk"]
    assert detail["watch_entries"] == [{"watchlist": "desk", "imo": IMO, "mmsi": None, "name": None,
                                        "operator": "Hanbit Shipping", "crew": "21", "note": None,
                                        "entry": None}]


# ---- OFAC's SDN list ------------------------------------------------------------------------------------

# The fixture's vessel rows, read off tests/data/ofac/sdn.csv by eye.
OFAC_EXPECTED = [
    {"imo": "9304356", "mmsi": "352001234", "name": "ASTRA VENTURE", "note": "IRAN-EO13846",
     "entry": "41501"},
    {"imo": "9253870", "mmsi": "613003755", "name": "NORTHERN LUMEN", "note": "SDGT; IRGC", "entry": "41502"},
    {"imo": "9416109", "mmsi": "", "name": "SUNRISE MARINER", "note": "RUSSIA-EO14024", "entry": "41505"},
]


def test_ofac_import_writes_vessels_and_warns_of_skipped_ones(capsys: pytest.CaptureFixture[str]) -> None:
    """`watchlist import ofac-sdn`: vessel entries only (not the individual, nor the company's IMO
    number), IMO and MMSI from the remarks; the entry without IMO or MMSI, and the one failing its check
    digit (9512772: 9*7+5*6+1*5+2*4+7*3+7*2 = 141, so the digit must be 1), named on stderr."""
    assert check_digit("951277") == 1
    assert main(["watchlist", "import", "ofac-sdn", str(SDN)]) == 0
    out, err = capsys.readouterr()
    assert list(csv.DictReader(io.StringIO(out))) == OFAC_EXPECTED
    assert out.splitlines()[0] == "imo,mmsi,name,note,entry"
    assert "line 4: entry 41503 KAROON STAR: skipped, no IMO number or MMSI" in err
    assert "line 5: entry 41504 BRIGHT HARVEST: skipped, IMO number 9512772 fails its check digit" in err
    assert err.splitlines()[-1].endswith("3 vessels, 2 skipped")


def test_ofac_import_keeps_a_vessel_listed_by_mmsi_only() -> None:
    """OFAC lists some vessels by MMSI alone: kept, to match by MMSI."""
    row = ('9,"NO IMO","vessel","IRAN","-0- ","-0- ","-0- ","-0- ","-0- ","-0- ","-0- ",'
           '"MMSI 422012345; Vessel Year of Build 1990."')
    assert ofac_sdn_rows([row]).rows == [
        {"imo": "", "mmsi": "422012345", "name": "NO IMO", "note": "IRAN", "entry": "9"}]


def test_ofac_import_reads_stdin_and_latin1(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`-` reads stdin; a Latin-1 file (older OFAC files) is read rather than refused."""
    row = ('9,"S\xc3O PAULO","vessel","CUBA","-0- ","-0- ","-0- ","-0- ","-0- ","-0- ","-0- ",'
           '"IMO 9304356."\r\n').encode("latin-1")

    class _Stdin:
        buffer = io.BytesIO(row)

    monkeypatch.setattr(sys, "stdin", _Stdin())
    assert main(["watchlist", "import", "ofac-sdn", "-"]) == 0
    assert "9304356,,S\xc3O PAULO,CUBA,9" in capsys.readouterr().out


def test_ofac_import_of_a_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing published file is like a missing feed: exit 1, one line naming it."""
    assert main(["watchlist", "import", "ofac-sdn", str(tmp_path / "sdn.csv")]) == 1
    assert "sdn.csv" in capsys.readouterr().err


def test_ofac_round_trip_tags_a_ship_in_a_replay(tmp_path: Path) -> None:
    """The import's output as a watchlist file: a Gabon-flagged ship whose type 5 gives SUNRISE MARINER's
    IMO (listed without an MMSI) is tagged `sanctions` in a replay through the command line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    r = subprocess.run([sys.executable, "-m", "monitor", "watchlist", "import", "ofac-sdn", str(SDN)],
                       cwd=ROOT, capture_output=True, env=env, timeout=60, check=True)
    (tmp_path / "sanctions.csv").write_bytes(r.stdout)
    config = tmp_path / "monitor.toml"
    config.write_text('[watchlists.sanctions]\nfile = "sanctions.csv"\n', encoding="utf-8")
    imo = int(OFAC_EXPECTED[2]["imo"])
    plan = VesselPlan(GABON, _advance(ROUTES["inbound-ras-tanura"], 60), 13.0, name="SUNRISE MARINER",
                      imo=imo, ship_type=80, first_static_s=600.0)
    lines = lines_of(scenario(plan, duration_s=3 * HOUR))
    first_static = static_times(lines, GABON)[0]
    feed = tmp_path / "feed.nmea.gz"
    write_feed(feed, lines)
    r = subprocess.run([sys.executable, "-m", "monitor", "replay", str(feed), "--config", str(config)],
                       cwd=ROOT, capture_output=True, env=env, timeout=120, check=False)
    assert r.returncode == 0, r.stderr.decode()
    alerts = [json.loads(line) for line in r.stdout.decode().splitlines()]
    ours = [a for a in alerts if a["mmsi"] == GABON and seconds(a["time"]) > first_static]
    assert ours and all(a["vessel"]["watch"] == ["sanctions"] and a["severity"] != "info" for a in ours)
    assert all(a["vessel"]["watch"] == [] for a in alerts if a["mmsi"] != GABON)
