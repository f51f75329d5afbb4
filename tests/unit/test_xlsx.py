"""worker.xlsx, the column-wise xlsx writer: files read back with openpyxl and compared with the frame,
and with what the row-by-row xlsxwriter writer it replaced made of the same frame."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.cleaning.xlsx import xlsx_cells
from worker import xlsx
from worker.cleaning.formulas import looks_like_formula, neutralize
from worker.outputs import write_xlsx
from worker.xlsx_cells import Counts, excel_escape, text_values

PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
BIG = 2**53
DATE, DATETIME = "yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss"
TRICKY = [
    "plain", "", " ", "  both ends ", "a & b < c > d \"q\" 'a'", "&amp; is text", "<t>not a tag</t>",
    "bell\x07", "nul\x00", "\x1f\x0b\x0c", "cr\rin", "crlf\r\n", "lf\nin", "tab\tin", "_x0041_ reads like an escape",
    "_x00zz_", "\ufffe\uffff", "Zoë", "日本語", "emoji 😀", "עברית", "\u00a0nbsp\u00a0", "line\u2028sep",
    "=SUM(A1:A2)", "+cmd", "-2+3", "@user", "\tlead tab", "\rlead cr", "-3.5", "+1e3", "-٣", "-3\n", "'=quoted",
]


# Reading back -----------------------------------------------------------------------------------------


def read_back(path: Path) -> tuple[str, list[list[Any]], list[list[str | None]]]:
    """The sheet's title, its values and the number format of each cell that has a value."""
    book = openpyxl.load_workbook(path)
    assert len(book.worksheets) == 1
    sheet = book.active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    formats = [[cell.number_format if cell.value is not None else None for cell in row] for row in sheet.iter_rows()]
    return sheet.title, values, formats


