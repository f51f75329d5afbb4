"""Write a cleaned frame into a folder once per output format (CSV, Parquet, xlsx), saying what was written.

CSV is always written. Parquet keeps the column types. xlsx (worker.xlsx, a few seconds per
million rows) holds at most Excel's 1,048,575 rows under the header: a larger result gets no
xlsx, and ``notes`` says why. In xlsx, text that looks like a formula is always neutralised
(see cleaning.formulas).

With ``xlsx_on_request`` the xlsx is not written with the job: ``on_request`` names it, and it is
made from the stored Parquet when first asked for (``xlsx_from_parquet``; worker.on_request.make_output).
The two ways give the same sheet: Parquet holds the result frame with its column types.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from worker import xlsx
from worker.cleaning import arrow_parquet, arrow_write, writing
from worker.cleaning.progress import OnProgress

EXCEL_MAX_ROWS = xlsx.MAX_ROWS  # a sheet's 1,048,576 rows less the header
EXCEL_MAX_TEXT = xlsx.MAX_TEXT
EXACT_IN_EXCEL = xlsx.EXACT  # Excel keeps numbers as doubles: larger integers are written as text
CONTENT_TYPES = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


# Up to this many cells a frame's Parquet is made in memory first (a few MB at most).
_SMALL_CELLS = 200_000
ON_REQUEST_NOTE = "made on request: the first download asks for it, and it is ready a few seconds later"


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
    on_request: list[str] = field(default_factory=list)  # formats made when first asked for, not now
    # writing.frame_preview's answer when the CSV writer could take it from the text it wrote, else None
    preview: dict[str, Any] | None = None

    def add(self, fmt: str, path: Path, note: str) -> None:
        self.files.append(OutputFile(fmt, path, CONTENT_TYPES[fmt]))
        self.notes[fmt] = note


def write_outputs(
    df: pd.DataFrame,
    folder: Path,
    *,
    date_formats: dict[str, str] | None = None,
    xlsx_max_rows: int = EXCEL_MAX_ROWS,
    xlsx_on_request: bool = False,
    on_progress: OnProgress | None = None,
    preview_rows: int = 0,
) -> Outputs:
    """Write ``output.csv``, ``output.parquet`` and (when it fits, and not ``xlsx_on_request``)
    ``output.xlsx`` into ``folder``.

    ``on_progress("write", rows, total)`` as the CSV is written (see cleaning.progress). With
    ``preview_rows``, ``preview`` is the preview of that many rows when the CSV's text gave it.
    """
    outputs = Outputs()
    columns = arrow_write.columns_of(df)  # made once for both writers
    head = writing.write_csv(
        df, folder / "output.csv", date_formats, on_progress=on_progress, columns=columns, head_rows=preview_rows
    )
    if head is not None:
        outputs.preview = writing.preview_of(df, head)
    outputs.add("csv", folder / "output.csv", "written")
    write_parquet(df, folder / "output.parquet", columns)
    outputs.add("parquet", folder / "output.parquet", "written")
    if len(df) > min(xlsx_max_rows, EXCEL_MAX_ROWS):
        limit = (
            f"an Excel sheet holds ({EXCEL_MAX_ROWS:,} under the header)"
            if xlsx_max_rows >= EXCEL_MAX_ROWS
            else f"the xlsx export limit of {xlsx_max_rows:,} rows; download CSV or Parquet"
        )
        outputs.notes["xlsx"] = f"not written: {len(df):,} rows is more than {limit}"
    elif xlsx_on_request:
        outputs.notes["xlsx"] = ON_REQUEST_NOTE
        outputs.on_request.append("xlsx")
    else:
        note = write_xlsx(df, folder / "output.xlsx")
        outputs.add("xlsx", folder / "output.xlsx", note)
    return outputs


def write_parquet(df: pd.DataFrame, path: Path, columns: list[pd.Series] | None = None) -> None:
    """The bytes of ``df.to_parquet(path, index=False, engine="pyarrow")`` (pandas_parquet, the
    reference): on a small frame, pyarrow's table made as pandas makes it (see arrow_parquet) and
    written in one piece from memory (a file stream writes in many pieces). ``columns``: df's
    columns (arrow_write.columns_of), when the caller has them."""
    if len(df) * max(len(df.columns), 1) > _SMALL_CELLS or df.attrs:
        pandas_parquet(df, path)
        return
    table = arrow_parquet.pandas_table(df, columns)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    path.write_bytes(buffer.getbuffer())


def pandas_parquet(df: pd.DataFrame, path: Path) -> None:
    """The reference writer: what write_parquet's file must equal byte for byte."""
    df.to_parquet(path, index=False, engine="pyarrow")


def write_xlsx(df: pd.DataFrame, path: Path) -> str:
    """One sheet, header first; numbers, booleans and dates typed, text neutralised (see worker.xlsx).
    Returns the note."""
    counts = xlsx.write(df, path, sheet="cleaned")
    parts = ["written"]
    if counts.neutralised:
        parts.append(f"{counts.neutralised:,} formula-looking cells were prefixed with '")
    if counts.cut:
        parts.append(f"{counts.cut:,} cells longer than {EXCEL_MAX_TEXT:,} characters were cut")
    if counts.columns_left_out:
        parts.append(f"{counts.columns_left_out:,} columns past Excel's {xlsx.MAX_COLUMNS:,} were left out")
    return "; ".join(parts)


def xlsx_from_parquet(parquet: Path, path: Path) -> str:
    """The xlsx of a result stored as Parquet (as write_outputs writes it), the same sheet write_outputs
    would have written from the result itself. Returns the note."""
    return write_xlsx(pd.read_parquet(parquet, engine="pyarrow"), path)
