"""Long integer and date columns over a short range are written by looking each value's text up
(arrow_write._integer_renderer, _days_renderer): the bytes of each value's own cast, which stays the
reference (arrow_write._integer, the date32 cast), and of pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import arrow_write

from .strategies import PROPERTY

ROWS = 2 * arrow_write._LOOKUP_ROWS + 7  # with missing values, still past the lookup's rows
DTYPES = ["Int64", "Int8", "int64", "int32", "uint8", "uint64"]


def as_texts(column: pd.Series) -> list[str | None]:
    renderer = arrow_write.column_renderer(column)
    assert renderer is not None
    return renderer(column.iloc[5:]).to_pylist()  # a block past the column's start, as write renders it


@PROPERTY
@given(
    dtype=st.sampled_from(DTYPES),
    low=st.integers(-(2**62), 2**62),
    span=st.integers(0, ROWS),
    gaps=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_integers_are_written_as_cast(dtype: str, low: int, span: int, gaps: bool, seed: int) -> None:
    info = np.iinfo(np.dtype(dtype.lower()))
    span = min(span, int(info.max) - int(info.min))
    low = min(max(low, int(info.min)), int(info.max) - span)
    rng = np.random.default_rng(seed)
    values = low + rng.integers(0, span + 1, ROWS).astype(object)
    column = pd.Series(pd.array(list(values), dtype=dtype.capitalize() if dtype.startswith("int") and gaps else dtype))
    if gaps and isinstance(column.dtype, pd.api.extensions.ExtensionDtype):
        column[rng.random(ROWS) < 0.2] = None
    expected = pc.cast(arrow_write._arrow(column.iloc[5:]), "large_string").to_pylist()
    assert as_texts(column) == expected
    assert expected == [None if pd.isna(v) else str(v) for v in column.iloc[5:]]


@PROPERTY
@given(
    first=st.dates(min_value=pd.Timestamp("1000-01-01").date(), max_value=pd.Timestamp("9990-01-01").date()),
    span=st.integers(0, ROWS // 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_days_are_written_as_cast(first: object, span: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    days = np.datetime64(first, "D") + rng.integers(0, span + 1, ROWS).astype("timedelta64[D]")
    stamps = days.astype("datetime64[us]")
    stamps[rng.random(ROWS) < 0.1] = np.datetime64("NaT")
    column = pd.Series(stamps)
    expected = [None if pd.isna(v) else str(v)[:10] for v in stamps[5:].astype("datetime64[D]")]
    assert as_texts(column) == expected


@pytest.mark.parametrize("short", [True, False])
def test_the_lookup_is_used_for_a_short_range_only(short: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    looked: list[int] = []
    lookup = arrow_write._looked_up
    monkeypatch.setattr(arrow_write, "_looked_up", lambda *args: looked.append(1) or lookup(*args))
    column = pd.Series(np.arange(ROWS) % (10 if short else ROWS))
    assert as_texts(column) == [str(v) for v in column.iloc[5:]]
    assert bool(looked) == short
