"""The low-memory path's first phase: the file into one text file per column, then each column typed.

pyarrow's streaming reader (pandas' chunked reader for files pyarrow must not parse, see
arrow_csv) writes each column's text to its own files a block at a time. A plain UTF-8 file
(no quotes, no lone CR: a line end always ends a row) is cut at line ends into segments
read by a thread each, one streaming reader per segment (a reader parses on about one core),
each writing its own files; a column is then its segments' files in order. Each column is
then loaded alone and typed by reading.type_column, exactly as read_csv types it, two at a
time where both fit the budget.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import shutil
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from . import arrow_csv, reading
from .errors import ReadError
from .lowmem_store import Store, return_freed_memory
from .progress import OnProgress
from .sniff import SAMPLE_SIZE, sniff

MIB = 1 << 20
# Typing a column holds its text, the trimmed text and the result: about this many times its text files.
TYPING_FACTOR = 4
# A file is cut into this many segments, each parsed by its own thread (the worker has two cores) ...
SEGMENTS = 2
# ... from this size on (below it a segment is a few blocks: threads only add hand-offs).
SEGMENT_BYTES = 16 * MIB

Columns = list[tuple[str, list[Path]]]  # per column: its name and its text files, in row order


def ingest(
    path: Path, work: Path, room_bytes: int, block_bytes: int, on_progress: OnProgress | None
) -> tuple[Store, dict[str, str], dict[str, str], str, str]:
    """The file's columns typed into a Store under ``work``; with the types, formats, encoding and delimiter."""
    with path.open("rb") as handle:
        sniffed = sniff(handle.read(SAMPLE_SIZE))
    texts = work / "text"
    texts.mkdir()
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
    store, types, formats = _typed(header, Store(work), room_bytes, on_progress)
    return store, types, formats, encoding, sniffed.delimiter


def _typed(
    header: Columns, store: Store, room_bytes: int, on_progress: OnProgress | None
) -> tuple[Store, dict[str, str], dict[str, str]]:
    types: dict[str, str] = {}
    formats: dict[str, str] = {}
    done = itertools.count(1)
    lock = threading.Lock()
    room = Room(room_bytes)

    def type_one(name: str, files: list[Path]) -> None:
        with room.taking(TYPING_FACTOR * sum(file.stat().st_size for file in files)):
            raw = _load_text(files)
            column, kind, fmt = reading.type_column(raw)
            del raw
            for file in files:
                file.unlink()
            with lock:
                if store.selection_id == 0:
                    store.start(len(column))
                store.save(name, column)
                types[name] = kind
                if fmt:
                    formats[name] = fmt
            del column
            return_freed_memory()
        if on_progress is not None:
            on_progress("type", next(done), len(header))

    # Two columns at a time where both fit the budget: pyarrow's kernels release the GIL.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="lowmem-type") as pool:
        list(pool.map(lambda item: type_one(*item), header))
    store.files = {name: store.files[name] for name, _ in header}  # the file's column order
    store.dtypes = {name: store.dtypes[name] for name, _ in header}
    if store.selection_id == 0:
        store.start(0)
    return store, types, formats


class Room:
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
) -> Columns | None:
    """Each column's text into its own files by pyarrow's streaming reader, or None where pandas must read."""
    if not arrow_csv.plain(path):
        return None
    # Only in UTF-8 is every "\n" byte a line end (and only there is there no state to carry over).
    bounds = segments(path, SEGMENTS if encoding == "utf-8" else 1, SEGMENT_BYTES)
    progress = _Progress(path.stat().st_size, on_progress)
    folders = [folder / f"arrow-{i}" for i in range(len(bounds))]
    try:
        with ThreadPoolExecutor(max_workers=len(bounds), thread_name_prefix="lowmem-parse") as pool:
            parts = list(
                pool.map(
                    lambda i: _parse_segment(path, bounds[i], i == 0, delimiter, encoding, folders[i], block_bytes, progress),
                    range(len(bounds)),
                )
            )
    except (pa.ArrowInvalid, UnicodeError, LookupError):
        parts = [None]
    header = parts[0]
    # A later segment read as other than the header's width: pandas decides (as read_csv would).
    if header is None or any(part is None or len(part) != len(header) for part in parts):
        for used in folders:
            shutil.rmtree(used, ignore_errors=True)
        return None
    return [(name, [part[i][1][0] for part in parts]) for i, (name, _) in enumerate(header)]


