"""Row-level answers computed on the columns' arrays, cheaper than pandas' hashing where they apply.

``repeats`` is ``column.duplicated(keep=False)`` for an integer column whose values span a
narrow range (ids, counts, ages): counting the values with ``bincount`` is several times
faster than hashing them. ``row_keys`` + ``keys_duplicated`` are ``DataFrame.duplicated`` for a
small frame, by Python tuples (pandas' fixed cost per column is most of the work there).
Each answers None where it does not apply; the caller then asks pandas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import arrow_text
from .frame_columns import column_array


def repeats(values: Any) -> np.ndarray | None:
    """``column.duplicated(keep=False)`` of an integer column whose values span a range no wider
    than a few times its length (by counting them), or None."""
    if isinstance(values, pd.arrays.IntegerArray):
        raw, missing = values._data, values._mask  # read only; the mask's cells hold any number
    elif isinstance(values, pd.arrays.NumpyExtensionArray) and values.dtype.kind in "iu":
        raw, missing = values.to_numpy(), None
    else:
        return None
    absent = 0 if missing is None else int(np.count_nonzero(missing))
    if absent == len(raw):
        return None
    if raw.dtype.itemsize < 8:
        raw = raw.astype(np.int64)  # so that shifting by the lowest value cannot wrap
    present = None if not absent else ~missing
    top = np.iinfo(raw.dtype)
    low = int(raw.min(initial=top.max, where=present if present is not None else True))
    high = int(raw.max(initial=top.min, where=present if present is not None else True))
    if high - low > 4 * len(raw):
        return None
    shifted = (raw - raw.dtype.type(low)).astype(np.intp, copy=False)
    if absent:
        shifted[missing] = 0  # counted apart: their stored numbers mean nothing
    tally = np.bincount(shifted, minlength=high - low + 1)
    tally[0] -= absent
    result = tally[shifted] > 1
    if absent:
        result[missing] = absent > 1
    return result


def row_keys(df: pd.DataFrame, names: list[str], positions: np.ndarray) -> list[tuple[Any, ...]] | None:
    """The values in ``names`` of the rows at ``positions``, each row a tuple of Python values,
    equal exactly where pandas' factorize makes the cells equal (every missing value None;
    -0.0 == 0.0 as for pandas), or None when a column is of a kind not handled here."""
    columns = []
    for name in names:
        values = python_values(column_array(df, name), positions)
        if values is None:
            return None
        columns.append(values)
    return list(zip(*columns, strict=True))


def python_values(values: Any, positions: np.ndarray) -> list[Any] | None:
    """The cells at ``positions`` of a typed column as Python values, missing ones as None;
    None for other kinds of column."""
    data = arrow_text.chunks(values)
    if data is not None:
        return data.take(positions).to_pylist()
    if isinstance(values, (pd.arrays.IntegerArray, pd.arrays.BooleanArray)):
        cells = values.to_numpy(dtype=values.dtype.numpy_dtype, na_value=0)[positions].tolist()
        return _with_none(cells, values.isna()[positions])
    if isinstance(values, pd.arrays.DatetimeArray):
        return _with_none(values.asi8[positions].tolist(), values.isna()[positions])
    if isinstance(values, pd.arrays.NumpyExtensionArray) and values.dtype.kind in "iub":
        return values.to_numpy()[positions].tolist()
    if isinstance(values, pd.arrays.NumpyExtensionArray) and values.dtype.kind == "f":
        raw = values.to_numpy()[positions]
        return _with_none(raw.tolist(), np.isnan(raw))
    return None


def _with_none(cells: list[Any], missing: np.ndarray) -> list[Any]:
    for position in np.flatnonzero(missing).tolist():
        cells[position] = None
    return cells


def keys_duplicated(keys: list[tuple[Any, ...]], keep: Any) -> np.ndarray:
    """``duplicated(keep)`` over hashable row keys: True for every row but the one kept of each
    value (the first, the last, or none with keep False)."""
    result = np.zeros(len(keys), dtype=bool)
    if keep is False:
        counts: dict[tuple[Any, ...], int] = {}
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        result[:] = [counts[key] > 1 for key in keys]
        return result
    order = range(len(keys)) if keep == "first" else range(len(keys) - 1, -1, -1)
    seen: set[tuple[Any, ...]] = set()
    for position in order:
        key = keys[position]
        if key in seen:
            result[position] = True
        else:
            seen.add(key)
    return result
