"""The step layer's shortcuts around pandas' per-column cost: column_array (``df[name].array``
without the Series), row_codes.duplicated_at (``DataFrame.duplicated`` from factorize codes) and
fast_rows.repeats on every integer width; each compared with pandas' own answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import fast_rows, ops_rows, row_codes
from worker.cleaning.frame_columns import column_array, column_dtype

from .strategies import PROPERTY, frames, odd_kinds


def every_kind() -> pd.DataFrame:
    stamps = pd.to_datetime(["2020-01-01", None, "2021-01-01"])
    return pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [1.5, None, -0.0],
            "I": pd.array([1, None, 3], dtype="Int64"),
            "t": stamps,
            "z": stamps.tz_localize("UTC"),
            "s": pd.Series(["x", None, "y"], dtype="string[pyarrow]"),
            "S": pd.Series(["x", None, "y"], dtype="str"),
            "o": ["x", None, 3],
            "b": [True, False, True],
            "B": pd.array([True, None, False], dtype="boolean"),
            "c": pd.Categorical(["a", "b", "a"]),
            "d": pd.to_timedelta([1, 2, None], unit="s"),
        }
    )


def test_column_array_is_the_series_array_for_every_kind() -> None:
    df = every_kind()
    df["i2"] = df["i"] * 2  # a second block of the same dtype
    for name in df.columns:
        got, expected = column_array(df, name), df[name].array
        assert type(got) is type(expected)
        assert got.dtype == expected.dtype == column_dtype(df, name)
        pd.testing.assert_extension_array_equal(got, expected)


def test_column_array_of_a_repeated_name_is_pandas_answer() -> None:
    df = pd.DataFrame([[1, "a"]], columns=["x", "x"])
    with pytest.raises(AttributeError):  # df["x"] is a frame here, with no .array: as pandas does
        column_array(df, "x")
    with pytest.raises(KeyError):
        column_array(df, "missing")


def odd_rows(draw: st.DrawFn, rows: int) -> pd.DataFrame:
    """odd_kinds with nullable integer and boolean columns and an object column: the cells pandas
    equates although they differ (NaN, -0.0, missing of each kind)."""
    df = odd_kinds(rows, draw)
    pick = st.lists(st.integers(0, 3), min_size=rows, max_size=rows)
    df["n"] = pd.array([[None, 1, 2, -(2**62)][i] for i in draw(pick)], dtype="Int64")
    df["b"] = pd.array([[None, True, False, True][i] for i in draw(pick)], dtype="boolean")
    df["o"] = pd.Series([[None, "a", 1, np.nan][i] for i in draw(pick)], dtype=object)
    return df


@PROPERTY
@given(data=st.data(), keep=st.sampled_from(["first", "last", False]), small_key=st.booleans())
def test_duplicated_at_is_pandas_duplicated_of_those_rows(
    data: st.DataObject, keep: object, small_key: bool, monkeypatch_key: pytest.MonkeyPatch
) -> None:
    if data.draw(st.booleans()):
        df = data.draw(frames(max_rows=25))
    else:
        df = odd_rows(data.draw, data.draw(st.integers(0, 25)))
    # A tiny limit renumbers the combined key at every column (the overflow route).
    monkeypatch_key.setattr(row_codes, "_KEY_LIMIT", 2 if small_key else 2**62)
    positions = np.flatnonzero(np.array(data.draw(st.lists(st.booleans(), min_size=len(df), max_size=len(df))), dtype=bool))
    arrays = [column_array(df, name) for name in df.columns]
    got = row_codes.duplicated_at(arrays, positions, keep)
    if len(df.columns) == 0:
        return
    expected = df.iloc[positions].duplicated(keep=keep).to_numpy()  # type: ignore[arg-type]
    np.testing.assert_array_equal(got, expected)


@pytest.fixture(scope="module")
def monkeypatch_key() -> pytest.MonkeyPatch:
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


def test_duplicated_at_runs_threads_on_many_rows_with_pandas_answer() -> None:
    rng = np.random.default_rng(7)
    n = 120_000
    df = pd.DataFrame(
        {
            "k": rng.integers(0, 50, n),
            "f": np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 3, n).astype(float)),
            "s": pd.Series(rng.choice(["a", "b", None], n), dtype="string[pyarrow]"),
        }
    )
    positions = np.flatnonzero(rng.random(n) < 0.7)
    for keep in ("first", "last", False):
        got = row_codes.duplicated_at([column_array(df, c) for c in df.columns], positions, keep)
        np.testing.assert_array_equal(got, df.iloc[positions].duplicated(keep=keep).to_numpy())
    whole = ops_rows.duplicated(df.assign(i=np.arange(n) % 60_000), None, "first")
    np.testing.assert_array_equal(whole, df.assign(i=np.arange(n) % 60_000).duplicated().to_numpy())


widths = st.sampled_from(["Int8", "Int16", "UInt8", "Int32", "UInt64", "Int64", "int8", "uint16", "int64"])


@PROPERTY
@given(data=st.data(), dtype=widths)
def test_repeats_of_every_integer_width_is_duplicated_keep_false(data: st.DataObject, dtype: str) -> None:
    info = np.iinfo(pd.api.types.pandas_dtype(dtype).numpy_dtype if dtype[0].isupper() else np.dtype(dtype))
    cells = st.one_of(st.integers(int(info.min), int(info.max)), st.integers(max(int(info.min), -3), min(int(info.max), 3)))
    values = data.draw(st.lists(st.one_of(st.none(), cells) if dtype[0].isupper() else cells, max_size=25))
    column = pd.Series(pd.array(values, dtype=dtype))
    found = fast_rows.repeats(column.array)
    if found is not None:
        np.testing.assert_array_equal(found, column.duplicated(keep=False).to_numpy())


def test_repeats_ignores_the_numbers_stored_under_missing_cells() -> None:
    data = np.array([5, 6, 10**18, 5, -(10**18)], dtype=np.int64)
    values = pd.arrays.IntegerArray(data, np.array([False, False, True, False, True]))
    np.testing.assert_array_equal(fast_rows.repeats(values), [True, False, True, True, True])
    edge = pd.array([-128, 127, -128, None] + [0] * 70, dtype="Int8")  # long enough to be counted
    np.testing.assert_array_equal(fast_rows.repeats(edge), [True, False, True, False] + [True] * 70)


def test_small_frame_whose_number_column_never_repeats_has_no_duplicates() -> None:
    df = pd.DataFrame({"id": pd.array([3, 1, 2], dtype="Int64"), "s": ["a", "a", "a"]})
    for keep in ("first", "last", False):
        np.testing.assert_array_equal(ops_rows.duplicated(df, None, keep), [False, False, False])
    df = pd.DataFrame({"id": pd.array([3, 1, 3], dtype="Int64"), "s": ["a", "b", "a"]})
    np.testing.assert_array_equal(ops_rows.duplicated(df, None, "first"), df.duplicated().to_numpy())
