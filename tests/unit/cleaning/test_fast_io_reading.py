"""The reader's lean routes give the answers of the routes they stand in for.

- reading._shortcut against the long path, for columns as short as a 1,000-row job's and around
  the head's length (one cast of the whole column stands for the head's there), with every ASCII
  character in play (the early "text" answer from a byte no shape uses);
- arrow_csv.text_columns (columns straight from pyarrow, types given only for the columns the
  header's first line suggests) against pandas' parse and against read_text;
- read_csv's route (text_columns + _typed_columns) against the frame route (_typed on read_text);
- sniff.control_count against the regular expression it replaces.
"""

from __future__ import annotations

import string
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import arrow_csv, reading, sniff

from .strategies import PROPERTY
from .test_arrow_csv import pandas_text

NUMBERS = st.one_of(
    st.integers(-(2**65), 2**65).map(str),
    st.floats(allow_nan=False).map(repr),
    st.sampled_from(["007", "-07", "+5", "0x1f", "1e5", ".5", "5.", "inf", "nan", "1_000", "00.5", "0"]),
)
DATES = st.one_of(st.dates().map(str), st.sampled_from(["2024-02-30", "2024-01-01T10:00", "2024-1-01", "20240101"]))
WORDS = st.sampled_from(["yes", "no", "true", "false", "Yes", " no", "yeſ", "y"])
# Every ASCII character, alone and around a number: the ones pyarrow's trim removes (\x1c-\x1f
# among them) must not make a column text, the others must.
ODD = st.one_of(st.characters(max_codepoint=127), st.characters(max_codepoint=127).map(lambda c: f"{c}12{c}"))
VALUE = st.one_of(st.none(), NUMBERS, DATES, WORDS, ODD, st.text(max_size=4))


def long_way(column: pd.Series) -> tuple[pd.Series, str, str | None]:
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(reading, "_shortcut", lambda column: None)
        return reading.type_column(column)


def assert_same_as_long_way(values: list[str | None], chunk: int | None = None) -> None:
    column = pd.Series(values, dtype="str")
    if chunk:  # as pyarrow's reader leaves a column: several chunks
        parts = [pa.array(values[i : i + chunk], pa.large_string()) for i in range(0, len(values), chunk)]
        column = pd.Series(pd.array(pa.chunked_array(parts, pa.large_string()), dtype=arrow_csv.TEXT))
    expected, expected_kind, expected_format = long_way(column)
    got, kind, fmt = reading.type_column(column)
    assert (kind, fmt) == (expected_kind, expected_format)
    pd.testing.assert_series_equal(got, expected)


