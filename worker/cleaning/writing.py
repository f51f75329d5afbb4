"""Write a cleaned frame as CSV, and render its first rows as the JSON preview the console shows."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pandas as pd

from . import arrow_write, dates
from .progress import OnProgress
from .sniff import FIELD_LIMIT

csv.field_size_limit(FIELD_LIMIT)  # csv_cells reads back cells as big as the file has


def write_csv(
    df: pd.DataFrame,
    path: str | Path,
    formats: dict[str, str] | None = None,
    *,
    on_progress: OnProgress | None = None,
) -> None:
    """UTF-8, comma-separated, "\\n" line ends, no index; a missing cell is an empty field.

    Datetime columns are written in their ``formats`` (``Report.date_formats``), else ISO 8601.
    The bytes are pandas' ``to_csv``'s; pyarrow's kernels write them when they can (see
    arrow_write). ``on_progress("write", rows_done, rows)`` is called as blocks of rows are written.
    """
    df = dates.formatted(df, formats)
    columns = arrow_write.columns_of(df)
    renderers = arrow_write.render_columns(columns)
    if renderers is None:
        pandas_csv(df, path)
        if on_progress is not None:
            on_progress("write", len(df), len(df))
        return
    on_rows = None if on_progress is None else lambda done, total: on_progress("write", done, total)
    with Path(path).open("wb") as handle:
        arrow_write.write(df, handle, renderers, on_rows=on_rows, columns=columns)


def pandas_csv(df: pd.DataFrame, path: str | Path) -> None:
    """The reference writer: what write_csv's output must equal byte for byte."""
    df.to_csv(path, index=False, na_rep="", encoding="utf-8", lineterminator="\n")


def frame_preview(df: pd.DataFrame, limit: int, formats: dict[str, str] | None = None) -> dict[str, Any]:
    """``{"columns": [...], "rows": [[...], ...]}``: each cell as written to CSV, missing as None."""
    head = df.head(max(limit, 0))
    return {"columns": [str(c) for c in df.columns], "rows": csv_cells(head, formats)}


def csv_cells(df: pd.DataFrame, formats: dict[str, str] | None = None) -> list[list[str | None]]:
    """Every cell of ``df`` as the text write_csv puts in the file; None where the cell is missing."""
    df = dates.formatted(df, formats)
    if df.empty:
        return [[] for _ in range(len(df))] if len(df.columns) == 0 else []
    columns = arrow_write.cells(df)
    if columns is None:
        return pandas_cells(df)
    return [list(row) for row in zip(*columns, strict=True)]


def pandas_cells(df: pd.DataFrame) -> list[list[str | None]]:
    """The reference for csv_cells (``df`` formatted, not empty): pandas writes the CSV, csv reads it back."""
    text = df.to_csv(index=False, header=False, na_rep="", lineterminator="\n")
    # pandas leaves a cell's bare "\r" unquoted (only "\n" ends its records), which csv would read
    # as a line break: it stands in as a character the text lacks while the records are split.
    stand_in = _absent_character(text) if "\r" in text else None
    if stand_in is not None:
        text = text.replace("\r", stand_in)
    records = list(csv.reader(io.StringIO(text, newline="")))
    if stand_in is not None:
        records = [[value.replace(stand_in, "\r") for value in record] for record in records]
    missing = df.isna().to_numpy()
    return [
        [None if missing[i, j] else value for j, value in enumerate(record)] for i, record in enumerate(records)
    ]


def _absent_character(text: str) -> str:
    """A private-use character that does not occur in ``text``."""
    return next(char for char in map(chr, range(0xE000, 0xF900)) if char not in text)
