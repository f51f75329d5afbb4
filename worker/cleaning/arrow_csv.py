"""Parse a CSV into all-text columns with pyarrow's reader (its threads from 4 MiB on), exactly as pandas would.

pandas' own parser (``read_csv(dtype=str)``) stays the reference. The fast path takes only
files whose parsing leaves nothing to interpret: no quote characters at all, no line ended
by a lone carriage return (on both, the two parsers disagree at the edges), two or more
uniquely named columns, every row as wide as the header. For anything else
:func:`read_text` (and :func:`text_columns`) answers None and the caller uses pandas.
"""

from __future__ import annotations

import functools
import io
import mmap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .progress import OnProgress

# pandas' default NA spellings (pandas._libs.parsers.STR_NA_VALUES), so both parsers agree.
NA_TOKENS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default "str" dtype
_MAX_COLUMNS = 10_000
_BLOCK = 16 << 20
_NAMES = [f"f{i}" for i in range(_MAX_COLUMNS)]
_GUESS_BYTES = 1 << 16
# Below this a file is one or two of pyarrow's blocks: its thread pool only adds hand-offs.
_THREADED_BYTES = 4 << 20
_LARGE_BLOCK = 8 << 20


def read_text(
    source: Path | bytes, delimiter: str, encoding: str, *, on_progress: OnProgress | None = None
) -> pd.DataFrame | None:
    """Every column as text (missing: empty or an NA token), or None where pandas must decide.

    ``on_progress("parse", bytes_read, size)`` as pyarrow reads the file (from its reader thread).
    """
    found = _table(source, delimiter, encoding, on_progress)
    if found is None:
        return None
    table, header = found
    # Columns stay in pyarrow's chunks: most become numbers or dates, and the reader joins
    # the chunks of those that stay text (in its typing threads).
    frame = table.to_pandas(types_mapper={pa.large_string(): TEXT}.get)
    return frame.set_axis(header, axis=1)


def text_columns(
    source: Path | bytes, delimiter: str, encoding: str, *, on_progress: OnProgress | None = None
) -> dict[str, pd.Series] | None:
    """read_text's columns by name, each made straight from pyarrow's (no frame made and taken apart)."""
    found = text_arrays(source, delimiter, encoding, on_progress=on_progress)
    if found is None:
        return None
    header, arrays = found
    index = pd.RangeIndex(len(arrays[0]))
    return {
        name: pd.Series(TEXT.__from_arrow__(column), index=index, name=name, copy=False)
        for name, column in zip(header, arrays, strict=True)
    }


def text_arrays(
    source: Path | bytes, delimiter: str, encoding: str, *, on_progress: OnProgress | None = None
) -> tuple[list[str], list[pa.ChunkedArray]] | None:
    """text_columns' header and columns as pyarrow holds them (large_string), no Series made."""
    found = _table(source, delimiter, encoding, on_progress)
    if found is None:
        return None
    table, header = found
    return header, table.columns


def _table(
    source: Path | bytes, delimiter: str, encoding: str, on_progress: OnProgress | None
) -> tuple[pa.Table, list[str]] | None:
    """The rows under the header as text columns, and the header; None where pandas must decide."""
    if not plain(source):
        return None
    width = _width_guess(source, delimiter)
    table = _parse(source, delimiter, encoding, width, on_progress)
    if table is not None and table.num_columns > width:  # the guess was short: columns past it were typed
        table = _parse(source, delimiter, encoding, _MAX_COLUMNS, on_progress)
    if table is None:
        return None
    # The header is the first row: read as data, so both agree on what it says.
    header = [table.column(i)[0].as_py() if table.num_rows else None for i in range(table.num_columns)]
    if not header_ok(header):
        return None
    return table.slice(1), header


def _parse(
    source: Path | bytes, delimiter: str, encoding: str, width: int, on_progress: OnProgress | None
) -> pa.Table | None:
    size = source.stat().st_size if isinstance(source, Path) else len(source)
    try:
        return pacsv.read_csv(
            CountingFile(source, on_progress) if isinstance(source, Path) and on_progress else
            source if isinstance(source, Path) else io.BytesIO(source),
            **options(delimiter, encoding, _block_size(size), width=width, threads=size >= _THREADED_BYTES),
        )
    except (pa.ArrowInvalid, UnicodeError, LookupError):
        return None


