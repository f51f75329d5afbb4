"""arrow_csv.plain looks through a file mapped in memory first: its answer is the block scan's."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import arrow_csv

from .strategies import PROPERTY


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a,b\n1,2\n", True),
        (b"a,b\n" + b"1,2\n" * 50_000 + b'3,"x"\n', False),  # a quote far down
        (b"a,b\r\n1,2\r\n", True),
        (b"a,b\n1,2\r3,4\n", False),  # a lone carriage return
        (b"a,b\n1,2\r", False),  # one at the very end
        (b"", True),  # nothing to map: the block scan answers
    ],
    ids=["plain", "late quote", "crlf", "lone cr", "cr at end", "empty"],
)
def test_the_mapped_scan_answers_as_the_blocks_do(tmp_path: Path, data: bytes, expected: bool) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    assert arrow_csv.plain(path) is expected
    assert arrow_csv.plain(data) is expected


@PROPERTY
@given(data=st.lists(st.sampled_from([b"a", b",", b"\n", b"\r", b"\r\n", b'"', b"1"]), max_size=30).map(b"".join))
def test_any_bytes_get_the_same_answer_from_a_file(data: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("scan") / "f.csv"
    path.write_bytes(data)
    assert arrow_csv.plain(path) is arrow_csv.plain(data)