def segments(path: Path, count: int, least_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges of ``path`` (up to ``count``, each at least about ``least_bytes``), each ending at a line end."""
    size = path.stat().st_size
    count = max(1, min(count, size // max(least_bytes, 1)))
    bounds = [0]
    with path.open("rb") as handle:
        for k in range(1, count):
            handle.seek(max(size * k // count, bounds[-1]))
            cut = _next_line_start(handle)
            if cut is None or cut >= size:
                break
            bounds.append(cut)
    bounds.append(size)
    return [(start, end) for start, end in itertools.pairwise(bounds) if end > start]


def _next_line_start(handle: io.BufferedReader) -> int | None:
    """The offset just past the next "\\n" from the handle's position, or None when there is none."""
    offset = handle.tell()
    while block := handle.read(MIB):
        found = block.find(b"\n")
        if found >= 0:
            return offset + found + 1
        offset += len(block)
    return None


def _parse_segment(
    path: Path,
    bounds: tuple[int, int],
    first: bool,
    delimiter: str,
    encoding: str,
    folder: Path,
    block_bytes: int,
    progress: _Progress,
) -> Columns | None:
    """One segment's columns into files of their own; the first segment's header row names them
    (None: pandas would read that header otherwise). A later segment's columns are named by position."""
    folder.mkdir()
    with _Range(path, bounds, progress) as source, _TextFiles(folder) as files:
        for batch in pacsv.open_csv(source, **arrow_csv.options(delimiter, encoding, block_bytes)):
            if files.header is None:
                if first:
                    header = [batch.column(i)[0].as_py() if batch.num_rows else None for i in range(batch.num_columns)]
                    if not arrow_csv.header_ok(header):
                        return None
                    batch = batch.slice(1)
                else:
                    header = [str(i) for i in range(batch.num_columns)]
                files.open(header)
            files.write([batch.column(i) for i in range(batch.num_columns)])
        return files.finished()


class _Progress:
    """``on_progress("parse", bytes read, size)``, summed over the segments' threads."""

    def __init__(self, size: int, on_progress: OnProgress | None) -> None:
        self.size, self.done, self.on_progress = size, 0, on_progress
        self._lock = threading.Lock()

    def read(self, count: int) -> None:
        if self.on_progress is None:
            return
        with self._lock:
            self.done += count
            self.on_progress("parse", self.done, self.size)


class _Range(io.RawIOBase):
    """The bytes ``bounds`` of a file, as a file of their own (pyarrow reads it block by block)."""

    def __init__(self, path: Path, bounds: tuple[int, int], progress: _Progress) -> None:
        self._handle = path.open("rb", buffering=0)
        self._handle.seek(bounds[0])
        self._left = bounds[1] - bounds[0]
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")[: self._left]
        count = (self._handle.readinto(view) or 0) if len(view) else 0
        self._left -= count
        self._progress.read(count)
        return count

    def close(self) -> None:
        self._handle.close()
        super().close()


def _pandas_text(path: Path, delimiter: str, encoding: str, folder: Path, block_bytes: int) -> Columns:
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

    def finished(self) -> Columns:
        self._close()
        assert self.header is not None
        return [(name, [self.folder / f"{i}.arrow"]) for i, name in enumerate(self.header)]

    def _close(self) -> None:
        for writer in self._writers:
            writer.close()
        for sink in self._sinks:
            sink.close()
        self._writers, self._sinks = [], []


def _load_text(files: list[Path]) -> pd.Series:
    chunks = []
    for file in files:
        with pa.OSFile(str(file)) as source:
            chunks.extend(pa.ipc.open_file(source).read_all().column(0).chunks)
    if not chunks:
        return pd.Series(pd.array([], dtype=arrow_csv.TEXT))
    return pd.Series(pd.array(pa.chunked_array(chunks, pa.large_string()), dtype=arrow_csv.TEXT))
