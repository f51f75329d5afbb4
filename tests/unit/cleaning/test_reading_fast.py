"""The reader's shortcuts give the answers of the long way: numbers typed by one cast, UTF-8 confirmed by pyarrow."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import reading

from .strategies import PROPERTY

NUMBERISH = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=False).map(repr),
    st.sampled_from(["007", "0", "-0", "+5", "+1.5", "1e5", "1E-3", ".5", "5.", "inf", "-inf", "1_000", "0x1f", "0b11", "0o7", "1e", "٣", "00.5"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
)


def long_way(column: pd.Series, monkeypatch: pytest.MonkeyPatch) -> tuple[pd.Series, str]:
    with monkeypatch.context() as patched:
        patched.setattr(reading, "_quick_number", lambda stripped, column: None)
        return reading.infer_column(column)


@PROPERTY
@given(values=st.lists(st.one_of(st.none(), NUMBERISH, NUMBERISH.map(lambda v: f" {v} ")), min_size=1, max_size=12))
def test_quick_numbers_agree_with_the_regular_expressions(values: list[str | None]) -> None:
    column = pd.Series(values, dtype="str")
    with pytest.MonkeyPatch.context() as monkeypatch:
        expected, expected_kind = long_way(column, monkeypatch)
    got, kind = reading.infer_column(column)
    assert kind == expected_kind
    pd.testing.assert_series_equal(got, expected)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("a,b\nZoë,1\n".encode(), "utf-8"),
        ("a,b\nZoë,1\n".encode("cp1252"), "cp1252"),
        (b"a,b\n" + b"x,1\n" * 30_000 + "é,2\n".encode("cp1252"), "cp1252"),  # past the sniffed head
        ('a,b\n"Zoë",1\n'.encode(), "utf-8"),  # quoted: pandas parses it
    ],
    ids=["utf-8", "cp1252 head", "cp1252 late", "quoted utf-8"],
)
def test_the_encoding_is_confirmed_whichever_parser_reads(tmp_path: Path, data: bytes, encoding: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    loaded = reading.read_csv(path)
    assert loaded.encoding == encoding
    assert loaded.frame["a"].iloc[-1] in ("Zoë", "é")
