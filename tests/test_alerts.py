"""The alert's identity and time formats: stable ids equal to uuid5, ISO times as CONTRACT says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from monitor.alerts import _ID_NAMESPACE, alert_id, iso_time


@given(kind=st.text(max_size=20), parts=st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=30)),
                                                 max_size=4))
def test_alert_id_is_uuid5_of_the_identity(kind: str, parts: list[object]) -> None:
    """The id is uuid5(namespace, 'kind|part|...') with None as empty, so ids never change across
    versions of the code that computes them."""
    key = "|".join([kind, *("" if p is None else str(p) for p in parts)])
    assert alert_id(kind, *parts) == str(uuid.uuid5(_ID_NAMESPACE, key))


@given(t=st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_iso_time_matches_datetime(t: float) -> None:
    """Whole seconds as ...SSZ, other times with milliseconds, always UTC with Z."""
    dt = datetime.fromtimestamp(t, tz=UTC)
    text = iso_time(t)
    assert text.endswith("Z")
    if t == int(t):
        assert text == dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        parsed = datetime.fromisoformat(text)
        assert abs(parsed.timestamp() - t) <= 0.0005 + 1e-6


def test_iso_time_examples() -> None:
    """Known values, including a fraction that rounds up to the next second."""
    assert iso_time(1_750_000_000) == "2025-06-15T15:06:40Z"
    assert iso_time(1_750_000_000.25) == "2025-06-15T15:06:40.250Z"
    assert iso_time(1_750_000_000.9996) == "2025-06-15T15:06:41Z"