@PROPERTY
@given(
    kind=st.sampled_from([NUMBERS, DATES, WORDS, ODD]),
    seed=st.lists(st.one_of(st.none(), st.just("same")), min_size=1, max_size=4),
    odd=VALUE,
    rows=st.sampled_from([1, 2, 30, 999, 1000, 1001, 1003]),
    where=st.floats(0, 1),
    chunk=st.sampled_from([None, 400]),
    data=st.data(),
)
def test_the_shortcut_agrees_with_the_long_way_around_the_head(
    kind: st.SearchStrategy, seed: list, odd: str | None, rows: int, where: float, chunk: int | None, data: st.DataObject
) -> None:
    common = data.draw(kind)
    values = [common if s else None for s in seed] * (rows // len(seed) + 1)
    values = values[:rows]
    values[min(rows - 1, int(where * rows))] = odd
    assert_same_as_long_way(values, chunk)


@PROPERTY
@given(values=st.lists(VALUE, min_size=1, max_size=12))
def test_short_mixed_columns_agree_with_the_long_way(values: list[str | None]) -> None:
    assert_same_as_long_way(values)


@pytest.mark.parametrize(
    "values",
    [["0x1f", "12"], ["12", "0X1F"], ["12", "-0x1f"], ["007", "1"], ["1", "-07"], ["+5", "6"], ["1.5", "nan", "2"], ["1e5", "0.5"],
     ["yes", "No"], ["true", "1"], ["2024-01-01", "2024-02-30"], ["2024-01-01", "2024-01-01 10:00"]],
)  # fmt: skip
def test_columns_that_look_alike_at_first(values: list[str]) -> None:
    assert_same_as_long_way(values)
    assert_same_as_long_way(values * 600)  # past the head
    assert_same_as_long_way(values[:1] * 1001 + values[1:])  # the odd one only past the head


@pytest.mark.parametrize("char", [chr(c) for c in range(128)], ids=lambda c: f"{ord(c):02x}")
def test_each_ascii_character_around_numbers(char: str) -> None:
    assert_same_as_long_way([f"{char}12", "3", f"4{char}", None])
    assert_same_as_long_way(["2024-01-01", f"2024-01-0{char}"])


@st.composite
def files(draw: st.DrawFn) -> tuple[bytes, str]:
    """Files of 2-70 columns (narrower and wider than the smallest width guess), blank lines,
    short and long rows, CRLF, missing cells."""
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    width = draw(st.integers(2, 70))
    header = delimiter.join(f"{draw(st.sampled_from(['c', '']))}{i}" for i in range(width))
    cell = st.sampled_from(["1", "a", "", "NA", "2024-01-01", "x y", "é"])
    lines = [header]
    for _ in range(draw(st.integers(0, 5))):
        count = draw(st.sampled_from([width, width, width - 1, width + 1, 0]))
        lines.append(delimiter.join(draw(st.lists(cell, min_size=count, max_size=count))))
    lead = draw(st.sampled_from(["", "\n", "\r\n"]))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return (lead + end.join(lines) + end).encode(), delimiter


@PROPERTY
@given(file=files())
def test_text_columns_read_what_pandas_and_read_text_read(file: tuple[bytes, str], tmp_path_factory: pytest.TempPathFactory) -> None:
    data, delimiter = file
    path = tmp_path_factory.mktemp("csv") / "in.csv"
    path.write_bytes(data)
    columns = arrow_csv.text_columns(path, delimiter, "utf-8")
    frame = arrow_csv.read_text(path, delimiter, "utf-8")
    assert (columns is None) == (frame is None)
    if columns is not None:
        pd.testing.assert_frame_equal(pd.DataFrame(columns), frame)
        reference = pandas_text(data, delimiter)
        assert reference is not None
        pd.testing.assert_frame_equal(frame, reference)


def test_a_short_width_guess_reads_the_file_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The header is read as data: with numbers for names, pyarrow would type the columns past the
    # guess as integers (names 16, 17, ... and the zeros of "007" lost).
    header = ",".join(str(i) for i in range(40))
    row = ",".join(["007"] * 40)
    path = tmp_path / "wide.csv"
    path.write_bytes(f"{header}\n{row}\n{row}\n".encode())
    guesses: list[int] = []

    def short(source: Path | bytes, delimiter: str) -> int:
        guesses.append(16)
        return 16

    monkeypatch.setattr(arrow_csv, "_width_guess", short)
    columns = arrow_csv.text_columns(path, ",", "utf-8")
    assert guesses and columns is not None and list(columns) == [str(i) for i in range(40)]
    assert all(list(column) == ["007", "007"] for column in columns.values())


@pytest.mark.parametrize(
    ("head", "expected"),
    [(b"a,b\n1,2\n", 16), (b"\n\r\na;b;c\n", 16), (",".join(["x"] * 17).encode() + b"\n", 32), (b"a,b", 10_000)],
)
def test_the_width_guess(head: bytes, expected: int) -> None:
    assert arrow_csv._width_guess(head, "," if b"," in head or b";" not in head else ";") == expected


@PROPERTY
@given(file=files())
def test_read_csv_types_as_the_frame_route_does(file: tuple[bytes, str], tmp_path_factory: pytest.TempPathFactory) -> None:
    data, delimiter = file
    path = tmp_path_factory.mktemp("csv") / "in.csv"
    path.write_bytes(data.replace(b"\t", b",").replace(b";", b","))
    frame = arrow_csv.read_text(path, ",", "utf-8")
    try:
        got = reading.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - both routes must refuse alike
        assert frame is None, exc
        return
    if frame is not None:
        expected = reading._typed(frame, "utf-8", ",", None)
        pd.testing.assert_frame_equal(got.frame, expected.frame)
        assert (got.types, got.formats, got.delimiter) == (expected.types, expected.formats, expected.delimiter)


def test_read_csv_of_a_small_messy_file_matches_the_frame_route(tmp_path: Path) -> None:
    rows = ["id,email,age,income,zip,signup,active,score,notes"]
    for i in range(1200):  # past the head, so both the one-cast and the head-then-whole routes run
        rows.append(f"{i},u{i}@x.com,{i % 90 or ''},{i * 1.5},{i:05d},2024-01-{i % 28 + 1:02d},{'yes' if i % 3 else 'no'},{i / 7},")
    path = tmp_path / "messy.csv"
    path.write_text("\n".join(rows) + "\n")
    got = reading.read_csv(path)
    expected = reading._typed(arrow_csv.read_text(path, ",", "utf-8"), "utf-8", ",", None)
    pd.testing.assert_frame_equal(got.frame, expected.frame)
    assert got.types == expected.types == {
        "id": "integer", "email": "text", "age": "integer", "income": "float", "zip": "text",
        "signup": "datetime", "active": "boolean", "score": "float", "notes": "text",
    }  # fmt: skip


@PROPERTY
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=200) | st.text(string.printable + "\x00\x01\x1b\x7f\x85é"))
def test_control_count_is_the_regex_count(text: str) -> None:
    assert sniff.control_count(text) == len(sniff._CONTROL.findall(text))
