"""The `file` feed: a recording streamed as if live, paced by its own tag-block times, looped with its times
shifted by whole days, and its configuration checked at start. The daemon on it: tests/test_live.py."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from monitor.config import FeedSettings, load_settings
from monitor.errors import ConfigError
from monitor.filefeed import LOOP_GAP_S, loop_shift, play, shift_time, tag_time
from monitor.livefeeds import FeedStats, run_feed
from monitor.nmea import NmeaAssembler
from tests.helpers import T0, position_lines, tagged

SENTENCE = "!AIVDM,1,1,,A,15M67FC000G?ufbE`FepT@3n00Sa,0*5C"


def recording(path: Path, times: list[float], *, untimed_after: int | None = None) -> list[bytes]:
    """A recording of one position line at each time (an untimed line after the `untimed_after`-th)."""
    lines: list[bytes] = []
    for i, t in enumerate(times):
        lines.append(tagged(SENTENCE, t))
        if i == untimed_after:
            lines.append(SENTENCE.encode())
    data = b"".join(ln + b"\n" for ln in lines)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return lines


# ---- line times --------------------------------------------------------------------------------------------

def test_a_lines_time_is_its_tag_blocks_c_field() -> None:
    """Seconds, milliseconds above 10^11 as the parser reads them; None without a tag block or a number."""
    assert tag_time(tagged(SENTENCE, T0)) == T0
    assert tag_time(b"\\s:a,c:1750000000500*00\\" + SENTENCE.encode()) == 1_750_000_000.5
    for line in (SENTENCE.encode(), b"\\s:a*00\\!AIVDM", b"\\c:abc*00\\!AIVDM", b"\\c:nan*00\\!AIVDM",
                 b"\\c:1", b"\\*00\\"):
        assert tag_time(line) is None


def test_a_shifted_line_keeps_a_valid_tag_block() -> None:
    """shift_time moves c: and recomputes the tag block's checksum, so the pipeline accepts the line at
    its new time; milliseconds stay milliseconds; lines it cannot shift honestly are left as they are."""
    line = position_lines(538000001, 56.3, 26.5, T0)[0]
    moved = shift_time(line, 86_400)
    assert tag_time(moved) == T0 + 86_400 and moved.split(b"\\")[2] == line.split(b"\\")[2]
    assembler = NmeaAssembler(fragment_timeout_s=10, dedup_window_s=0, clock=None)
    assert [m[0] for m in assembler.push_lines([moved])] == [T0 + 86_400]
    assert assembler.rejects == {}
    millis = b"\\s:a,c:1750000000500*" + f"{_xor(b's:a,c:1750000000500'):02X}".encode() + b"\\!AIVDM"
    assert tag_time(shift_time(millis, 0.25)) == 1_750_000_000.75
    for unchanged in (SENTENCE.encode(), b"\\s:a,c:1750000000*00\\!AIVDM", b"\\s:a,c:1*ZZ\\!AIVDM",
                      b"\\s:a*" + f"{_xor(b's:a'):02X}".encode() + b"\\!AIVDM",
                      b"\\c:x*" + f"{_xor(b'c:x'):02X}".encode() + b"\\!AIVDM"):
        assert shift_time(unchanged, 86_400) == unchanged
    assert shift_time(line, 0) is line


def _xor(data: bytes) -> int:
    c = 0
    for b in data:
        c ^= b
    return c


def test_a_loop_pass_is_whole_days_later_with_a_gap() -> None:
    """Each pass is shifted by the fewest whole days that leave LOOP_GAP_S after the recording's end."""
    assert loop_shift(0, 8 * 3600) == 86_400
    assert loop_shift(0, 86_400 - LOOP_GAP_S + 1) == 2 * 86_400
    assert loop_shift(5, 5) == 86_400


# ---- pacing ------------------------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_lines_are_paced_at_the_given_speed_by_their_own_times(tmp_path: Path) -> None:
    """A recording spanning 2,000 feed seconds at speed 1,000 takes 2 s: no line is handed over before its
    feed time divided by the speed (measured from the first line), and the whole takes not much longer;
    an untimed line goes with the timed line before it."""
    times = [T0 + 100.0 * i for i in range(21)]
    lines = recording(tmp_path / "rec.nmea.gz", times, untimed_after=3)
    loop = asyncio.get_running_loop()
    got: list[tuple[float, list[bytes]]] = []
    span = await play(tmp_path / "rec.nmea.gz", 1000.0, lambda b: got.append((loop.time(), b)))
    assert span == (times[0], times[-1])
    assert [ln for _, batch in got for ln in batch] == lines
    start = got[0][0]
    for at, batch in got:
        due = (tag_time(batch[0]) or 0.0) - T0
        assert at - start >= due / 1000.0 - 0.002, (due, at - start)
    wall = got[-1][0] - start
    assert 2.0 - 0.002 <= wall < 3.0, wall
    assert any(len(batch) == 2 and tag_time(batch[1]) is None for _, batch in got)  # the untimed line


