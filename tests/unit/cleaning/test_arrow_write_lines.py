"""arrow_write._lines (pyarrow's CSV writer with no quoting joins the rendered fields) gives the
element-wise join's bytes (_joined_lines, the reference), and steps aside for fields holding
a character it would have to quote."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import arrow_write

from .strategies import PROPERTY

FIELDS = st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["", ",", '"a"', "x\ny", "\r", "a\r\n", "é ✓", " "]))


@st.composite
def rendered_blocks(draw: st.DrawFn) -> list[pa.Array]:
    rows = draw(st.integers(0, 20))
    width = draw(st.integers(2, 5))
    return [
        pa.array(draw(st.lists(FIELDS, min_size=rows, max_size=rows)), pa.large_string()) for _ in range(width)
    ]


@PROPERTY
@given(texts=rendered_blocks())
def test_lines_are_the_joined_fields(texts: list[pa.Array]) -> None:
    assert bytes(arrow_write._lines(texts)) == bytes(arrow_write._joined_lines(texts))


def test_plain_fields_are_written_by_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [pa.array(["1", None, "3"], pa.large_string()), pa.array(["a b", "", None], pa.large_string())]
    monkeypatch.setattr(arrow_write, "_joined_lines", lambda texts: pytest.fail("joined element-wise"))
    assert bytes(arrow_write._lines(texts)) == b"1,a b\n,\n3,\n"


@pytest.mark.parametrize("field", [",", '"q"', "a\nb", "a\rb"])
def test_fields_needing_quotes_are_joined_element_wise(field: str) -> None:
    texts = [pa.array(["1", "2"], pa.large_string()), pa.array([field, "x"], pa.large_string())]
    assert bytes(arrow_write._lines(texts)) == f"1,{field}\n2,x\n".encode()
