"""The building blocks of every settings section, shared by monitor.config and the detectors' sections."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """Base of every settings section: immutable once built, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# A finite float: TOML accepts `inf` and `nan`, and a NaN passes no comparison, so refuse them outright.
Seconds = Annotated[float, Field(allow_inf_nan=False)]