def _block_size(size: int) -> int | None:
    """pyarrow's block (each column's chunk) for a file of ``size`` bytes: its default 1 MiB, or
    larger blocks for large files, still many per thread: every typing look goes through each
    chunk, so 400 chunks a column at 5M rows cost more than the parse gains from small blocks."""
    return _LARGE_BLOCK if size >= _LARGE_BLOCK * 8 else None


def _width_guess(source: Path | bytes, delimiter: str) -> int:
    """A bound on the header's field count (a power of two, at least 16; _MAX_COLUMNS when unsure).

    Only a guess that keeps the column types' mapping small (a 10,000-entry one costs ~2 ms a
    read): read_text reads again with the full mapping when the file has more columns.
    """
    if isinstance(source, Path):
        with source.open("rb") as handle:
            head = handle.read(_GUESS_BYTES)
    else:
        head = source[:_GUESS_BYTES]
    first = next((line for line in head.split(b"\n")[:-1] if line.strip(b"\r")), None)
    if first is None:
        return _MAX_COLUMNS
    fields = first.count(delimiter.encode("utf-8", "replace")) + 1
    return min(_MAX_COLUMNS, max(16, 1 << (fields - 1).bit_length()))


def options(
    delimiter: str, encoding: str, block_size: int | None = None, *, width: int = _MAX_COLUMNS, threads: bool = True
) -> dict[str, Any]:
    """pyarrow.csv's options that read every field as text, missing as pandas reads it (header as data).

    Only the first ``width`` columns are sure to be read as text (the caller checks there are no more).
    """
    return dict(_options(delimiter, encoding, block_size, width, threads))


@functools.lru_cache(maxsize=32)
def _options(delimiter: str, encoding: str, block_size: int | None, width: int, threads: bool) -> dict[str, Any]:
    # Built once per shape: the column types are a mapping of up to 10,000 entries (~2-4 ms a read).
    read = {"autogenerate_column_names": True, "encoding": "utf8" if encoding == "utf-8" else encoding}
    read["use_threads"] = threads
    return {
        "read_options": pacsv.ReadOptions(**read, **({"block_size": block_size} if block_size else {})),
        "parse_options": pacsv.ParseOptions(delimiter=delimiter, quote_char=False),
        "convert_options": pacsv.ConvertOptions(
            check_utf8=True,  # read_csv relies on it to confirm a UTF-8 guess
            column_types=dict.fromkeys(_NAMES[:width], pa.large_string()),
            null_values=list(NA_TOKENS),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    }


def header_ok(header: list[Any]) -> bool:
    """Whether pandas would read this first row as the same header: 2+ names, all present and unique."""
    # pandas skips whitespace-only lines, which pyarrow reads as a row of one column.
    return None not in header and len(set(header)) == len(header) and 1 < len(header) < _MAX_COLUMNS


class CountingFile(io.RawIOBase):
    """A file that reports the bytes read so far; pyarrow reads it block by block."""

    def __init__(self, path: Path, on_progress: OnProgress) -> None:
        self._handle = path.open("rb")
        self._size = path.stat().st_size
        self._done = 0
        self._on_progress = on_progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._handle.readinto(buffer)
        self._done += count or 0
        self._on_progress("parse", self._done, self._size)
        return count or 0

    def close(self) -> None:
        self._handle.close()
        super().close()


def plain(source: Path | bytes) -> bool:
    """No quote character and no carriage return outside a CRLF, read a block at a time.

    A file is first looked through mapped in memory (no copy): with neither a quote nor a
    carriage return in it, that is the answer; otherwise the blocks decide.
    """
    if isinstance(source, Path):
        found = _quote_or_cr(source)
        if found is not None and not found:
            return True
        if found == '"':
            return False
    blocks = [source] if isinstance(source, bytes) else _blocks(source)
    previous = b""
    for block in blocks:
        if block.find(b'"') >= 0:
            return False
        # A CR at the very end may pair with an LF at the start of the next block.
        if block.find(b"\r") >= 0 or previous == b"\r":
            joined = previous + block
            if joined.count(b"\r", 0, len(joined) - 1) != joined.count(b"\r\n"):
                return False
        previous = block[-1:]
    return previous != b"\r"


def _quote_or_cr(path: Path) -> str | None:
    """'"' when the file holds a quote, "\r" when it holds a carriage return (and no quote),
    "" when neither, None when it cannot be mapped (empty, not a regular file)."""
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            if mapped.find(b'"') >= 0:
                return '"'
            return "\r" if mapped.find(b"\r") >= 0 else ""
    except (OSError, ValueError):
        return None


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            yield block