def excel_text(cell: str) -> str:
    """A cell's text as Excel shows it: ``_xHHHH_`` escapes decoded (openpyxl leaves them as they are)."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda found: chr(int(found.group(1), 16)), cell)


def expected_text(value: Any) -> str:
    text = neutralize(str(value))
    text = text[: xlsx.MAX_TEXT]
    while len(text.encode("utf-16-le")) > 2 * xlsx.MAX_TEXT:
        text = text[:-1]
    return text


def expected_column(column: pd.Series) -> tuple[list[Any], str]:
    """The values openpyxl should read back for ``column`` (None where missing), and the number
    format of its typed cells."""
    missing = column.isna().tolist()
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return [None if gap else bool(v) for v, gap in zip(column.astype(object), missing, strict=True)], "General"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if column.dt.tz is not None:
            column = column.dt.tz_localize(None)
        present = column.dropna()
        midnight = bool((present.dt.normalize() == present).all())
        values = []
        for stamp, gap in zip(column, missing, strict=True):
            if gap:
                values.append(None)
            elif stamp.year < 1900:
                values.append(stamp.to_pydatetime().isoformat(sep=" "))
            else:
                values.append(stamp.to_pydatetime())
        return values, DATE if midnight else DATETIME
    if pd.api.types.is_numeric_dtype(dtype):
        values = []
        for value, gap in zip(column.astype(object), missing, strict=True):
            if gap:
                values.append(None)
            elif not math.isfinite(float(value)) or (isinstance(value, int) and abs(value) > BIG):
                values.append(str(value))
            else:
                values.append(value)
        return values, "General"
    return [None if gap else expected_text(v) for v, gap in zip(column.astype(object), missing, strict=True)], "General"


def assert_reads_back_as(path: Path, df: pd.DataFrame) -> None:
    title, values, formats = read_back(path)
    assert title == "cleaned"
    columns = [expected_column(df.iloc[:, i]) for i in range(len(df.columns))]
    header = [expected_text(name) for name in df.columns]
    expected_rows = [header] + [[column[0][r] for column in columns] for r in range(len(df))]
    while expected_rows and all(v is None for v in expected_rows[-1]):  # openpyxl ends at the last cell
        expected_rows.pop()
    assert len(values) == len(expected_rows)
    for r, (got_row, want_row) in enumerate(zip(values, expected_rows, strict=True)):
        got_row = got_row + [None] * (len(want_row) - len(got_row))
        assert len(got_row) == len(want_row), r
        for c, (got, want) in enumerate(zip(got_row, want_row, strict=True)):
            where = f"row {r + 1} column {c + 1}: {got!r} != {want!r}"
            if isinstance(want, str):
                assert isinstance(got, str) and excel_text(got) == want, where
            elif isinstance(want, datetime):
                assert isinstance(got, datetime) and abs(got - want) <= timedelta(milliseconds=1), where
            elif isinstance(want, bool):
                assert got is want, where
            elif want is None:
                assert got is None, where
            else:  # numbers are exact: floats are written in their shortest exact form
                assert type(got) in (int, float) and got == want, where
            if r and want is not None and not isinstance(want, str):
                assert formats[r][c] == columns[c][1], where


# Every kind of column -----------------------------------------------------------------------------------


def every_dtype() -> pd.DataFrame:
    text = pd.Series((TRICKY * 2)[:40], dtype="str")
    rows = len(text)

    def cycle(values: list[Any]) -> list[Any]:
        return (values * (rows // len(values) + 1))[:rows]

    stamps = ["2024-01-31 10:00:00", None, "2024-02-29 23:59:59.999", "1970-01-01 00:00:00.000001", "9999-12-31 23:59"]
    days = ["2024-01-31", None, "1899-12-31", "1900-01-01", "1900-02-28", "1900-03-01", "1970-01-01", "9999-12-31"]
    zoned = ["2024-03-31T01:30:00+01:00", None, "2024-07-01T00:00:00+02:00"]
    old = ["1850-06-01 12:30:00", "1899-12-31 23:59:59.5", "2000-01-01 00:00:00", None]
    floats = [0.1 + 0.2, np.nan, float("inf"), -float("inf"), 1e20, -0.0, 5e-324, 1.7976931348623157e308, 2.0, 1e-7]
    return pd.DataFrame(
        {
            "int with gaps": pd.array(cycle([1, None, -7, BIG, BIG + 1, -BIG - 1, 0, 2**63 - 1]), dtype="Int64"),
            "int64": np.array(cycle([0, -1, 123456789, -(2**62)]), dtype="int64"),
            "uint64": np.array(cycle([0, 2**64 - 1, BIG]), dtype="uint64"),
            "float": cycle(floats),
            "float32": np.array(cycle([0.1, 1.5, np.nan]), dtype="float32"),
            "Float64": pd.array(cycle([0.5, None, -2.25]), dtype="Float64"),
            "bool": pd.array(cycle([True, None, False]), dtype="boolean"),
            "numpy bool": np.array(cycle([True, False]), dtype=bool),
            "datetime": pd.to_datetime(pd.Series(cycle(stamps)), format="ISO8601"),
            "date only": pd.to_datetime(pd.Series(cycle(days)), format="ISO8601").astype("datetime64[s]"),
            "tz aware": pd.to_datetime(pd.Series(cycle(zoned)), utc=True, format="ISO8601").dt.tz_convert("CET"),
            "pre 1900": pd.to_datetime(pd.Series(cycle(old)), format="ISO8601"),
            "text": text,
            "object": pd.Series(cycle(["x", 1, 2.5, True, None, "=1", pd.Timestamp("2024-01-01")]), dtype=object),
            "category": pd.Series(cycle(["a", "=b", None]), dtype="category"),
            "timedelta": pd.to_timedelta(pd.Series(cycle(["1 day", None, "-3s"]))),
            "arrow text": pd.Series(text.tolist(), dtype=pd.ArrowDtype(pa.large_string())),
            "arrow int": pd.Series(cycle([1, None, BIG + 1]), dtype=pd.ArrowDtype(pa.int64())),
            "arrow float": pd.Series(cycle([0.25, None, float("inf")]), dtype=pd.ArrowDtype(pa.float64())),
            "arrow bool": pd.Series(cycle([True, None]), dtype=pd.ArrowDtype(pa.bool_())),
            "arrow tz": pd.Series(
                cycle([datetime(2024, 1, 2, 3, 4, 5), None]),
                dtype=pd.ArrowDtype(pa.timestamp("us", tz="America/New_York")),
            ),
        }
    )


def test_every_dtype_reads_back_as_the_frame(tmp_path: Path) -> None:
    df = every_dtype()
    write_xlsx(df, tmp_path / "out.xlsx")
    assert_reads_back_as(tmp_path / "out.xlsx", df)


def test_typed_cells_are_typed(tmp_path: Path) -> None:
    df = every_dtype()
    write_xlsx(df, tmp_path / "out.xlsx")
    _, values, formats = read_back(tmp_path / "out.xlsx")
    by_name = {name: [row[i] for row in values[1:]] for i, name in enumerate(values[0])}

    assert by_name["int with gaps"][:8] == [1, None, -7, BIG, str(BIG + 1), str(-BIG - 1), 0, str(2**63 - 1)]
    assert by_name["float"][:10] == [
        0.30000000000000004, None, "inf", "-inf", 1e20, -0.0, 5e-324, 1.7976931348623157e308, 2, 1e-7
    ]
    assert by_name["uint64"][:3] == [0, str(2**64 - 1), BIG]
    assert by_name["bool"][:3] == [True, None, False]
    assert by_name["tz aware"][:3] == [datetime(2024, 3, 31, 1, 30), None, datetime(2024, 7, 1)]  # wall time kept
    assert by_name["pre 1900"][:4] == ["1850-06-01 12:30:00", "1899-12-31 23:59:59.500000", datetime(2000, 1, 1), None]
    assert by_name["object"][:7] == ["x", "1", "2.5", "True", None, "'=1", "2024-01-01 00:00:00"]
    assert by_name["timedelta"][:3] == ["1 days 00:00:00", None, "'-1 days +23:59:57"]  # text, so checked for formulas
    for name, style in (("date only", DATE), ("datetime", DATETIME), ("tz aware", DATETIME)):
        column = values[0].index(name)
        dated = [f[column] for f, row in zip(formats[1:], values[1:], strict=True) if isinstance(row[column], datetime)]
        assert set(dated) == {style}, name


def test_dates_are_excel_serials_with_the_phantom_1900_leap_day(tmp_path: Path) -> None:
    days = ["1900-01-01", "1900-02-28", "1900-03-01", "2024-01-31", "9999-12-31", "1899-12-31"]
    times = ["1900-02-28 12:00", None, None, "2024-01-31 06:00", None, None]
    df = pd.DataFrame({"d": pd.to_datetime(pd.Series(days)), "t": pd.to_datetime(pd.Series(times))})

    write_xlsx(df, tmp_path / "out.xlsx")
    rows = xlsx_cells(tmp_path / "out.xlsx")

    # Excel counts 1900-02-29, which never was: 1900-01-01 is 1, 1900-02-28 is 59, 1900-03-01 is 61.
    assert [row[0][2] for row in rows[1:6]] == [1.0, 59.0, 61.0, 45322.0, 2958465.0]
    assert rows[6][0] == "1899-12-31 00:00:00"
    assert rows[1][1][2] == 59.5 and rows[4][1][2] == 45322.25
    assert rows[1][0][1] != rows[1][1][1]  # a date style and a date-time style


def test_text_is_escaped_neutralised_and_cut_with_the_counts_in_the_note(tmp_path: Path) -> None:
    long = "x" * 40_000
    emoji = "😀" * 20_000  # 20,000 characters but 40,000 UTF-16 units: Excel's limit counts units
    df = pd.DataFrame({"t": pd.Series([*TRICKY, long, emoji, "ok"], dtype="str")})

    note = write_xlsx(df, tmp_path / "out.xlsx")

    formulas = sum(looks_like_formula(t) for t in TRICKY)
    assert formulas == 7
    assert note == (
        f"written; {formulas} formula-looking cells were prefixed with '; "
        "2 cells longer than 32,767 characters were cut"
    )
    assert_reads_back_as(tmp_path / "out.xlsx", df)
    _, values, _ = read_back(tmp_path / "out.xlsx")
    assert values[len(TRICKY) + 1][0] == "x" * 32_767
    assert values[len(TRICKY) + 2][0] == "😀" * 16_383


def test_control_characters_are_written_as_excel_escapes(tmp_path: Path) -> None:
    df = pd.DataFrame({"t": pd.Series(["a\x01b", "_x0001_", "c\rd", "e\nf", "\ufffe"], dtype="str")})

    write_xlsx(df, tmp_path / "out.xlsx")
    with zipfile.ZipFile(tmp_path / "out.xlsx") as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()

    assert "a_x0001_b" in sheet and "_x005F_x0001_" in sheet and "c_x000D_d" in sheet and "e\nf" in sheet
    assert "_xFFFE_" in sheet
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", sheet)  # nothing XML 1.0 forbids
    ElementTree.fromstring(sheet.encode())  # well formed
    assert_reads_back_as(tmp_path / "out.xlsx", df)


def test_header_names_with_spaces_duplicates_and_specials(tmp_path: Path) -> None:
    df = pd.DataFrame([[1, "x", 2.5, True, "y", 3]], columns=["a", "a", "first name", "x&y<z>", "=cmd", 0])

    note = write_xlsx(df, tmp_path / "out.xlsx")

    _, values, _ = read_back(tmp_path / "out.xlsx")
    assert values == [["a", "a", "first name", "x&y<z>", "'=cmd", "0"], [1, "x", 2.5, True, "y", 3]]
    assert note == "written; 1 formula-looking cells were prefixed with '"


def test_an_empty_frame_and_a_header_only_frame(tmp_path: Path) -> None:
    write_xlsx(pd.DataFrame(), tmp_path / "empty.xlsx")
    write_xlsx(every_dtype().iloc[:0], tmp_path / "header.xlsx")

    assert read_back(tmp_path / "empty.xlsx")[1] == []
    assert xlsx_cells(tmp_path / "empty.xlsx") == []
    assert read_back(tmp_path / "header.xlsx")[1] == [list(every_dtype().columns)]


def test_rows_are_written_a_block_at_a_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "BLOCK_BYTES", 1)
    monkeypatch.setattr(xlsx, "MIN_BLOCK_ROWS", 3)
    df = every_dtype()

    note = write_xlsx(df, tmp_path / "out.xlsx")

    assert xlsx._block_rows(len(df), len(df.columns), 1) == 3
    assert_reads_back_as(tmp_path / "out.xlsx", df)
    assert note == write_xlsx(df, tmp_path / "again.xlsx")


def test_too_many_rows_is_an_error_and_columns_past_excels_last_are_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx, "MAX_ROWS", 2)
    monkeypatch.setattr(xlsx, "MAX_COLUMNS", 2)
    with pytest.raises(ValueError, match="do not fit"):
        write_xlsx(pd.DataFrame({"a": [1, 2, 3]}), tmp_path / "tall.xlsx")

    note = write_xlsx(pd.DataFrame({"a": [1], "b": [2], "c": [3]}), tmp_path / "wide.xlsx")

    assert note == "written; 1 columns past Excel's 2 were left out"
    assert read_back(tmp_path / "wide.xlsx")[1] == [["a", "b"], [1, 2]]


def test_the_package_holds_the_parts_excel_needs(tmp_path: Path) -> None:
    write_xlsx(every_dtype(), tmp_path / "out.xlsx")

    with zipfile.ZipFile(tmp_path / "out.xlsx") as book:
        assert book.testzip() is None
        names = book.namelist()
        parts = {name: book.read(name) for name in names}
        infos = {info.filename: info for info in book.infolist()}

    assert names[0] == "[Content_Types].xml"
    assert sorted(names) == [
        "[Content_Types].xml",
        "_rels/.rels",
        "xl/_rels/workbook.xml.rels",
        "xl/styles.xml",
        "xl/workbook.xml",
        "xl/worksheets/sheet1.xml",
    ]
    assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in infos.values())
    for part in parts.values():
        ElementTree.fromstring(part)
    styles = parts["xl/styles.xml"].decode()
    assert 'formatCode="yyyy-mm-dd"' in styles and 'formatCode="yyyy-mm-dd hh:mm:ss"' in styles
    assert b'<sheet name="cleaned"' in parts["xl/workbook.xml"]
    assert parts["xl/worksheets/sheet1.xml"].count(b"<row ") == len(every_dtype()) + 1


def test_a_sheet_that_may_pass_2_gib_is_written_with_zip64_sizes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not xlsx._may_pass_2gb(1_000_000 * 12, 500_000_000 // 7)
    assert xlsx._may_pass_2gb(1_000_000 * 12, 2**31 // 7)
    monkeypatch.setattr(xlsx, "_may_pass_2gb", lambda cells, text_bytes: True)
    df = every_dtype()

    write_xlsx(df, tmp_path / "out.xlsx")

    assert_reads_back_as(tmp_path / "out.xlsx", df)


def test_the_sheet_is_deflated_by_zlib_ng_when_installed(tmp_path: Path) -> None:
    pytest.importorskip("zlib_ng")
    with zipfile.ZipFile(tmp_path / "z.zip", "w", compression=zipfile.ZIP_DEFLATED) as book:
        with book.open("a", "w") as handle:
            assert xlsx.use_zlib_ng(handle, 2)
            handle.write(b"<row/>" * 1000)
    with zipfile.ZipFile(tmp_path / "z.zip") as book:
        assert book.read("a") == b"<row/>" * 1000


# Properties -----------------------------------------------------------------------------------------------

FORMULA_ALPHABET = st.sampled_from(list("=+-@\t\r\n0123456789.eE a_x") + ["٣", "１", "&", "<"])


@PROPERTY
@given(texts=st.lists(st.one_of(st.none(), st.text(FORMULA_ALPHABET, max_size=6), st.text(max_size=4)), max_size=30))
def test_the_vectorised_formula_rule_is_cleaning_formulas_rule(texts: list[str | None]) -> None:
    counts = Counts()
    got, _ = text_values(pa.array(texts, pa.large_string()), counts)

    want = [None if t is None else excel_escape(neutralize(t)) for t in texts]
    entities = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}
    escaped = [None if t is None else "".join(entities.get(char, char) for char in t) for t in want]
    assert got.to_pylist() == escaped
    assert counts.neutralised == sum(t is not None and looks_like_formula(t) for t in texts)


STAMPS = st.datetimes(min_value=datetime(1800, 1, 1), max_value=datetime(2200, 12, 31)).filter(
    lambda d: not (d.year == 1900 and d.month <= 2)  # the old writer got Jan-Feb 1900 wrong (see below)
)
KINDS = ("text", "int", "float", "bool", "datetime", "date", "tz")


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(0, 12))
    names = draw(st.lists(st.text(max_size=5), min_size=1, max_size=5))

    def values(strategy: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(st.one_of(st.none(), strategy), min_size=rows, max_size=rows))

    columns = []
    for _ in names:
        kind = draw(st.sampled_from(KINDS))
        if kind == "text":
            columns.append(pd.Series(values(st.sampled_from(TRICKY) | st.text(max_size=8)), dtype="str"))
        elif kind == "int":
            integers = st.integers(-(2**63), 2**63 - 1) | st.integers(-5, 5)
            columns.append(pd.Series(pd.array(values(integers), dtype="Int64")))
        elif kind == "float":
            floats = values(st.floats(allow_nan=False))
            columns.append(pd.Series([np.nan if v is None else v for v in floats], dtype="float64"))
        elif kind == "bool":
            columns.append(pd.Series(pd.array(values(st.booleans()), dtype="boolean")))
        else:
            stamps = values(STAMPS)
            if kind == "date":
                stamps = [None if v is None else v.replace(hour=0, minute=0, second=0, microsecond=0) for v in stamps]
            column = pd.to_datetime(pd.Series(stamps, dtype=object))
            if kind == "tz":
                column = column.dt.tz_localize("UTC").dt.tz_convert("Asia/Kolkata")
            columns.append(column)
    df = pd.concat(columns, axis=1) if columns else pd.DataFrame()
    df.columns = names
    return df


@PROPERTY
@given(df=frames())
def test_the_new_file_reads_back_as_the_frame(df: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("new") / "out.xlsx"
    write_xlsx(df, path)
    assert_reads_back_as(path, df)


@PROPERTY
@given(df=frames())
def test_the_new_file_reads_back_as_the_old_writers_file(
    df: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Where the two writers differ on purpose: the old one wrote numbers to 16 significant digits (the new
    one writes the shortest exact form, so the largest doubles no longer read back as infinity), and it
    wrote Excel serials for 1900-01-01 (0, Excel's "1900-01-00") and for 1900-02-28 after midnight (past
    the phantom 1900-02-29), which the strategy leaves out; elsewhere the two files hold the same cells."""
    folder = tmp_path_factory.mktemp("old-new")
    new_note = write_xlsx(df, folder / "new.xlsx")
    old_note = old_write_xlsx(df, folder / "old.xlsx")

    assert new_note == old_note
    _, new, new_formats = read_back(folder / "new.xlsx")
    _, old, old_formats = read_back(folder / "old.xlsx")
    if not any(any(v is not None for v in row) for row in old):  # xlsxwriter leaves trailing empty rows out
        old = [[]]
    assert len(new) >= len(old)
    for r, new_row in enumerate(new):
        old_row = old[r] if r < len(old) else [None] * len(new_row)
        old_row = old_row + [None] * (len(new_row) - len(old_row))
        for c, (a, b) in enumerate(zip(new_row, old_row, strict=True)):
            where = f"row {r + 1} column {c + 1}: new {a!r}, old {b!r}"
            if isinstance(b, float) and math.isinf(b):  # 16 digits rounded the largest doubles past the largest
                assert isinstance(a, float) and abs(a) > 1.797693134862315e308, where
                assert math.copysign(1, a) == math.copysign(1, b), where
            elif isinstance(a, float) or isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-15), where
            elif isinstance(a, datetime):
                assert isinstance(b, datetime) and abs(a - b) <= timedelta(milliseconds=1), where
            else:
                assert a == b and type(a) is type(b), where
            if a is not None:
                assert new_formats[r][c] == old_formats[r][c], where


