"""The pyarrow CSV writer writes exactly pandas' bytes, or steps aside (None) for pandas to write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import arrow_write, dates
from worker.cleaning.writing import pandas_csv, write_csv

from .strategies import PROPERTY, frames

TRICKY_TEXT = ["a", "", " a ", "x,y", 'say "hi"', "two\nlines", "cr\rhere", "crlf\r\n", "tab\t", "é ✓", "日本", ";|"]
STAMPS = st.datetimes(min_value=pd.Timestamp("1000-01-01").to_pydatetime(), max_value=pd.Timestamp("9999-12-31").to_pydatetime())


def same_bytes(df: pd.DataFrame, tmp_path: Path, formats: dict[str, str] | None = None) -> bytes:
    fast, reference = tmp_path / "fast.csv", tmp_path / "reference.csv"
    write_csv(df, fast, formats)
    pandas_csv(dates.formatted(df, formats), reference)
    assert fast.read_bytes() == reference.read_bytes()
    return fast.read_bytes()


@st.composite
def wide_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Frames of every type the engine makes, with values at the edges of each writer rule."""
    rows = draw(st.integers(0, 15))

    def values(strategy: st.SearchStrategy) -> list:
        return draw(st.lists(st.one_of(st.none(), strategy), min_size=rows, max_size=rows))

    floats = st.one_of(
        st.floats(allow_nan=False),
        st.sampled_from([0.0, -0.0, 1e-4, 9.999e-5, 1e15, 1e16, 123456789012345.6, 2.0, 1e-5, 0.1, float("inf")]),
    )
    days = draw(st.booleans())
    columns = {
        "text": pd.Series(values(st.sampled_from(TRICKY_TEXT) | st.text(max_size=6)), dtype="str"),
        "n": pd.Series(pd.array(values(st.integers(-(2**63), 2**63 - 1)), dtype="Int64")),
        "x": pd.Series([np.nan if v is None else v for v in values(floats)], dtype="float64"),
        "ok": pd.Series(pd.array(values(st.booleans()), dtype="boolean")),
        "when": pd.Series(
            pd.to_datetime([None if v is None else (pd.Timestamp(v).normalize() if days else pd.Timestamp(v).floor("s")) for v in values(STAMPS)]),
            dtype="datetime64[us]",
        ),
    }
    names = draw(st.lists(st.sampled_from(list(columns)), min_size=2, max_size=5, unique=True))
    return pd.DataFrame({name: columns[name] for name in names})


@PROPERTY
@given(df=wide_frames())
def test_the_arrow_writer_writes_pandas_bytes(df: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert arrow_write.render(df) is not None
    same_bytes(df, tmp_path_factory.mktemp("w"))


@PROPERTY
@given(df=frames())
def test_any_engine_frame_is_written_as_pandas_writes_it(df: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> None:
    same_bytes(df, tmp_path_factory.mktemp("w"))


@PROPERTY
@given(numbers=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=30))
def test_floats_are_written_as_python_repr(numbers: list[float], tmp_path_factory: pytest.TempPathFactory) -> None:
    df = pd.DataFrame({"x": pd.Series(numbers, dtype="float64"), "y": 1})
    out = same_bytes(df, tmp_path_factory.mktemp("w")).decode().splitlines()[1:]
    assert [line.split(",")[0] for line in out] == ["" if np.isnan(v) else repr(v) for v in numbers]


def test_blocks_are_joined_seamlessly_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrow_write, "BLOCK_ROWS", 3)
    df = pd.DataFrame({"a": pd.Series([f"v{i}" if i % 4 else None for i in range(10)], dtype="str"), "b": range(10)})
    calls: list[tuple[int, int]] = []
    with (tmp_path / "out.csv").open("wb") as handle:
        arrow_write.write(df, handle, arrow_write.render(df) or [], block_rows=3, on_rows=lambda d, t: calls.append((d, t)))
    pandas_csv(df, tmp_path / "ref.csv")
    assert (tmp_path / "out.csv").read_bytes() == (tmp_path / "ref.csv").read_bytes()
    assert calls == [(3, 10), (6, 10), (9, 10), (10, 10)]


@pytest.mark.parametrize(
    "df",
    [
        pd.DataFrame({"only": pd.Series(["a", None], dtype="str")}),
        pd.DataFrame({"a": [1, 2], "t": pd.to_datetime(["2024-01-01 10:00:00.5", "2024-01-02 00:00:00.0"])}),
        pd.DataFrame({"a": [1, 2], "t": pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("UTC")}),
        pd.DataFrame({"a": [1, 2], "o": pd.Series([{"x": 1}, 2.5], dtype=object)}),
        pd.DataFrame({"a": [1, 2], "f": pd.Series([1.5, 2.5], dtype="float32")}),
    ],
    ids=["one column", "sub-second", "time zone", "objects", "float32"],
)
def test_frames_it_cannot_reproduce_go_to_pandas(df: pd.DataFrame, tmp_path: Path) -> None:
    assert arrow_write.render(df) is None
    same_bytes(df, tmp_path)


def test_formatted_dates_and_empty_frames(tmp_path: Path) -> None:
    df = pd.DataFrame({"d": pd.to_datetime(["2024-01-31", None]), "n": pd.array([1, None], dtype="Int64")})
    assert same_bytes(df, tmp_path, {"d": "%d/%m/%Y"}) == b"d,n\n31/01/2024,1\n,\n"
    assert same_bytes(df.iloc[:0], tmp_path) == b"d,n\n"
