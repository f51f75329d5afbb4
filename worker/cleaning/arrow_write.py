"""Write a frame as CSV with pyarrow's kernels, byte for byte as pandas' ``to_csv`` writes it.

pandas' writer (``to_csv(index=False, na_rep="", lineterminator="\\n")``) stays the reference,
with one change (writing.pandas_csv_text): a cell holding a carriage return is quoted.
Each column is rendered to text by vectorised kernels (integers and booleans as pandas spells
them, floats as Python's ``repr``, dates-only columns as ``YYYY-MM-DD``, whole-second
datetimes as ``YYYY-MM-DD HH:MM:SS``), text is quoted where Python's csv module quotes it,
the columns are joined into lines, and each block of lines is written from one buffer.
:func:`render` answers None for a frame it cannot render exactly (one column, time zones,
sub-second datetimes, object columns, ...); the caller then uses pandas.
"""

from __future__ import annotations

import collections
import csv
import io
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .arrow_bytes import Bytes
from .formulas import write_record

BLOCK_ROWS = 200_000
PARALLEL_ROWS = 50_000
THREADS = max(1, min(2, os.cpu_count() or 1))
# Python repr writes fixed notation inside [1e-4, 1e16); pyarrow's shortest form agrees there
# on the digits, and differs (exponent, missing ".0") only in ways fixed below.
_FIXED_LOW, _FIXED_HIGH = 1e-4, 1e16
_FEW_FLOATS = 500
_LOOKUP_ROWS = 10_000  # below this a column's own cast is as quick as making the texts of its range
_YEAR_1000, _YEAR_10000 = np.datetime64("1000-01-01"), np.datetime64("10000-01-01")


def _quote_triggers() -> str:
    """The characters that make Python's csv module (as pandas drives it) quote a field, and the
    carriage return, which it leaves bare but every CSV reader takes for a line end (the
    reference, writing.pandas_csv_text, quotes it too)."""
    found = ""
    for ch in ',"\n\r\t ;|':
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow([f"a{ch}b", "x"])
        if out.getvalue().startswith('"'):
            found += ch
    return found if "\r" in found else found + "\r"


_TRIGGERS = _quote_triggers()
# Fields written as they are, no header, missing as empty ("none" refuses a field holding , " \n or \r).
_AS_IS = pacsv.WriteOptions(include_header=False, quoting_style="none")
_TRIGGER_BYTES = _TRIGGERS.encode("ascii")
_NEEDS_QUOTES = "[" + "".join("\\n" if c == "\n" else "\\r" if c == "\r" else "\\" + c for c in _TRIGGERS) + "]"

Renderer = Callable[[pd.Series], pa.Array]


def header_line(df: pd.DataFrame) -> str:
    """The column names as csv writes them, a name holding a carriage return quoted too."""
    out = io.StringIO()
    write_record(csv.writer(out, lineterminator="\n"), out, [str(c) for c in df.columns])
    return out.getvalue()


def render(df: pd.DataFrame) -> list[Renderer] | None:
    """One renderer per column (a slice of the column -> its CSV text, null where missing), or None
    when some column (or the frame's shape) is one this writer cannot reproduce exactly."""
    return render_columns(columns_of(df))


def columns_of(df: pd.DataFrame) -> list[pd.Series]:
    """The frame's columns in order (by position: names may repeat), each made once."""
    return [column for _, column in df.items()]


def render_columns(columns: list[pd.Series]) -> list[Renderer] | None:
    """render, given the frame's columns (columns_of)."""
    if len(columns) < 2:  # a one-column row of one empty field is written as "" by csv
        return None
    renderers = []
    for column in columns:
        renderer = column_renderer(column)
        if renderer is None:
            return None
        renderers.append(renderer)
    return renderers


def cells(df: pd.DataFrame) -> list[list[str | None]] | None:
    """Per column, each cell's text as a CSV reader reads it back from write's file (None where
    missing: text unquoted, the rest as rendered), or None when render answers None."""
    columns = columns_of(df)
    renderers = render_columns(columns)
    if renderers is None:
        return None
    return [
        (_arrow(column) if renderer is _text else renderer(column)).to_pylist()
        for column, renderer in zip(columns, renderers, strict=True)
    ]


