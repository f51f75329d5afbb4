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
    columns: list[pd.Series] | None = None,
    head_rows: int = 0,
) -> list[list[str | None]] | None:
    """UTF-8, comma-separated, "\\n" line ends, no index; a missing cell is an empty field.

    Datetime columns are written in their ``formats`` (``Report.date_formats``), else ISO 8601.
    The bytes are pandas' ``to_csv``'s, but for a cell holding a carriage return, which is quoted
    (pandas_csv_text); pyarrow's kernels write them when they can (see arrow_write). ``on_progress("write", rows_done, rows)`` is called as blocks of rows are written.
    ``columns``: ``df``'s columns (arrow_write.columns_of), when the caller has them.
    Returns the first ``head_rows`` rows as ``csv_cells`` gives them when the writer could take them
    from the text it wrote (a small frame), else None.
    """
    formatted = dates.formatted(df, formats)
    columns = columns if formatted is df and columns is not None else arrow_write.columns_of(formatted)
    df = formatted
    renderers = arrow_write.render_columns(columns)
    if renderers is None:
        pandas_csv(df, path)
        if on_progress is not None:
            on_progress("write", len(df), len(df))
        return None
    on_rows = None if on_progress is None else lambda done, total: on_progress("write", done, total)
    with Path(path).open("wb") as handle:
        return arrow_write.write(df, handle, renderers, on_rows=on_rows, columns=columns, head_rows=head_rows)


def pandas_csv(df: pd.DataFrame, path: str | Path) -> None:
    """The reference writer: what write_csv's output must equal byte for byte (pandas_csv_text)."""
    stand_in = _carriage_return_stand_in(df)
    if stand_in is None:
        df.to_csv(path, index=False, na_rep="", encoding="utf-8", lineterminator="\n")  # streamed
        return
    Path(path).write_bytes(_marked_csv_text(df, stand_in, header=True).encode("utf-8"))


def pandas_csv_text(df: pd.DataFrame, *, header: bool = True) -> str:
    """pandas' ``to_csv(index=False, na_rep="", lineterminator="\n")``, except that a text cell (or
    column name) holding a carriage return is quoted. pandas leaves a bare "\r" unquoted (Python's
    csv module quotes only the line terminator's characters), and every CSV reader, pandas'
    included, then ends the row there. Such a "\r" is written as "\n" plus a character the
    text lacks, which the csv module quotes, and turned back into "\r" after."""
    stand_in = _carriage_return_stand_in(df)
    if stand_in is None:
        return df.to_csv(index=False, header=header, na_rep="", lineterminator="\n")
    return _marked_csv_text(df, stand_in, header=header)


def _marked_csv_text(df: pd.DataFrame, stand_in: str, *, header: bool) -> str:
    """pandas_csv_text for a frame with a carriage return somewhere: each one written as "\\n" +
    ``stand_in`` (quoted by csv), then turned back."""
    marked = df.copy(deep=False)
    for name, column in df.items():
        if _is_text(column):
            marked[name] = column.map(lambda v: v.replace("\r", "\n" + stand_in) if isinstance(v, str) else v)
    marked.columns = [str(n).replace("\r", "\n" + stand_in) if isinstance(n, str) else n for n in df.columns]
    text = marked.to_csv(index=False, header=header, na_rep="", lineterminator="\n")
    return text.replace("\n" + stand_in, "\r")


def _carriage_return_stand_in(df: pd.DataFrame) -> str | None:
    """None when no text cell or column name holds "\r"; else a private-use character none holds."""
    texts = [column for _, column in df.items() if _is_text(column)]
    names = [n for n in df.columns if isinstance(n, str)]
    if not any(_holds(column, "\r") for column in texts) and not any("\r" in n for n in names):
        return None
    for stand_in in map(chr, range(0xE000, 0xF900)):
        if not any(_holds(column, stand_in) for column in texts) and not any(stand_in in n for n in names):
            return stand_in
    raise ValueError("no private-use character is free to stand in for carriage returns")


def _is_text(column: pd.Series) -> bool:
    return column.dtype == object or isinstance(column.dtype, pd.StringDtype)


def _holds(column: pd.Series, char: str) -> bool:
    if isinstance(column.dtype, pd.StringDtype):
        return bool(column.str.contains(char, regex=False).fillna(False).any())
    return any(isinstance(v, str) and char in v for v in column)


def frame_preview(df: pd.DataFrame, limit: int, formats: dict[str, str] | None = None) -> dict[str, Any]:
    """``{"columns": [...], "rows": [[...], ...]}``: each cell as written to CSV, missing as None."""
    return preview_of(df, csv_cells(df.head(max(limit, 0)), formats))


def preview_of(df: pd.DataFrame, rows: list[list[str | None]]) -> dict[str, Any]:
    """The preview's shape: ``df``'s column names and the given rows of cells."""
    return {"columns": [str(c) for c in df.columns], "rows": rows}


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
    text = pandas_csv_text(df, header=False)
    records = list(csv.reader(io.StringIO(text, newline="")))
    missing = df.isna().to_numpy()
    return [
        [None if missing[i, j] else value for j, value in enumerate(record)] for i, record in enumerate(records)
    ]

