"""The reader's shortcut (reading._shortcut: types from the text as read, with no trimmed copy and no
regular expression over the whole column) gives the long way's answer, however far down the value
that decides it lies."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import reading
from worker.cleaning.arrow_bytes import Bytes

from .strategies import PROPERTY

NUMBERISH = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.integers(-999, 999).map(str),
    st.floats(allow_nan=False).map(repr),
    st.sampled_from(
        ["007", "0", "00", "-0", "-07", "+07", "+5", "+1.5", "1e5", "1E-3", ".5", "5.", "0.5", "-0.5", "00.5", "+0.5",
         "inf", "-inf", "Infinity", "nan(1)", "1_000", "0x1f", "0X1F", "-0x1f", "0b11", "0o7", "1e", "٣", "１２", "1e400"]
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
)  # fmt: skip
DATEISH = st.one_of(
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat(sep=" ", timespec="seconds")),
    st.sampled_from(["2024-02-30", "0000-01-01", "2024-1-01", "2024-01-1 ", "20240101", "2024/01/01", "2024-01-01T10:00"]),
)
WORDISH = st.sampled_from(["yes", "no", "true", "false", "Yes", "TRUE", " no", "yes ", "yeſ", "y", "1", "0"])
TEXTISH = st.sampled_from(["a", "", "  ", "x y", "Zoë", "NA"])
VALUE = st.one_of(st.none(), NUMBERISH, DATEISH, WORDISH, TEXTISH)


def long_way(column: pd.Series) -> tuple[pd.Series, str, str | None]:
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(reading, "_shortcut", lambda column: None)
        return reading.type_column(column)


def assert_same(column: pd.Series) -> None:
    expected, expected_kind, expected_format = long_way(column)
    got, kind, fmt = reading.type_column(column)
    assert (kind, fmt) == (expected_kind, expected_format)
    pd.testing.assert_series_equal(got, expected)


@st.composite
def columns(draw: st.DrawFn) -> pd.Series:
    """Mostly one kind of value (as real columns are), with odd ones anywhere."""
    kind = draw(st.sampled_from([NUMBERISH, DATEISH, WORDISH, TEXTISH, VALUE]))
    values = draw(st.lists(st.one_of(st.none(), kind), min_size=1, max_size=10))
    odd = draw(st.lists(VALUE, max_size=2))
    for value in odd:
        values.insert(draw(st.integers(0, len(values))), value)
    return pd.Series(values, dtype="str")


@PROPERTY
@given(column=columns())
def test_the_shortcut_agrees_with_the_long_way(column: pd.Series) -> None:
    assert_same(column)


@PROPERTY
@given(
    head=st.sampled_from(["17", "1.5", "2024-01-31", "yes", "x"]),
    late=VALUE,
    chunked=st.booleans(),
)
def test_a_value_past_the_head_decides_as_on_the_long_way(head: str, late: str | None, chunked: bool) -> None:
    values = [head] * 1500 + [late, head]
    column = pd.Series(values, dtype="str")
    if chunked:  # as pyarrow's reader leaves a column: many chunks
        array = pa.chunked_array([pa.array(values[:700], pa.large_string()), pa.array(values[700:], pa.large_string())])
        column = pd.Series(pd.array(array, dtype=column.dtype))
    assert_same(column)


def read_bytes(tmp_path: Path, data: bytes) -> reading.ReadResult:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    return reading.read_csv(path)


@pytest.mark.parametrize(
    ("late", "kind"),
    [
        ("00123", "text"),  # a leading zero only after the first 100k rows
        ("-012", "text"),
        ("0x1f", "text"),  # pyarrow's int64 cast takes hex; the long way does not
        ("12.5", "float"),  # looks integer for 100k rows, a float far down
        (" 12 ", "integer"),  # padding: the long way trims
        ("+12", "integer"),
        ("12345678901234567890", "text"),  # past int64: identifiers
        ("x", "text"),
    ],
)
def test_an_integer_column_is_decided_by_every_row(tmp_path: Path, late: str, kind: str) -> None:
    rows = "".join(f"{i},{i % 1000 + 1}\n" for i in range(120_000))
    result = read_bytes(tmp_path, f"id,n\n{rows}120000,{late}\n".encode())
    assert result.types == {"id": "integer", "n": kind}
    if kind == "text":
        assert result.frame["n"].iloc[-1] == late
        assert result.frame["n"].iloc[0] == "1"


@pytest.mark.parametrize(
    ("late", "kind", "fmt"),
    [
        ("2024-02-30", "text", None),  # an impossible date far down
        ("2024-01-31 10:00:00", "datetime", None),  # a time of day: pandas' parse, no shared format
        ("31/01/2024", "text", None),
        ("", "datetime", "%Y-%m-%d"),
    ],
)
def test_a_date_column_is_decided_by_every_row(tmp_path: Path, late: str, kind: str, fmt: str | None) -> None:
    days = pd.date_range("2000-01-01", periods=120_000, freq="D").strftime("%Y-%m-%d")
    # Only the years 2000-2328 fit in 120,000 days: repeat them.
    rows = "".join(f"{i},{days[i % 100_000]}\n" for i in range(120_000))
    result = read_bytes(tmp_path, f"id,d\n{rows}120000,{late}\n".encode())
    assert result.types["d"] == kind
    assert result.formats.get("d") == fmt


@pytest.mark.parametrize(
    ("late", "kind"),
    [("0.5", "float"), ("00.5", "text"), ("inf", "text"), ("1.5 ", "float"), ("7", "float"), ("1.5.1", "text")],
)
def test_a_float_column_is_decided_by_every_row(tmp_path: Path, late: str, kind: str) -> None:
    rows = "".join(f"{i},{i % 977 + 1}.25\n" for i in range(120_000))
    result = read_bytes(tmp_path, f"id,x\n{rows}120000,{late}\n".encode())
    assert result.types["x"] == kind


@pytest.mark.parametrize(("late", "kind"), [("YES", "boolean"), (" no ", "boolean"), ("maybe", "text")])
def test_a_yes_no_column_is_decided_by_every_row(tmp_path: Path, late: str, kind: str) -> None:
    rows = "".join(f"{i},{'yes' if i % 3 else 'no'}\n" for i in range(120_000))
    result = read_bytes(tmp_path, f"id,b\n{rows}120000,{late}\n".encode())
    assert result.types["b"] == kind


def test_bytes_held_by_missing_values_are_not_looked_at() -> None:
    # Arrow lets a null slot span bytes: "x" sits under the missing value, the present ones are digits.
    data = pa.py_buffer(b"12x34")
    offsets = pa.py_buffer(pa.array([0, 2, 3, 5], pa.int64()).buffers()[1])
    validity = pa.array([True, False, True]).buffers()[1]
    values = pa.Array.from_buffers(pa.large_string(), 3, [validity, offsets, data])
    assert values.to_pylist() == ["12", None, "34"]
    assert not Bytes(values).has(b"x")
    assert Bytes(values).has(b"3")
    assert Bytes(values.slice(1)).has(b"3") and not Bytes(values.slice(0, 1)).has(b"3")
    column = pd.Series(pd.array(values, dtype="str"))
    assert reading.type_column(column)[1] == "integer"
    assert_same(column)
