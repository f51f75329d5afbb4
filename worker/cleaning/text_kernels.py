"""Small pyarrow helpers for typing text columns (reading's shortcut and long path): casts that
may fail, whole-column tests without a scalar's round trip, and looks at the bytes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrow_bytes import Bytes, chunks, value_bytes

# Only ever asked of values that are numbers already (no line breaks): a prefix decides.
LEADING_ZERO = r"^[+-]?0\d"
HEAD = 1000  # the first rows, whose values decide most columns at once


def _foreign_bytes() -> np.ndarray:
    """Per byte value, whether it is an ASCII byte that no shape uses and trimming keeps (the
    kernel's whitespace, asked of the kernel itself: it trims some control characters too)."""
    shapes = b"0123456789+-.eE:TZ" + b"truefalsyesno" + b"truefalsyesno".upper()
    ascii_chars = pa.array([chr(byte) + "1" for byte in range(128)])
    trimmed = pc.equal(pc.utf8_trim_whitespace(ascii_chars), "1").to_pylist()
    return np.array([byte < 128 and byte not in shapes and not trimmed[byte] for byte in range(256)])


_FOREIGN = _foreign_bytes()


def has_foreign_byte(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether some value holds an ASCII byte that is in none of the shapes and is not whitespace."""
    return any(bool(_FOREIGN[value_bytes(chunk)].any()) for chunk in chunks(values))


def all_true(mask: pa.Array | pa.ChunkedArray) -> bool:
    """pc.all(mask) (missing values skipped), without its scalar's round trip."""
    return not any(chunk.false_count for chunk in chunks(mask))


def try_cast(
    raw: pa.Array | pa.ChunkedArray, head: pa.Array | pa.ChunkedArray, to: pa.DataType
) -> tuple[bool, pa.Array | pa.ChunkedArray | None]:
    """(whether every value of ``head``, the present values of raw's first rows, casts to ``to``;
    raw cast to it, or None when some value does not cast): its first value, then all."""
    if len(raw) <= HEAD:  # the head is every present value: one cast answers both
        if cast_or_none(head[:1], to) is None:
            return False, None
        whole = cast_or_none(raw, to)
        return whole is not None, whole
    if not head_casts(head, to):
        return False, None
    return True, cast_or_none(raw, to)


def head_casts(head: pa.Array | pa.ChunkedArray, to: pa.DataType) -> bool:
    """Whether every value of ``head`` casts to ``to``: its first value, then all."""
    return cast_or_none(head[:1], to) is not None and cast_or_none(head, to) is not None


def leading_zero(values: pa.Array | pa.ChunkedArray, chars: Bytes) -> bool:
    """any_leading_zero, matching only the values that start with "0", "-0" or "+0"."""
    starts = pc.starts_with(values, "0")
    for sign in "+-":
        if chars.has(sign.encode()):
            starts = pc.or_(starts, pc.starts_with(values, sign + "0"))
    if not pc.any(starts).as_py():
        return False
    return any_leading_zero(pc.filter(values, starts))


def cast_or_none(values: pa.Array | pa.ChunkedArray, to: pa.DataType) -> pa.Array | pa.ChunkedArray | None:
    """``values`` cast to ``to``, or None when some value does not cast."""
    try:
        return pc.cast(values, to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def any_leading_zero(stripped: pa.Array | pa.ChunkedArray) -> bool:
    return bool(pc.any(pc.match_substring_regex(stripped, LEADING_ZERO)).as_py())
