"""``DataFrame.duplicated`` from the columns' arrays at some rows, without building the frame.

pandas factorizes each column, combines the codes into one group number per row and marks
the repeated numbers. The same is done here on the arrays taken at ``positions`` (each
column taken and factorized by its own thread on many rows: pyarrow's and numpy's kernels
run outside the GIL), so the answer is pandas' exactly: its factorize decides which cells
are equal (NaN equals NaN, -0.0 equals 0.0, missing equals missing).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .ops_common import map_columns

# Past this, a combined code could overflow int64: the key is renumbered first.
_KEY_LIMIT = 2**62


def duplicated_at(arrays: list[Any], positions: np.ndarray, keep: Any) -> np.ndarray:
    """``DataFrame(columns).iloc[positions].duplicated(keep=keep)`` as a bool array, for the
    column ``arrays`` (``df[name].array`` each)."""
    if len(positions) == 0:
        return np.zeros(0, dtype=bool)
    labelled = map_columns(lambda values: _codes(values, positions), arrays, len(positions))
    key, size = labelled[0]
    for codes, width in labelled[1:]:
        if size * width >= _KEY_LIMIT:
            key, size = _renumbered(key)
        key, size = key * width + codes, size * width
    return pd.Series(key, copy=False).duplicated(keep=keep).to_numpy()


def _codes(values: Any, positions: np.ndarray) -> tuple[np.ndarray, int]:
    """The column's factorize codes at ``positions``, shifted so missing is 0, and how many codes
    there are (what pandas' DataFrame.duplicated combines)."""
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        taken: Any = values.to_numpy()[positions]  # pandas factorizes the frame's ndarray
    else:
        taken = values.take(positions)
    codes, uniques = pd.factorize(taken)
    return codes.astype(np.int64, copy=False) + 1, len(uniques) + 1


def _renumbered(key: np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(key)
    return codes.astype(np.int64, copy=False), max(len(uniques), 1)
