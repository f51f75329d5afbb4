"""Helpers shared by the step functions: picking columns, counting changes, wording reports."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import StepError
from . import arrow_text
from .frame_columns import column_array, column_arrays, frame_of
from .kinds import type_name
from .report import StepReport, json_safe


def pick_columns(
    df: pd.DataFrame, op: str, requested: Iterable[str] | None, default: Callable[[pd.Series], bool]
) -> list[str]:
    """The columns named (all must exist), or every column ``default`` accepts when none are named."""
    if requested is None:
        return [name for name in df.columns if default(df[name])]
    names = list(requested)
    require_columns(df, op, names)
    return names


def require_columns(df: pd.DataFrame, op: str, names: Iterable[str]) -> None:
    for name in names:
        if name not in df.columns:
            raise StepError(None, op, f"no column {name!r}")


def require_type(df: pd.DataFrame, op: str, names: list[str], ok: Callable[[pd.Series], bool], need: str) -> None:
    """``ok`` (a test of the column's dtype, such as is_numeric: it is given the column's array,
    which has the Series' dtype) must accept every named column."""
    for name in names:
        values = column_array(df, name)
        if not ok(values):
            raise StepError(None, op, f"column {name!r} holds {type_name(values)} values; {need}")


PARALLEL_ROWS = 50_000
THREADS = max(1, min(2, os.cpu_count() or 1))
SPARSE_SHARE = 0.6


def take_rows(df: pd.DataFrame, keep: np.ndarray | pd.Series) -> pd.DataFrame:
    """``df[keep]`` for a bool mask over the rows (a Series must carry ``df``'s own index), each
    column taken by its array's own kernel (by THREADS threads on a large frame: pyarrow's and
    numpy's takes run outside the GIL): the same frame, in about half the time of ``df.take``
    (whose take of an arrow-backed column costs ~90 us of checks on a small frame). A mask
    keeping every row costs nothing."""
    if isinstance(keep, pd.Series) and not (keep.index is df.index or keep.index.equals(df.index)):
        return df[keep]  # pandas aligns it on the index
    mask = keep.to_numpy(dtype=bool) if isinstance(keep, pd.Series) else np.asarray(keep, dtype=bool)
    if len(mask) != len(df) or mask.ndim != 1:
        return df[keep]
    if mask.all() and type(df.index) in (pd.RangeIndex, pd.Index):
        return df.copy(deep=False)  # every row kept: df[keep] holds the same values and index
    positions = np.flatnonzero(mask)
    arrays = column_arrays(df)
    if len(df.columns) < 2 or arrays is None:
        return df.take(positions)  # what df[keep] does, without its checks
    # pyarrow's filter walks the whole mask, its take only the rows kept: take when they are few.
    sparse = len(positions) < SPARSE_SHARE * len(mask)
    select = pc.take if sparse else pc.filter
    arrow_rows: list[Any] = []  # made once, by the first arrow-backed column (under the lock)
    lock = threading.Lock()

    def rows_for_arrow() -> Any:
        with lock:
            if not arrow_rows:
                arrow_rows.append(pa.array(positions) if sparse else pa.array(mask))
            return arrow_rows[0]

    def taken(values: Any) -> Any:
        if isinstance(values, np.ndarray):
            return values[positions]
        data = arrow_text.chunks(values)
        if data is not None:
            return arrow_text.wrap(values, select(data, rows_for_arrow()))
        return values.take(positions)

    columns = map_columns(taken, arrays, len(df))
    return frame_of(columns, df.columns, df.index.take(positions)).__finalize__(df)


def map_columns(function: Callable[[Any], Any], items: list[Any], rows: int | None = None) -> list[Any]:
    """``[function(item) for item in items]`` (items: columns, or anything ``rows`` long), by THREADS
    threads when there are many rows: for functions made of pyarrow/numpy kernels, which run
    outside the GIL, each reading only its own item."""
    rows = len(items[0]) if rows is None and items else rows or 0
    if THREADS < 2 or len(items) < 2 or rows < PARALLEL_ROWS:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="columns") as pool:
        return list(pool.map(function, items))


def as_mask(condition: pd.Series) -> pd.Series:
    """A plain bool mask: a missing answer counts as False (pandas' mask() would treat NA as True)."""
    return pd.Series(condition.to_numpy(dtype=bool, na_value=False), index=condition.index)


def count_changed(before: pd.Series, after: pd.Series) -> int:
    """Cells (compared by position) whose value differs, or which became or stopped being missing.

    When the column changed type, values are compared as text, so 30 -> "30" is no change.
    """
    if type_name(before) != type_name(after):
        before, after = before.astype("str"), after.astype("str")
    if _arrow_text(before) and _arrow_text(after) and len(before) == len(after):
        # The same count, by pyarrow's kernels on the two columns' own arrays (no copies).
        old, new = pa.array(before.array), pa.array(after.array)
        flips = pc.sum(pc.xor(pc.is_null(old), pc.is_null(new))).as_py() or 0
        return int(flips + (pc.sum(pc.not_equal(old, new)).as_py() or 0))  # not_equal: null unless both present
    was, now = before.isna().to_numpy(), after.isna().to_numpy()
    # Compared array to array (by position, never aligned on the index), in the columns' own types.
    differ = before.array != after.array
    differ = differ.to_numpy(dtype=bool, na_value=True) if hasattr(differ, "to_numpy") else np.asarray(differ, dtype=bool)
    return int((was != now).sum() + np.count_nonzero(differ & ~was & ~now))


def _arrow_text(column: pd.Series) -> bool:
    return isinstance(column.dtype, pd.StringDtype) and column.dtype.storage == "pyarrow"


def changed_cells(before: pd.DataFrame, after: pd.DataFrame, names: Iterable[str]) -> dict[str, int]:
    names = list(names)
    pairs = [(before[name], after[name]) for name in names]
    counts = map_columns(lambda pair: count_changed(*pair), pairs, len(before))
    return {str(name): number for name, number in zip(names, counts, strict=True)}


def make_report(
    op: str,
    before: pd.DataFrame,
    after: pd.DataFrame,
    summary: str,
    cells: dict[str, int] | None = None,
    details: dict[str, Any] | None = None,
) -> StepReport:
    """A StepReport with step 0: the engine, which knows the step's number, fills it in."""
    return StepReport(
        step=0,
        op=op,
        rows_before=len(before),
        rows_after=len(after),
        cells_changed=cells or {},
        details=json_safe(details or {}),
        summary=summary,
    )


def scalar(value: Any) -> Any:
    """A pandas/numpy scalar as a plain Python value (None when missing)."""
    return None if _missing(value) else json_safe(value)


def show(value: Any) -> str:
    """A value as a report sentence quotes it: text in quotes, numbers as Python writes them."""
    if value is None:
        return "missing"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def names_text(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def count(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
