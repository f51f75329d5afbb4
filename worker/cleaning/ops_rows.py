"""Steps that choose or order rows: drop_duplicates, drop_missing, filter_rows, sort."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from . import fast_rows, re2, row_codes
from .errors import StepError
from .frame_columns import column_array
from .kinds import dtype_kind, type_name
from .ops_common import as_mask, count, make_report, names_text, require_columns, show, take_rows
from .report import StepReport
from .step_models import DropDuplicates, DropMissing, FilterRows, Sort
from .vocab import as_text, is_number

_KEEP: dict[str, Any] = {"first": "first", "last": "last", "none": False}
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False}


def drop_duplicates(df: pd.DataFrame, step: DropDuplicates) -> tuple[pd.DataFrame, StepReport]:
    require_columns(df, step.op, step.subset or ())
    out = take_rows(df, ~duplicated(df, step.subset, _KEEP[step.keep]))
    on = names_text(step.subset) if step.subset else "all columns"
    removed = len(df) - len(out)
    summary = f"drop_duplicates on {on}: {count(removed, 'row')} removed, keep {step.keep}"
    return out, make_report(step.op, df, out, summary, details={"subset": step.subset, "keep": step.keep})


PRESCREEN_ROWS = 100_000
CHEAP_FIRST = {"integer": 0, "float": 1, "datetime": 2, "text": 3, "boolean": 4}


def duplicated(df: pd.DataFrame, subset: list[str] | None, keep: Any) -> np.ndarray:
    """``df.duplicated(subset, keep)`` as a bool array, computed on fewer rows when it can be.

    Two rows are equal only if they agree in every column, so a row whose value in one column
    appears nowhere else is no row's duplicate. The rows whose values repeat in a cheap column
    (numbers first; a few columns if needed) are the only candidates, and pandas compares just
    those, in their order: the answer is pandas' exactly, for much less hashing. On a small frame
    with few candidates, Python tuples of their cells are compared instead (small_duplicated):
    pandas' fixed cost per column is most of the work there.
    """
    names = list(subset) if subset is not None else list(df.columns)
    if 0 < len(df) < PRESCREEN_ROWS and df.columns.is_unique:
        small = small_duplicated(df, names, keep)
        if small is not None:
            return small
    if len(df) == 0 or len(df) < PRESCREEN_ROWS or len(names) < 2 or not df.columns.is_unique:
        return df.duplicated(subset=subset, keep=keep).to_numpy()
    candidates: np.ndarray | None = None
    for name in sorted(names, key=lambda n: CHEAP_FIRST[dtype_kind(column_array(df, n).dtype)])[:3]:
        repeats = _repeats(df, name)
        candidates = repeats if candidates is None else candidates & repeats
        if candidates.mean() <= 0.5:
            break
    assert candidates is not None
    if candidates.mean() > 0.5:
        return df.duplicated(subset=subset, keep=keep).to_numpy()
    positions = np.flatnonzero(candidates)
    result = np.zeros(len(df), dtype=bool)
    arrays = [column_array(df, name) for name in names]
    result[positions[row_codes.duplicated_at(arrays, positions, keep)]] = True
    return result


KEYED_ROWS = 1_000


def small_duplicated(df: pd.DataFrame, names: list[str], keep: Any) -> np.ndarray | None:
    """``duplicated`` for a small frame, by Python tuples of the rows (fast_rows) where they are
    few: the candidates whose value repeats in a number column, else every row. None when
    there are too many or a column is of a kind fast_rows does not handle."""
    number = next((name for name in names if dtype_kind(column_array(df, name).dtype) in ("integer", "float")), None)
    positions = np.arange(len(df)) if number is None else np.flatnonzero(_repeats(df, number))
    if len(positions) == 0:
        return np.zeros(len(df), dtype=bool)  # no value repeats in that column: no row repeats
    if len(positions) > KEYED_ROWS:
        return None
    keys = fast_rows.row_keys(df, names, positions)
    if keys is None:
        return None
    result = np.zeros(len(df), dtype=bool)
    result[positions[fast_rows.keys_duplicated(keys, keep)]] = True
    return result


def _repeats(df: pd.DataFrame, name: str) -> np.ndarray:
    fast = fast_rows.repeats(column_array(df, name))
    return df[name].duplicated(keep=False).to_numpy() if fast is None else fast


def drop_missing(df: pd.DataFrame, step: DropMissing) -> tuple[pd.DataFrame, StepReport]:
    require_columns(df, step.op, step.columns or ())
    out = df.dropna(subset=step.columns, how=step.how)
    on = names_text(step.columns) if step.columns else "all columns"
    removed = len(df) - len(out)
    summary = f"drop_missing on {on} (how {step.how}): {count(removed, 'row')} removed"
    return out, make_report(step.op, df, out, summary, details={"columns": step.columns, "how": step.how})


def filter_rows(df: pd.DataFrame, step: FilterRows) -> tuple[pd.DataFrame, StepReport]:
    """Keep the matching rows.

    A missing cell matches is_null, ne and not_in (it equals nothing) and nothing
    else, unless the ``in`` / ``not_in`` list holds null.
    """
    require_columns(df, step.op, [step.column])
    column = df[step.column]
    # A missing answer counts as False (as_mask's rule), as a bool array: no Series built.
    keep = _MATCHERS[step.operator](column, _operand(column, step)).to_numpy(dtype=bool, na_value=False)
    if step.operator in ("in", "not_in") and None in step.value:
        missing = np.asarray(column.isna(), dtype=bool)
        keep = keep | missing if step.operator == "in" else keep & ~missing
    out = take_rows(df, keep)
    value = "" if step.operator in ("is_null", "not_null") else f" {show(step.value)}"
    summary = (
        f"filter_rows {step.column} {step.operator}{value}: kept {len(out):,} of {count(len(df), 'row')}"
        f" ({len(df) - len(out):,} removed)"
    )
    return out, make_report(step.op, df, out, summary, details={"kept": len(out), "removed": len(df) - len(out)})


def sort(df: pd.DataFrame, step: Sort) -> tuple[pd.DataFrame, StepReport]:
    """Stable sort; missing values go last in either direction."""
    require_columns(df, step.op, step.columns)
    out = df.sort_values(by=step.columns, ascending=not step.descending, kind="stable", na_position="last")
    direction = "descending" if step.descending else "ascending"
    summary = f"sort by {names_text(step.columns)} {direction}: {count(len(out), 'row')}"
    return out, make_report(step.op, df, out, summary, details={"by": step.columns, "descending": step.descending})


def _operand(column: pd.Series, step: FilterRows) -> Any:
    if step.operator in ("is_null", "not_null"):
        return None
    if step.operator in ("contains", "matches"):
        return step.value
    if step.operator in ("in", "not_in"):
        return [_like_column(column, v, step) for v in step.value if v is not None]
    return _like_column(column, step.value, step)


def _like_column(column: pd.Series, value: Any, step: FilterRows) -> Any:
    """The filter value converted to the column's type, or a StepError saying why it cannot be."""
    kind = type_name(column)
    converted: Any = None
    if kind in ("integer", "float"):
        converted = value if is_number(value) else _float_or_none(value)
    elif kind == "boolean":
        converted = value if isinstance(value, bool) else _BOOLEANS.get(str(value).strip().lower())
    elif kind == "datetime" and isinstance(value, str):
        converted = _timestamp_or_none(value, column)
    elif kind == "text":
        converted = as_text(value)
    if converted is None:
        reason = f"column {step.column!r} holds {kind} values; cannot compare it with {show(value)}"
        raise StepError(None, step.op, reason)
    return converted