# LibreOffice ----------------------------------------------------------------------------------------------


def test_libreoffice_opens_the_file(tmp_path: Path) -> None:
    office = shutil.which("libreoffice") or shutil.which("soffice")
    if office is None:
        pytest.skip("LibreOffice is not installed")
    df = every_dtype()
    write_xlsx(df, tmp_path / "out.xlsx")

    done = subprocess.run(
        [
            office,
            "--headless",
            f"-env:UserInstallation=file://{tmp_path}/profile",
            *("--convert-to", "csv", "--outdir", str(tmp_path), str(tmp_path / "out.xlsx")),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )

    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "out.csv").read_text(encoding="utf-8", errors="replace").splitlines()
    assert lines[0].startswith("int with gaps,int64,uint64,float")
    assert len(lines) >= len(df) + 1


# The row-by-row xlsxwriter writer the new one replaced (worker/outputs.py before), kept as the reference ---


def old_write_xlsx(df: pd.DataFrame, path: Path) -> str:
    xlsxwriter = pytest.importorskip("xlsxwriter")
    counts = {"neutralised": 0, "cut": 0}
    with xlsxwriter.Workbook(path, {"constant_memory": True, "remove_timezone": True}) as book:
        sheet = book.add_worksheet("cleaned")
        date_style = book.add_format({"num_format": "yyyy-mm-dd"})
        time_style = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        writers = [_old_cell_writer(df.iloc[:, i], counts, date_style, time_style) for i in range(len(df.columns))]
        for col, name in enumerate(df.columns):
            _old_text(sheet, 0, col, str(name), counts)
        columns = [_old_python_values(df.iloc[:, i]) for i in range(len(df.columns))]
        for row, values in enumerate(zip(*columns, strict=True)):
            for col, value in enumerate(values):
                writers[col](sheet, row + 1, col, value)
    parts = ["written"]
    if counts["neutralised"]:
        parts.append(f"{counts['neutralised']:,} formula-looking cells were prefixed with '")
    if counts["cut"]:
        parts.append(f"{counts['cut']:,} cells longer than 32,767 characters were cut")
    return "; ".join(parts)


