"""A column whose head holds an integer with a leading zero is text at once (reading._shortcut),
as the long way decides, whatever lies past the head."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import reading

from .strategies import PROPERTY
from .test_reading_shortcut import VALUE, assert_same

HEAD_VALUES = st.sampled_from(["17", "007", "-07", "+07", "0", "00", "-0", "0x1f", "12345678901234567890"])


@PROPERTY
@given(
    head=st.lists(HEAD_VALUES, min_size=1, max_size=4),
    at=st.integers(0, 999),
    late=st.lists(VALUE, max_size=3),
)
def test_a_leading_zero_in_the_head_decides_as_the_long_way(head: list[str], at: int, late: list[str | None]) -> None:
    values = ["5"] * 1200
    values[at : at + len(head)] = head
    column = pd.Series(values[:1200] + late + ["5"], dtype="str")
    assert_same(column)


def test_a_zip_column_is_text_without_casting_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    column = pd.Series(["01234", "12345"] * 1000, dtype="str")
    cast = reading.try_cast
    monkeypatch.setattr(reading, "try_cast", lambda *a: pytest.fail("cast every row") or cast(*a))
    got, kind, fmt = reading.type_column(column)
    assert (kind, fmt) == ("text", None)
    pd.testing.assert_series_equal(got, column)
