"""reading._series (the typed values' pandas array, made without pyarrow's to_pandas Series) equals
to_pandas' (reading._to_pandas_series), values, type, index, name and writability alike."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import reading

from .strategies import PROPERTY

KINDS = {
    "Int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "boolean": (pa.bool_(), st.booleans()),
    "float64": (pa.float64(), st.floats()),
    "datetime64[us]": (pa.timestamp("us"), st.integers(-(2**50), 2**50)),
}


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[pa.Array | pa.ChunkedArray, str]:
    dtype = draw(st.sampled_from(sorted(KINDS)))
    arrow_type, values = KINDS[dtype]
    parts = draw(st.lists(st.lists(st.one_of(st.none(), values), max_size=6), min_size=1, max_size=3))
    if sum(map(len, parts)) == 0:
        parts[0].append(None)
    if len(parts) == 1 and draw(st.booleans()):
        return pa.array(parts[0], arrow_type), dtype
    return pa.chunked_array([pa.array(part, arrow_type) for part in parts], arrow_type), dtype


def writable(series: pd.Series) -> bool:
    values = series._values
    for held in ("_ndarray", "_data"):
        values = getattr(values, held, values)
    return bool(values.flags.writeable)


@PROPERTY
@given(typed=typed_values(), ranged=st.booleans())
def test_series_are_to_pandas_series(typed: tuple[pa.Array | pa.ChunkedArray, str], ranged: bool) -> None:
    values, dtype = typed
    index = pd.RangeIndex(len(values)) if ranged else pd.Index(range(10, 10 + len(values)))
    like = pd.Series(pd.array([None] * len(values), dtype="str"), index=index, name="col")
    got, expected = reading._series(values, like, dtype), reading._to_pandas_series(values, like, dtype)
    pd.testing.assert_series_equal(got, expected)
    assert writable(got) == writable(values.to_pandas(types_mapper=reading._PANDAS_TYPES.get))
