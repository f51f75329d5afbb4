"""Hypothesis strategies for the cleaning tests: small frames of every column type the reader makes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KINDS = ("text", "integer", "float", "boolean")
# Few distinct values, so duplicates, ties and repeated words are common.
WORDS = ["a", "A", " a ", "b", "Bob", "bob ", "x y", "ß", "éclair", "日本", "  ", "", "007", "na"]
NAMES = st.sampled_from(["a", "b", "Age", "first name", "Café", "e-mail", "x.y", "zip code", "日付", "n 2"])

texts = st.one_of(st.none(), st.sampled_from(WORDS))
integers = st.one_of(st.none(), st.integers(-5, 5), st.integers(-(2**40), 2**40))
floats = st.one_of(
    st.none(),
    st.sampled_from([-2.5, 0.0, 1.5, 100.0]),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32),
)
booleans = st.one_of(st.none(), st.booleans())


def column(kind: str, values: list) -> pd.Series:
    if kind == "text":
        return pd.Series(values, dtype="str")
    if kind == "integer":
        return pd.Series(pd.array(values, dtype="Int64"))
    if kind == "float":
        return pd.Series([np.nan if v is None else v for v in values], dtype="float64")
    return pd.Series(pd.array(values, dtype="boolean"))


_VALUES = {"text": texts, "integer": integers, "float": floats, "boolean": booleans}


@st.composite
def frames(draw: st.DrawFn, kinds: tuple[str, ...] = KINDS, min_rows: int = 0, max_rows: int = 12) -> pd.DataFrame:
    """A frame of 1-4 uniquely named columns drawn from ``kinds``, with missing cells anywhere."""
    rows = draw(st.integers(min_rows, max_rows))
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    data = {}
    for name in names:
        kind = draw(st.sampled_from(kinds))
        data[name] = column(kind, draw(st.lists(_VALUES[kind], min_size=rows, max_size=rows)))
    return pd.DataFrame(data)


@st.composite
def frame_and_columns(draw: st.DrawFn, kinds: tuple[str, ...] = KINDS) -> tuple[pd.DataFrame, list[str]]:
    """A frame and a non-empty subset of its columns, in a drawn order."""
    df = draw(frames(kinds))
    names = draw(st.lists(st.sampled_from(list(df.columns)), min_size=1, unique=True))
    return df, names


def columns_of(df: pd.DataFrame, kind: str) -> list[str]:
    dtypes = {"text": "str", "integer": "Int64", "float": "float64", "boolean": "boolean"}
    return [name for name in df.columns if str(df[name].dtype) == dtypes[kind]]


def odd_kinds(rows: int, draw: st.DrawFn) -> pd.DataFrame:
    """Columns of the kinds row_keys turns into Python values, with the values pandas equates."""
    pick = st.lists(st.integers(0, 3), min_size=rows, max_size=rows)
    floats = [0.0, -0.0, np.nan, 1.5]
    stamps = [pd.Timestamp("2024-01-01"), pd.NaT, pd.Timestamp("2024-01-01 00:00:01"), pd.Timestamp("1969-12-31")]
    return pd.DataFrame(
        {
            "f": [floats[i] for i in draw(pick)],
            "t": pd.Series([stamps[i] for i in draw(pick)], dtype="datetime64[us]"),
            "z": pd.Series([stamps[i] for i in draw(pick)], dtype="datetime64[us]").dt.tz_localize("UTC"),
            "n": np.array(draw(pick), dtype="int64"),
            "b": np.array(draw(pick), dtype="int64") > 1,
            "s": pd.Series([[None, "a", "", "A"][i] for i in draw(pick)], dtype="string[pyarrow]"),
        }
    )