def _old_python_values(column: pd.Series) -> list[Any]:
    missing = column.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        if getattr(column.dtype, "tz", None) is not None:
            column = column.dt.tz_localize(None)
        values = list(column.dt.to_pydatetime())
    else:
        values = column.astype(object).tolist()
    return [None if gap else value for value, gap in zip(values, missing, strict=True)]


def _old_cell_writer(column: pd.Series, counts: dict[str, int], date_style: Any, time_style: Any) -> Any:
    if pd.api.types.is_bool_dtype(column.dtype):
        return lambda s, r, c, v: None if v is None else s.write_boolean(r, c, bool(v))
    if pd.api.types.is_numeric_dtype(column.dtype):
        return lambda s, r, c, v: None if v is None else _old_number(s, r, c, v)
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        values = column.dropna()
        midnight = values.empty or bool((values.dt.normalize() == values).all())
        style = date_style if midnight else time_style
        return lambda s, r, c, v: None if v is None else _old_date(s, r, c, v, style)
    return lambda s, r, c, v: None if v is None else _old_text(s, r, c, str(v), counts)


def _old_number(sheet: Any, row: int, col: int, value: Any) -> None:
    number = float(value)
    if not math.isfinite(number) or (isinstance(value, int) and abs(value) > BIG):
        sheet.write_string(row, col, str(value))
    else:
        sheet.write_number(row, col, value)


def _old_date(sheet: Any, row: int, col: int, value: datetime, style: Any) -> None:
    if value.year < 1900:
        sheet.write_string(row, col, value.isoformat(sep=" "))
    else:
        sheet.write_datetime(row, col, value, style)


def _old_text(sheet: Any, row: int, col: int, value: str, counts: dict[str, int]) -> None:
    if looks_like_formula(value):
        counts["neutralised"] += 1
        value = neutralize(value)
    if len(value) > xlsx.MAX_TEXT:
        counts["cut"] += 1
        value = value[: xlsx.MAX_TEXT]
    sheet.write_string(row, col, value)
