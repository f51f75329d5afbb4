"""The low-memory path's last phase: the rows out a block at a time, byte for byte writing.write_csv's.

Renderers are decided on whole columns (see arrow_write); blocks are loaded and rendered by
two threads (pyarrow's takes and kernels release the GIL) and written in order, no more
than two blocks held at once.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import arrow_write, dates
from .errors import Cancelled
from .lowmem_store import Store, Unsupported
from .progress import OnProgress

THREADS = 2


def write(
    store: Store,
    target: Path,
    formats: dict[str, str],
    block_rows: int,
    parquet: Path | None,
    preview_rows: int,
    should_stop: Callable[[], bool] | None,
    on_progress: OnProgress | None,
) -> pd.DataFrame:
    """The CSV (and the Parquet file when asked) of the store's rows; answers the first ``preview_rows``."""
    names = store.names
    decided, renderers = _renderers(store, formats)
    head = store.frame(names, store.selection[:preview_rows])

    def rendered(start: int) -> tuple[pa.Table | None, memoryview]:
        block = store.frame(names, store.selection[start : start + block_rows])
        table = parquet_out.table(block)
        lines = _Lines()
        arrow_write.write_rows(lines, dates.apply_formats(block, decided), renderers)
        return table, lines.data

    pending: collections.deque[tuple[int, Future[tuple[pa.Table | None, memoryview]]]] = collections.deque()

    def written() -> None:
        end, future = pending.popleft()
        table, lines = future.result()
        parquet_out.write(table)
        handle.write(lines)
        if on_progress is not None:
            on_progress("write", end, store.rows)

    with (
        Path(target).open("wb") as handle,
        _Parquet(parquet) as parquet_out,
        ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="lowmem-write") as pool,
    ):
        try:
            handle.write(arrow_write.header_line(store.schema()).encode("utf-8"))
            for start in range(0, store.rows, block_rows):
                if should_stop is not None and should_stop():
                    raise Cancelled("stopped on request while the result was being written")
                while len(pending) >= THREADS:
                    written()
                pending.append((min(start + block_rows, store.rows), pool.submit(rendered, start)))
            while pending:
                written()
        finally:
            for _, future in pending:
                future.cancel()
        if store.rows == 0:
            parquet_out.write(parquet_out.table(store.schema()))
    return head


class _Lines:
    """What arrow_write.write_rows writes (one buffer a block), kept to be written later, in order."""

    data = memoryview(b"")

    def write(self, data: memoryview) -> None:
        self.data = data


def _renderers(store: Store, formats: dict[str, str]) -> tuple[dict[str, str], list[arrow_write.Renderer]]:
    """Per column: whether it is written by its format, and its renderer, each decided on the whole column."""
    names = store.names
    if len(names) < 2:
        raise Unsupported("a result of one column is written by pandas")
    decided: dict[str, str] = {}
    renderers = []
    for name in names:
        dtype = store.dtypes[name]
        column = store.load(name) if pd.api.types.is_datetime64_any_dtype(dtype) else pd.Series(dtype=dtype)
        if name in formats and dates.needs_strftime(column, formats[name]):
            decided[name] = formats[name]
            column = column.head(0).dt.strftime(formats[name])
        renderer = arrow_write.column_renderer(column)
        if renderer is None:
            raise Unsupported(f"column {name!r} ({dtype}) is written by pandas")
        renderers.append(renderer)
    return decided, renderers


class _Parquet:
    """Blocks appended to one Parquet file with the in-memory writer's schema (pandas' own metadata)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> _Parquet:
        return self

    def table(self, block: pd.DataFrame) -> pa.Table | None:
        """The block as the Parquet file takes it (None when no file is asked for); any thread."""
        return None if self.path is None else pa.Table.from_pandas(block, preserve_index=False)

    def write(self, table: pa.Table | None) -> None:
        if table is None or self.path is None:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(str(self.path), table.schema)
        self._writer.write_table(table.cast(self._writer.schema))

    def __exit__(self, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()
