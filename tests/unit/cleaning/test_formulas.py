"""Formula neutralising: which cells get a leading quote, and the streamed CSV transform."""

from __future__ import annotations

import csv
import io

import pytest

from worker.cleaning.formulas import neutralize, neutralize_csv


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\r=x", "'\r=x"),
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("-3.5", "-3.5"),
        ("+1e3", "+1e3"),
        ("a=b", "a=b"),
        ("", ""),
        ("'=x", "'=x"),
        ("日本=", "日本="),
    ],
)
def test_neutralize(cell: str, expected: str) -> None:
    assert neutralize(cell) == expected


def test_neutralize_csv_streams_row_by_row_and_keeps_quoting() -> None:
    rows = [["name", "formula", "n"], ["Zoë", "=1+1", "-4"], ['say "hi"\n=there', "@x", ""], ["a,b", "+", "5"]]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    # Chunks cut inside a multi-byte character and inside a quoted field.
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]

    out = b"".join(neutralize_csv(iter(chunks))).decode("utf-8")

    assert list(csv.reader(io.StringIO(out, newline=""))) == [
        ["name", "formula", "n"],
        ["Zoë", "'=1+1", "-4"],
        ['say "hi"\n=there', "'@x", ""],
        ["a,b", "'+", "5"],
    ]
    assert out.startswith("name,formula,n\nZoë,'=1+1,-4\n")


def test_neutralize_csv_yields_blocks_not_the_whole_file() -> None:
    data = b"a\n" + b"=x\n" * 100_000
    blocks = list(neutralize_csv(iter([data])))
    assert len(blocks) > 3
    assert max(len(b) for b in blocks) < 70_000
    assert b"".join(blocks) == b"a\n" + b"'=x\n" * 100_000


def test_neutralize_csv_keeps_a_carriage_return_inside_its_quoted_cell() -> None:
    # As the worker writes it: a cell holding "\r" quoted (csv alone would write it bare, and a
    # reader would end the row there).
    data = b'a,b\n"x\ry",1\n"\r=x","q\r\nw"\nplain,"c,d"\n'
    out = b"".join(neutralize_csv(iter([data[i : i + 5] for i in range(0, len(data), 5)]))).decode("utf-8")
    assert out == 'a,b\n"x\ry",1\n"\'\r=x","q\r\nw"\nplain,"c,d"\n'
    assert list(csv.reader(io.StringIO(out, newline=""))) == [
        ["a", "b"], ["x\ry", "1"], ["'\r=x", "q\r\nw"], ["plain", "c,d"]
    ]
