"""The low-memory path gives the in-memory path's bytes, report and preview rows, for any file and config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import engine, lowmem, reading, writing
from worker.cleaning.config import check_columns, validate_config
from worker.cleaning.errors import Cancelled, CleaningError

from .strategies import PROPERTY, frames

BUDGET = 64 << 20


def in_memory(source: Path, target: Path, config: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame]:
    validated = validate_config(config)
    loaded = reading.read_csv(source)
    check_columns(validated, list(loaded.frame.columns), loaded.types)
    out, report = engine.run(loaded.frame, validated, formats=loaded.formats)
    writing.write_csv(out, target, report.date_formats)
    return report.to_dict(), out


def outcome(run: Any) -> tuple[str, Any]:
    try:
        return "ok", run()
    except CleaningError as exc:
        return type(exc).__name__, str(exc)


def assert_same(source: Path, folder: Path, config: dict[str, Any], **options: Any) -> lowmem.Result | None:
    expected = outcome(lambda: in_memory(source, folder / "memory.csv", config))
    options = {"budget_bytes": BUDGET} | options
    got = outcome(
        lambda: lowmem.run_file(source, folder / "lowmem.csv", config, parquet=folder / "out.parquet", folder=folder, **options)
    )
    if got[0] == "ok" and isinstance(got[1], Exception):  # pragma: no cover
        raise got[1]
    assert got[0] == expected[0], (got, expected)
    if expected[0] != "ok":
        assert got[1] == expected[1]
        return None
    report, frame = expected[1]
    result: lowmem.Result = got[1]
    assert (folder / "lowmem.csv").read_bytes() == (folder / "memory.csv").read_bytes()
    assert result.report.to_dict() == report
    pd.testing.assert_frame_equal(result.head, frame.head(len(result.head)))
    assert len(result.head) == min(len(frame), options.get("preview_rows", 50))
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "out.parquet"), frame.reset_index(drop=True))
    return result


@st.composite
def configs(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    column = st.sampled_from(names)
    pair = st.lists(column, min_size=2, max_size=len(names), unique=True)
    templates = [
        st.builds(lambda k: {"op": "drop_duplicates", "keep": k}, st.sampled_from(["first", "last", "none"])),
        st.builds(lambda c: {"op": "drop_duplicates", "subset": [c]}, column),
        st.builds(lambda s: {"op": "fill_missing", "strategy": s}, st.sampled_from(["mean", "median", "mode", "ffill", "bfill"])),
        st.builds(lambda v: {"op": "fill_missing", "strategy": "constant", "value": v}, st.sampled_from(["x", 0, True])),
        st.builds(lambda h: {"op": "drop_missing", "how": h}, st.sampled_from(["any", "all"])),
        st.builds(lambda c: {"op": "drop_missing", "columns": [c]}, column),
        st.just({"op": "trim_whitespace"}),
        st.builds(lambda c: {"op": "change_case", "case": c}, st.sampled_from(["lower", "upper", "title"])),
        st.just({"op": "replace_values", "mapping": {"a": "b", "1": None}}),
        st.just({"op": "regex_replace", "pattern": "[aeiou]", "replacement": "_"}),
        st.builds(lambda c, t: {"op": "cast", "columns": {c: t}, "errors": "coerce"}, column, st.sampled_from(["string", "integer", "float", "boolean"])),
        st.builds(lambda c, o: {"op": "filter_rows", "column": c, "operator": o}, column, st.sampled_from(["is_null", "not_null"])),
        st.builds(lambda c: {"op": "rename_columns", "mapping": {c: c + "!"}}, column),
        st.builds(lambda c: {"op": "drop_columns", "columns": [c]}, column),
        st.builds(lambda cs: {"op": "select_columns", "columns": cs}, pair),
        st.just({"op": "normalize_column_names"}),
        st.builds(lambda m: {"op": "clip_outliers", "method": m}, st.sampled_from(["iqr", "zscore"])),
        st.builds(lambda c, d: {"op": "sort", "by": c, "descending": d}, column, st.booleans()),
    ]
    return {"steps": draw(st.lists(st.one_of(templates), min_size=1, max_size=4))}


@st.composite
def files_and_configs(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    df = draw(frames(min_rows=0, max_rows=15).filter(lambda f: len(f.columns) >= 2))
    text = df.to_csv(index=False, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    return text.encode("utf-8"), draw(configs([str(c) for c in df.columns]))


@PROPERTY
@given(case=files_and_configs(), block_rows=st.integers(1, 7))
def test_the_low_memory_path_matches_the_in_memory_path(
    case: tuple[bytes, dict[str, Any]], block_rows: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data, config = case
    folder = tmp_path_factory.mktemp("lowmem")
    (folder / "in.csv").write_bytes(data)
    try:
        assert_same(folder / "in.csv", folder, config, block_rows=block_rows, preview_rows=3)
    except lowmem.Unsupported:
        pass  # a one-column result or a type only pandas writes: the caller runs in memory


MESSY = "".join(
    f"{i % 97},{' ' if i % 3 else ''}Name{i % 13} ,{i * 0.25 if i % 7 else ''},{'yes' if i % 2 else 'no'},"
    f"{'2024-01-%02d' % (i % 28 + 1) if i % 5 else ''},{'%05d' % (i % 400)}\n"
    for i in range(3000)
)
STEPS = {
    "steps": [
        {"op": "drop_duplicates"},
        {"op": "fill_missing", "columns": ["x"], "strategy": "median"},
        {"op": "fill_missing", "columns": ["name"], "strategy": "constant", "value": "?"},
        {"op": "trim_whitespace", "columns": ["name"]},
        {"op": "change_case", "columns": ["name"], "case": "lower"},
        {"op": "cast", "columns": {"x": "float", "day": "date"}, "errors": "coerce"},
        {"op": "filter_rows", "column": "ok", "operator": "eq", "value": True},
        {"op": "sort", "by": ["day", "n"], "descending": True},
    ]
}


@pytest.mark.parametrize("quoted", [False, True], ids=["pyarrow reads", "pandas reads"])
def test_a_file_read_in_many_blocks_gives_the_same_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quoted: bool) -> None:
    monkeypatch.setattr(lowmem, "MIN_BLOCK_BYTES", 4096)
    header = 'n,name,x,ok,day,"zip"\n' if quoted else "n,name,x,ok,day,zip\n"
    (tmp_path / "in.csv").write_text(header + MESSY)
    calls: list[tuple[str, int, int]] = []
    result = assert_same(tmp_path / "in.csv", tmp_path, STEPS, block_rows=100, budget_bytes=4096 * 32, on_progress=lambda *c: calls.append(c))
    assert result is not None and result.report.rows_out > 100
    assert result.types == {"n": "integer", "name": "text", "x": "float", "ok": "boolean", "day": "datetime", "zip": "text"}
    assert {phase for phase, _, _ in calls} == {"type", "step", "write"} | ({"check"} if quoted else {"parse"})
    assert calls[-1] == ("write", result.report.rows_out, result.report.rows_out)


def test_a_stop_request_ends_the_run_and_leaves_no_files(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("n,name,x,ok,day,zip\n" + MESSY)
    answers = iter([False, False, True])
    with pytest.raises(Cancelled, match="before step 3 of 8"):
        lowmem.run_file(tmp_path / "in.csv", tmp_path / "out.csv", STEPS, budget_bytes=BUDGET, folder=tmp_path, should_stop=lambda: next(answers))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_result_only_pandas_can_write_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("a,b\n2024-01-01T10:00:00.5,1\n")
    with pytest.raises(lowmem.Unsupported, match="column 'a'"):
        lowmem.run_file(tmp_path / "in.csv", tmp_path / "out.csv", {"steps": []}, budget_bytes=BUDGET, folder=tmp_path)


@pytest.mark.parametrize(("size", "budget", "fits"), [(10 << 20, 1 << 30, True), (428 << 20, 1 << 30, False)])
def test_the_path_is_chosen_by_the_file_and_the_budget(size: int, budget: int, fits: bool) -> None:
    assert lowmem.fits_in_memory(size, budget) is fits
    assert 5_000 <= lowmem.block_rows_for(budget, 90) <= 500_000


def test_the_duplicate_key_is_exact_past_int64(tmp_path: Path) -> None:
    columns = {f"c{i}": np.arange(4000) % (50 + i) for i in range(12)}  # 12 columns of ~50 values: past 2**62 combined
    df = pd.DataFrame(columns)
    df = pd.concat([df, df.iloc[:500]])
    df.to_csv(tmp_path / "in.csv", index=False)
    assert_same(tmp_path / "in.csv", tmp_path, {"steps": [{"op": "drop_duplicates", "keep": "none"}]}, block_rows=777)