def _float_or_none(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _timestamp_or_none(value: str, column: pd.Series) -> pd.Timestamp | None:
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        return None
    tz = getattr(column.dtype, "tz", None)
    if tz is not None:
        return stamp.tz_localize(tz) if stamp.tzinfo is None else stamp.tz_convert(tz)
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


def _as_text(column: pd.Series) -> pd.Series:
    return column if type_name(column) == "text" else column.astype("str")


def _contains(column: pd.Series, value: str) -> pd.Series:
    return _as_text(column).str.contains(value, regex=False, na=False)


def _matches(column: pd.Series, value: str) -> pd.Series:
    return re2.search(column, "filter_rows", value)


_MATCHERS: dict[str, Callable[[pd.Series, Any], pd.Series]] = {
    "eq": lambda c, v: c.eq(v),
    "ne": lambda c, v: ~as_mask(c.eq(v)),
    "lt": lambda c, v: c.lt(v),
    "le": lambda c, v: c.le(v),
    "gt": lambda c, v: c.gt(v),
    "ge": lambda c, v: c.ge(v),
    "in": lambda c, v: c.isin(v),
    "not_in": lambda c, v: ~as_mask(c.isin(v)),
    "contains": _contains,
    "matches": _matches,
    "is_null": lambda c, v: c.isna(),
    "not_null": lambda c, v: c.notna(),
}
