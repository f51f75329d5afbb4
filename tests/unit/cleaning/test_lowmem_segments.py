"""A plain file parsed in segments (a thread each) gives what one reader over the whole file gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import lowmem, lowmem_ingest

from .strategies import PROPERTY, frames
from .test_lowmem import STEPS, assert_same, configs

ROWS = "".join(f"{i % 9},{' x' if i % 4 else ''},{i * 0.5},{'yes' if i % 3 else 'no'},0{i % 50}\n" for i in range(600))
HEADER = "n,name,x,ok,zip\n"


@pytest.fixture
def many_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lowmem_ingest, "SEGMENTS", 5)
    monkeypatch.setattr(lowmem_ingest, "SEGMENT_BYTES", 1)


def test_segments_end_at_line_ends_and_cover_the_file(tmp_path: Path) -> None:
    data = (HEADER + ROWS).encode()
    (tmp_path / "in.csv").write_bytes(data)
    bounds = lowmem_ingest.segments(tmp_path / "in.csv", 7, 1)
    assert len(bounds) == 7
    assert bounds[0][0] == 0 and bounds[-1][1] == len(data)
    assert all(end == start for (_, end), (start, _) in zip(bounds, bounds[1:]))
    assert all(data[end - 1 : end] == b"\n" for _, end in bounds)
    assert lowmem_ingest.segments(tmp_path / "in.csv", 7, len(data)) == [(0, len(data))]


@pytest.mark.usefixtures("many_segments")
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_file_in_segments_gives_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: str) -> None:
    (tmp_path / "in.csv").write_bytes((HEADER + ROWS).replace("\n", ending).encode())
    calls: list[tuple[str, int, int]] = []
    parsed: list[int] = []
    original = lowmem_ingest._parse_segment
    monkeypatch.setattr(lowmem_ingest, "_parse_segment", lambda *a: parsed.append(1) or original(*a))
    config = {"steps": STEPS["steps"][:1] + [{"op": "trim_whitespace"}, {"op": "sort", "by": ["x"], "descending": True}]}
    result = assert_same(tmp_path / "in.csv", tmp_path, config, block_rows=64, on_progress=lambda *c: calls.append(c))
    assert len(parsed) == 5
    assert result is not None and result.types["zip"] == "text"  # leading zeros are seen across segments
    size = (tmp_path / "in.csv").stat().st_size
    assert [c for c in calls if c[0] == "parse"][-1] == ("parse", size, size)


@pytest.mark.usefixtures("many_segments")
@pytest.mark.parametrize(
    "tail",
    [
        "1,2,3,4,5,6\n7,8,9,10,11,12\n",
        "1,2,3,4,5,6\n" * 2000,
        "1,2,3,4\n" * 2000,
        "1,2\n",
        "1,2,3,4,5\n\n\n",
        "1,2,3,4,5",
        "\xff,2,3,4,5\n",
    ],
    ids=[
        "wider rows at the end",
        "whole segments of wider rows",
        "whole segments of narrower rows",
        "a short row",
        "blank lines",
        "no last line end",
        "latin-1 at the end",
    ],
)
def test_a_segment_unlike_the_header_gives_what_the_in_memory_path_gives(tmp_path: Path, tail: str) -> None:
    (tmp_path / "in.csv").write_bytes((HEADER + ROWS + tail).encode("latin-1"))
    try:
        assert_same(tmp_path / "in.csv", tmp_path, STEPS | {"steps": [{"op": "drop_duplicates"}]}, block_rows=100)
    except lowmem.Unsupported:  # pragma: no cover - not for these files
        pytest.fail("refused")


@st.composite
def files_and_configs(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    df = draw(frames(min_rows=0, max_rows=30).filter(lambda f: len(f.columns) >= 2))
    text = df.to_csv(index=False, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    return text.encode("utf-8"), draw(configs([str(c) for c in df.columns]))


@PROPERTY
@given(case=files_and_configs(), segments=st.integers(2, 6))
def test_any_file_in_segments_matches_the_in_memory_path(
    case: tuple[bytes, dict[str, Any]], segments: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data, config = case
    folder = tmp_path_factory.mktemp("segments")
    (folder / "in.csv").write_bytes(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lowmem_ingest, "SEGMENTS", segments)
        patch.setattr(lowmem_ingest, "SEGMENT_BYTES", 1)
        try:
            assert_same(folder / "in.csv", folder, config, block_rows=4, preview_rows=3)
        except lowmem.Unsupported:
            pass  # a one-column result or a type only pandas writes: the caller runs in memory


@pytest.mark.parametrize("row", ["1,2,3,4,5,6\n", "1,2,3,4\n"], ids=["wider", "narrower"])
def test_a_segment_of_other_width_from_its_first_row_on_goes_to_pandas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, row: str
) -> None:
    """The rows change width exactly where a segment starts: its reader sees no change, the widths differ."""
    monkeypatch.setattr(lowmem_ingest, "SEGMENTS", 2)
    monkeypatch.setattr(lowmem_ingest, "SEGMENT_BYTES", 1)
    head = HEADER + ROWS
    for count in range(len(head) // len(row) - 20, len(head) // len(row) + 20):
        data = (head + row * count).encode()
        (tmp_path / "in.csv").write_bytes(data)
        if lowmem_ingest.segments(tmp_path / "in.csv", 2, 1)[0][1] == len(head):
            break
    else:  # pragma: no cover
        pytest.fail("no file cut where its rows change width")
    assert_same(tmp_path / "in.csv", tmp_path, {"steps": [{"op": "drop_duplicates"}]}, block_rows=100)
