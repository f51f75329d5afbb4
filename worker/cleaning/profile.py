"""Per-column statistics of a frame (missing, distinct, min/max or top values), JSON-ready."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .kinds import type_name
from .ops_cast import failures
from .report import json_safe
from .writing import csv_cells

TOP = 5


def profile(frame: pd.DataFrame, types: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """``{column: {"type", "missing", "distinct", "min", "max", "top"}}``, and for text columns
    ``cast_failures``.

    Numbers and datetimes get min/max (datetimes as ISO text) and an empty ``top``; text and
    booleans get min/max None and ``top``: up to five ``[value, count]`` pairs, most frequent
    first (ties by value), each value as written to CSV. ``types`` (from the reader) wins over
    the dtype, so a column read as text stays text here. ``cast_failures``:
    ``{"integer": {"count", "first"}, "float": {...}}``, how many values a cast to that type
    could not convert and the first of them, so a config can be checked before it runs.
    """
    types = types or {}
    return {str(name): _column(frame[name], types.get(str(name)) or type_name(frame[name])) for name in frame.columns}


def _column(column: pd.Series, kind: str) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "type": kind,
        "missing": int(column.isna().sum()),
        "distinct": int(column.nunique(dropna=True)),
        "min": None,
        "max": None,
        "top": [],
    }
    values = column.dropna()
    if kind == "text" and type_name(column) == "text":
        stats["cast_failures"] = {target: _failures(values, target) for target in ("integer", "float")}
    if values.empty:
        return stats
    if kind in ("integer", "float", "datetime") and type_name(column) == kind:
        stats["min"], stats["max"] = json_safe(values.min()), json_safe(values.max())
    else:
        stats["top"] = _top(values)
    return stats


def _failures(values: pd.Series, target: str) -> dict[str, Any]:
    bad = failures(values, target)
    return {"count": len(bad), "first": None if bad.empty else str(bad.iloc[0])}


def _top(values: pd.Series) -> list[list[Any]]:
    counts = values.value_counts(dropna=True)
    cutoff = counts.iloc[min(TOP, len(counts)) - 1]
    # Only values as frequent as the fifth can place; among equals the smaller value wins.
    ranked = pd.DataFrame({"value": counts.index, "count": counts.to_numpy()})[counts.to_numpy() >= cutoff]
    ranked = ranked.sort_values(["count", "value"], ascending=[False, True], kind="stable").head(TOP)
    text = [row[0] for row in csv_cells(ranked[["value"]])]
    return [[value, int(n)] for value, n in zip(text, ranked["count"].tolist(), strict=True)]
