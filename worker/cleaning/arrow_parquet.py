"""The pyarrow table pandas' ``to_parquet(index=False)`` writes, made faster for the engine's frames.

``pa.Table.from_pandas`` works out pandas' metadata (the schema) column by column on every call,
which is most of the time a small frame's Parquet takes. For frames whose columns all have one
of the engine's types (the schema then depends on the names and types alone, not the values),
the schema is kept from the first such frame and each column converted as from_pandas converts it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np
import pandas as pd
import pyarrow as pa

_KEPT = 64
_SCHEMAS: OrderedDict[Hashable, pa.Schema] = OrderedDict()
_LOCK = threading.Lock()


def pandas_table(df: pd.DataFrame, columns: list[pd.Series] | None = None) -> pa.Table:
    """``pa.Table.from_pandas(df, preserve_index=False)``, in one thread (``columns``: df's, when known)."""
    columns = [column for _, column in df.items()] if columns is None else columns
    key = _schema_key(df, columns)
    schema = _SCHEMAS.get(key) if key is not None else None
    if schema is not None:
        arrays = [_array(column) for column in columns]
        if [array.type for array in arrays] == schema.types:
            return pa.Table.from_arrays(arrays, schema=schema)
    table = pa.Table.from_pandas(df, preserve_index=False, nthreads=1)
    if key is not None:
        with _LOCK:  # outputs may be written from more than one thread
            _SCHEMAS[key] = table.schema
            while len(_SCHEMAS) > _KEPT:
                _SCHEMAS.popitem(last=False)
    return table


def _array(column: pd.Series) -> pa.Array:
    """The column as from_pandas converts it (``pa.array(column, from_pandas=True)``), without
    pa.array's look at what kind of object it was given."""
    if isinstance(column.dtype, np.dtype):
        return pa.array(column.to_numpy(), from_pandas=True)
    return pa.array(column.array)  # its __arrow_array__, as pa.array calls it


def _schema_key(df: pd.DataFrame, columns: list[pd.Series]) -> Hashable | None:
    """What pandas' metadata depends on for this frame, or None when its values count too."""
    # (Not the index: with preserve_index=False pandas' metadata says nothing of it.)
    if df.attrs or type(df.columns) is not pd.Index:
        return None
    names = list(df.columns)
    if not all(type(name) is str for name in names) or len(set(names)) != len(names):
        return None
    dtypes = [column.dtype for column in columns]
    if not all(_plain_type(dtype) for dtype in dtypes):
        return None
    return (str(df.columns.dtype), tuple(names), tuple(str(dtype) for dtype in dtypes))


def _plain_type(dtype: object) -> bool:
    if isinstance(dtype, pd.StringDtype):
        return dtype.storage == "pyarrow"
    if isinstance(dtype, (pd.Int64Dtype, pd.BooleanDtype)):
        return True
    return isinstance(dtype, np.dtype) and (dtype.kind in "fb" or dtype == np.int64 or dtype.kind == "M")
