"""The low-memory path's column store: one Arrow IPC file per column, and the row selection.

Columns are written under the selection current when they were saved; a load maps the
selection wanted onto the one the file was written under (see :meth:`Store.rows_in`), so
a row step never rewrites the columns it does not read. Also how the path hands freed
memory back to the system (:func:`return_freed_memory`). See lowmem.py for the design.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa


T = TypeVar("T")


class Unsupported(Exception):
    """This file or config needs the in-memory engine (the message says why); nothing was written."""


def return_freed_memory() -> None:
    """Give freed memory back to the system: this path frees a column per step, and memory an
    allocator keeps for reuse counts in the process's resident size all the same. pyarrow's
    allocations go to the system allocator from here on (mimalloc, its default, keeps freed
    pages; a process-wide setting, harmless for the in-memory path), and glibc's heap is
    trimmed, here and after every column and step."""
    if _LIBC is not None:
        if pa.default_memory_pool().backend_name != "system":
            pa.set_memory_pool(pa.system_memory_pool())
        _LIBC.malloc_trim(0)


def _find_libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return None
    return libc


_LIBC = _find_libc()


def each(work: Callable[[Any], T], items: list[Any], threads: int) -> list[T]:
    """``[work(item) for item in items]``, by up to ``threads`` threads (pyarrow's kernels and file
    writes release the GIL)."""
    if threads < 2 or len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="lowmem") as pool:
        return list(pool.map(work, items))


def _write(name: str, column: pd.Series, path: Path) -> None:
    try:
        table = pa.Table.from_pandas(column.rename("v").to_frame(), preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise Unsupported(f"column {name!r} ({column.dtype}) cannot be kept on disk: {exc}") from exc
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def labels(positions: np.ndarray) -> pd.Index:
    """The row labels of a frame at ``positions``, sharing their memory (a selection is never changed in place)."""
    return pd.Index(positions, copy=False)


class Store:
    """Columns on disk (one IPC file each), their current names and order, and the row selection.

    Loads may run in several threads at once (the writer's); everything else runs in one.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, tuple[Path, int]] = {}  # name -> (file, id of the selection it is aligned to)
        self.dtypes: dict[str, Any] = {}
        self.selection = np.zeros(0, dtype=np.int64)
        self.selection_id = 0
        self._selections: dict[int, tuple[Path, str]] = {}
        self._inverse: tuple[int, np.ndarray] | None = None
        self._inverse_lock = threading.Lock()
        self._count = 0

    @property
    def names(self) -> list[str]:
        return list(self.files)

    @property
    def rows(self) -> int:
        return len(self.selection)

    def start(self, rows: int) -> None:
        self._select(np.arange(rows, dtype=np.int64))

    def schema(self) -> pd.DataFrame:
        """An empty frame with the current columns and their types."""
        return pd.DataFrame({name: pd.Series(dtype=self.dtypes[name]) for name in self.files}, copy=False)

    def save(self, name: str, column: pd.Series) -> None:
        self.save_all({name: column})

    def save_all(self, columns: dict[str, pd.Series], threads: int = 1) -> None:
        """Write the columns (replacing their files), up to ``threads`` at once."""
        paths = {name: self._new_path() for name in columns}
        each(lambda name: _write(name, columns[name], paths[name]), list(columns), threads)
        for name, column in columns.items():
            old = self.files.get(name)
            self.files[name] = (paths[name], self.selection_id)
            self.dtypes[name] = column.dtype
            if old is not None:
                old[0].unlink(missing_ok=True)

    def load(self, name: str, positions: np.ndarray | None = None) -> pd.Series:
        """The column at ``positions`` (original row numbers; the whole selection by default), labelled by them."""
        positions = self.selection if positions is None else positions
        return self._load(name, labels(positions), self.rows_in(self.files[name][1], positions))

    def frame(self, names: list[str], positions: np.ndarray | None = None, threads: int = 1) -> pd.DataFrame:
        """The columns at ``positions`` (as :meth:`load`), up to ``threads`` loaded at once; each
        file's rows are looked up once per selection."""
        positions = self.selection if positions is None else positions
        index = labels(positions)
        found: dict[int, np.ndarray | None] = {}
        for name in names:
            aligned = self.files[name][1]
            if aligned not in found:
                found[aligned] = self.rows_in(aligned, positions)
        loaded = each(lambda name: self._load(name, index, found[self.files[name][1]]), names, threads)
        columns = dict(zip(names, loaded, strict=True))
        return pd.DataFrame(columns, index=index, copy=False) if columns else pd.DataFrame(index=index)

    def select(self, positions: np.ndarray) -> None:
        if len(positions) != len(self.selection) or not np.array_equal(positions, self.selection):
            self._select(np.asarray(positions, dtype=np.int64))

    def reshape(self, before: list[str], after: list[str], renamed: bool) -> None:
        """After a column step: ``renamed`` pairs the names by position, else ``after`` keeps some of ``before``."""
        if renamed:
            self.files = {new: self.files[old] for old, new in zip(before, after, strict=True)}
            self.dtypes = {new: self.dtypes[old] for old, new in zip(before, after, strict=True)}
            return
        for name in set(before) - set(after):
            self.files.pop(name)[0].unlink(missing_ok=True)
        self.files = {name: self.files[name] for name in after}
        self.dtypes = {name: self.dtypes[name] for name in after}

    def rows_in(self, aligned: int, positions: np.ndarray) -> np.ndarray | None:
        """Where ``positions`` sit in a column written under selection ``aligned`` (None: exactly there).

        Selections only lose rows or change their order, so every position is there. Most are
        in increasing order (no sort step yet): a binary search finds them without more memory.
        """
        if aligned == self.selection_id and positions is self.selection:
            return None
        path, kind = self._selections[aligned]
        if kind == "identity":
            return positions
        with self._inverse_lock:
            if self._inverse is None or self._inverse[0] != aligned:
                self._inverse = (aligned, self._lookup(aligned, path, kind))
            lookup = self._inverse[1]
        return np.searchsorted(lookup, positions) if kind == "ordered" else lookup[positions]

    def _lookup(self, aligned: int, path: Path, kind: str) -> np.ndarray:
        then = self.selection if aligned == self.selection_id else np.load(path)
        if kind == "ordered":
            return then
        lookup = np.full(int(then.max()) + 1 if len(then) else 0, -1, dtype=np.int64)
        lookup[then] = np.arange(len(then), dtype=np.int64)
        return lookup

    def _load(self, name: str, labelled: pd.Index, rows: np.ndarray | None) -> pd.Series:
        path = self.files[name][0]
        if rows is None:  # the whole column, in order: read it into memory
            with pa.OSFile(str(path)) as source:
                series = pa.ipc.open_file(source).read_all().to_pandas().iloc[:, 0]
        else:  # some rows: map the file and copy out just those (take() allocates)
            with pa.memory_map(str(path)) as source:
                series = pa.ipc.open_file(source).read_all().take(rows).to_pandas().iloc[:, 0]
        return pd.Series(series.array, index=labelled, name=name, copy=False)

    def _select(self, positions: np.ndarray) -> None:
        self.selection_id += 1
        self.selection = positions
        kind = "ordered" if len(positions) < 2 or bool((np.diff(positions) > 0).all()) else "any"
        if self.selection_id == 1:
            kind = "identity"  # arange(rows): a position is its own index
        path = self._new_path(".npy")
        np.save(path, positions)
        self._selections[self.selection_id] = (path, kind)

    def _new_path(self, suffix: str = ".arrow") -> Path:
        self._count += 1
        return self.folder / f"{self._count}{suffix}"
