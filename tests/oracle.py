"""The reference the engine's fast path is checked against: every report of a batch through the whole
per-fix step, in input order. It lives here, not in the package: production has one path
(`Engine._process_fast`), and the tests compare its alerts with these (tests/test_fastpath.py and
others, through `use_reference`)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from monitor.alerts import Alert
from monitor.config import Settings
from monitor.decode import DecodedBatch
from monitor.engine import Engine, Move, _FastBatch
from monitor.pipeline import Pipeline
from monitor.zones import ZoneFile


def reference_step(engine: Engine, batch: DecodedBatch, clock: Callable[[], float]
                   ) -> tuple[list[Alert], int, list[Move]]:
    """The alerts (not sorted yet), how many reports had no time, and the moves to look at for passages,
    with every report through Engine._report (statics through Engine._static) in input order."""
    alerts: list[Alert] = []
    pos = batch.positions
    statics = batch.statics
    n_statics = len(statics)
    si = 0
    untimed = 0
    lat_a = pos["lat"]
    lon_a = pos["lon"]
    has_pos = ~(np.isnan(lat_a) | np.isnan(lon_a))
    masks_valid = engine.geofence.membership(lon_a[has_pos], lat_a[has_pos])
    # The aggregates' batch hooks (the vessels heard per interference cell) see the batch as on the fast
    # path: once, before any of its reports.
    fb = _FastBatch(engine, batch)
    fb.flags()
    for aggregate in engine.aggregates:
        aggregate.on_batch(fb)
    masks: list[int | None] = [None] * len(pos)
    for j, i in enumerate(np.flatnonzero(has_pos).tolist()):
        masks[i] = masks_valid[j]
    moves: list[Move] = []
    for i, (seq, line_t, mmsi, lat, lon, sog, cog) in enumerate(
        zip(
            pos["seq"].tolist(),
            pos["time"].tolist(),
            pos["mmsi"].tolist(),
            lat_a.tolist(),
            lon_a.tolist(),
            pos["sog"].tolist(),
            pos["cog"].tolist(),
        )
    ):
        while si < n_statics and statics[si].seq < seq:
            untimed += engine._static(statics[si], clock, alerts)
            si += 1
        t = line_t
        if t != t:
            t = clock()
            untimed += 1
        if t > engine.now:
            engine.advance(t, alerts)
        engine._report(engine.vessel(mmsi), t, lon, lat, sog, cog, masks[i], moves, alerts)
    while si < n_statics:
        untimed += engine._static(statics[si], clock, alerts)
        si += 1
    for mmsi in set(pos["mmsi"].tolist()) | {st.mmsi for st in statics}:
        engine._table(engine.vessels[mmsi])
    return alerts, untimed, moves


def use_reference(pipeline: Pipeline) -> Pipeline:
    """Run the pipeline's engine on the reference step (its state and tail of each batch unchanged)."""
    engine = pipeline.engine
    engine.step = functools.partial(reference_step, engine)
    return pipeline


def run_state(settings: Settings, zones: ZoneFile, lines: Sequence[bytes], batch: int, fast: bool
              ) -> tuple[list[dict[str, Any]], dict[str, bytes | None]]:
    """The lines through a new pipeline in batches of `batch`, on the fast path or (not `fast`) the
    reference step: the alerts as CONTRACT objects and the whole saved state, for the tests that require
    both paths to agree on both."""
    p = Pipeline(settings, zones)
    if not fast:
        use_reference(p)
    out: list[dict[str, Any]] = []
    for i in range(0, len(lines), batch):
        out += [a.to_dict() for a in p.process_lines(lines[i : i + batch])]
    return out, p.engine.export_state(everything=True)
