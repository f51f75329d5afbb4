"""Sniffing encodings and delimiters from a sample, and previewing rows from a byte stream."""

from __future__ import annotations

import csv
import gzip
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning.errors import ReadError
from worker.cleaning.sniff import Sniffed, iter_rows, sniff

from .strategies import PROPERTY

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        (b"a,b,c\n1,2,3\n", Sniffed("utf-8", ",", ["a", "b", "c"])),
        (b"a;b;c\n1,5;2;3\n", Sniffed("utf-8", ";", ["a", "b", "c"])),
        (b"a\tb\n1\t2\n", Sniffed("utf-8", "\t", ["a", "b"])),
        (b"a|b\n1|2\n", Sniffed("utf-8", "|", ["a", "b"])),
        (b"only\n1\n2\n", Sniffed("utf-8", ",", ["only"])),
        (b'"x, y";z\n"1, 2";3\n', Sniffed("utf-8", ";", ["x, y", "z"])),
        ("\ufeffname,city\nJosé,München\n".encode(), Sniffed("utf-8-sig", ",", ["name", "city"])),
        ("name\tcity\nJosé\tMünchen\n".encode("utf-16"), Sniffed("utf-16", "\t", ["name", "city"])),
        ("name;note\nJosé;“quoted”\n".encode("cp1252"), Sniffed("cp1252", ";", ["name", "note"])),
        (b"name,code\nJos\x81,1\n", Sniffed("latin-1", ",", ["name", "code"])),
        (b"a,b\r1,2\r3,4\r", Sniffed("utf-8", ",", ["a", "b"])),
    ],
    ids=["comma", "semicolon", "tab", "pipe", "one-column", "quoted", "bom", "utf-16", "cp1252", "latin-1", "cr"],
)
def test_sniff_finds_encoding_delimiter_and_header(sample: bytes, expected: Sniffed) -> None:
    assert sniff(sample) == expected


def test_sniff_tolerates_a_sample_cut_inside_a_character() -> None:
    sample = ("name,city\n" + "Zoë,Kraków\n" * 20).encode()
    assert sniff(sample[:-2]).encoding == "utf-8"


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\r\n  \n", "the file is empty"),
        (gzip.compress(b"a,b\n1,2\n"), "the file looks like gzip-compressed data, not a CSV; unpack it first"),
        (b"PK\x03\x04\x14\x00rest", "the file looks like a zip archive (an .xlsx workbook is one), not a CSV"),
        (b"%PDF-1.7\n", "the file looks like a PDF document, not a CSV"),
        (bytes(range(256)) * 4, "the file is not valid UTF-8, Windows-1252 or latin-1 text; it looks like binary data, not a CSV"),
        ("a,b\n1,2\n".encode("utf-16-le"), "the file looks like UTF-16 text without a byte order mark; save it as UTF-8"),
        (b"a,b\x01\x02\x03\x04\x05\x06\n", "the file is not valid UTF-8, Windows-1252 or latin-1 text; it looks like binary data, not a CSV"),
    ],
    ids=["empty", "blank-lines", "gzip", "zip", "pdf", "garbage", "utf-16-no-bom", "control-chars"],
)
def test_sniff_refuses_what_is_not_a_csv(sample: bytes, message: str) -> None:
    with pytest.raises(ReadError) as caught:
        sniff(sample)
    assert str(caught.value) == message


def test_config_and_sniff_load_no_pandas() -> None:
    code = "import sys, worker.cleaning.config, worker.cleaning.sniff; print('pandas' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


SAMPLE = 'id,note,city\r\n1,"two\r\nlines",Kraków\r\n2,,"a ""quote"""\r\n\r\n3,short\r\n'.encode()
EXPECTED_ROWS = [["1", "two\r\nlines", "Kraków"], ["2", None, 'a "quote"'], ["3", "short", None]]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, 4096])
def test_iter_rows_reads_across_any_chunk_boundary(size: int) -> None:
    header, rows = iter_rows(pieces(SAMPLE, size), encoding="utf-8", delimiter=",", limit=10)
    assert header == ["id", "note", "city"]
    assert rows == EXPECTED_ROWS


def test_iter_rows_stops_at_the_limit_without_reading_further() -> None:
    def stream() -> Iterator[bytes]:
        yield b"a,b\n1,2\n3,4\n"
        raise AssertionError("read past the limit")

    assert iter_rows(stream(), encoding="utf-8", delimiter=",", limit=2) == (["a", "b"], [["1", "2"], ["3", "4"]])
    assert iter_rows(iter([b"a\n1\n"]), encoding="utf-8", delimiter=",", limit=0) == (["a"], [])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "cp1252"])
def test_iter_rows_decodes_the_encoding_incrementally(encoding: str) -> None:
    data = "name;city\nJosé;Zürich\n".encode(encoding)
    if encoding == "utf-8-sig":
        assert data.startswith(b"\xef\xbb\xbf")
    header, rows = iter_rows(pieces(data, 1), encoding=encoding, delimiter=";", limit=5)
    assert (header, rows) == (["name", "city"], [["José", "Zürich"]])


def test_iter_rows_on_empty_stream_is_a_read_error() -> None:
    with pytest.raises(ReadError, match="the file is empty"):
        iter_rows(iter([b"", b"\n"]), encoding="utf-8", delimiter=",", limit=5)


def test_iter_rows_names_bad_bytes() -> None:
    with pytest.raises(ReadError, match="not valid utf-8"):
        iter_rows(iter([b"a,b\n", b"\xff\xfe,1\n"]), encoding="utf-8", delimiter=",", limit=5)


def test_iter_rows_keeps_separators_other_than_newlines_inside_fields() -> None:
    data = "a,b\nx\u2028y,p\x0cq\n".encode()
    assert iter_rows(iter([data]), encoding="utf-8", delimiter=",", limit=5)[1] == [["x\u2028y", "p\x0cq"]]


cells = st.text(alphabet=st.sampled_from('ab,;"\r\n é'), min_size=1, max_size=6)


@PROPERTY
@given(
    table=st.lists(st.lists(cells, min_size=3, max_size=3), min_size=1, max_size=8),
    size=st.integers(1, 40),
)
def test_iter_rows_reads_back_what_csv_writer_wrote(table: list[list[str]], size: int) -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows([["h1", "h2", "h3"], *table])
    header, rows = iter_rows(pieces(buffer.getvalue().encode(), size), encoding="utf-8", delimiter=",", limit=100)
    assert header == ["h1", "h2", "h3"]
    assert rows == table
