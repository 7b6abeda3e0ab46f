"""The bundled sample feed through the whole pipeline: golden alerts, and agreement with the simulator's
truth.

The golden file pins every field of every alert; regenerate it deliberately with
`.venv/bin/python tools/regen_golden.py` after a change that is meant to alter alerts, and review the diff.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from monitor.zones import default_zone_path, load_zone_file
from tools.simulate import SAMPLE_START, SAMPLE_TRANSITS, sample_scenario, state_at

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "hormuz-sample.nmea.gz"
GOLDEN = ROOT / "tests" / "golden" / "hormuz-sample.alerts.jsonl"


@pytest.fixture(scope="module")
def sample_run() -> tuple[list[dict[str, Any]], str]:
    """One replay of the sample through the installed command line, shared by the tests here."""
    r = subprocess.run(
        [sys.executable, "-m", "monitor", "replay", str(SAMPLE), "--format", "jsonl"],
        capture_output=True, timeout=300, check=True,
    )
    return [json.loads(line) for line in r.stdout.decode().splitlines()], r.stderr.decode()


def test_sample_replay_matches_golden_alerts_in_full(sample_run: tuple[list[dict[str, Any]], str]) -> None:
    """Replaying the sample gives exactly the golden alerts, every field, in order."""
    alerts, _ = sample_run
    golden = [json.loads(line) for line in GOLDEN.read_text().splitlines()]
    assert len(alerts) == len(golden)
    for got, want in zip(alerts, golden):
        assert got == want


def test_sample_summary_counts_junk_and_duplicates(sample_run: tuple[list[dict[str, Any]], str]) -> None:
    """The summary names the malformed lines by reason and the duplicates from the second receiver."""
    _, err = sample_run
    assert "lines read        111685" in err
    assert "lines rejected    186 (" in err
    assert "other sentences   37 " in err  # its 37 $GPGGA lines: counted apart, not rejected
    for reason in ("bad_checksum", "bad_tag_block", "non_utf8", "unknown_sentence"):
        assert reason in err
    assert "duplicates        25707" in err
    assert "vessels           38" in err


def test_sample_transits_are_one_per_passage_with_the_right_direction(
    sample_run: tuple[list[dict[str, Any]], str],
) -> None:
    """Every vessel the simulator sends through the strait gets exactly one transit, direction right."""
    alerts, _ = sample_run
    got = {a["mmsi"]: a["details"]["direction"] for a in alerts if a["kind"] == "transit"}
    assert Counter(a["mmsi"] for a in alerts if a["kind"] == "transit") == Counter(SAMPLE_TRANSITS.keys())
    assert got == SAMPLE_TRANSITS


def test_sample_enters_and_exits_match_the_true_tracks(sample_run: tuple[list[dict[str, Any]], str]) -> None:
    """One zone_enter/zone_exit per real crossing: counted on the simulator's noise-free tracks, sampled
    every 10 s, against the alerts of the noisy, duplicated, malformed feed."""
    alerts, _ = sample_run
    zf = load_zone_file(default_zone_path())
    tracked = [z for z in zf.zones if z.kind not in ("region", "gate", "land")]
    scenario = sample_scenario()
    t0 = SAMPLE_START.timestamp()
    want: Counter[tuple[int, str, str]] = Counter()
    for plan in scenario.vessels:
        pts = []
        for t in np.arange(plan.start_s, scenario.duration_s + 1, 10.0):
            st = state_at(plan, float(t))
            if st is not None:
                pts.append((st.lon, st.lat))
        if not pts:
            continue
        xs, ys = np.array(pts).T
        for z in tracked:
            inside = shapely.intersects_xy(z.geometry, xs, ys)
            if inside[0]:
                want[(plan.mmsi, z.id, "zone_enter")] += 1
            changes = np.flatnonzero(inside[1:] != inside[:-1])
            for c in changes:
                want[(plan.mmsi, z.id, "zone_enter" if inside[c + 1] else "zone_exit")] += 1
    got = Counter(
        (a["mmsi"], a["zone"]["id"], a["kind"]) for a in alerts if a["kind"] in ("zone_enter", "zone_exit")
    )
    # Vessels that report only part of the time (silent at the end) keep their last membership, and the
    # truth sampled after their last report is cut at the same point by state_at returning None.
    assert got == want
    assert min(a["time"] for a in alerts) >= SAMPLE_START.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert t0 > 0
