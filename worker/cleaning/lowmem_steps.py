"""The low-memory path's second phase: every step through the engine's own step function.

A step runs on a frame of just the columns it reads, at full length, with the row labels of
the in-memory frame, so whole-column steps (median, mode, sort, clip fences) and the report
are exact. Rows are a *selection* (original row numbers in current order) that row steps
replace; changed columns are written back. drop_duplicates combines per-column codes into
one key column first (exact: equal keys <=> equal rows), drop_missing over all columns folds
them into one mask; column steps run on an empty frame of the right types.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from . import dates, fast_rows, ops_rows
from .config import CleaningConfig
from .engine import run_step
from .errors import Cancelled
from .kinds import is_numeric, type_name
from .lowmem_store import Store, labels, return_freed_memory
from .ops_common import pick_columns
from .ops_fill import default_columns as fill_columns
from .ops_text import text_columns
from .progress import OnProgress
from .report import Report, StepReport

COLUMN_OPS = ("rename_columns", "drop_columns", "select_columns", "normalize_column_names")
ROW_OPS = ("drop_duplicates", "drop_missing", "filter_rows", "sort")
THREADS = 2  # columns loaded, coded or saved at once


def run_steps(
    store: Store,
    config: CleaningConfig,
    formats: dict[str, str],
    should_stop: Callable[[], bool] | None,
    on_progress: OnProgress | None,
) -> Report:
    schema = store.schema()
    formats = dates.follow(formats, None, schema, schema)
    reports: list[StepReport] = []
    total = len(config.steps)
    for number, step in enumerate(config.steps, start=1):
        if should_stop is not None and should_stop():
            raise Cancelled(f"stopped on request before step {number} of {total}")
        before = store.schema()
        report = _step(store, step, number)
        return_freed_memory()
        formats = dates.follow(formats, step, before, store.schema())
        reports.append(dataclasses.replace(report, step=number))
        if on_progress is not None:
            on_progress("step", number, total)
    return Report(rows_in=0, rows_out=store.rows, steps=reports, date_formats=formats)


def _step(store: Store, step: Any, number: int) -> StepReport:
    rows = store.rows
    schema = store.schema()
    if step.op in COLUMN_OPS:
        out, report = run_step(schema, step, number)
        renamed = step.op in ("rename_columns", "normalize_column_names")
        store.reshape(list(schema.columns), [str(c) for c in out.columns], renamed)
        return dataclasses.replace(report, rows_before=rows, rows_after=rows)
    if step.op == "drop_duplicates":
        frame = key_frame(store, step.subset or store.names)
    elif step.op == "drop_missing" and step.columns is None:
        frame = _missing_frame(store, step.how)
    else:
        frame = store.frame(_reads(step, schema), threads=THREADS)
    out, report = run_step(frame, step, number)
    if step.op in ROW_OPS:
        store.select(out.index.to_numpy(dtype=np.int64))
    else:
        store.save_all({str(name): out[name] for name in frame.columns}, threads=THREADS)
    return report


def _reads(step: Any, schema: pd.DataFrame) -> list[str]:
    """The columns a step reads (and, for value steps, rewrites), in the frame's order."""
    op = step.op
    if op in ("fill_missing", "trim_whitespace", "change_case", "regex_replace", "replace_values", "clip_outliers"):
        # Named columns are read as named (the step itself refuses a wrong type); else the step's own pick.
        if step.columns is not None:
            names = list(step.columns)
        elif op == "fill_missing":
            names = pick_columns(schema, op, None, fill_columns(step))
        elif op == "clip_outliers":
            names = pick_columns(schema, op, None, is_numeric)
        elif op == "replace_values":
            names = list(schema.columns)
        else:
            names = text_columns(schema, op, None)
    elif op == "cast":
        names = list(step.columns)
    elif op == "filter_rows":
        names = [step.column]
    elif op == "sort":
        names = list(step.columns)
    else:  # drop_missing with columns
        names = list(step.columns)
    wanted = set(names)
    return [str(c) for c in schema.columns if c in wanted] + [n for n in names if n not in schema.columns]


def key_frame(store: Store, names: list[str]) -> pd.DataFrame:
    """A frame with the step's column names whose first column holds one key per distinct row (the others 0).

    As in ops_rows.duplicated, only rows whose value repeats in a cheap column (a few if
    needed) can be anyone's duplicate: they get keys from every column's codes (combined
    exactly, re-coded before they could overflow, then re-coded to 0..k-1); every other row
    gets a key of its own (negative, so none collide). The keys then span about twice the
    rows, where the step counts repeats instead of hashing them (fast_rows.repeats).
    """
    present = [name for name in names if name in store.files]
    candidates = _candidates(store, present)
    positions = store.selection if candidates is None else store.selection[candidates]
    key = np.zeros(len(positions), dtype=np.int64)
    kinds = 1
    for codes, count in _codes(store, present, positions):
        width = count + 1  # code -1 (missing) becomes 0
        if kinds * width >= 2**62:
            key, uniques_of_key = pd.factorize(key)
            kinds = len(uniques_of_key)
        key = key * width + (codes.astype(np.int64) + 1)
        kinds *= width
    if kinds > len(key):
        key = pd.factorize(key)[0].astype(np.int64)
    if candidates is None:
        full = key
    else:
        full = -np.arange(1, store.rows + 1, dtype=np.int64)
        full[candidates] = key
    zeros = np.zeros(store.rows, dtype=np.int8)
    columns = {name: (full if i == 0 else zeros) for i, name in enumerate(present)}
    return pd.DataFrame(columns, index=labels(store.selection), copy=False)


def _codes(store: Store, names: list[str], positions: np.ndarray) -> Iterator[tuple[np.ndarray, int]]:
    """Per column, in order: pd.factorize's codes of its values at ``positions`` and how many
    distinct values it has; THREADS columns loaded and coded at once, no more held."""

    def coded(name: str) -> tuple[np.ndarray, int]:
        codes, uniques = pd.factorize(store.load(name, positions).array)
        return codes, len(uniques)

    pending: collections.deque[Future[tuple[np.ndarray, int]]] = collections.deque()
    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="lowmem-key") as pool:
        try:
            for name in names:
                pending.append(pool.submit(coded, name))
                if len(pending) >= THREADS:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _candidates(store: Store, present: list[str]) -> np.ndarray | None:
    """The rows whose values repeat in the cheapest columns (up to three, until at most half are
    left), as ops_rows.duplicated screens them; None: every row."""
    if len(present) < 2 or store.rows == 0:
        return None
    cheap = sorted(present, key=lambda n: ops_rows.CHEAP_FIRST[type_name(pd.Series(dtype=store.dtypes[n]))])
    candidates: np.ndarray | None = None
    for name in cheap[:3]:
        column = store.load(name)
        fast = fast_rows.repeats(column.array)
        repeats = column.duplicated(keep=False).to_numpy() if fast is None else fast
        candidates = repeats if candidates is None else candidates & repeats
        if candidates.mean() <= 0.5:
            break
    return candidates


def _missing_frame(store: Store, how: str) -> pd.DataFrame:
    """Every column name over one shared mask column, missing exactly where the row is to go."""
    drop = None
    for name in store.names:
        gaps = store.load(name).isna().to_numpy()
        drop = gaps if drop is None else (drop | gaps if how == "any" else drop & gaps)
    drop = np.zeros(store.rows, dtype=bool) if drop is None else drop
    mask = pd.array(np.where(drop, None, True), dtype="boolean")
    return pd.DataFrame(dict.fromkeys(store.names, mask), index=labels(store.selection), copy=False)
