"""The fast pyarrow parser reads every file exactly as pandas' parser does, or steps aside (None)."""

from __future__ import annotations

import io
import warnings

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning.arrow_csv import NA_TOKENS, read_text

from .strategies import PROPERTY

PIECES = ["a", "b", "é", "1", " ", ",", ";", '"', '""', "\n", "\r\n", "\r", "NA", "null", "", "x y"]


def pandas_text(data: bytes, delimiter: str) -> pd.DataFrame | None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return pd.read_csv(io.BytesIO(data), sep=delimiter, dtype=str, index_col=False)
        except Exception:  # noqa: BLE001 - any refusal counts: the comparison is for files both read
            return None


@PROPERTY
@given(
    header=st.lists(st.sampled_from(["a", "b", "c d", "é"]), min_size=1, max_size=3, unique=True),
    body=st.lists(st.sampled_from(PIECES), max_size=40),
    delimiter=st.sampled_from([",", ";"]),
)
def test_arrow_agrees_with_pandas_whenever_it_answers(header: list[str], body: list[str], delimiter: str) -> None:
    data = (delimiter.join(header) + "\n" + "".join(body)).encode()
    fast = read_text(data, delimiter, "utf-8")
    reference = pandas_text(data, delimiter)
    if fast is not None and reference is not None:
        pd.testing.assert_frame_equal(fast, reference)
    if reference is None:
        assert fast is None


def test_the_na_tokens_are_pandas_defaults() -> None:
    from pandas._libs.parsers import STR_NA_VALUES

    assert set(NA_TOKENS) == set(STR_NA_VALUES)


@pytest.mark.parametrize(
    "data",
    [b"a,a\n1,2\n", b"a,\n1,2\n", b"a,b\n1\n", b"a,b\n1,2,3\n", b"", b"NA,b\n1,2\n", b"a\n \n", b'a,b\n"1",2\n', b"a,b\r1,2\n"],
    ids=["duplicate names", "empty name", "short row", "long row", "empty file", "NA header", "one column", "quotes", "lone CR"],
)
def test_files_pandas_reads_differently_are_left_to_pandas(data: bytes) -> None:
    assert read_text(data, ",", "utf-8") is None


def test_na_tokens_crlf_and_other_encodings() -> None:
    data = "name,note\r\nZoë,two words\r\nNA,\r\n".encode("cp1252")
    frame = read_text(data, ",", "cp1252")
    assert frame is not None
    assert frame["name"].tolist()[0] == "Zoë"
    assert frame["note"].tolist()[0] == "two words"
    assert frame.iloc[1].isna().all()
    assert str(frame["name"].dtype) == "str"


def test_a_crlf_split_across_blocks_is_still_plain(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import worker.cleaning.arrow_csv as arrow_csv

    monkeypatch.setattr(arrow_csv, "_BLOCK", 4)
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\r\n1,2\r\n")  # the first CRLF straddles bytes 3 and 4
    assert read_text(path, ",", "utf-8") is not None
    path.write_bytes(b"a,b\r1,2\r\n")
    assert read_text(path, ",", "utf-8") is None
