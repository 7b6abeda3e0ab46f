"""A replay in two processes (monitor/ingestproc.py) gives exactly what one process gives: the same alerts,
ids and order included, the same summary, the same error for a feed that cannot be read; and a child that
dies or a consumer that stops early leaves no process behind and no hang."""

from __future__ import annotations

import gzip
import multiprocessing
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import load_settings
from monitor.errors import EXIT_FAILURE, EXIT_OK
from monitor.ingestproc import decoded_batches, usable_cores
from monitor.pipeline import Pipeline
from monitor.zones import default_zone_path, load_zone_file
from tests.helpers import T0, position_lines, track, write_lines

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "hormuz-sample.nmea.gz"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def second_feed(tmp_path: Path) -> Path:
    """A second recording after the sample: a transit, junk lines, a duplicate, a line from the future."""
    lines = track(538000001, [(57.5, 26.1), (55.7, 26.1)], T0, interval_s=60, speed_kn=15)
    lines.insert(3, b"!AIVDM,1,1,,A,garbage,0*00")
    lines.insert(5, b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47")
    lines.insert(7, lines[6])
    lines += position_lines(538000002, 56.0, 26.0, T0 + 10**8)
    return write_lines(tmp_path / "second.nmea", lines)


@pytest.mark.parametrize("command", ["replay", "stats"])
def test_two_processes_give_what_one_gives(
    capsys: pytest.CaptureFixture[str], second_feed: Path, command: str
) -> None:
    """The bundled sample then a second feed (gzip and plain, rejects, a duplicate, a stale line): the same
    stdout byte for byte (alerts with their ids, or the statistics) and the same summary."""
    feeds = [str(SAMPLE), str(second_feed)]
    one = run(capsys, command, *feeds, "--jobs", "1")
    two = run(capsys, command, *feeds, "--jobs", "2")
    assert one[0] == two[0] == EXIT_OK
    assert one[1] and one[1] == two[1]
    assert one[2] == two[2]
    if command == "replay":
        assert re.search(r"lines rejected +[1-9]", one[2]) and re.search(r"duplicates +[1-9]", one[2])


def test_a_feed_unreadable_mid_way_fails_alike(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A gzip cut short: in both modes the alerts of the lines before the cut, then the same one line naming
    the file, and exit 1."""
    data = gzip.compress(gzip.decompress(SAMPLE.read_bytes()))
    cut = tmp_path / "cut.nmea.gz"
    cut.write_bytes(data[: len(data) * 3 // 4])
    one = run(capsys, "replay", str(cut), "--jobs", "1")
    two = run(capsys, "replay", str(cut), "--jobs", "2")
    assert one[0] == two[0] == EXIT_FAILURE
    assert one[1] and one[1] == two[1]
    assert one[2] == two[2]
    assert one[2].startswith("chokepoint-monitor: ") and "cut.nmea.gz: unreadable after EOFError" in one[2]


def pipeline() -> Pipeline:
    return Pipeline(load_settings(None), load_zone_file(default_zone_path()))


def children() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "chokepoint-ingest"]


def test_a_child_that_dies_is_an_error_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child killed mid-run (here: it exits at its second batch): a RuntimeError with its exit code."""
    calls: list[int] = []
    ingest = Pipeline.ingest

    def dying(self: Pipeline, lines: list[bytes], source: bytes = b"") -> object:
        calls.append(1)
        if len(calls) == 2:
            os._exit(9)
        return ingest(self, lines, source)

    monkeypatch.setattr(Pipeline, "ingest", dying)
    got: list[object] = []
    with pytest.raises(RuntimeError, match=r"ingest process ended without finishing \(exit code 9\)"):
        got.extend(decoded_batches(pipeline(), [str(SAMPLE)], 256))
    assert len(got) == 1  # the batch decoded before it died
    assert not children()


def test_a_bug_in_the_child_is_reported_with_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """With raise_internal_errors (as in the tests) a bug in the child's half fails the run with the child's
    traceback; without it, as in production, the batch is counted as internal_error and the run goes on."""

    def broken(*args: object, **kwargs: object) -> object:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("monitor.pipeline.decode_batch", broken)
    with pytest.raises(RuntimeError, match=r"(?s)the ingest process failed:.*ZeroDivisionError: a bug"):
        list(decoded_batches(pipeline(), [str(SAMPLE)], 4096))
    monkeypatch.setattr(Pipeline, "raise_internal_errors", False)
    p = pipeline()
    assert list(decoded_batches(p, [str(SAMPLE)], 4096)) == []
    summary = p.finish()
    assert summary.lines > 0 and summary.rejects["internal_error"] == summary.lines
    assert not children()


def test_a_consumer_that_stops_early_leaves_no_child() -> None:
    """`| head` or an exception in the engine's half: the generator is closed and the child is ended."""
    batches: Iterator[object] = decoded_batches(pipeline(), [str(SAMPLE)], 64)
    next(batches)
    assert children()
    batches.close()  # type: ignore[attr-defined]
    assert not children()


def test_the_default_is_two_processes_only_when_it_pays(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two processes by default where two CPUs are free; one when paced (--speed), when publishing, or on
    one CPU. Observed through whether the child is started."""
    from monitor import cli

    assert usable_cores() >= 1
    started: list[int] = []
    real = decoded_batches

    def spy(*args: object, **kwargs: object) -> object:
        started.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("monitor.ingestproc.decoded_batches", spy)
    feed = write_lines(tmp_path / "f.nmea", position_lines(538000001, 56.0, 26.0, T0))
    monkeypatch.setattr("monitor.ingestproc.usable_cores", lambda: 2)
    assert run(capsys, "replay", str(feed))[0] == EXIT_OK
    assert started == [1]
    assert run(capsys, "replay", str(feed), "--speed", "1000000")[0] == EXIT_OK
    assert started == [1]
    monkeypatch.setattr("monitor.ingestproc.usable_cores", lambda: 1)
    assert run(capsys, "replay", str(feed))[0] == EXIT_OK
    assert started == [1]
    assert run(capsys, "replay", str(feed), "--jobs", "2")[0] == EXIT_OK
    assert started == [1, 1]
    assert cli._jobs(cli._parser().parse_args(["replay", str(feed), "--publish"])) == 1


def test_stdin_is_read_by_the_child() -> None:
    """`replay -`: multiprocessing gives its children /dev/null for stdin; the child reads a copy of ours
    (gzip found by its magic, as in one process)."""
    import subprocess
    import sys

    def replay(jobs: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "monitor", "replay", "-", "--jobs", jobs],
                              input=SAMPLE.read_bytes(), capture_output=True, timeout=120, check=False)

    one, two = replay("1"), replay("2")
    assert one.returncode == two.returncode == EXIT_OK, two.stderr
    assert one.stdout and one.stdout == two.stdout
    assert one.stderr == two.stderr
