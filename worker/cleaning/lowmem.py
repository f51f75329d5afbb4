"""Clean a file larger than the worker's memory: the same steps and the same bytes out, a column at a time.

The in-memory path (reading.read_csv, engine.run, writing.write_csv) holds the whole typed
frame, about 5-9x the file. This path keeps the frame on disk instead, one Arrow IPC file
per column (lowmem_store), and memory holds at most the columns one step touches:

1. ingest (lowmem_ingest): pyarrow's streaming CSV reader (pandas' chunked reader for files
   pyarrow must not parse, see arrow_csv) writes each column's text to its own files, a
   block at a time (a large plain file in two segments, a thread each); then each column
   is loaded alone and typed by reading.type_column, exactly as read_csv types it (whole-
   column rules: leading zeros, formats, ...), two at a time where both fit the budget.
2. steps (lowmem_steps): every step runs through the engine's own step function, on a frame
   of just the columns it reads, at full length, with the row labels of the in-memory
   frame, so whole-column steps (median, mode, sort, clip fences) and the report are exact.
   Rows are a *selection* (original row numbers in current order) that row steps replace;
   changed columns are written back. drop_duplicates combines per-column codes into one key
   column first (exact: equal keys <=> equal rows), drop_missing over all columns folds
   them into one mask; column steps run on an empty frame of the right types.
3. write (lowmem_write): rows go out a block at a time (pyarrow's renderers, decided on
   whole columns, see arrow_write; two blocks rendered at once), byte for byte what
   writing.write_csv writes for the in-memory frame.

The peak is about the widest step's columns (twice, old and new), plus a block. A step
over many wide text columns at once (e.g. trim_whitespace on every text column of a
5M-row file) can still pass a small budget: the budget sets block sizes, how much typing
runs at once and the choice of path (:func:`fits_in_memory`); it is not a hard cap.
Freed memory is handed back to the system as the run goes (lowmem_store.return_freed_memory).
Pure: no settings, no database (the caller passes the budget).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .config import CleaningConfig, check_columns, validate_config
from .lowmem_ingest import ingest
from .lowmem_steps import run_steps
from .lowmem_store import Unsupported, return_freed_memory
from .lowmem_write import write
from .progress import OnProgress
from .report import Report

__all__ = ["Result", "Unsupported", "block_rows_for", "fits_in_memory", "run_file"]

MIB = 1 << 20
MIN_BLOCK_BYTES = MIB  # pyarrow's read blocks: a block must hold a whole row
# The in-memory path peaks at about this many times the file, plus the interpreter and libraries.
IN_MEMORY_FACTOR = 9
BASE_BYTES = 200 * MIB


@dataclass(frozen=True)
class Result:
    """What run_file did; ``head`` is the result's first rows, for the preview."""

    report: Report
    types: dict[str, str]
    encoding: str
    delimiter: str
    head: pd.DataFrame


def fits_in_memory(file_bytes: int, budget_bytes: int) -> bool:
    """Whether the in-memory path is expected to stay within ``budget_bytes`` for a file this size."""
    return BASE_BYTES + IN_MEMORY_FACTOR * file_bytes <= budget_bytes


def block_rows_for(budget_bytes: int, bytes_per_row: float) -> int:
    """Rows per block so a block's frame (a few copies of the row text) takes a small share of the budget."""
    return int(min(max(budget_bytes / 8 / max(bytes_per_row * 4, 1), 5_000), 500_000))


def run_file(
    source: str | Path,
    target: str | Path,
    config: CleaningConfig | dict[str, Any],
    *,
    budget_bytes: int,
    parquet: str | Path | None = None,
    folder: str | Path | None = None,
    preview_rows: int = 50,
    block_rows: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_progress: OnProgress | None = None,
) -> Result:
    """Read ``source``, run the steps, write the CSV to ``target`` (and Parquet to ``parquet``).

    Raises what reading.read_csv and engine.run raise (ReadError, ConfigError, StepError,
    Cancelled: ``should_stop()`` is asked before each step and each written block), and
    Unsupported when the result has a column the block writer cannot render exactly.
    Working files go under ``folder`` (a temporary folder by default) and are removed.
    """
    config = config if isinstance(config, CleaningConfig) else validate_config(config)
    return_freed_memory()
    work = Path(tempfile.mkdtemp(prefix="lowmem-", dir=folder))
    # Small read blocks: pyarrow holds several in flight per thread, and larger ones parse no faster here.
    read_bytes = int(min(max(budget_bytes // 512, MIN_BLOCK_BYTES), 4 * MIB))
    try:
        store, types, formats, encoding, delimiter = ingest(
            Path(source), work, budget_bytes - BASE_BYTES, read_bytes, on_progress
        )
        check_columns(config, store.names, types)
        rows_in = store.rows
        reports = run_steps(store, config, formats, should_stop, on_progress)
        formats = reports.date_formats
        rows = block_rows or block_rows_for(budget_bytes, Path(source).stat().st_size / max(rows_in, 1))
        head = write(store, Path(target), formats, rows, None if parquet is None else Path(parquet), preview_rows, should_stop, on_progress)
        report = Report(rows_in=rows_in, rows_out=store.rows, steps=reports.steps, date_formats=formats)
        return Result(report=report, types=types, encoding=encoding, delimiter=delimiter, head=head)
    finally:
        shutil.rmtree(work, ignore_errors=True)
