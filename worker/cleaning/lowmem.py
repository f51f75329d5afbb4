"""Clean a file larger than the worker's memory: the same steps and the same bytes out, a column at a time.

The in-memory path (reading.read_csv, engine.run, writing.write_csv) holds the whole typed
frame, about 5-9x the file. This path keeps the frame on disk instead, one Arrow IPC file
per column, and memory holds at most the columns one step touches:

1. ingest: pyarrow's streaming CSV reader (pandas' chunked reader for files pyarrow must
   not parse, see arrow_csv) writes each column's text to its own file, a block at a time;
   then each column is loaded alone and typed by reading.type_column, exactly as read_csv
   types it (whole-column rules: leading zeros, formats, ...), two at a time where both
   fit the budget.
2. steps: every step runs through the engine's own step function, on a frame of just the
   columns it reads, at full length, with the row labels of the in-memory frame, so whole-
   column steps (median, mode, sort, clip fences) and the report are exact. Rows are a
   *selection* (original row numbers in current order) that row steps replace; changed
   columns are written back. drop_duplicates combines per-column codes into one key
   column first (exact: equal keys <=> equal rows), drop_missing over all columns folds
   them into one mask; column steps run on an empty frame of the right types.
3. write: rows go out a block at a time (pyarrow's renderers, decided on whole columns,
   see arrow_write), byte for byte what writing.write_csv writes for the in-memory frame.

The peak is about the widest step's columns (twice, old and new), plus a block. A step
over many wide text columns at once (e.g. trim_whitespace on every text column of a
5M-row file) can still pass a small budget: the budget sets block sizes, how much typing
runs at once and the choice of path (:func:`fits_in_memory`); it is not a hard cap.
Freed memory is handed back to the system as the run goes (see _return_freed_memory).
Pure: no settings, no database (the caller passes the budget).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import contextlib
import dataclasses
import itertools
import shutil
import threading
import tempfile
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import arrow_csv, arrow_write, dates, reading
from .config import CleaningConfig, check_columns, validate_config
from .engine import run_step
from .errors import Cancelled, ReadError
from . import ops_rows
from .kinds import is_numeric, type_name
from .ops_common import pick_columns
from .ops_fill import default_columns as fill_columns
from .ops_text import text_columns
from .progress import OnProgress
from .report import Report, StepReport
from .sniff import SAMPLE_SIZE, sniff

MIB = 1 << 20
MIN_BLOCK_BYTES = MIB  # pyarrow's read blocks: a block must hold a whole row
COLUMN_OPS = ("rename_columns", "drop_columns", "select_columns", "normalize_column_names")
ROW_OPS = ("drop_duplicates", "drop_missing", "filter_rows", "sort")
# The in-memory path peaks at about this many times the file, plus the interpreter and libraries.
IN_MEMORY_FACTOR = 9
# Typing a column holds its text, the trimmed text and the result: about this many times its text file.
TYPING_FACTOR = 4
BASE_BYTES = 200 * MIB


class Unsupported(Exception):
    """This file or config needs the in-memory engine (the message says why); nothing was written."""


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
    _return_freed_memory()
    work = Path(tempfile.mkdtemp(prefix="lowmem-", dir=folder))
    try:
        store, types, formats, encoding, delimiter = _ingest(Path(source), work, budget_bytes, on_progress)
        check_columns(config, store.names, types)
        rows_in = store.rows
        reports = _run_steps(store, config, formats, should_stop, on_progress)
        formats = reports.date_formats
        rows = block_rows or block_rows_for(budget_bytes, Path(source).stat().st_size / max(rows_in, 1))
        head = _write(store, Path(target), formats, rows, parquet, preview_rows, should_stop, on_progress)
        report = Report(rows_in=rows_in, rows_out=store.rows, steps=reports.steps, date_formats=formats)
        return Result(report=report, types=types, encoding=encoding, delimiter=delimiter, head=head)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _return_freed_memory() -> None:
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


# The column store ----------------------------------------------------------------------------


class _Store:
    """Columns on disk (one IPC file each), their current names and order, and the row selection."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[str, tuple[Path, int]] = {}  # name -> (file, id of the selection it is aligned to)
        self.dtypes: dict[str, Any] = {}
        self.selection = np.zeros(0, dtype=np.int64)
        self.selection_id = 0
        self._selections: dict[int, tuple[Path, str]] = {}
        self._inverse: tuple[int, np.ndarray] | None = None
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
        path = self._new_path()
        try:
            table = pa.Table.from_pandas(column.rename("v").to_frame(), preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise Unsupported(f"column {name!r} ({column.dtype}) cannot be kept on disk: {exc}") from exc
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        old = self.files.get(name)
        self.files[name] = (path, self.selection_id)
        self.dtypes[name] = column.dtype
        if old is not None:
            old[0].unlink(missing_ok=True)

    def load(self, name: str, positions: np.ndarray | None = None) -> pd.Series:
        """The column at ``positions`` (original row numbers; the whole selection by default), labelled by them."""
        path, aligned = self.files[name]
        positions = self.selection if positions is None else positions
        index = self._index(aligned, positions)
        if index is None:  # the whole column, in order: read it into memory
            with pa.OSFile(str(path)) as source:
                series = pa.ipc.open_file(source).read_all().to_pandas().iloc[:, 0]
        else:  # some rows: map the file and copy out just those (take() allocates)
            with pa.memory_map(str(path)) as source:
                series = pa.ipc.open_file(source).read_all().take(index).to_pandas().iloc[:, 0]
        return pd.Series(series.array, index=pd.Index(positions), name=name, copy=False)

    def frame(self, names: list[str], positions: np.ndarray | None = None) -> pd.DataFrame:
        index = pd.Index(self.selection if positions is None else positions)
        columns = {name: self.load(name, positions) for name in names}
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

    def _select(self, positions: np.ndarray) -> None:
        self.selection_id += 1
        self.selection = positions
        kind = "ordered" if len(positions) < 2 or bool((np.diff(positions) > 0).all()) else "any"
        if self.selection_id == 1:
            kind = "identity"  # arange(rows): a position is its own index
        path = self._new_path(".npy")
        np.save(path, positions)
        self._selections[self.selection_id] = (path, kind)

    def _index(self, aligned: int, positions: np.ndarray) -> np.ndarray | None:
        """Where ``positions`` sit in a column written under selection ``aligned`` (None: exactly there).

        Selections only lose rows or change their order, so every position is there. Most are
        in increasing order (no sort step yet): a binary search finds them without more memory.
        """
        if aligned == self.selection_id and positions is self.selection:
            return None
        path, kind = self._selections[aligned]
        if kind == "identity":
            return positions
        if self._inverse is None or self._inverse[0] != aligned:
            then = self.selection if aligned == self.selection_id else np.load(path)
            if kind == "ordered":
                lookup = then
            else:
                lookup = np.full(int(then.max()) + 1 if len(then) else 0, -1, dtype=np.int64)
                lookup[then] = np.arange(len(then), dtype=np.int64)
            self._inverse = (aligned, lookup)
        lookup = self._inverse[1]
        return np.searchsorted(lookup, positions) if kind == "ordered" else lookup[positions]

    def _new_path(self, suffix: str = ".arrow") -> Path:
        self._count += 1
        return self.folder / f"{self._count}{suffix}"


# 1. ingest ---------------------------------------------------------------------------------------


def _ingest(
    path: Path, work: Path, budget_bytes: int, on_progress: OnProgress | None
) -> tuple[_Store, dict[str, str], dict[str, str], str, str]:
    with path.open("rb") as handle:
        sniffed = sniff(handle.read(SAMPLE_SIZE))
    texts = work / "text"
    texts.mkdir()
    # Small blocks: pyarrow holds several in flight per thread, and larger ones parse no faster here.
    block_bytes = int(min(max(budget_bytes // 512, MIN_BLOCK_BYTES), 4 * MIB))
    encoding = sniffed.encoding
    header = None
    if encoding == "utf-8":  # pyarrow checks the UTF-8 as it parses (see reading.read_csv)
        header = _arrow_text(path, sniffed.delimiter, encoding, texts, block_bytes, on_progress)
    if header is None:
        encoding = reading.confirm_encoding(path, sniffed.encoding, on_progress)
        if encoding != "utf-8":
            header = _arrow_text(path, sniffed.delimiter, encoding, texts, block_bytes, on_progress)
    if header is None:
        header = _pandas_text(path, sniffed.delimiter, encoding, texts, block_bytes)
    store = _Store(work)
    types: dict[str, str] = {}
    formats: dict[str, str] = {}
    done = itertools.count(1)
    lock = threading.Lock()

    room = _Room(budget_bytes - BASE_BYTES)

    def type_one(name: str, file: Path) -> None:
        with room.taking(TYPING_FACTOR * file.stat().st_size):
            _type_one(name, file)

    def _type_one(name: str, file: Path) -> None:
        raw = _load_text(file)
        column, kind, fmt = reading.type_column(raw)
        del raw
        file.unlink()
        with lock:
            if store.rows == 0 and store.selection_id == 0:
                store.start(len(column))
            store.save(name, column)
            types[name] = kind
            if fmt:
                formats[name] = fmt
        del column
        _return_freed_memory()
        if on_progress is not None:
            on_progress("type", next(done), len(header))

    # Two columns at a time where both fit the budget: pyarrow's kernels release the GIL.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="lowmem-type") as pool:
        list(pool.map(lambda item: type_one(*item), header))
    store.files = {name: store.files[name] for name, _ in header}  # the file's column order
    store.dtypes = {name: store.dtypes[name] for name, _ in header}
    if store.selection_id == 0:
        store.start(0)
    return store, types, formats, encoding, sniffed.delimiter


class _Room:
    """Bytes of the budget that concurrent work may take: a taker waits until its share fits
    (or nothing else runs, so a share larger than the room still goes, alone)."""

    def __init__(self, size: int) -> None:
        self.size, self.taken = size, 0
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def taking(self, share: int) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self.taken == 0 or self.taken + share <= self.size)
            self.taken += share
        try:
            yield
        finally:
            with self._changed:
                self.taken -= share
                self._changed.notify_all()


def _arrow_text(
    path: Path, delimiter: str, encoding: str, folder: Path, block_bytes: int, on_progress: OnProgress | None
) -> list[tuple[str, Path]] | None:
    """Each column's text into its own file by pyarrow's streaming reader, or None where pandas must read."""
    if not arrow_csv.plain(path):
        return None
    try:
        source = arrow_csv.CountingFile(path, on_progress) if on_progress else str(path)
        reader = pacsv.open_csv(source, **arrow_csv.options(delimiter, encoding, block_bytes))
        with _TextFiles(folder) as files:
            for batch in reader:
                if files.header is None:
                    header = [batch.column(i)[0].as_py() if batch.num_rows else None for i in range(batch.num_columns)]
                    if not arrow_csv.header_ok(header):
                        return None
                    files.open(header)
                    batch = batch.slice(1)
                files.write([batch.column(i) for i in range(batch.num_columns)])
            return files.finished()
    except (pa.ArrowInvalid, UnicodeError, LookupError):
        return None


def _pandas_text(path: Path, delimiter: str, encoding: str, folder: Path, block_bytes: int) -> list[tuple[str, Path]]:
    """Each column's text into its own file by pandas' chunked parser (quotes, lone CRs, odd headers)."""
    rows = max(block_bytes // 64, 2)
    with warnings.catch_warnings(), _TextFiles(folder) as files:
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            reader = pd.read_csv(path, sep=delimiter, encoding=encoding, dtype=str, index_col=False, chunksize=rows)
            for chunk in reader:
                if files.header is None:
                    files.open([str(c) for c in chunk.columns])
                files.write([pa.array(chunk[c].array, type=pa.large_string()) for c in chunk.columns])
        except pd.errors.EmptyDataError as exc:
            raise ReadError("the file is empty: it has no header row") from exc
        except pd.errors.ParserWarning as exc:
            raise ReadError("the first row after the header has more fields than the header") from exc
        except pd.errors.ParserError as exc:
            raise ReadError(reading.parser_message(exc)) from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise ReadError(f"the file is not a readable CSV: {exc}") from exc
        return files.finished()


class _TextFiles:
    """One IPC file of large_string per column, appended to a block at a time."""

    SCHEMA = pa.schema([("v", pa.large_string())])

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.header: list[str] | None = None
        self._writers: list[Any] = []
        self._sinks: list[Any] = []

    def __enter__(self) -> _TextFiles:
        return self

    def __exit__(self, *_: object) -> None:
        self._close()

    def open(self, header: list[str]) -> None:
        self.header = header
        for i in range(len(header)):
            sink = pa.OSFile(str(self.folder / f"{i}.arrow"), "wb")
            self._sinks.append(sink)
            self._writers.append(pa.ipc.new_file(sink, self.SCHEMA))

    def write(self, columns: list[pa.Array]) -> None:
        for writer, values in zip(self._writers, columns, strict=True):
            writer.write_batch(pa.record_batch([values.cast(pa.large_string())], schema=self.SCHEMA))

    def finished(self) -> list[tuple[str, Path]]:
        self._close()
        assert self.header is not None
        return [(name, self.folder / f"{i}.arrow") for i, name in enumerate(self.header)]

    def _close(self) -> None:
        for writer in self._writers:
            writer.close()
        for sink in self._sinks:
            sink.close()
        self._writers, self._sinks = [], []


def _load_text(path: Path) -> pd.Series:
    with pa.OSFile(str(path)) as source:
        values = pa.ipc.open_file(source).read_all().column(0)
    return pd.Series(pd.array(values, dtype=arrow_csv.TEXT) if values.num_chunks else pd.array([], dtype=arrow_csv.TEXT))


# 2. steps ----------------------------------------------------------------------------------------


def _run_steps(
    store: _Store,
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
        _return_freed_memory()
        formats = dates.follow(formats, step, before, store.schema())
        reports.append(dataclasses.replace(report, step=number))
        if on_progress is not None:
            on_progress("step", number, total)
    return Report(rows_in=0, rows_out=store.rows, steps=reports, date_formats=formats)


def _step(store: _Store, step: Any, number: int) -> StepReport:
    rows = store.rows
    schema = store.schema()
    if step.op in COLUMN_OPS:
        out, report = run_step(schema, step, number)
        renamed = step.op in ("rename_columns", "normalize_column_names")
        store.reshape(list(schema.columns), [str(c) for c in out.columns], renamed)
        return dataclasses.replace(report, rows_before=rows, rows_after=rows)
    if step.op == "drop_duplicates":
        frame = _key_frame(store, step.subset or store.names)
    elif step.op == "drop_missing" and step.columns is None:
        frame = _missing_frame(store, step.how)
    else:
        frame = store.frame(_reads(step, schema))
    out, report = run_step(frame, step, number)
    if step.op in ROW_OPS:
        store.select(out.index.to_numpy(dtype=np.int64))
    else:
        for name in frame.columns:
            store.save(str(name), out[name])
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


def _key_frame(store: _Store, names: list[str]) -> pd.DataFrame:
    """A frame with the step's column names whose first column holds one key per distinct row (the others 0).

    As in ops_rows.duplicated, only rows whose value repeats in a cheap column can be anyone's
    duplicate: they get keys from every column's codes (combined exactly, re-coded before
    they could overflow); every other row gets a key of its own (negative, so none collide).
    """
    present = [name for name in names if name in store.files]
    candidates = np.ones(store.rows, dtype=bool)
    cheap = sorted(present, key=lambda n: ops_rows.CHEAP_FIRST[type_name(pd.Series(dtype=store.dtypes[n]))])
    if len(present) > 1 and cheap:
        candidates = store.load(cheap[0]).duplicated(keep=False).to_numpy()
    positions = store.selection[candidates]
    key = np.zeros(len(positions), dtype=np.int64)
    kinds = 1
    for name in present:
        codes, uniques = pd.factorize(store.load(name, positions).array)
        width = len(uniques) + 1  # code -1 (missing) becomes 0
        if kinds * width >= 2**62:
            key, uniques_of_key = pd.factorize(key)
            kinds = len(uniques_of_key)
        key = key * width + (codes.astype(np.int64) + 1)
        kinds *= width
    full = -np.arange(1, store.rows + 1, dtype=np.int64)
    full[candidates] = key
    zeros = np.zeros(store.rows, dtype=np.int8)
    columns = {name: (full if i == 0 else zeros) for i, name in enumerate(present)}
    return pd.DataFrame(columns, index=pd.Index(store.selection), copy=False)


def _missing_frame(store: _Store, how: str) -> pd.DataFrame:
    """Every column name over one shared mask column, missing exactly where the row is to go."""
    drop = None
    for name in store.names:
        gaps = store.load(name).isna().to_numpy()
        drop = gaps if drop is None else (drop | gaps if how == "any" else drop & gaps)
    drop = np.zeros(store.rows, dtype=bool) if drop is None else drop
    mask = pd.array(np.where(drop, None, True), dtype="boolean")
    return pd.DataFrame(dict.fromkeys(store.names, mask), index=pd.Index(store.selection), copy=False)


# 3. write ----------------------------------------------------------------------------------------


def _write(
    store: _Store,
    target: Path,
    formats: dict[str, str],
    block_rows: int,
    parquet: Path | None,
    preview_rows: int,
    should_stop: Callable[[], bool] | None,
    on_progress: OnProgress | None,
) -> pd.DataFrame:
    names = store.names
    decided, renderers = _renderers(store, formats)
    head = store.frame(names, store.selection[:preview_rows])
    with Path(target).open("wb") as handle, _Parquet(parquet) as parquet_out:
        handle.write(arrow_write.header_line(store.schema()).encode("utf-8"))
        for start in range(0, store.rows, block_rows):
            if should_stop is not None and should_stop():
                raise Cancelled("stopped on request while the result was being written")
            block = store.frame(names, store.selection[start : start + block_rows])
            parquet_out.write(block)
            arrow_write.write_rows(handle, dates.apply_formats(block, decided), renderers)
            if on_progress is not None:
                on_progress("write", min(start + block_rows, store.rows), store.rows)
        if store.rows == 0:
            parquet_out.write(store.schema())
    return head


def _renderers(store: _Store, formats: dict[str, str]) -> tuple[dict[str, str], list[arrow_write.Renderer]]:
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

    def write(self, block: pd.DataFrame) -> None:
        if self.path is None:
            return
        table = pa.Table.from_pandas(block, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(str(self.path), table.schema)
        self._writer.write_table(table.cast(self._writer.schema))

    def __exit__(self, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()
