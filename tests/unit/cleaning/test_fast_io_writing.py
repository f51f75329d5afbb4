"""The writers' lean routes give the bytes and cells of the routes they stand in for.

- writing.csv_cells (the preview) from pyarrow's renderers against pandas' CSV read back (pandas_cells);
- arrow_write's floats: Python's repr on a few rows against the kernels' text on many;
- arrow_write's datetime columns at the edges of the years it writes;
- dates: the shortcut for ``%Y-%m-%d`` against the answer from the values;
- outputs.write_parquet (arrow_parquet's table) against pandas' ``to_parquet``, byte for byte.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker import outputs
from worker.cleaning import arrow_parquet, arrow_write, dates, writing

from .strategies import PROPERTY, frames

TRICKY_TEXT = ["a", "", " a ", "x,y", 'say "hi"', "two\nlines", "cr\rhere", "crlf\r\n", "tab\t", "é ✓", "日本", ";|", "\x00"]
STAMPS = st.datetimes(min_value=pd.Timestamp("1000-01-01").to_pydatetime(), max_value=pd.Timestamp("9999-12-31").to_pydatetime())
FLOATS = st.one_of(
    st.floats(),
    st.sampled_from([0.0, -0.0, 1e-4, 9.999e-5, 1e15, 1e16, 123456789012345.6, 2.0, 1e-5, 0.1, 5e-324, 1.7976931348623157e308]),
)


@st.composite
def preview_frames(draw: st.DrawFn) -> tuple[pd.DataFrame, dict[str, str]]:
    """Frames of every type the engine makes (1-5 columns, so one-column frames take pandas'
    route), with formats for some datetime columns."""
    rows = draw(st.integers(0, 12))

    def values(strategy: st.SearchStrategy) -> list:
        return draw(st.lists(st.one_of(st.none(), strategy), min_size=rows, max_size=rows))

    days = draw(st.booleans())
    columns = {
        "text": pd.Series(values(st.sampled_from(TRICKY_TEXT) | st.text(max_size=5)), dtype="str"),
        "n": pd.Series(pd.array(values(st.integers(-(2**63), 2**63 - 1)), dtype="Int64")),
        "x": pd.Series([np.nan if v is None else v for v in values(FLOATS)], dtype="float64"),
        "ok": pd.Series(pd.array(values(st.booleans()), dtype="boolean")),
        "when": pd.Series(
            pd.to_datetime([None if v is None else (pd.Timestamp(v).normalize() if days else pd.Timestamp(v)) for v in values(STAMPS)]),
            dtype="datetime64[us]",
        ),
    }
    names = draw(st.lists(st.sampled_from(list(columns)), min_size=1, max_size=5, unique=True))
    formats = {"when": draw(st.sampled_from([dates.DATE_ISO, "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"]))}
    return pd.DataFrame({name: columns[name] for name in names}), formats


@PROPERTY
@given(case=preview_frames())
def test_preview_cells_are_what_pandas_writes_and_csv_reads_back(case: tuple[pd.DataFrame, dict[str, str]]) -> None:
    df, formats = case
    formatted = dates.formatted(df, formats)
    try:
        expected = writing.pandas_cells(formatted) if not formatted.empty else writing.csv_cells(df, formats)
    except IndexError:
        # pandas writes a CR unquoted, so csv reads one row as two and the reference fails: where
        # the renderers cannot render the frame (one column, ...) csv_cells takes that route too,
        # else they give each cell as it is.
        assert formatted["text"].str.contains("\r").any()
        if arrow_write.cells(formatted) is None:
            with pytest.raises(IndexError):
                writing.csv_cells(df, formats)
        else:
            cells = writing.csv_cells(df, formats)
            assert [row[list(df.columns).index("text")] for row in cells] == [None if pd.isna(v) else v for v in df["text"]]
        return
    assert writing.csv_cells(df, formats) == expected


@PROPERTY
@given(df=frames())
def test_preview_of_engine_frames(df: pd.DataFrame) -> None:
    if not df.empty:
        assert writing.csv_cells(df) == writing.pandas_cells(df)
    assert writing.frame_preview(df, 3)["rows"] == writing.csv_cells(df.head(3))


@PROPERTY
@given(case=preview_frames(), rows=st.integers(1, 14))
def test_preview_the_csv_writer_keeps_is_frame_preview(
    case: tuple[pd.DataFrame, dict[str, str]], rows: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    df, formats = case
    path = tmp_path_factory.mktemp("head") / "out.csv"
    head = writing.write_csv(df, path, formats, columns=arrow_write.columns_of(df), head_rows=rows)
    # Whenever pyarrow's renderers write the frame (one block: up to 49,999 rows), the preview comes with it.
    assert (head is not None) == (not df.empty and arrow_write.render(dates.formatted(df, formats)) is not None)
    if head is not None:
        assert head == writing.frame_preview(df, rows, formats)["rows"]


def test_write_outputs_hands_back_the_preview_of_a_small_frame(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": pd.Series(["x,y", None, 'q"', " s "], dtype="str"), "b": [1.5, np.nan, 1e20, -0.0]})
    written = outputs.write_outputs(df, tmp_path, preview_rows=3)
    assert written.preview == writing.frame_preview(df, 3) == {
        "columns": ["a", "b"], "rows": [["x,y", "1.5"], [None, None], ['q"', "1e+20"]],
    }  # fmt: skip
    assert outputs.write_outputs(df, tmp_path).preview is None  # not asked for
    assert outputs.write_outputs(df[["a"]], tmp_path, preview_rows=3).preview is None  # one column: pandas' route


def test_preview_takes_the_arrow_route_when_it_can() -> None:
    df = pd.DataFrame({"a": pd.Series(["x,y", None], dtype="str"), "b": [1.5, np.nan]})
    assert arrow_write.cells(df) == [["x,y", None], ["1.5", None]]
    assert arrow_write.cells(df[["a"]]) is None  # one column: pandas' route
    assert writing.csv_cells(df) == [["x,y", "1.5"], [None, None]]


@PROPERTY
@given(numbers=st.lists(FLOATS, min_size=1, max_size=60))
def test_floats_by_repr_and_by_kernels_agree(numbers: list[float]) -> None:
    values = np.array(numbers, dtype="float64")
    assert arrow_write._float_repr(values).to_pylist() == arrow_write._float_kernels(values).to_pylist()


def test_both_float_routes_are_taken(tmp_path: Path) -> None:
    few = arrow_write._FEW_FLOATS
    for rows in (few, few + 1):
        numbers = np.linspace(-3.0, 1e17, rows)
        numbers[::5] = np.nan
        df = pd.DataFrame({"x": numbers, "y": np.arange(rows)})
        writing.write_csv(df, tmp_path / "fast.csv")
        writing.pandas_csv(df, tmp_path / "reference.csv")
        assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "reference.csv").read_bytes()


@pytest.mark.parametrize(
    ("stamps", "writable"),
    [
        (["1000-01-01", "9999-12-31 23:59:59"], True),
        (["0999-12-31 23:59:59", "2024-01-01"], False),
        (["2024-01-01", "10000-01-01"], False),
        ([None, None], True),
    ],
)
def test_datetime_years_the_writer_takes(stamps: list[str | None], writable: bool, tmp_path: Path) -> None:
    column = pd.Series(np.array([np.datetime64(s) if s else np.datetime64("NaT") for s in stamps], dtype="datetime64[s]"))
    assert (arrow_write.column_renderer(column) is not None) == writable
    df = pd.DataFrame({"when": column, "n": [1, 2]})
    writing.write_csv(df, tmp_path / "fast.csv")
    writing.pandas_csv(df, tmp_path / "reference.csv")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "reference.csv").read_bytes()


@PROPERTY
@given(
    stamps=st.lists(st.one_of(st.none(), STAMPS), max_size=8),
    days=st.booleans(),
    zone=st.sampled_from([None, "UTC", "Europe/Paris"]),
    fmt=st.sampled_from([dates.DATE_ISO, dates.DATE_ISO + " %H:%M:%S", "%d/%m/%Y"]),
)
def test_the_date_format_shortcut_answers_as_the_values_do(stamps: list, days: bool, zone: str | None, fmt: str) -> None:
    column = pd.Series(pd.to_datetime([None if s is None else (pd.Timestamp(s).normalize() if days else pd.Timestamp(s)) for s in stamps]), dtype="datetime64[us]")
    if zone:
        column = column.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    assert dates.needs_strftime(column, fmt) == dates.needs_strftime_by_values(column, fmt)


def assert_parquet_as_pandas_writes_it(df: pd.DataFrame, folder: Path) -> None:
    outputs.write_parquet(df, folder / "fast.parquet")
    outputs.pandas_parquet(df, folder / "reference.parquet")
    assert (folder / "fast.parquet").read_bytes() == (folder / "reference.parquet").read_bytes()


@PROPERTY
@given(df=frames(max_rows=30) | preview_frames().map(lambda case: case[0]), keep=st.integers(0, 3))
def test_parquet_bytes_are_pandas_bytes(df: pd.DataFrame, keep: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Frames of one shape come again and again: most take the kept schema. Rows are also taken
    # out as the steps take them (the index then has gaps).
    assert_parquet_as_pandas_writes_it(df.iloc[::keep + 1] if keep else df, tmp_path_factory.mktemp("pq"))


@pytest.mark.parametrize(
    "second",
    [
        pd.DataFrame({"a": pd.Series([None, None], dtype="str"), "b": pd.array([None, None], dtype="Int64")}),
        pd.DataFrame({"a": pd.Series([], dtype="str"), "b": pd.array([], dtype="Int64")}),
        pd.DataFrame({"a": pd.Series(["x"], dtype="str"), "b": pd.array([2**62], dtype="Int64")}),
        pd.DataFrame({"a": pd.Series(["x"], dtype="str"), "b": [1.5]}),  # another type: another schema
        pd.DataFrame({"a": ["x"], "b": [object()]}).astype({"b": str}),
        pd.DataFrame({"a": [[1], [2]], "b": [1, 2]}),  # object column: pandas' route alone
        pd.DataFrame({"a": pd.Series(["x", "y"], dtype="str"), "b": [1, 2]}, index=[5, 6]),
        pd.DataFrame({1: pd.Series(["x"], dtype="str"), "b": pd.array([1], dtype="Int64")}),
    ],
)
def test_parquet_of_frames_after_one_of_their_shape(second: pd.DataFrame, tmp_path: Path) -> None:
    first = pd.DataFrame({"a": pd.Series(["x", None], dtype="str"), "b": pd.array([1, None], dtype="Int64")})
    assert_parquet_as_pandas_writes_it(first, tmp_path)
    assert_parquet_as_pandas_writes_it(second, tmp_path)
    assert_parquet_as_pandas_writes_it(first, tmp_path)


def test_the_kept_schema_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    df = pd.DataFrame({"kept a": pd.Series(["x"], dtype="str"), "kept b": [1.5]})
    expected = arrow_parquet.pandas_table(df)
    assert arrow_parquet._schema_key(df, [df["kept a"], df["kept b"]]) in arrow_parquet._SCHEMAS

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("from_pandas called again")

    no_from_pandas = SimpleNamespace(array=pa.array, Table=SimpleNamespace(from_pandas=refused, from_arrays=pa.Table.from_arrays))
    monkeypatch.setattr(arrow_parquet, "pa", no_from_pandas)
    assert arrow_parquet.pandas_table(df).equals(expected, check_metadata=True)


def test_parquet_of_a_large_frame_or_one_with_attrs_goes_to_pandas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(outputs, "pandas_parquet", lambda df, path: calls.append(path))
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    outputs.write_parquet(df, tmp_path / "small.parquet")
    assert calls == []
    df.attrs["note"] = "kept by pandas"
    outputs.write_parquet(df, tmp_path / "attrs.parquet")
    monkeypatch.setattr(outputs, "_SMALL_CELLS", 3)
    outputs.write_parquet(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), tmp_path / "large.parquet")
    assert calls == [tmp_path / "attrs.parquet", tmp_path / "large.parquet"]
