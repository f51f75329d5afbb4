"""Look through the bytes of a pyarrow string column at once: one vectorised pass per character,
with no copy and no per-value work, to tell whether a per-value kernel is needed at all."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class Bytes:
    """The bytes of a string column's present values, end to end, as views (no copy), made once
    and looked through by :meth:`has`."""

    def __init__(self, values: pa.Array | pa.ChunkedArray) -> None:
        self._views: list[np.ndarray] = []
        # Another layout (string_view, dictionary, ...) is not looked through: has() says True.
        self._unknown = not any(check(values.type) for check in _LAYOUTS)
        if self._unknown:
            return
        views = [value_bytes(chunk) for chunk in chunks(values) if len(chunk) > chunk.null_count]
        if values.null_count and sum(len(v) for v in views) != (pc.sum(pc.binary_length(values)).as_py() or 0):
            views = [value_bytes(chunk) for chunk in chunks(pc.drop_null(values))]  # missing values hold bytes
        self._views = views

    def has(self, chars: bytes) -> bool:
        """Whether any of ``chars`` (single bytes) occurs in some present value (True when unsure)."""
        return self._unknown or any(bool((view == char).any()) for char in chars for view in self._views)


_LAYOUTS = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)


def chunks(values: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return values.chunks if isinstance(values, pa.ChunkedArray) else [values]


def value_bytes(chunk: pa.Array) -> np.ndarray:
    """The bytes of a string or binary array's values, end to end (a view, no copy)."""
    _, offsets, data = chunk.buffers()
    if data is None or len(chunk) == 0:
        return np.empty(0, dtype=np.uint8)
    wide = np.int64 if pa.types.is_large_string(chunk.type) or pa.types.is_large_binary(chunk.type) else np.int32
    bounds = np.frombuffer(offsets, dtype=wide)[[chunk.offset, chunk.offset + len(chunk)]]
    return np.frombuffer(data, dtype=np.uint8)[int(bounds[0]) : int(bounds[1])]
