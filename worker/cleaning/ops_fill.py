"""The fill_missing step: constant, mean, median, mode, ffill or bfill, reporting the value used."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from . import arrow_text
from .errors import StepError
from .kinds import is_numeric, type_name
from .ops_common import count, count_changed, make_report, names_text, pick_columns, require_type, scalar, show
from .report import StepReport
from .step_models import FillMissing
from .vocab import as_text, fits, fits_named

_PHRASE = {"ffill": "the previous value (ffill)", "bfill": "the next value (bfill)"}


def fill_missing(df: pd.DataFrame, step: FillMissing) -> tuple[pd.DataFrame, StepReport]:
    """Fill missing cells. Without ``columns``: mean/median fill the numeric columns, constant the
    columns whose type the value fits, the others every column. An integer column filled with a
    mean or median gets that value rounded, so it stays integer (the report says so).
    """
    names = pick_columns(df, step.op, step.columns, default_columns(step))
    if step.strategy in ("mean", "median"):
        require_type(df, step.op, names, is_numeric, f"{step.strategy} needs numbers")
    out = df.copy(deep=False)
    used: dict[str, Any] = {}
    notes: list[str] = []
    cells: dict[str, int] = {}
    for name in names:
        column = df[name]
        out[name], used[name], note = _fill_column(column, name, step)
        cells[str(name)] = fill_changes(column, out[name])
        if note:
            notes.append(note)
    summary = _summary(step, names, cells, used) + "".join(f"; {n}" for n in notes)
    details = {"strategy": step.strategy, "values": used, "notes": notes}
    return out, make_report(step.op, df, out, summary, cells, details)


def default_columns(step: FillMissing) -> Callable[[pd.Series], bool]:
    if step.strategy in ("mean", "median"):
        return is_numeric
    if step.strategy == "constant":
        return lambda column: fits(step.value, type_name(column))
    return lambda column: True


def _fill_column(column: pd.Series, name: str, step: FillMissing) -> tuple[pd.Series, Any, str | None]:
    """The filled column, the value used (None for ffill/bfill) and a note for the report, if any."""
    if step.strategy == "ffill":
        return column.ffill(), None, None
    if step.strategy == "bfill":
        return column.bfill(), None, None
    if step.strategy == "constant":
        value = _constant_for(column, name, step)
        filled = arrow_text.fill(column.array, value)
        return column.fillna(value) if filled is None else filled, scalar(value), None
    value = _statistic(column, step.strategy)
    if value is None:
        return column, None, f"{name} has no values to take the {step.strategy} of: left missing"
    if type_name(column) == "integer" and step.strategy != "mode":
        rounded = round(value)
        note = None if rounded == value else f"{name}: {step.strategy} {value} rounded to {rounded} to keep it integer"
        return column.fillna(rounded), rounded, note
    return column.fillna(value), scalar(value), None


def _statistic(column: pd.Series, strategy: str) -> Any:
    """The mean or median as a float, or the first (smallest) mode as stored; None with no values."""
    if strategy == "mode":
        modes = column.mode(dropna=True)
        return modes.iloc[0] if len(modes) else None
    value = column.mean() if strategy == "mean" else fast_median(column)
    return None if pd.isna(value) else float(value)


def fast_median(column: pd.Series) -> Any:
    """``column.median()``, by numpy on the present values of a masked integer column (half the
    time: pandas turns the column into floats first); numpy's median of the same values is the
    same number: the middle value, or the mean of the two middle ones, taken as floats."""
    values = column.array
    if not isinstance(values, pd.arrays.IntegerArray):
        return column.median()
    present = values.to_numpy(dtype=values.dtype.numpy_dtype, na_value=0)[~values.isna()]
    return np.median(present) if len(present) else None


def fill_changes(before: pd.Series, after: Any) -> int:
    """count_changed(before, after) for a fill, which only sets missing cells: the cells no longer
    missing, when the column kept its dtype (one the shortcut knows); else count_changed."""
    after_values = after.array if isinstance(after, pd.Series) else after
    # The arrays' dtypes: a numpy column's Series dtype (float64) never equals its array's (NumpyEADtype).
    if before.array.dtype != after_values.dtype or before.dtype == object or not _value_typed(before.array):
        return count_changed(before, after if isinstance(after, pd.Series) else pd.Series(after, index=before.index))
    return int(np.count_nonzero(before.array.isna())) - int(np.count_nonzero(after_values.isna()))


def _value_typed(values: Any) -> bool:
    """Arrays whose present values all equal themselves, so count_changed sees only the filled
    cells (not so a Float64 array, whose NaN is a present value unequal to itself)."""
    plain = (pd.arrays.NumpyExtensionArray, pd.arrays.IntegerArray, pd.arrays.BooleanArray, pd.arrays.DatetimeArray)
    return isinstance(values, plain) or arrow_text.chunks(values) is not None


def _constant_for(column: pd.Series, name: str, step: FillMissing) -> Any:
    kind = type_name(column)
    if not fits_named(step.value, kind):
        raise StepError(None, step.op, f"the value {show(step.value)} does not fit {kind} column {name!r}")
    if kind == "text":
        return as_text(step.value)
    if kind == "integer":
        return int(step.value)
    if kind == "datetime":
        stamp = pd.Timestamp(step.value)
        tz = getattr(column.dtype, "tz", None)
        if (tz is None) != (stamp.tzinfo is None):
            raise StepError(None, step.op, f"the value {show(step.value)} and column {name!r} disagree on time zones")
        return stamp
    return step.value


def _summary(step: FillMissing, names: list[str], cells: dict[str, int], used: dict[str, Any]) -> str:
    total = sum(cells.values())
    if not names:
        return "fill_missing: no column to fill"
    if step.strategy in _PHRASE:
        return f"fill_missing {names_text(names)}: {count(total, 'cell')} with {_PHRASE[step.strategy]}"
    label = "" if step.strategy == "constant" else f"{step.strategy} "
    if len(names) == 1:
        return f"fill_missing {names[0]}: {count(total, 'cell')} with {label}{show(used[names[0]])}"
    parts = "; ".join(f"{n}: {cells[n]:,} with {show(used[n])}" for n in names)
    return f"fill_missing {names_text(names)}: {count(total, 'cell')} with {label.strip() or 'value'} ({parts})"
