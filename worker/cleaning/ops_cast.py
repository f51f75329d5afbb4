"""The cast step: convert columns to integer, float, string, boolean, datetime or date."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import StepError
from .kinds import type_name
from .ops_common import as_mask, count, make_report, names_text, require_columns, show
from .report import StepReport
from .step_models import Cast

_INTEGER = r"[+-]?\d+"
_INT64 = (-(2**63), 2**63 - 1)
_BOOLEANS = {"true": True, "false": False, "yes": True, "no": False, "t": True, "f": False}
_BOOLEANS |= {"y": True, "n": False, "1": True, "0": False}


def cast(df: pd.DataFrame, step: Cast) -> tuple[pd.DataFrame, StepReport]:
    """Convert each named column. A value that cannot be converted stops the step (errors "fail",
    naming the first such value) or becomes missing (errors "coerce"); ``cells_changed`` counts
    those lost values. Text to datetime/date reads ISO 8601 unless ``format`` (strftime codes) is given.
    """
    require_columns(df, step.op, step.columns)
    out = df.copy(deep=False)
    lost: dict[str, int] = {}
    for name, target in step.columns.items():
        column = df[name]
        converted = _CONVERTERS[target](column, step.format)
        bad = lost_values(column, converted)
        if bad.any() and step.errors == "fail":
            raise StepError(None, step.op, _failure(name, target, column[bad], step.format))
        out[name] = converted
        lost[name] = int(np.count_nonzero(bad))
    targets = ", ".join(f"{n} to {t}" for n, t in step.columns.items())
    summary = f"cast {targets}"
    total = sum(lost.values())
    if total:
        summary += f": {count(total, 'value')} could not be converted and became missing"
        summary += " (" + names_text([f"{n}: {k:,}" for n, k in lost.items() if k]) + ")"
    return out, make_report(step.op, df, out, summary, lost, {"types": dict(step.columns), "errors": step.errors})


def lost_values(column: pd.Series, converted: pd.Series) -> np.ndarray:
    """Where a present value became missing, as a bool array (isna never answers NA)."""
    return ~_missing(column) & _missing(converted)


def _missing(column: pd.Series) -> np.ndarray:
    """``column.isna()`` as a bool array, from the column's array (what Series.isna asks) without
    building a Series."""
    return np.asarray(column.array.isna(), dtype=bool)


def failures(column: pd.Series, target: str, fmt: str | None = None) -> pd.Series:
    """The values of ``column`` that a cast to ``target`` could not convert."""
    converted = _CONVERTERS[target](column, fmt)
    return column[as_mask(column.notna()) & as_mask(converted.isna())]


def _failure(name: str, target: str, bad: pd.Series, fmt: str | None) -> str:
    hint = f" with format {fmt!r}" if fmt else ""
    if target in ("datetime", "date") and not fmt:
        hint = " (ISO 8601 expected; give a format such as '%d/%m/%Y')"
    first = bad.iloc[0]
    return (
        f"column {name!r}: {count(len(bad), 'value')} cannot become {target}{hint}, "
        f"the first is {show(str(first))} (row {bad.index[0]}); use errors 'coerce' to make them missing"
    )


def _to_integer(column: pd.Series, fmt: str | None) -> pd.Series:
    kind = type_name(column)
    if kind in ("integer", "boolean"):
        return column.astype("Int64")
    if kind == "float":
        whole = column.where(column.notna() & (column % 1 == 0) & column.between(*_INT64))
        return whole.astype("Int64")
    if kind != "text":
        return pd.Series(pd.NA, index=column.index, dtype="Int64")
    text = column.str.strip()
    exact = as_mask(text.str.fullmatch(_INTEGER))
    # Whole numbers go through Python ints: a float would round anything past 2**53.
    ints = text[exact].map(int)
    ints = ints[(ints >= _INT64[0]) & (ints <= _INT64[1])]
    floats = _to_integer(pd.to_numeric(text[~exact], errors="coerce").astype("float64"), None)
    merged = pd.concat([ints.astype("Int64"), floats]).reindex(column.index)
    return merged.astype("Int64")


def _to_float(column: pd.Series, fmt: str | None) -> pd.Series:
    kind = type_name(column)
    if isinstance(column.dtype, np.dtype) and column.dtype == np.float64:
        return column  # what the round trip through Float64 below gives back
    if kind in ("integer", "float", "boolean"):
        return column.astype("Float64").astype("float64")
    if kind != "text":
        return pd.Series(float("nan"), index=column.index)
    return pd.to_numeric(column.str.strip(), errors="coerce").astype("float64")


def _to_string(column: pd.Series, fmt: str | None) -> pd.Series:
    return column.astype("str")


def _to_boolean(column: pd.Series, fmt: str | None) -> pd.Series:
    kind = type_name(column)
    if kind == "boolean":
        return column
    if kind in ("integer", "float"):
        return column.map({1: True, 0: False}).astype("boolean")
    if kind != "text":
        return pd.Series(pd.NA, index=column.index, dtype="boolean")
    return column.str.strip().str.lower().map(_BOOLEANS).astype("boolean")


def _to_datetime(column: pd.Series, fmt: str | None) -> pd.Series:
    kind = type_name(column)
    if kind == "datetime":
        return column
    if kind != "text":
        return pd.Series(pd.NaT, index=column.index, dtype="datetime64[us]")
    text = column.str.strip()
    try:
        return pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce")
    except ValueError:  # mixed time zones: compare them on one clock
        return pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)


def _to_date(column: pd.Series, fmt: str | None) -> pd.Series:
    converted = _to_datetime(column, fmt)
    return converted if _all_midnights(converted) else converted.dt.normalize()


_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _all_midnights(column: pd.Series) -> bool:
    """Whether every value of a time-zone-naive datetime column is a midnight (normalize then
    changes nothing), by the integers it stores."""
    dtype = column.dtype
    if not (isinstance(dtype, np.dtype) and dtype.kind == "M" and np.datetime_data(dtype)[0] in _DAY):
        return False
    values = column.array
    ticks = values.asi8[~values.isna()]
    return not np.any(ticks % _DAY[np.datetime_data(dtype)[0]])


_CONVERTERS = {
    "integer": _to_integer,
    "float": _to_float,
    "string": _to_string,
    "boolean": _to_boolean,
    "datetime": _to_datetime,
    "date": _to_date,
}
