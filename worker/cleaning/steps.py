"""The step functions, one per op, and the OPS registry the engine dispatches on.

Every function is pure: ``(df, step) -> (new_df, StepReport)``; the input frame is
never modified. The report's ``step`` number is 0 until the engine fills it in.
A function raises StepError (with ``step`` None) when the data do not allow it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from .ops_cast import cast
from .ops_clip import clip_outliers
from .ops_columns import drop_columns, normalize_column_names, rename_columns, select_columns
from .ops_fill import fill_missing
from .ops_rows import drop_duplicates, drop_missing, filter_rows, sort
from .ops_text import change_case, regex_replace, replace_values, trim_whitespace
from .report import StepReport
from .step_models import KNOWN_OPS

StepFunction = Callable[[pd.DataFrame, Any], tuple[pd.DataFrame, StepReport]]

OPS: dict[str, StepFunction] = {
    "drop_duplicates": drop_duplicates,
    "fill_missing": fill_missing,
    "drop_missing": drop_missing,
    "trim_whitespace": trim_whitespace,
    "change_case": change_case,
    "replace_values": replace_values,
    "regex_replace": regex_replace,
    "cast": cast,
    "filter_rows": filter_rows,
    "rename_columns": rename_columns,
    "drop_columns": drop_columns,
    "select_columns": select_columns,
    "normalize_column_names": normalize_column_names,
    "clip_outliers": clip_outliers,
    "sort": sort,
}

if set(OPS) != set(KNOWN_OPS):  # pragma: no cover - a new op needs both a model and a function
    raise RuntimeError(f"ops without a step function or model: {set(OPS) ^ set(KNOWN_OPS)}")

__all__ = [
    "OPS",
    "StepFunction",
    "cast",
    "change_case",
    "clip_outliers",
    "drop_columns",
    "drop_duplicates",
    "drop_missing",
    "fill_missing",
    "filter_rows",
    "normalize_column_names",
    "regex_replace",
    "rename_columns",
    "replace_values",
    "select_columns",
    "sort",
    "trim_whitespace",
]
