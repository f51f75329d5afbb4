"""The clip_outliers step: clip numbers to IQR fences, z-score limits or fixed bounds."""

from __future__ import annotations

import math

import pandas as pd

from .kinds import is_numeric, type_name
from .ops_common import changed_cells, count, make_report, names_text, pick_columns, require_type
from .report import StepReport
from .step_models import ClipOutliers

Bounds = tuple[float | None, float | None]


def clip_outliers(df: pd.DataFrame, step: ClipOutliers) -> tuple[pd.DataFrame, StepReport]:
    """Clip each column into its bounds: iqr = [Q1 - f*IQR, Q3 + f*IQR], zscore = mean -/+ f*std
    (sample std), bounds = [lower, upper]. An integer column is clipped to the whole numbers
    inside the bounds, so it stays integer. A column with no values (or no spread) is left alone.
    """
    names = pick_columns(df, step.op, step.columns, is_numeric)
    require_type(df, step.op, names, is_numeric, "clip_outliers needs numbers")
    out = df.copy(deep=False)
    used: dict[str, list[float | None]] = {}
    for name in names:
        low, high = _bounds(df[name], step)
        if type_name(df[name]) == "integer":
            low, high = _whole(low, high)
        if low is not None or high is not None:
            out[name] = df[name].clip(low, high)
        used[name] = [low, high]
    cells = changed_cells(df, out, names)
    method = step.method if step.method == "bounds" else f"{step.method} x {step.factor:g}"
    parts = "; ".join(f"{n}: {cells[n]:,} to {_show(used[n])}" for n in names)
    summary = f"clip_outliers {names_text(names) or '(no numeric columns)'} ({method}): "
    summary += f"{count(sum(cells.values()), 'cell')} clipped" + (f" ({parts})" if parts else "")
    return out, make_report(step.op, df, out, summary, cells, {"method": step.method, "bounds": used})


def _bounds(column: pd.Series, step: ClipOutliers) -> Bounds:
    values = column.dropna().astype("float64")
    if step.method == "bounds":
        return step.lower, step.upper
    if values.empty:
        return None, None
    factor = float(step.factor or 0)
    if step.method == "iqr":
        q1, q3 = float(values.quantile(0.25)), float(values.quantile(0.75))
        return q1 - factor * (q3 - q1), q3 + factor * (q3 - q1)
    mean, std = float(values.mean()), float(values.std())
    if not math.isfinite(std) or std == 0:
        return None, None
    return mean - factor * std, mean + factor * std


def _whole(low: float | None, high: float | None) -> Bounds:
    low_i = None if low is None else math.ceil(low)
    high_i = None if high is None else math.floor(high)
    if low_i is not None and high_i is not None and low_i > high_i:
        # No whole number fits between the bounds: use the one nearest to them.
        low_i = high_i = round((low + high) / 2)  # type: ignore[operator]
    return low_i, high_i


def _show(bounds: list[float | None]) -> str:
    low, high = (("-inf" if b is None and i == 0 else "inf" if b is None else f"{b:g}") for i, b in enumerate(bounds))
    return f"[{low}, {high}]"
