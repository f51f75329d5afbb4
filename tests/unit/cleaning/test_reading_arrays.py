"""read_csv types pyarrow's columns as read (reading._typed_arrays: a Series made only for the
column kept), with the answer of the Series route it stands in for (_typed_columns on
text_columns' Series): frame, types, formats, and text columns held as one chunk."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import arrow_csv, reading

from .strategies import PROPERTY
from .test_fast_io_reading import VALUE

COMMON = st.sampled_from(["12", " 12", "007", "1.5", "2024-01-31", "2024-01-31 10:00:00", "yes", "x", None])


@st.composite
def text_arrays(draw: st.DrawFn) -> list[pa.ChunkedArray]:
    rows = draw(st.sampled_from([0, 1, 3, 12, 1001]))
    arrays = []
    for _ in range(draw(st.integers(2, 5))):
        common = draw(COMMON)
        values = [common] * rows
        for _ in range(draw(st.integers(0, 2)) if rows else 0):
            values[draw(st.integers(0, rows - 1))] = draw(VALUE)
        chunk = draw(st.sampled_from([rows or 1, 5, 400]))
        parts = [pa.array(values[i : i + chunk], pa.large_string()) for i in range(0, rows, chunk)]
        arrays.append(pa.chunked_array(parts, pa.large_string()))
    return arrays


def series_route(header: list[str], arrays: list[pa.ChunkedArray]) -> reading.ReadResult:
    index = pd.RangeIndex(len(arrays[0]))
    text = {
        name: pd.Series(arrow_csv.TEXT.__from_arrow__(raw), index=index, name=name, copy=False)
        for name, raw in zip(header, arrays, strict=True)
    }
    return reading._typed_columns(text, "utf-8", ",", None)


def chunks(column: pd.Series) -> int:
    return column.array._pa_array.num_chunks  # how pandas holds it (its hashing is faster on one chunk)


@PROPERTY
@given(arrays=text_arrays(), threads=st.booleans())
def test_arrays_are_typed_as_their_series(arrays: list[pa.ChunkedArray], threads: bool) -> None:
    header = [f"c{i}" for i in range(len(arrays))]
    with pytest.MonkeyPatch.context() as patched:
        if threads:
            patched.setattr(reading, "_PARALLEL_ROWS", 1)
        got = reading._typed_arrays(header, arrays, ",", None)
    expected = series_route(header, arrays)
    pd.testing.assert_frame_equal(got.frame, expected.frame)
    assert (got.types, got.formats, got.encoding, got.delimiter) == (
        expected.types, expected.formats, expected.encoding, expected.delimiter,
    )  # fmt: skip
    for name, kind in got.types.items():
        if kind == "text":
            assert chunks(got.frame[name]) == chunks(expected.frame[name])


def test_progress_counts_every_column() -> None:
    calls: list[tuple[str, int, int]] = []
    arrays = [pa.chunked_array([pa.array(["1", "2"], pa.large_string())]) for _ in range(3)]
    reading._typed_arrays(["a", "b", "c"], arrays, ",", lambda *call: calls.append(call))
    assert calls == [("type", 1, 3), ("type", 2, 3), ("type", 3, 3)]