@pytest.mark.asyncio
async def test_a_fast_recording_goes_in_chunks_and_keeps_its_order(tmp_path: Path) -> None:
    """Lines due faster than they can be handed over go in chunks of at most 1,024, in order."""
    times = [float(T0 + i // 100) for i in range(3 * 1024)]  # (100 lines a second; three full chunks)
    lines = recording(tmp_path / "rec.nmea", times)
    got: list[list[bytes]] = []
    assert await play(tmp_path / "rec.nmea", 1e6, got.append, shift=86_400) == (times[0], times[-1])
    assert [len(b) for b in got] == [1024] * 3  # (nothing left over for a last, empty hand-over)
    assert [tag_time(ln) for b in got for ln in b] == [tag_time(ln) + 86_400 for ln in lines]  # type: ignore[operator]


@pytest.mark.asyncio
async def test_a_line_due_later_after_a_full_chunk_waits_its_turn(tmp_path: Path) -> None:
    """A full chunk of lines due at once goes at once; the line after it, due a second later on the feed
    (a tenth of a second at speed 10), goes on its own, not before."""
    lines = recording(tmp_path / "rec.nmea", [float(T0)] * 1024 + [T0 + 1.0])
    loop = asyncio.get_running_loop()
    got: list[tuple[float, list[bytes]]] = []
    before = loop.time()  # (at or before the first line's time is taken as the start)
    await play(tmp_path / "rec.nmea", 10.0, lambda b: got.append((loop.time(), b)))
    assert [b for _, b in got] == [lines[:1024], lines[1024:]]
    assert got[1][0] - before >= 0.1


@pytest.mark.asyncio
async def test_a_recording_without_times_is_handed_over_at_once(tmp_path: Path) -> None:
    """No tag-block time, no pace: every line at once, and no span (a loop would have nothing to shift)."""
    (tmp_path / "rec.nmea").write_bytes(SENTENCE.encode() + b"\n")
    got: list[list[bytes]] = []
    assert await play(tmp_path / "rec.nmea", 60.0, got.append) is None
    assert got == [[SENTENCE.encode()]]


# ---- the feed ----------------------------------------------------------------------------------------------

async def _run_until(settings: FeedSettings, wanted: int,
                     timeout: float = 10.0) -> tuple[list[bytes], FeedStats]:
    got: list[bytes] = []
    enough = asyncio.Event()

    def sink(name: str, lines: list[bytes]) -> None:
        assert name == settings.name
        got.extend(lines)
        if len(got) >= wanted:
            enough.set()

    stats = FeedStats(settings.name, settings.type)
    task = asyncio.create_task(run_feed(settings, sink, stats))
    try:
        await asyncio.wait_for(enough.wait(), timeout)
        await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.wait({task})
    return got, stats


@pytest.mark.asyncio
async def test_a_looped_recording_comes_back_a_day_later_each_pass(tmp_path: Path) -> None:
    """loop = true: the recording again and again, each pass's times a whole day (for this 50-minute
    recording) after the pass before, every line in order."""
    times = [T0 + 60.0 * i for i in range(50)]
    lines = recording(tmp_path / "rec.nmea.gz", times)
    settings = FeedSettings(name="rec", type="file", path=tmp_path / "rec.nmea.gz", speed=1e6, loop=True)
    got, stats = await _run_until(settings, 3 * len(lines))
    assert [tag_time(ln) for ln in got[: 3 * len(lines)]] == [t + k * 86_400 for k in range(3) for t in times]
    assert stats.lines >= 3 * len(lines) and stats.bytes > 0 and stats.reconnects == 0


@pytest.mark.asyncio
async def test_a_recording_that_ends_stays_ended(tmp_path: Path) -> None:
    """Without loop the feed plays once, says feed_finished, shows disconnected, and is not played again
    (its old times would lie behind the feed's clock)."""
    lines = recording(tmp_path / "rec.nmea", [T0, T0 + 1])
    settings = FeedSettings(name="rec", type="file", path=tmp_path / "rec.nmea", speed=1e6)
    with capture_logs() as logs:
        got, stats = await _run_until(settings, 2)
        await asyncio.sleep(0)
    assert got == lines and not stats.connected and stats.reconnects == 0
    assert next(e for e in logs if e["event"] == "feed_finished")["passes"] == 1


@pytest.mark.asyncio
async def test_a_broken_recording_is_retried_like_a_dropped_connection(tmp_path: Path) -> None:
    """A gzip file cut short ends the pass with feed_disconnected, counted as a reconnect, instead of
    stopping the daemon."""
    data = gzip.compress(b"".join(ln + b"\n" for ln in [tagged(SENTENCE, T0 + i) for i in range(2000)]))
    (tmp_path / "cut.nmea.gz").write_bytes(data[: len(data) // 2])
    settings = FeedSettings(name="cut", type="file", path=tmp_path / "cut.nmea.gz", speed=1e6,
                            reconnect_max_s=0.01)
    stats = FeedStats("cut", "file")
    with capture_logs() as logs:
        task = asyncio.create_task(run_feed(settings, lambda _n, _l: None, stats))
        for _ in range(500):
            if stats.reconnects:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.wait({task})
    assert stats.reconnects >= 1 and "unreadable" in (stats.last_error or "")
    assert any(e["event"] == "feed_disconnected" for e in logs)


# ---- configuration -----------------------------------------------------------------------------------------

def _config(tmp_path: Path, feed: str) -> Path:
    path = tmp_path / "conf" / "monitor.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(f'[[feeds]]\nname = "rec"\ntype = "file"\n{feed}')
    return path


def test_a_file_feeds_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    """path = "rec.nmea" beside the config file is found wherever the daemon is started from."""
    (tmp_path / "conf").mkdir()
    recording(tmp_path / "conf" / "rec.nmea", [T0])
    settings = load_settings(_config(tmp_path, 'path = "rec.nmea"\nspeed = 60\nloop = true\n'), env={})
    feed = settings.feeds[0]
    assert (feed.path, feed.speed, feed.loop) == (tmp_path / "conf" / "rec.nmea", 60.0, True)


@pytest.mark.parametrize(
    ("feed", "words"),
    [
        ("", "feeds.0: Value error, a feed of type \"file\" needs `path`"),
        ('path = "missing.nmea.gz"\n', "feeds.0.path: Value error, no such file"),
        ('path = "."\n', "feeds.0.path: Value error, not a file"),
        ('path = "rec.nmea"\nspeed = 0\n', "feeds.0.speed: Input should be greater than 0"),
        ('path = "rec.nmea"\nspeed = inf\n', "feeds.0.speed"),
    ],
)
def test_a_bad_file_feed_is_refused_at_start_naming_the_key(tmp_path: Path, feed: str, words: str) -> None:
    """No path, a path that is missing or a directory, a speed not above 0: one ConfigError naming the
    config file and the key."""
    (tmp_path / "conf").mkdir()
    recording(tmp_path / "conf" / "rec.nmea", [T0])
    path = _config(tmp_path, feed)
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")) as err:
        load_settings(path, env={})
    assert err.value.path == str(path)


def test_an_unreadable_recording_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recording the daemon's user cannot read (systemd's dynamic user) is refused at start. (The tests
    may run as root, who reads everything: the permission answer is what is replaced here.)"""
    (tmp_path / "conf").mkdir()
    recording(tmp_path / "conf" / "rec.nmea", [T0])
    monkeypatch.setattr("monitor.config.os.access", lambda *_a, **_k: False)
    with pytest.raises(ConfigError, match=r"feeds\.0\.path: Value error, cannot read"):
        load_settings(_config(tmp_path, 'path = "rec.nmea"\n'), env={})


def test_run_with_a_missing_recording_exits_3_naming_file_and_key(tmp_path: Path) -> None:
    """`chokepoint-monitor run` on a config whose file feed is missing exits 3 with one line naming the
    config file and feeds.0.path, before opening anything."""
    path = _config(tmp_path, 'path = "gone.nmea.gz"\n')
    r = subprocess.run([sys.executable, "-m", "monitor", "run", "--config", str(path)],
                       capture_output=True, timeout=60, check=False)
    assert r.returncode == 3
    assert str(path) in r.stderr.decode() and "feeds.0.path" in r.stderr.decode()
