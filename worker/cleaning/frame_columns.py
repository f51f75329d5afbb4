"""A frame's column arrays without building a Series for each (``df[name]`` costs tens of
microseconds, most of a 1,000-row job's per-column cost; the array itself is a look-up).

``column_array(df, name)`` is ``df[name].array``: the same values, the same array type. It
reads pandas' block manager, so every answer is checked against ``df[name].array`` in the
tests, and anything unexpected (a repeated column name, an unknown block) takes pandas' route.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def column_array(df: pd.DataFrame, name: Any) -> Any:
    """``df[name].array`` (read only: the caller must not modify it)."""
    try:
        loc = df.columns.get_loc(name)
        values = df._mgr.iget_values(loc) if isinstance(loc, int) else None
    except (AttributeError, TypeError):  # a pandas without this internal: its public route
        values = None
    if values is None or getattr(values, "ndim", 0) != 1:
        return df[name].array
    if isinstance(values, np.ndarray):
        return pd.arrays.NumpyExtensionArray(values)
    return values


def column_dtype(df: pd.DataFrame, name: Any) -> Any:
    """``df[name].dtype``."""
    return column_array(df, name).dtype


def column_arrays(df: pd.DataFrame) -> list[Any] | None:
    """Every column's values by position (ndarray for a numpy column, else its extension array),
    or None when pandas' internals do not answer as expected."""
    manager = getattr(df, "_mgr", None)
    if manager is None or not hasattr(manager, "iget_values"):
        return None
    arrays = [manager.iget_values(i) for i in range(len(df.columns))]
    return arrays if all(getattr(values, "ndim", 0) == 1 for values in arrays) else None


def frame_of(arrays: list[Any], columns: pd.Index, index: pd.Index) -> pd.DataFrame:
    """``pd.DataFrame`` of these column arrays (each ``len(index)`` long, none copied or merged into
    2-D blocks), named ``columns`` (repeated names allowed): what DataFrame._from_arrays builds,
    a third of the dict route's cost on a small frame."""
    if _arrays_to_mgr is not None:
        manager = _arrays_to_mgr(arrays, columns, index, verify_integrity=False, consolidate=False)
        return pd.DataFrame._from_mgr(manager, axes=manager.axes)
    out = pd.DataFrame(dict(enumerate(arrays)), index=index, copy=False)
    return out.set_axis(columns, axis=1)


try:
    from pandas.core.internals.construction import arrays_to_mgr as _arrays_to_mgr
except ImportError:  # pragma: no cover - another pandas: the public route
    _arrays_to_mgr = None
