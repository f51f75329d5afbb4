"""Write a cleaned frame into a folder once per output format (CSV, Parquet, xlsx), saying what was written.

CSV is always written. Parquet keeps the column types. xlsx holds at most Excel's
1,048,575 rows under the header: a larger result gets no xlsx, and ``notes`` says why.
In xlsx, text that looks like a formula is always neutralised (see cleaning.formulas).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter
from pandas.api import types as ptypes

from worker.cleaning import writing
from worker.cleaning.formulas import looks_like_formula, neutralize
from worker.cleaning.progress import OnProgress

EXCEL_MAX_ROWS = 1_048_575  # a sheet's 1,048,576 rows less the header
EXCEL_MAX_TEXT = 32_767
EXACT_IN_EXCEL = 2**53  # Excel keeps numbers as doubles: larger integers are written as text
CONTENT_TYPES = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_BLOCK_ROWS = 10_000
Cell = Callable[[Any, int, int, Any], None]


@dataclass(frozen=True)
class OutputFile:
    format: str
    path: Path
    content_type: str


@dataclass
class Outputs:
    """The files written, and per format one sentence on what happened (stored in the job's report)."""

    files: list[OutputFile] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, fmt: str, path: Path, note: str) -> None:
        self.files.append(OutputFile(fmt, path, CONTENT_TYPES[fmt]))
        self.notes[fmt] = note


def write_outputs(
    df: pd.DataFrame,
    folder: Path,
    *,
    date_formats: dict[str, str] | None = None,
    xlsx_max_rows: int = EXCEL_MAX_ROWS,
    on_progress: OnProgress | None = None,
) -> Outputs:
    """Write ``output.csv``, ``output.parquet`` and (when it fits) ``output.xlsx`` into ``folder``.

    ``on_progress("write", rows, total)`` as the CSV is written (see cleaning.progress).
    """
    outputs = Outputs()
    writing.write_csv(df, folder / "output.csv", date_formats, on_progress=on_progress)
    outputs.add("csv", folder / "output.csv", "written")
    df.to_parquet(folder / "output.parquet", index=False, engine="pyarrow")
    outputs.add("parquet", folder / "output.parquet", "written")
    if len(df) > min(xlsx_max_rows, EXCEL_MAX_ROWS):
        limit = (
            f"an Excel sheet holds ({EXCEL_MAX_ROWS:,} under the header)"
            if xlsx_max_rows >= EXCEL_MAX_ROWS
            else f"the xlsx export limit of {xlsx_max_rows:,} rows; download CSV or Parquet"
        )
        outputs.notes["xlsx"] = f"not written: {len(df):,} rows is more than {limit}"
    else:
        note = write_xlsx(df, folder / "output.xlsx")
        outputs.add("xlsx", folder / "output.xlsx", note)
    return outputs


def write_xlsx(df: pd.DataFrame, path: Path) -> str:
    """One sheet, header first; numbers, booleans and dates typed, text neutralised. Returns the note."""
    counts = {"neutralised": 0, "cut": 0}
    with xlsxwriter.Workbook(path, {"constant_memory": True, "remove_timezone": True}) as book:
        sheet = book.add_worksheet("cleaned")
        date_style = book.add_format({"num_format": "yyyy-mm-dd"})
        time_style = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        writers = [_cell_writer(sheet, df[name], counts, date_style, time_style) for name in df.columns]
        for col, name in enumerate(df.columns):
            _text(sheet, 0, col, str(name), counts)
        for start, rows in _blocks(df):
            for offset, row in enumerate(rows):
                for col, value in enumerate(row):
                    writers[col](sheet, start + offset + 1, col, value)
    parts = ["written"]
    if counts["neutralised"]:
        parts.append(f"{counts['neutralised']:,} formula-looking cells were prefixed with '")
    if counts["cut"]:
        parts.append(f"{counts['cut']:,} cells longer than {EXCEL_MAX_TEXT:,} characters were cut")
    return "; ".join(parts)


def _blocks(df: pd.DataFrame) -> Iterator[tuple[int, Iterator[tuple[Any, ...]]]]:
    """Rows as tuples of plain Python values, a block at a time so memory stays small."""
    for start in range(0, len(df), _BLOCK_ROWS):
        block = df.iloc[start : start + _BLOCK_ROWS]
        columns = [_python_values(block[name]) for name in block.columns]
        yield start, zip(*columns, strict=True)


def _python_values(column: pd.Series) -> list[Any]:
    missing = column.isna().to_numpy()
    if ptypes.is_datetime64_any_dtype(column.dtype):
        if getattr(column.dtype, "tz", None) is not None:
            column = column.dt.tz_localize(None)  # Excel has no time zones: keep the wall time
        values = list(column.dt.to_pydatetime())
    else:
        values = column.astype(object).tolist()
    return [None if gap else value for value, gap in zip(values, missing, strict=True)]


def _cell_writer(sheet: Any, column: pd.Series, counts: dict[str, int], date_style: Any, time_style: Any) -> Cell:
    if ptypes.is_bool_dtype(column.dtype):
        return lambda s, r, c, v: None if v is None else s.write_boolean(r, c, bool(v))
    if ptypes.is_numeric_dtype(column.dtype):
        return lambda s, r, c, v: None if v is None else _number(s, r, c, v)
    if ptypes.is_datetime64_any_dtype(column.dtype):
        values = column.dropna()
        midnight = values.empty or bool((values.dt.normalize() == values).all())
        style = date_style if midnight else time_style
        return lambda s, r, c, v: None if v is None else _date(s, r, c, v, style)
    return lambda s, r, c, v: None if v is None else _text(s, r, c, str(v), counts)


def _number(sheet: Any, row: int, col: int, value: Any) -> None:
    number = float(value)
    if not math.isfinite(number) or (isinstance(value, int) and abs(value) > EXACT_IN_EXCEL):
        sheet.write_string(row, col, str(value))
    else:
        sheet.write_number(row, col, value)


def _date(sheet: Any, row: int, col: int, value: datetime, style: Any) -> None:
    if value.year < 1900:  # before Excel's calendar starts
        sheet.write_string(row, col, value.isoformat(sep=" "))
    else:
        sheet.write_datetime(row, col, value, style)


def _text(sheet: Any, row: int, col: int, value: str, counts: dict[str, int]) -> None:
    if looks_like_formula(value):
        counts["neutralised"] += 1
        value = neutralize(value)
    if len(value) > EXCEL_MAX_TEXT:
        counts["cut"] += 1
        value = value[:EXCEL_MAX_TEXT]
    sheet.write_string(row, col, value)
