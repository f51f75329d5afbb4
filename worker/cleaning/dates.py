"""How datetime columns are written: the format each one keeps or takes, followed through the steps.

The rule: a datetime column is written in its *format* (strftime codes) when it has one,
else in ISO 8601 as pandas writes it (``2024-01-31`` when every value is a midnight,
``2024-01-31 10:00:00`` otherwise). A column gets its format from the reader (the shape
all its values shared in the file, so an untouched column is written back as it was
read) or from a cast (the cast's ``format``; ``%Y-%m-%d`` for a cast to date without
one). A cast to anything else, or a step that makes the column something other than a
datetime, drops the format. If a format would lose detail a value has (a time of day
under a date-only format, seconds under ``%H:%M``), the column is written in ISO instead.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

DATE_ISO = "%Y-%m-%d"
_SHAPE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?P<time>[T ]\d{2}:\d{2}(?P<sec>:\d{2}(?P<frac>\.\d+)?)?)?(?P<zone>Z|[+-]\d{2}:?\d{2})?"
)
# The finest unit a format shows, by the directives it uses (finest first).
_UNITS = (("%f", "us"), ("%S", "s"), ("%M", "min"), ("%H", "h"), ("%I", "h"))


def read_format(values: pd.Series) -> str | None:
    """The format that writes each of ``values`` (stripped ISO text, none missing) back as it was,
    or None when they do not share one shape and one zone suffix, or use a fraction other
    than six digits (strftime has only ``%f``).
    """
    if values.empty:
        return None
    first = str(values.iloc[0])
    found = _SHAPE.fullmatch(first)
    if found is None or (found["frac"] and len(found["frac"]) != 7):
        return None
    zone = found["zone"] or ""
    fmt = DATE_ISO
    if found["time"]:
        fmt += found["time"][0] + "%H:%M" + (":%S" if found["sec"] else "") + (".%f" if found["frac"] else "")
    shape = re.sub(r"\d", r"\\d", re.escape(first[: len(first) - len(zone)])) + re.escape(zone)
    if not values.str.fullmatch(shape).all():
        return None
    return fmt + zone.replace("%", "%%")


# Steps that change no column's name or dtype (row steps; text steps touch only text columns): the
# formats after them are the ones before, with no look at the columns.
KEEP_TYPES_AND_NAMES = frozenset(
    {"drop_duplicates", "drop_missing", "filter_rows", "sort", "trim_whitespace", "change_case", "regex_replace"}
)


def follow(formats: dict[str, str], step: Any | None, before: pd.DataFrame, after: pd.DataFrame) -> dict[str, str]:
    """The formats after ``step`` turned ``before`` into ``after`` (with ``step`` None, only those
    of columns that are still datetimes are kept)."""
    op = getattr(step, "op", None)
    if op in KEEP_TYPES_AND_NAMES:
        return dict(formats)
    formats = dict(formats)
    if op in ("rename_columns", "normalize_column_names"):
        names = dict(zip((str(c) for c in before.columns), (str(c) for c in after.columns), strict=True))
        formats = {names.get(name, name): fmt for name, fmt in formats.items()}
    elif op == "cast":
        for name, target in step.columns.items():
            fmt = step.format or (DATE_ISO if target == "date" else None)
            if target in ("datetime", "date") and fmt:
                formats[name] = fmt
            else:
                formats.pop(name, None)
    return {
        name: fmt
        for name, fmt in formats.items()
        if name in after.columns and ptypes.is_datetime64_any_dtype(after[name].dtype)
    }


def formatted(df: pd.DataFrame, formats: dict[str, str] | None) -> pd.DataFrame:
    """``df`` with each formatted datetime column turned into its text (missing stays missing)."""
    return apply_formats(df, {name: fmt for name, fmt in (formats or {}).items() if name in df.columns and needs_strftime(df[name], fmt)})


def apply_formats(df: pd.DataFrame, decided: dict[str, str]) -> pd.DataFrame:
    """``df`` with the columns of ``decided`` (those needs_strftime accepted, on the whole column) as text."""
    if not decided:
        return df
    out = df.copy(deep=False)
    for name, fmt in decided.items():
        out[name] = df[name].dt.strftime(fmt)
    return out


def needs_strftime(column: pd.Series, fmt: str) -> bool:
    """Whether the whole ``column`` is written in ``fmt`` by strftime (else pandas' ISO output is it)."""
    return ptypes.is_datetime64_any_dtype(column.dtype) and _needs_strftime(column, fmt)


def _needs_strftime(column: pd.Series, fmt: str) -> bool:
    """False when the format would lose detail (ISO then) or pandas writes exactly this anyway."""
    if fmt == DATE_ISO and getattr(column.dtype, "tz", None) is None:
        # What the checks below answer for it whatever the values (by the day's unit every
        # remaining value is a midnight): ISO writes a dates-only column so, else keeps the times.
        return False
    return needs_strftime_by_values(column, fmt)


def needs_strftime_by_values(column: pd.Series, fmt: str) -> bool:
    """_needs_strftime's answer from the values, for any format (the reference of its shortcut)."""
    unit = next((unit for code, unit in _UNITS if code in fmt), "D")
    values = column.dropna()
    if values.empty or bool((values.dt.floor(unit) != values).any()):
        return False
    if getattr(column.dtype, "tz", None) is not None:
        return True
    # Every value equals its day (the unit "D" check above) or normalize decides.
    midnight = unit == "D" or bool((values.dt.normalize() == values).all())
    return not ((fmt == DATE_ISO and midnight) or (fmt == DATE_ISO + " %H:%M:%S" and not midnight))
