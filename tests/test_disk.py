"""Disk faults, for real (a mocked disk would prove nothing): a full or read-only disk while running fails
writes cleanly and the daemon holds its alerts, is not ready, and catches up once space returns; at start,
a disk that cannot be written exits 1 (systemd retries), not 3.

The disk: an 8 MB tmpfs the test mounts, filled with a file and freed by deleting it, remounted read-only.
Mounting needs root (or CAP_SYS_ADMIN), as `make test` and CI run; without it these tests fail, naming
what is missing, rather than pass on a stand-in disk."""

from __future__ import annotations

import asyncio
import errno
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import Store, StoreWriteError
from tests.mqtt_helpers import Broker, Subscriber
from tests.test_service import Daemon, alert_ids, expected_alerts, feed_lines


class SmallDisk:
    """The small tmpfs the state lives on: fill() makes it full, free() gives the space back, read_only()
    remounts it read-only (refused while a file on it is open for writing)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler"

    def fill(self) -> None:
        chunk = b"\0" * 4096
        with open(self.filler, "ab", buffering=0) as f:
            while True:
                try:
                    f.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break

    def free(self) -> None:
        self.filler.unlink()

    def read_only(self) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.path)], check=True, capture_output=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    path = tmp_path / "disk"
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(path)],
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        pytest.fail(
            f"cannot mount the test's small tmpfs ({r.stderr.decode().strip() or r.returncode}): "
            "the disk-fault tests need root or CAP_SYS_ADMIN, as `make test` and CI run",
            pytrace=False,
        )
    try:
        yield SmallDisk(path)
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def rows(*ids: str, size: int = 2000) -> list[tuple[str, str, bytes]]:
    return [(i, "t/alerts/info/transit", i.encode() + b"x" * size) for i in ids]


def test_a_full_disk_fails_a_commit_cleanly_and_the_store_recovers(small_disk: SmallDisk) -> None:
    """On a full disk (ENOSPC) commit() raises StoreWriteError ("database or disk is full") and writes
    nothing; reads still work; an ack the disk refuses takes the row out of `pending` at once and is
    written with the next successful commit; once space returns the same commit succeeds and survives a
    reopen. (A read-only remount is refused by Linux while the database is open for writing, so the
    read-only case is tested at start, below.)"""
    store = Store(small_disk.path / "state")
    store.commit(rows("a", "b"), {"engine": b"1"})
    (a, _, _), (b, _, _) = store.pending()
    small_disk.fill()
    batch = rows(*(f"n{i}" for i in range(40)))
    with pytest.raises(StoreWriteError) as info:
        store.commit(batch, {"engine": b"2", "v:1": b"x"})
    assert "full" in info.value.problem
    assert [r for r, _, _ in store.pending()] == [a, b] and store.depth == 2
    assert store.load_state() == {"engine": b"1"}
    store.ack([a])  # the broker acknowledged it: not sent again, whatever the disk says
    assert [r for r, _, _ in store.pending()] == [b] and store.depth == 1
    small_disk.free()
    store.commit(batch, {"engine": b"2", "v:1": b"x"})
    assert store.depth == 41
    store.close()
    with Store(small_disk.path / "state") as again:
        assert next(r for r, _, _ in again.pending()) == b and again.depth == 41
        assert again.load_state() == {"engine": b"2", "v:1": b"x"}


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_start_on_a_disk_that_cannot_be_written_exits_1_with_one_line(
    tmp_path: Path, small_disk: SmallDisk, fault: str
) -> None:
    """The state database cannot be created (the disk is full) or opened for writing (the file system is
    read-only): exit 1 (systemd's Restart=on-failure retries, and succeeds once the disk is back), one
    line naming the file and the problem, no traceback."""
    state = small_disk.path / "state"
    if fault == "full":
        state.mkdir()
        small_disk.fill()
    else:
        Store(state).close()
        small_disk.read_only()
    cfg = tmp_path / "m.toml"
    cfg.write_text(f'[state]\ndirectory = "{state}"\n[http]\nenabled = false\n[mqtt]\nurl = "mqtt://127.0.0.1:1"\n')
    r = subprocess.run([sys.executable, "-m", "monitor", "run", "--config", str(cfg)], capture_output=True,
                       timeout=60)
    assert r.returncode == 1, r.stderr.decode()
    lines = r.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and str(state) in lines[0] and "Traceback" not in lines[0], lines
    assert fault != "full" or "full" in lines[0], lines  # (read-only: "unable to open")


def wait_for(check: object, timeout: float, what: str, d: Daemon) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what}: " + d.log_text()[-3000:]
        time.sleep(0.1)


@pytest.mark.asyncio
async def test_a_full_disk_while_running_holds_the_alerts_and_catches_up(
    tmp_path: Path, broker: Broker, small_disk: SmallDisk
) -> None:
    """The real daemon, its state database on a small tmpfs that the test fills mid-stream: the daemon
    stays up with no traceback, logs one state_write_failed, /readyz turns 503 naming the error, the
    alerts still reach the HTTP API (and its live streams) while held in memory (counted in /metrics).
    Once the space is freed: state_write_resumed, /readyz 200, and MQTT gets every alert a replay of the
    whole feed gives; after SIGTERM the database holds all three ships and no alert left to send."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    d = Daemon(tmp_path, broker.url, prefix=prefix, env={"MONITOR_OUTBOX__RETRY_S": "1"})
    state = small_disk.path / "state"
    d.config.write_text(d.config.read_text().replace(f'directory = "{d.state}"', f'directory = "{state}"'))
    lines = feed_lines()
    want = {a["id"] for a in expected_alerts(d, lines)}
    half = len(lines) // 2
    try:
        async with Subscriber(broker.url, f"{prefix}/alerts/#") as sub:
            d.start()
            d.send(lines[:half])
            d.wait_processed(half)
            wait_for(lambda: d.metric("chokepoint_outbox_depth") == 0, 10, "first half published", d)
            small_disk.fill()
            d.send(lines[half:])
            d.wait_processed(len(lines))
            wait_for(lambda: d.get("/readyz")[0] == 503, 10, "readyz false", d)
            assert d.proc is not None and d.proc.poll() is None
            body = d.get("/readyz")[1]
            assert body["state_writable"] is False and "full" in body["state_error"], body
            assert d.metric("chokepoint_state_writable") == 0
            held = d.metric("chokepoint_alerts_held")
            assert held > 0
            assert {a["id"] for a in d.get("/api/alerts?limit=1000")[1]["alerts"]} == want  # shared live
            failed = [e for e in d.events() if e["event"] == "state_write_failed"]
            assert len(failed) == 1 and failed[0]["level"] == "error"
            assert "full" in failed[0]["error"]
            await asyncio.sleep(2.5)  # retries fail quietly: still one event, still not ready
            assert [e["event"] for e in d.events()].count("state_write_failed") == 1
            assert set(alert_ids(sub.messages)) < want  # the held ones are not published yet
            small_disk.free()
            wait_for(lambda: d.get("/readyz")[0] == 200, 15, "readyz true again", d)
            resumed = [e for e in d.events() if e["event"] == "state_write_resumed"]
            assert len(resumed) == 1
            assert resumed[0]["alerts_written"] == held and resumed[0]["alerts_dropped"] == 0
            await sub.wait_until(lambda ms: set(alert_ids(ms)) >= want, 30)
        assert d.metric("chokepoint_state_writable") == 1 and d.metric("chokepoint_alerts_held") == 0
        assert "Traceback" not in d.log_text()
        d.signal(15)
        assert d.wait() == 0
        with Store(state) as store:  # the state written after the fault: all three ships, nothing left queued
            assert sorted(k for k in store.load_state() if k.startswith("v:")) == [
                "v:440000003", "v:538000001", "v:538000002"]
            assert store.depth == 0
    finally:
        d.kill()
