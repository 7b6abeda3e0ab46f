"""The command line (CONTRACT): run, replay, stats, decode, zones check, watchlist import.

Errors at start print one line naming the file and the problem and exit non-zero: 3 for a bad zone or
config file (systemd's RestartPreventExitStatus=3), 1 for a feed that cannot be read.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections import Counter
from collections.abc import Generator, Sequence
from contextlib import closing
from typing import TYPE_CHECKING, TextIO

from monitor import __version__
from monitor.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, StartupError

if TYPE_CHECKING:  # imported inside the commands at run time: `--help` and `--version` start fast
    from monitor.alerts import Alert
    from monitor.config import Settings
    from monitor.pipeline import Pipeline
    from monitor.zones import ZoneFile

POSTURE_CHOICES = ("NORMAL", "ELEVATED", "HIGH", "CRITICAL")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chokepoint-monitor",
        description="Watch maritime chokepoints from AIS feeds and raise alerts.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="the daemon: live feeds in, alerts to MQTT, HTTP API")
    run.add_argument("--config", required=True, help="TOML configuration file")
    run.add_argument("--mqtt", metavar="URL", help="broker URL, overrides the config (mqtt://host:port)")

    rp = sub.add_parser("replay", help="run recorded feeds through the pipeline on their own clock")
    rp.add_argument("feeds", nargs="+", metavar="FEED", help="NMEA file (.gz read transparently) or -")
    rp.add_argument("--zones", metavar="FILE", action="append",
                    help="zone file, repeated for several chokepoints (default: the packaged Hormuz zones)")
    rp.add_argument("--config", metavar="FILE", help="TOML configuration file")
    rp.add_argument("--posture", choices=POSTURE_CHOICES, type=str.upper, help="operator posture level")
    rp.add_argument("--format", choices=("jsonl", "text"), default="jsonl", help="alert output format")
    rp.add_argument("--speed", type=float, metavar="X", help="pace the replay at X times real time")
    rp.add_argument("--publish", action="store_true", help="also publish the alerts to the MQTT broker")
    rp.add_argument("--snapshot", metavar="FILE",
                    help="at the end, write the picture the daemon's API would serve then (JSON) to FILE")
    rp.add_argument("--mqtt", metavar="URL", help="broker URL for --publish, overrides the config")
    rp.add_argument(
        "--publish-timeout", type=float, default=60.0, metavar="S",
        help="with --publish: give up (exit 1) when the broker has not acknowledged every alert by then",
    )

    stp = sub.add_parser("stats", help="traffic statistics of recorded feeds (transits, port calls)")
    stp.add_argument("feeds", nargs="+", metavar="FEED", help="NMEA file (.gz read transparently) or -")
    stp.add_argument("--zones", metavar="FILE", action="append",
                     help="zone file, repeated for several chokepoints (default: the packaged Hormuz zones)")
    stp.add_argument("--config", metavar="FILE", help="TOML configuration file")
    stp.add_argument("--by", choices=("day", "hour"), help="period (default: the config's traffic.period)")
    stp.add_argument("--format", choices=("csv", "json"), default="csv", help="output format")
    for parser in (rp, stp):
        parser.add_argument(
            "--jobs", type=int, choices=(1, 2), metavar="N",
            help="1: one process; 2: read and decode in a second process while this one runs the detectors "
            "(default: 2 where two CPUs are free, except with --speed or --publish)",
        )

    dc = sub.add_parser("decode", help="decode AIS messages to JSON lines, like gpsdecode")
    dc.add_argument("feeds", nargs="+", metavar="FEED")

    zn = sub.add_parser("zones", help="zone file tools")
    zsub = zn.add_subparsers(dest="zones_command", required=True, metavar="SUBCOMMAND")
    zc = zsub.add_parser("check", help="validate a zone file")
    zc.add_argument("file", metavar="FILE")

    wl = sub.add_parser("watchlist", help="watchlist file tools")
    wsub = wl.add_subparsers(dest="watchlist_command", required=True, metavar="SUBCOMMAND")
    wi = wsub.add_parser("import", help="turn a published sanctions list into a watchlist CSV on stdout")
    wi.add_argument("source", choices=("ofac-sdn",), help="ofac-sdn: OFAC's sdn.csv")
    wi.add_argument("file", metavar="FILE", help="the published file, or - for stdin")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "replay":
            return _replay(args)
        if args.command == "stats":
            return _stats(args)
        if args.command == "decode":
            return _decode(args)
        if args.command == "zones":
            return _zones_check(args.file)
        if args.command == "watchlist":
            return _watchlist_import(args.file)
        if args.command == "run":
            from monitor.service import run_service

            return run_service(args.config, args.mqtt)
    except StartupError as exc:
        print(f"chokepoint-monitor: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # `... | head`: the reader went away; not an error of ours.
        sys.stderr.close()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
    return EXIT_USAGE


def _watchlist_import(path: str) -> int:
    """OFAC's sdn.csv to a watchlist CSV on stdout; each vessel entry skipped (no IMO or MMSI, a bad
    check digit) named on stderr, so a refresh that silently lost a ship cannot go unnoticed."""
    from monitor.watchlists import ofac_sdn_rows, write_rows

    result = ofac_sdn_rows(_published_text(path).splitlines())
    write_rows(sys.stdout, result.rows)
    for warning in result.warnings:
        print(f"{path}: {warning}", file=sys.stderr)
    print(f"{path}: {len(result.rows)} vessels, {len(result.warnings)} skipped", file=sys.stderr)
    return EXIT_OK


def _published_text(path: str) -> str:
    """A published list's text; a missing or unreadable file exits 1 as a missing feed does."""
    from pathlib import Path

    from monitor.errors import FeedError

    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise FeedError(f"{path}: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Older OFAC files are Latin-1; names are transliterated to ASCII anyway, so nothing is lost.
        return raw.decode("latin-1")


def _zones_check(path: str) -> int:
    """Every problem on its own line on stderr (`FILE: feature 'id': problem`), like a compiler; on stdout
    the verdict, the features by kind and the bounding box, so a user sees where the file lies (a file
    written [lat, lon] shows up far from where it should be)."""
    from monitor.errors import EXIT_CONFIG
    from monitor.zones import check_zone_file

    check = check_zone_file(path)
    counts = ", ".join(f"{n} {k}" for k, n in check.kinds.items())
    if check.zone_file is not None:
        print(f"{path}: OK, {len(check.zone_file.zones)} zones ({counts})")
    elif check.features:
        print(f"{path}: INVALID, {check.features} features ({counts})")
    if check.bounds is not None:
        lon_min, lat_min, lon_max, lat_max = check.bounds
        print(
            f"  bounding box: lon min {lon_min:.4f} max {lon_max:.4f},"
            f" lat min {lat_min:.4f} max {lat_max:.4f}"
            f" ({_lon(lon_min)} to {_lon(lon_max)}, {_lat(lat_min)} to {_lat(lat_max)})"
        )
    if not check.problems:
        return EXIT_OK
    sys.stdout.flush()
    for problem in check.problems:
        print(f"{path}: {problem}", file=sys.stderr)
    count = len(check.problems)
    print(f"{path}: invalid zone file: {count} problem{'s' if count > 1 else ''}", file=sys.stderr)
    return EXIT_CONFIG


def _lon(value: float) -> str:
    return f"{abs(value):.2f}°{'E' if value >= 0 else 'W'}"


def _lat(value: float) -> str:
    return f"{abs(value):.2f}°{'N' if value >= 0 else 'S'}"


def _load(args: argparse.Namespace) -> tuple[Settings, ZoneFile]:
    from monitor.config import load_settings
    from monitor.log import configure_logging
    from monitor.zones import load_configured_zones

    settings = load_settings(args.config)
    configure_logging(settings.logging.level, settings.logging.format)
    # --zones (given once or more) stands for the configuration's zone files.
    return settings, load_configured_zones(args.zones or settings.zones.paths())


def _replay(args: argparse.Namespace) -> int:
    from monitor.feeds import check_feeds
    from monitor.pipeline import Pipeline

    if args.speed is not None and args.speed <= 0:
        print("chokepoint-monitor: --speed must be a positive number", file=sys.stderr)
        return EXIT_USAGE
    check_feeds(args.feeds)
    settings, zonefile = _load(args)
    if args.mqtt:
        _check_mqtt_url(args.mqtt)
    if args.snapshot:
        _check_writable(args.snapshot)
    pipeline = Pipeline(settings, zonefile, posture=args.posture)
    # A replay allocates millions of short-lived tuples and no cycles worth chasing: keep the cyclic
    # GC off the hot path (reference counting still frees everything).
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    if args.publish:
        import asyncio

        return asyncio.run(_replay_publish(args, settings, pipeline))
    listed = _Listed(settings.http.recent_alerts if args.snapshot else 0)
    # closing(): a reader gone (`| head`) ends the loop with BrokenPipeError; the generator is closed here,
    # so a replay's ingest process (monitor.ingestproc) ends with it, not at interpreter exit.
    with closing(_replay_alerts(args, pipeline)) as batches:
        for alerts in batches:
            _write_alerts(args, alerts)
            listed.add(alerts)
    summary = pipeline.finish()
    _print_summary(summary.to_dict(), sys.stdout if args.format == "text" else sys.stderr)
    if args.snapshot:
        _write_snapshot(args.snapshot, pipeline, listed)
    return EXIT_OK


class _Listed:
    """The alerts the daemon's API would list at the end (its last `http.recent_alerts`), for the
    snapshot's roster (`open_alerts`); none kept without --snapshot."""

    def __init__(self, size: int) -> None:
        from collections import deque

        self.size = size
        self.alerts: deque[Alert] = deque(maxlen=max(1, size))

    def add(self, alerts: Sequence[Alert]) -> None:
        if self.size:
            self.alerts.extend(alerts)


def _check_writable(path: str) -> None:
    """Refuse, before a long replay, a snapshot file that could not be written at its end."""
    import os

    target = os.path.abspath(path)
    folder = os.path.dirname(target)
    if os.path.isdir(target):
        raise UsageError(f"--snapshot {path}: is a directory")
    if not os.path.isdir(folder):
        raise UsageError(f"--snapshot {path}: no such directory {folder}")
    if not os.access(folder, os.W_OK) or (os.path.exists(target) and not os.access(target, os.W_OK)):
        raise UsageError(f"--snapshot {path}: permission denied")


def _write_snapshot(path: str, pipeline: Pipeline, listed: _Listed) -> None:
    """The snapshot (monitor.views.snapshot) as one JSON object, written whole or not at all (a temporary
    file renamed over FILE)."""
    import os

    from monitor.roster import roster_rows
    from monitor.views import snapshot

    recent = [a.to_dict() for a in listed.alerts] if listed.size else []
    picture = snapshot(pipeline, roster_rows(pipeline, None, recent))
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(picture, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, path)


def _stats(args: argparse.Namespace) -> int:
    """The replay pipeline without printing alerts; at the end, the statistics of every period from the
    recording's first to its last (the last one as far as the recording goes)."""
    from monitor.detectors.traffic import Traffic, stats_csv, traffic_stats
    from monitor.feeds import check_feeds
    from monitor.pipeline import Pipeline

    check_feeds(args.feeds)
    settings, zonefile = _load(args)
    if args.by is not None:
        settings = settings.model_copy(update={"traffic": settings.traffic.model_copy(
            update={"period": args.by})})
    pipeline = Pipeline(settings, zonefile)
    # Every period of the recording, not the daemon's last two months.
    pipeline.engine.aggregate(Traffic).keep_everything()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    args.speed = None
    with closing(_replay_alerts(args, pipeline)) as batches:
        for _ in batches:
            pass
    pipeline.finish()
    stats = traffic_stats(pipeline.engine)
    if args.format == "json":
        sys.stdout.write(json.dumps(stats, separators=(",", ":")) + "\n")
    else:
        sys.stdout.write(stats_csv(stats))
    return EXIT_OK


def _check_mqtt_url(url: str) -> None:
    import re

    if not re.fullmatch(r"mqtts?://[^/:]+(:\d+)?/?", url):
        raise UsageError(f"--mqtt {url}: expected mqtt://host[:port] or mqtts://host[:port]")


class UsageError(StartupError):
    exit_code = EXIT_USAGE


def _write_alerts(args: argparse.Namespace, alerts: Sequence[Alert]) -> None:
    if alerts:
        text = args.format == "text"
        sys.stdout.write("".join((a.to_text() if text else a.to_json()) + "\n" for a in alerts))
        if args.speed:
            sys.stdout.flush()


def _replay_alerts(args: argparse.Namespace, pipeline: Pipeline) -> Generator[list[Alert], None, None]:
    """The replay loop: batches of alerts, paced by --speed on the feed clock."""
    from monitor.feeds import iter_batches

    # Pacing (--speed): each alert is released when the wall clock reaches its feed time / speed, and
    # reading never runs more than one small batch ahead of the wall clock.
    batch_lines = 64 if args.speed else 8192
    pace = _Pacer(args.speed) if args.speed else None
    if pace is None and _jobs(args) == 2:
        from monitor.ingestproc import decoded_batches

        for decoded in decoded_batches(pipeline, args.feeds, batch_lines):
            yield pipeline.digest(decoded)
        return
    first = True
    for lines in iter_batches(args.feeds, batch_lines):
        if first:
            pipeline.seed_clock(lines)  # so even a wild first line is judged against the recording's time
            first = False
        alerts = pipeline.process_lines(lines)
        if pace is None:
            yield alerts
            continue
        if pipeline.first_time is None:
            continue
        for a in alerts:
            pace.wait(pipeline.first_time, a.time)
            yield [a]
        if pipeline.feed_time is not None:
            pace.wait(pipeline.first_time, pipeline.feed_time)


def _jobs(args: argparse.Namespace) -> int:
    """Processes for a replay: --jobs, else two where two CPUs are free and the replay runs as fast as it
    can (paced or publishing, it waits on the clock or the broker, not on the CPU)."""
    if args.jobs is not None:
        return int(args.jobs)
    if args.speed or getattr(args, "publish", False):
        return 1
    from monitor.ingestproc import usable_cores

    return 2 if usable_cores() >= 2 else 1


async def _replay_publish(args: argparse.Namespace, settings: Settings, pipeline: Pipeline) -> int:
    """--publish: every alert goes through a durable outbox to the broker; exit only when the broker has
    acknowledged all of them, or non-zero naming how many are still queued."""
    import asyncio
    import tempfile
    from pathlib import Path

    from monitor.publisher import Publisher
    from monitor.service import alert_topic
    from monitor.store import Store

    with tempfile.TemporaryDirectory(prefix="chokepoint-replay-") as tmp:
        store = Store(Path(tmp), max_outbox=settings.outbox.max_alerts)
        publisher = Publisher(settings.mqtt, store, url=args.mqtt, version=__version__,
                              started="", announce=False)
        task = asyncio.create_task(publisher.run(), name="mqtt-publisher")
        listed = _Listed(settings.http.recent_alerts if args.snapshot else 0)
        try:
            with closing(_replay_alerts(args, pipeline)) as batches:
                for alerts in batches:
                    _write_alerts(args, alerts)
                    listed.add(alerts)
                    if alerts:
                        prefix = settings.mqtt.prefix
                        store.commit([(a.id, alert_topic(prefix, a), a.to_json().encode()) for a in alerts])
                        publisher.wake()
                    await asyncio.sleep(0)
            summary = pipeline.finish()
            _print_summary(summary.to_dict(), sys.stdout if args.format == "text" else sys.stderr)
            if args.snapshot:
                _write_snapshot(args.snapshot, pipeline, listed)
            done = await publisher.flush(args.publish_timeout)
            queued = store.depth
            await publisher.close()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            store.close()
    if not done:
        print(
            f"chokepoint-monitor: replay --publish: gave up after {args.publish_timeout:g} s: "
            f"{queued} alerts still queued (not acknowledged by the broker)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    print(f"published: {summary.to_dict()['alerts']} alerts acknowledged by the broker", file=sys.stderr)
    return EXIT_OK


class _Pacer:
    """Sleeps so that feed time advances at `speed` times the wall clock."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.wall0 = time.monotonic()

    def wait(self, feed0: float, t: float) -> None:
        delay = self.wall0 + (t - feed0) / self.speed - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _print_summary(s: dict[str, object], stream: TextIO) -> None:
    rejects = s["rejects"]
    assert isinstance(rejects, dict)
    by_kind = s["alerts_by_kind"]
    assert isinstance(by_kind, dict)
    lines = [
        "summary:",
        f"  lines read        {s['lines']}",
        f"  lines rejected    {s['rejected']}"
        + (" (" + ", ".join(f"{k} {v}" for k, v in rejects.items()) + ")" if rejects else ""),
        f"  duplicates        {s['duplicates']}",
        f"  messages          {s['messages']} ({s['positions']} positions, {s['statics']} static)",
        f"  vessels           {s['vessels']}",
        f"  alerts            {s['alerts']}"
        + (" (" + ", ".join(f"{k} {v}" for k, v in by_kind.items()) + ")" if by_kind else ""),
    ]
    if s.get("other_sentences"):
        lines.append(f"  other sentences   {s['other_sentences']} ($ sentences: not AIS, not rejected)")
    if s.get("untimed"):
        lines.append(f"  untimed messages  {s['untimed']} (no tag-block time: the wall clock was used)")
    if s.get("stale"):
        lines.append(f"  stale fixes       {s['stale']} (older than the vessel's last fix, ignored)")
    stream.write("\n".join(lines) + "\n")


def _decode(args: argparse.Namespace) -> int:
    from monitor.decode import decode_records
    from monitor.feeds import check_feeds, iter_batches
    from monitor.nmea import NmeaAssembler

    check_feeds(args.feeds)
    # A decoder shows every message, like gpsdecode: no duplicate suppression, no clock guard here.
    assembler = NmeaAssembler(dedup_window_s=0.0, max_ahead_s=0, max_behind_s=0)
    decode_rejects: Counter[str] = Counter()
    count = 0
    out = sys.stdout
    for lines in iter_batches(args.feeds):
        messages = assembler.push_lines(lines)
        records = [
            json.dumps(r, separators=(",", ":")) for r in decode_records(messages, rejects=decode_rejects)
        ]
        count += len(records)
        if records:
            out.write("\n".join(records) + "\n")
    rejects = assembler.rejects + decode_rejects
    detail = ", ".join(f"{k} {v}" for k, v in sorted(rejects.items()))
    print(
        f"decoded {count} messages from {assembler.lines} lines; rejected {sum(rejects.values())}"
        + (f" ({detail})" if detail else "")
        + f"; duplicates {assembler.duplicates}",
        file=sys.stderr,
    )
    return EXIT_OK
