"""worker.outputs: one file per format from a cleaned frame, xlsx typed, neutralised and size-limited."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from worker.outputs import CONTENT_TYPES, write_outputs

from .xlsx import xlsx_cells

FRAME = pd.DataFrame(
    {
        "name ü": pd.Series(["=1+1", "Zoë", None, "-7"], dtype="str"),
        "n": pd.array([1, None, 2**60, -3], dtype="Int64"),
        "x": [1.5, np.nan, -2.0, 0.25],
        "ok": pd.array([True, None, False, True], dtype="boolean"),
        "day": pd.to_datetime(pd.Series(["2024-01-31", None, "1899-12-31", "2024-03-01"])),
        "at": pd.to_datetime(pd.Series(["2024-01-31T10:00:00Z", None, "2024-02-01T00:00:00Z", "2024-03-01T12:00:00Z"])),
    }
)


def test_every_format_is_written_with_its_content_type(tmp_path: Path) -> None:
    outputs = write_outputs(FRAME, tmp_path, date_formats={"day": "%d/%m/%Y"})
    assert [(f.format, f.path.name, f.content_type) for f in outputs.files] == [
        ("csv", "output.csv", "text/csv"),
        ("parquet", "output.parquet", CONTENT_TYPES["parquet"]),
        ("xlsx", "output.xlsx", CONTENT_TYPES["xlsx"]),
    ]
    assert outputs.notes == {"csv": "written", "parquet": "written", "xlsx": "written; 1 formula-looking cells were prefixed with '"}
    assert (tmp_path / "output.csv").read_text().splitlines()[1] == "=1+1,1,1.5,True,31/01/2024,2024-01-31 10:00:00+00:00"


def test_parquet_keeps_the_column_types(tmp_path: Path) -> None:
    write_outputs(FRAME, tmp_path)
    back = pq.read_table(tmp_path / "output.parquet").to_pandas()
    assert back["n"].tolist()[2] == 2**60
    assert str(back["n"].dtype) == "Int64"
    assert back["ok"].isna().tolist() == [False, True, False, False]
    assert back["day"].dtype.kind == "M"
    assert list(back.columns) == list(FRAME.columns)


def test_xlsx_cells_are_typed_and_formulas_neutralised(tmp_path: Path) -> None:
    write_outputs(FRAME, tmp_path)
    rows = xlsx_cells(tmp_path / "output.xlsx")
    assert rows[0] == ["name ü", "n", "x", "ok", "day", "at"]
    assert rows[1][:4] == ["'=1+1", 1.0, 1.5, True]
    assert rows[1][4][2] == 45322.0  # 2024-01-31 as an Excel serial date
    assert rows[1][5][2] == pytest.approx(45322.0 + 10 / 24)  # time zone dropped, wall time kept
    assert rows[2] == ["Zoë"]  # missing cells are left empty
    assert rows[3][1:5] == [str(2**60), -2.0, False, "1899-12-31 00:00:00"]
    assert rows[4][0] == "-7"  # a negative number stays as it was


def test_xlsx_is_skipped_past_the_row_limit_and_says_why(tmp_path: Path) -> None:
    outputs = write_outputs(FRAME, tmp_path, xlsx_max_rows=3)
    assert [f.format for f in outputs.files] == ["csv", "parquet"]
    assert outputs.notes["xlsx"] == "not written: 4 rows is more than the xlsx export limit of 3 rows; download CSV or Parquet"
    assert not (tmp_path / "output.xlsx").exists()


def test_xlsx_is_never_written_past_what_an_excel_sheet_holds(tmp_path: Path) -> None:
    tall = pd.DataFrame({"v": pd.Series(range(1_048_576), dtype="Int64")})

    outputs = write_outputs(tall, tmp_path, xlsx_max_rows=2_000_000)

    assert outputs.notes["xlsx"] == "not written: 1,048,576 rows is more than an Excel sheet holds (1,048,575 under the header)"


def test_formula_looking_column_names_and_long_text(tmp_path: Path) -> None:
    frame = pd.DataFrame({"=bad": pd.Series(["x" * 40_000, "@y"], dtype="str")})
    outputs = write_outputs(frame, tmp_path)
    rows = xlsx_cells(tmp_path / "output.xlsx")
    assert rows[0] == ["'=bad"]
    assert len(rows[1][0]) == 32_767
    assert outputs.notes["xlsx"] == (
        "written; 2 formula-looking cells were prefixed with '; 1 cells longer than 32,767 characters were cut"
    )


def test_an_empty_frame_gives_header_only_files(tmp_path: Path) -> None:
    write_outputs(FRAME.iloc[:0], tmp_path)
    assert (tmp_path / "output.csv").read_text() == "name ü,n,x,ok,day,at\n"
    assert xlsx_cells(tmp_path / "output.xlsx") == [["name ü", "n", "x", "ok", "day", "at"]]
    assert pq.read_table(tmp_path / "output.parquet").num_rows == 0
