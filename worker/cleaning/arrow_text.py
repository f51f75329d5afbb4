"""Text steps run straight on the pyarrow arrays of arrow-backed text columns, with their change counts.

pandas' ``.str.strip/lower/upper`` on such a column are single pyarrow kernels; calling them
here skips the Series plumbing (which is most of a 1,000-row job's cost) and lets the
counts come from cheap facts: trimming only removes characters, so a cell changed exactly
when its length did (or it was left empty); a fill only fills missing cells. On text with
no byte above 0x7F the ASCII case kernels give the Unicode ones' answer several times
faster (not so for trimming: the ASCII kernel keeps the separators 0x1C-0x1F, which Unicode
counts as whitespace). Every function answers None for a column it does not handle; the
caller then takes the pandas path, which stays the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def chunks(values: Any) -> pa.ChunkedArray | None:
    """The pyarrow data of an arrow-backed text array (either NA flavour), or None."""
    dtype = getattr(values, "dtype", None)
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    data = getattr(values, "_pa_array", None)
    return data if isinstance(data, pa.ChunkedArray) and pa.types.is_large_string(data.type) else None


def wrap(like: Any, data: pa.ChunkedArray | pa.Array) -> Any:
    """An array of ``like``'s type and dtype holding ``data``."""
    if isinstance(data, pa.Array):
        data = pa.chunked_array([data], type=data.type)
    if not pa.types.is_large_string(data.type):
        data = data.cast(pa.large_string())
    return type(like)(data, dtype=like.dtype)


def _bytes_of(chunk: pa.Array) -> np.ndarray:
    """The UTF-8 bytes a large_string chunk's cells span (no copy)."""
    if len(chunk) == 0 or chunk.buffers()[2] is None:
        return np.zeros(0, dtype=np.uint8)
    offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)[chunk.offset : chunk.offset + len(chunk) + 1]
    return np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]


def plain_ascii(data: pa.ChunkedArray) -> bool:
    """Whether every byte is below 0x80 (one pass of numpy's max over the bytes)."""
    return all(_bytes_of(chunk).max(initial=0) < 0x80 for chunk in data.chunks)


def _sum(values: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.sum(values).as_py() or 0)


def trim(values: Any) -> tuple[Any, int, int] | None:
    """``values`` with surrounding whitespace stripped and cells left empty made missing, the number
    of cells changed, and how many of them became missing; None for a column not handled here."""
    data = chunks(values)
    if data is None:
        return None
    stripped = pc.utf8_trim_whitespace(data)
    old_length, new_length = pc.binary_length(data), pc.binary_length(stripped)
    empty = pc.equal(new_length, 0)
    emptied = _sum(empty)
    changed = _sum(pc.or_(pc.not_equal(old_length, new_length), empty))  # missing cells: null, not summed
    if emptied:
        stripped = pc.if_else(empty, pa.scalar(None, pa.large_string()), stripped)
    return wrap(values, stripped), changed, emptied


_CASES = {
    "lower": (pc.ascii_lower, pc.utf8_lower),
    "upper": (pc.ascii_upper, pc.utf8_upper),
}


def recase(values: Any, case: str) -> tuple[Any, int] | None:
    """``values`` in lower or upper case and the number of cells changed; None when not handled here."""
    data = chunks(values)
    if data is None or case not in _CASES:
        return None
    ascii_kernel, unicode_kernel = _CASES[case]
    changed_data = (ascii_kernel if plain_ascii(data) else unicode_kernel)(data)
    return wrap(values, changed_data), _sum(pc.not_equal(data, changed_data))


def fill(values: Any, value: Any) -> Any | None:
    """``values`` with missing cells set to the text ``value``; None when not handled here."""
    data = chunks(values)
    if data is None or not isinstance(value, str):
        return None
    if data.null_count == 0:
        return values
    return wrap(values, pc.fill_null(data, pa.scalar(value, pa.large_string())))
