"""Map pandas dtypes onto the engine's type names (integer, float, boolean, datetime, text)."""

from __future__ import annotations

import pandas as pd
from pandas.api import types as ptypes


def type_name(series: pd.Series) -> str:
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_integer_dtype(dtype):
        return "integer"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "text"


def frame_types(frame: pd.DataFrame) -> dict[str, str]:
    return {str(name): type_name(frame[name]) for name in frame.columns}


def is_numeric(series: pd.Series) -> bool:
    return type_name(series) in ("integer", "float")


def is_text(series: pd.Series) -> bool:
    return type_name(series) == "text"
