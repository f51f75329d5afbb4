"""Run regular expressions over text columns with RE2 (pyarrow.compute): linear time, no backtracking."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import StepError
from .patterns import re2_replacement


def replace(column: pd.Series, op: str, pattern: str, replacement: str) -> pd.Series:
    """Every match replaced; ``replacement`` in Python's template syntax (``\\1``, ``\\g<name>``)."""
    rewrite = re2_replacement(pattern, replacement)
    try:
        result = pc.replace_substring_regex(_arrow(column), pattern=pattern, replacement=rewrite)
    except pa.ArrowInvalid as exc:
        raise StepError(None, op, f"pattern: RE2 cannot run it: {exc}") from None
    return pd.Series(result, dtype=column.dtype, index=column.index)


def search(column: pd.Series, op: str, pattern: str) -> pd.Series:
    """A bool mask: True where the pattern matches somewhere in the cell; a missing cell is False."""
    try:
        found = pc.match_substring_regex(_arrow(column), pattern=pattern)
    except pa.ArrowInvalid as exc:
        raise StepError(None, op, f"value: RE2 cannot run the pattern: {exc}") from None
    return pd.Series(pc.fill_null(found, False).to_numpy(zero_copy_only=False), index=column.index, dtype=bool)


def _arrow(column: pd.Series) -> pa.Array | pa.ChunkedArray:
    return pa.array(column.array) if column.dtype == "str" else pa.array(column.astype("str").array)
