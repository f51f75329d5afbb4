"""What a run did, step by step, as JSON-ready dataclasses (stdlib only)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any


@dataclass(frozen=True)
class StepReport:
    """One step's effect. ``summary`` is the sentence a person reads on the job page."""

    step: int
    op: str
    rows_before: int
    rows_after: int
    cells_changed: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "op": self.op,
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "cells_changed": {str(k): int(v) for k, v in self.cells_changed.items()},
            "details": json_safe(self.details),
            "summary": self.summary,
        }


@dataclass(frozen=True)
class Report:
    """The whole run. ``date_formats``: how each datetime column of the result is written (see dates.py)."""

    rows_in: int
    rows_out: int
    steps: list[StepReport] = field(default_factory=list)
    date_formats: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "steps": [s.to_dict() for s in self.steps],
            "date_formats": dict(self.date_formats),
        }


def json_safe(value: Any) -> Any:
    """Plain JSON types: numpy/pandas scalars unwrapped, dates as ISO text, NaN/NA/NaT as None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date, time)):
        return None if _is_missing(value) else value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        if getattr(getattr(value, "dtype", None), "kind", "") == "M":
            value = value.astype("datetime64[us]")  # .item() of a nanosecond datetime64 is an int
        return json_safe(value.item())
    return None if _is_missing(value) else str(value)


def _is_missing(value: Any) -> bool:
    # pandas' NA and NaT compare unequal to themselves (or refuse to compare at all).
    try:
        return bool(value != value)
    except TypeError:
        return True
