"""Map pandas dtypes onto the engine's type names (integer, float, boolean, datetime, text)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes


_NUMPY_KINDS = {"b": "boolean", "i": "integer", "u": "integer", "f": "float", "M": "datetime"}
_EXTENSION_KINDS = {pd.BooleanDtype: "boolean", pd.StringDtype: "text", pd.DatetimeTZDtype: "datetime"}
_EXTENSION_KINDS |= {dtype: "integer" for dtype in (pd.Int8Dtype, pd.Int16Dtype, pd.Int32Dtype, pd.Int64Dtype)}
_EXTENSION_KINDS |= {dtype: "integer" for dtype in (pd.UInt8Dtype, pd.UInt16Dtype, pd.UInt32Dtype, pd.UInt64Dtype)}
_EXTENSION_KINDS |= {pd.Float32Dtype: "float", pd.Float64Dtype: "float"}


def type_name(series: pd.Series) -> str:
    return dtype_kind(series.dtype)


def dtype_kind(dtype: object) -> str:
    """The type name of a dtype: the common dtypes by a look-up (pandas' is_*_dtype checks cost
    microseconds each, and the steps ask for every column they touch), the rest as pandas says."""
    if isinstance(dtype, np.dtype):
        known = _NUMPY_KINDS.get(dtype.kind)
    else:
        known = _EXTENSION_KINDS.get(type(dtype))
    return known if known is not None else _pandas_kind(dtype)


def _pandas_kind(dtype: object) -> str:
    """The reference for dtype_kind: pandas' own answer, for any dtype."""
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
