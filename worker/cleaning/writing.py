"""Write a cleaned frame as CSV, and render its first rows as the JSON preview the console shows."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pandas as pd


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """UTF-8, comma-separated, "\\n" line ends, no index; a missing cell is an empty field."""
    df.to_csv(path, index=False, na_rep="", encoding="utf-8", lineterminator="\n")


def frame_preview(df: pd.DataFrame, limit: int) -> dict[str, Any]:
    """``{"columns": [...], "rows": [[...], ...]}``: each cell as written to CSV, missing as None."""
    head = df.head(max(limit, 0))
    return {"columns": [str(c) for c in df.columns], "rows": csv_cells(head)}


def csv_cells(df: pd.DataFrame) -> list[list[str | None]]:
    """Every cell of ``df`` as the text write_csv puts in the file; None where the cell is missing."""
    if df.empty:
        return [[] for _ in range(len(df))] if len(df.columns) == 0 else []
    text = df.to_csv(index=False, header=False, na_rep="", lineterminator="\n")
    records = list(csv.reader(io.StringIO(text, newline="")))
    missing = df.isna().to_numpy()
    return [
        [None if missing[i, j] else value for j, value in enumerate(record)] for i, record in enumerate(records)
    ]