def write_rows(handle: IO[bytes], block: pd.DataFrame, renderers: list[Renderer]) -> None:
    """The rows of ``block`` (no header), each column by its renderer (made on the whole column)."""
    handle.write(_rows(block, renderers))


def _rows(block: pd.DataFrame, renderers: list[Renderer]) -> memoryview:
    return _rendered(columns_of(block), renderers)


def _rendered(columns: list[pd.Series], renderers: list[Renderer]) -> memoryview:
    return _lines([_large(text) for text in _texts(columns, renderers)])


def _texts(columns: list[pd.Series], renderers: list[Renderer]) -> list[pa.Array]:
    return [renderer(column) for column, renderer in zip(columns, renderers, strict=True)]


def _head_cells(
    columns: list[pd.Series], renderers: list[Renderer], texts: list[pa.Array], rows: int
) -> list[list[str | None]]:
    """The first ``rows`` rows as ``cells`` gives them, taken from the texts made to write them."""
    per_column = [
        (_arrow(column) if renderer is _text else text).slice(0, rows).to_pylist()
        for column, renderer, text in zip(columns, renderers, texts, strict=True)
    ]
    return [list(row) for row in zip(*per_column, strict=True)]


def write(
    df: pd.DataFrame,
    handle: IO[bytes],
    renderers: list[Renderer],
    *,
    block_rows: int = BLOCK_ROWS,
    on_rows: Callable[[int, int], None] | None = None,
    columns: list[pd.Series] | None = None,
    head_rows: int = 0,
) -> list[list[str | None]] | None:
    """Header and rows, a block of rows at a time; ``on_rows(done, total)`` after each block.

    Returns the first ``head_rows`` rows' cells (as ``cells`` gives them: the preview) when the
    frame was rendered in one block from ``columns``, else None (the caller makes them itself).

    From PARALLEL_ROWS rows on, blocks (as many as threads, or a multiple) are rendered by
    THREADS threads (pyarrow's kernels release the GIL) and written in order, no more than
    THREADS blocks ahead of the file. ``columns``: the frame's columns (columns_of), when the
    caller has them: a frame of one block is then rendered from them.
    """
    handle.write(header_line(df).encode("utf-8"))
    total = len(df)
    if columns is not None and 0 < total <= min(block_rows, PARALLEL_ROWS - 1):
        texts = _texts(columns, renderers)  # one block: the columns as given, no slice
        handle.write(_lines([_large(text) for text in texts]))
        if on_rows is not None:
            on_rows(total, total)
        return _head_cells(columns, renderers, texts, head_rows) if head_rows > 0 else None
    if THREADS < 2 or total < max(PARALLEL_ROWS, 2):
        for start in range(0, total, block_rows):
            write_rows(handle, df.iloc[start : start + block_rows], renderers)
            if on_rows is not None:
                on_rows(min(start + block_rows, total), total)
        return None
    blocks = -(-total // block_rows)
    blocks = -(-blocks // THREADS) * THREADS  # every thread gets as many rows
    size = -(-total // blocks)
    pending: collections.deque[tuple[int, Future[memoryview]]] = collections.deque()

    def written() -> None:
        end, rows = pending.popleft()
        handle.write(rows.result())
        if on_rows is not None:
            on_rows(end, total)

    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="writing") as pool:
        try:
            for start in range(0, total, size):
                # The frame is sliced here, in one thread; each block is then only read by its renderer.
                block = df.iloc[start : start + size]
                pending.append((min(start + size, total), pool.submit(_rows, block, renderers)))
                if len(pending) > THREADS:
                    written()
            while pending:
                written()
        finally:
            for _, future in pending:
                future.cancel()
    return None


def _lines(texts: list[pa.Array]) -> memoryview:
    """The block's lines ("a,b\\n" per row) as one buffer.

    pyarrow's CSV writer joins them (about twice as fast as joining element-wise) when no field
    holds a comma, quote or line break: with no quoting it writes each field as it is, missing as
    empty, and refuses any field holding one (a field csv quotes holds a quote once rendered).
    """
    if len(texts[0]) == 0:
        return memoryview(b"")
    table = pa.Table.from_arrays(texts, names=[str(i) for i in range(len(texts))])
    sink = pa.BufferOutputStream()
    try:
        pacsv.write_csv(table, sink, write_options=_AS_IS)
    except pa.ArrowInvalid:
        return _joined_lines(texts)
    return memoryview(sink.getvalue())


def _joined_lines(texts: list[pa.Array]) -> memoryview:
    """_lines by joining the fields element-wise (the reference): the last field gets the line end,
    then the fields are joined, so the joined values lie end to end in memory."""
    *first, last = texts
    end = pa.scalar("", pa.large_string())
    last = pc.binary_join_element_wise(last, end, pa.scalar("\n", pa.large_string()), null_handling="replace")
    sep = pa.scalar(",", pa.large_string())
    joined = pc.binary_join_element_wise(*first, last, sep, null_handling="replace", null_replacement="")
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64, count=len(joined) + 1, offset=joined.offset * 8)
    data = joined.buffers()[2]
    if data is None:
        return memoryview(b"")
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def _concat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of large_string arrays and literals (null stays null)."""
    typed = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*typed, pa.scalar("", pa.large_string()))


def _large(values: pa.Array) -> pa.Array:
    return values if values.type == pa.large_string() else values.cast(pa.large_string())


def column_renderer(column: pd.Series) -> Renderer | None:
    """How slices of this (whole) column are rendered, or None when pandas must write it."""
    dtype = column.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        return _text
    if isinstance(dtype, pd.BooleanDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "b"):
        return _boolean
    if isinstance(dtype, (pd.Int64Dtype, pd.Int32Dtype, pd.Int16Dtype, pd.Int8Dtype)) or (
        isinstance(dtype, np.dtype) and dtype.kind in "iu"
    ):
        return _integer_renderer(column)
    if isinstance(dtype, np.dtype) and dtype == np.float64:
        return _float
    if isinstance(dtype, np.dtype) and dtype.kind == "M":
        return _datetime_renderer(column)
    return None


def _arrow(column: pd.Series) -> pa.Array:
    values = pa.array(column.array) if not isinstance(column.dtype, np.dtype) else pa.array(column.to_numpy())
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _text(column: pd.Series) -> pa.Array:
    values = _arrow(column)
    if not Bytes(values).has(_TRIGGER_BYTES):
        return values  # no value holds a character that needs quotes: no per-value match
    needs = pc.match_substring_regex(values, _NEEDS_QUOTES)
    if not pc.any(needs).as_py():
        return values
    values = _large(values)
    quoted = _concat('"', pc.replace_substring(values, '"', '""'), '"')
    return pc.if_else(needs, quoted, values)


def _integer(column: pd.Series) -> pa.Array:
    return pc.cast(_arrow(column), pa.large_string())


def _integer_renderer(column: pd.Series) -> Renderer:
    """_integer; for a long column of few distinct values (ages, years, codes), each value's text
    looked up in the texts of its range, cast once (a cast per value costs ~5x the look-up)."""
    if len(column) < _LOOKUP_ROWS:
        return _integer
    span = pc.min_max(_arrow(column)).as_py()
    low, high = span["min"], span["max"]
    if low is None or high - low >= len(column) // 4 or high >= 2**63:
        return _integer
    texts = pc.cast(pa.array(np.arange(low, high + 1, dtype=np.int64)), pa.large_string())
    return lambda block: _looked_up(texts, pc.cast(_arrow(block), pa.int64()), low)


def _looked_up(texts: pa.Array, values: pa.Array, low: int) -> pa.Array:
    """Each value's text, ``texts`` holding those of low, low + 1, ...; missing stays missing."""
    return pc.take(texts, pc.subtract(values, pa.scalar(low, values.type)))


_TRUE, _FALSE = pa.scalar("True", pa.large_string()), pa.scalar("False", pa.large_string())


def _boolean(column: pd.Series) -> pa.Array:
    return pc.if_else(_arrow(column), _TRUE, _FALSE)


def _float(column: pd.Series) -> pa.Array:
    numbers = column.to_numpy()
    if len(numbers) <= _FEW_FLOATS:
        return _float_repr(numbers)
    return _float_kernels(numbers)


def _float_repr(numbers: np.ndarray) -> pa.Array:
    """Python's repr of each number, NaN missing: the rule itself, cheaper than kernels on a few rows."""
    return pa.array([None if v != v else repr(v) for v in numbers.tolist()], type=pa.large_string())


def _float_kernels(numbers: np.ndarray) -> pa.Array:
    """_float_repr's text made by pyarrow's kernels (Python's repr only for the values they write otherwise)."""
    values = pa.array(numbers, from_pandas=True)  # NaN is missing
    text = _large(pc.cast(values, pa.string()))
    magnitude = np.abs(numbers)
    present = ~np.isnan(numbers)
    with np.errstate(invalid="ignore"):
        plain = ((magnitude >= _FIXED_LOW) & (magnitude < _FIXED_HIGH)) | (magnitude == 0)
    written = Bytes(text)
    exponent = _contains(text, "e") if written.has(b"e") else np.zeros(len(numbers), dtype=bool)
    # Outside the fixed range, or where pyarrow chose an exponent inside it, Python's repr decides.
    odd = (~plain & present) | (plain & exponent)
    # pyarrow writes 2.0 as "2", Python as "2.0" (a present value in fixed notation without "."
    # is whole; "nan" and "inf" are missing or odd).
    whole = present & ~odd & ~_contains(text, ".")
    if whole.any():
        text = pc.replace_with_mask(text, whole, _concat(text.filter(whole), ".0"))
    if odd.any():
        exact = [repr(float(v)) for v in numbers[odd]]
        text = pc.replace_with_mask(text, odd, pa.array(exact, type=pa.large_string()))
    return text


def _contains(text: pa.Array, part: str) -> np.ndarray:
    """Per value, whether ``part`` is in it (False where missing)."""
    return pc.fill_null(pc.match_substring(text, part), False).to_numpy(zero_copy_only=False)


def _datetime_renderer(column: pd.Series) -> Renderer | None:
    """Dates-only columns as YYYY-MM-DD and whole-second ones as YYYY-MM-DD HH:MM:SS (pandas'
    ISO output); finer resolutions and years outside 1000-9999 are left to pandas."""
    stamps = column.to_numpy()
    stamps = stamps[~np.isnat(stamps)]
    if len(stamps) == 0:
        return lambda block: pa.nulls(len(block), pa.string())
    if stamps.min() < _YEAR_1000 or stamps.max() >= _YEAR_10000:
        return None
    if bool((stamps.astype("datetime64[D]") == stamps).all()):
        return _days_renderer(stamps)
    if bool((stamps.astype("datetime64[s]") == stamps).all()):
        return lambda block: pc.cast(pc.cast(_arrow(block), pa.timestamp("s")), pa.large_string())
    return None


def _days(block: pd.Series) -> pa.Array:
    return pc.cast(_arrow(block), pa.date32())


def _days_renderer(stamps: np.ndarray) -> Renderer:
    """YYYY-MM-DD of each day (``stamps``: the column's present values, all whole days): for a long
    column over a span of days shorter than it, each day's text looked up (see _integer_renderer)."""
    ends = stamps[[stamps.argmin(), stamps.argmax()]].astype("datetime64[D]").astype(np.int64)
    first, last = int(ends[0]), int(ends[1])
    if len(stamps) < _LOOKUP_ROWS or last - first >= len(stamps) // 4:
        return lambda block: pc.cast(_days(block), pa.large_string())
    days = pa.array(np.arange(first, last + 1, dtype=np.int32), pa.int32()).cast(pa.date32())
    texts = pc.cast(days, pa.large_string())
    return lambda block: _looked_up(texts, pc.cast(_days(block), pa.int32()), first)
