"""drop_duplicates' prescreen (only rows whose values repeat in a cheap column are compared) is pandas' answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import ops_rows

from .strategies import PROPERTY, frame_and_columns


@pytest.fixture(autouse=True)
def always_prescreen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops_rows, "PRESCREEN_ROWS", 0)


@PROPERTY
@given(data=frame_and_columns(), keep=st.sampled_from(["first", "last", False]), whole=st.booleans())
def test_prescreened_duplicates_are_pandas_duplicates(data: tuple[pd.DataFrame, list[str]], keep: object, whole: bool) -> None:
    df, names = data
    subset = None if whole else names
    expected = df.duplicated(subset=subset, keep=keep).to_numpy()  # type: ignore[arg-type]
    np.testing.assert_array_equal(ops_rows.duplicated(df, subset, keep), expected)


def test_floats_nan_and_signed_zero_compare_as_pandas_does() -> None:
    df = pd.DataFrame(
        {"x": [0.0, -0.0, np.nan, np.nan, 1.0, 1.0], "t": pd.Series(["a", "a", None, None, "b", "c"], dtype="str")}
    )
    for keep in ("first", "last", False):
        np.testing.assert_array_equal(ops_rows.duplicated(df, None, keep), df.duplicated(keep=keep).to_numpy())
