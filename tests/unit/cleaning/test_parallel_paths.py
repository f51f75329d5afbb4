"""The multi-threaded paths give the single-threaded answers: rows taken by column in threads
(ops_common.take_rows) are ``df[mask]``; blocks of rows rendered in threads (arrow_write.write)
are written in order, byte for byte as pandas writes the frame; the writer's byte scans
(text needing quotes, floats needing repr) see exactly the values of the slice they are given."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cleaning import arrow_write, ops_common
from worker.cleaning.writing import pandas_csv, pandas_csv_text

from .strategies import PROPERTY, frames
from .test_arrow_write import TRICKY_TEXT, wide_frames


@pytest.fixture
def always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops_common, "PARALLEL_ROWS", 0)
    monkeypatch.setattr(ops_common, "THREADS", 2)
    monkeypatch.setattr(arrow_write, "PARALLEL_ROWS", 0)
    monkeypatch.setattr(arrow_write, "THREADS", 2)


def odd_frame(rows: int = 9) -> pd.DataFrame:
    """Every dtype a step may leave, including ones the engine's reader never makes."""
    return pd.DataFrame(
        {
            "text": pd.Series([None if i % 4 == 0 else f"v{i}" for i in range(rows)], dtype="str"),
            "n": pd.array([None if i % 3 == 0 else i for i in range(rows)], dtype="Int64"),
            "x": np.linspace(0, 1, rows),
            "ok": pd.array([None if i % 5 == 0 else i % 2 == 0 for i in range(rows)], dtype="boolean"),
            "when": pd.date_range("2024-01-01", periods=rows, freq="D").as_unit("us"),
            "zone": pd.date_range("2024-01-01", periods=rows, freq="h", tz="UTC"),
            "plain_int": np.arange(rows),
            "cat": pd.Categorical([f"c{i % 2}" for i in range(rows)]),
            "obj": pd.Series([{"k": i} if i % 2 else i for i in range(rows)], dtype=object),
        },
        index=pd.Index(np.arange(rows) * 10 + 3),
    )


@PROPERTY
@given(df=frames(min_rows=0, max_rows=20), data=st.data())
def test_take_rows_is_boolean_indexing(df: pd.DataFrame, data: st.DataObject) -> None:
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(df), max_size=len(df))), dtype=bool)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(ops_common, "PARALLEL_ROWS", 0)
        patched.setattr(ops_common, "THREADS", 2)
        got = ops_common.take_rows(df, mask)
        by_series = ops_common.take_rows(df, pd.Series(mask, index=df.index))
    pd.testing.assert_frame_equal(got, df[mask], check_index_type=True, check_column_type=True)
    pd.testing.assert_frame_equal(by_series, df[mask], check_index_type=True, check_column_type=True)


@pytest.mark.usefixtures("always_parallel")
def test_take_rows_keeps_every_dtype_the_index_and_duplicate_names() -> None:
    df = odd_frame()
    mask = np.array([i % 3 != 1 for i in range(len(df))])
    pd.testing.assert_frame_equal(ops_common.take_rows(df, mask), df[mask], check_index_type=True)
    twice = df.iloc[:, [0, 1, 0]]
    pd.testing.assert_frame_equal(ops_common.take_rows(twice, mask), twice[mask], check_index_type=True)
    pd.testing.assert_frame_equal(ops_common.take_rows(df, ~mask & False), df[~mask & False], check_index_type=True)


@PROPERTY
@given(df=wide_frames(), block_rows=st.integers(1, 4))
def test_blocks_rendered_in_threads_are_written_in_order(df: pd.DataFrame, block_rows: int) -> None:
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(arrow_write, "PARALLEL_ROWS", 0)
        patched.setattr(arrow_write, "THREADS", 2)
        renderers = arrow_write.render(df)
        assert renderers is not None
        out, calls = io.BytesIO(), []
        arrow_write.write(df, out, renderers, block_rows=block_rows, on_rows=lambda d, t: calls.append((d, t)))
    assert out.getvalue() == pandas_csv_text(df).encode("utf-8")
    done = [d for d, _ in calls]
    assert done == sorted(done) and (not df.empty) == bool(calls)
    assert all(t == len(df) for _, t in calls) and (not calls or done[-1] == len(df))


@pytest.mark.usefixtures("always_parallel")
def test_a_large_frame_is_written_by_threads_as_pandas_writes_it(tmp_path: Path) -> None:
    rows = 5_003
    rng = np.random.default_rng(7)
    df = pd.DataFrame(
        {
            "t": pd.Series(rng.choice(np.array(TRICKY_TEXT + [None], dtype=object), rows), dtype="str"),
            "x": np.where(rng.random(rows) < 0.1, np.nan, rng.choice([1e-5, 2.0, 1e16, 0.1, 123456789012345.0, -0.0], rows)),
            "n": pd.array(rng.integers(-5, 5, rows), dtype="Int64"),
        }
    )
    renderers = arrow_write.render(df)
    assert renderers is not None
    with (tmp_path / "fast.csv").open("wb") as handle:
        arrow_write.write(df, handle, renderers, block_rows=700)
    pandas_csv(df, tmp_path / "reference.csv")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "reference.csv").read_bytes()


@pytest.mark.parametrize("where", [0, 3, 5])
def test_text_is_quoted_by_what_the_slice_holds(where: int) -> None:
    """The byte scan that skips the per-value match sees the slice's values, not its neighbours'."""
    values = ["a", "b", "c", "d", "e", "f"]
    values[where] = "x,y"
    column = pd.Series(values, dtype="str")
    for start in range(6):
        block = column.iloc[start : start + 2]
        rendered = arrow_write._text(block).to_pylist()
        assert rendered == [f'"{v}"' if "," in v else v for v in values[start : start + 2]]


def test_text_whose_missing_values_hold_bytes_is_quoted_as_its_values_need() -> None:
    offsets = pa.array([0, 1, 4, 5], pa.int64()).buffers()[1]
    validity = pa.array([True, False, True]).buffers()[1]
    values = pa.Array.from_buffers(pa.large_string(), 3, [validity, offsets, pa.py_buffer(b"a,\n,b")])
    column = pd.Series(pd.array(values, dtype="str"))
    assert arrow_write._text(column).to_pylist() == ["a", None, "b"]
    values = pa.Array.from_buffers(pa.large_string(), 3, [validity, offsets, pa.py_buffer(b",abc\n")])
    column = pd.Series(pd.array(values, dtype="str"))
    assert arrow_write._text(column).to_pylist() == ['","', None, '"\n"']


@pytest.mark.parametrize(
    "numbers",
    [[2.0, 1.5], [1e15, 1.5], [1.5, 2.5], [np.nan, 3.0], [1e-5, 7.0, np.nan, -0.0], [float("inf"), 1.0]],
)
def test_floats_whole_exponent_and_missing(numbers: list[float]) -> None:
    rendered = arrow_write._float(pd.Series(numbers, dtype="float64")).to_pylist()
    assert rendered == [None if np.isnan(v) else repr(v) for v in numbers]


STEP_CONFIGS = [
    [{"op": "drop_duplicates"}],
    [{"op": "drop_duplicates", "keep": "last"}],
    [{"op": "trim_whitespace"}],
    [{"op": "trim_whitespace"}, {"op": "change_case", "case": "upper", "columns": None}],
    [{"op": "fill_missing", "strategy": "ffill"}],
    [{"op": "drop_missing", "how": "any"}],
]


@PROPERTY
@given(df=frames(min_rows=0, max_rows=15), steps=st.sampled_from(STEP_CONFIGS))
def test_steps_give_the_same_frame_and_report_with_threads(df: pd.DataFrame, steps: list[dict]) -> None:
    from worker.cleaning import engine
    from worker.cleaning.errors import ConfigError, StepError

    config = {"steps": [{k: v for k, v in step.items() if v is not None} for step in steps]}

    def run() -> tuple[pd.DataFrame, dict] | str:
        try:
            out, report = engine.run(df, config)
        except (ConfigError, StepError) as exc:
            return str(exc)
        return out, report.to_dict()

    alone = run()
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(ops_common, "PARALLEL_ROWS", 0)
        patched.setattr(ops_common, "THREADS", 2)
        threaded = run()
    if isinstance(alone, str):
        assert threaded == alone
        return
    assert not isinstance(threaded, str)
    pd.testing.assert_frame_equal(threaded[0], alone[0], check_index_type=True)
    assert threaded[1] == alone[1]


@pytest.mark.usefixtures("always_parallel")
def test_filter_rows_with_threads_keeps_pandas_rows() -> None:
    from worker.cleaning import engine

    df = odd_frame(12)
    out, report = engine.run(df, {"steps": [{"op": "filter_rows", "column": "ok", "operator": "eq", "value": True}]})
    expected = df[df["ok"].fillna(False).astype(bool)]
    pd.testing.assert_frame_equal(out, expected, check_index_type=True)
    assert report.rows_out == len(expected)


CELLS = st.one_of(st.none(), st.sampled_from(["a", "A", "", " a", "日本"]))


@PROPERTY
@given(pair=st.integers(0, 12).flatmap(lambda n: st.tuples(*(st.lists(CELLS, min_size=n, max_size=n),) * 2)))
def test_changed_text_cells_are_counted_as_object_columns_count_them(pair: tuple[list, list]) -> None:
    before, after = (pd.Series(values, dtype="str") for values in pair)
    expected = sum((b is None) != (a is None) or (b is not None and a is not None and b != a) for b, a in zip(*pair, strict=True))
    assert ops_common.count_changed(before, after) == expected
    halves = [pa.array(pair[1][:3], pa.large_string()), pa.array(pair[1][3:], pa.large_string())]
    chunked = pd.Series(pd.array(pa.chunked_array(halves), dtype="str"))
    assert ops_common.count_changed(before, chunked) == expected
    as_objects = ops_common.count_changed(before.astype(object), after.astype(object))
    assert as_objects == expected


def test_a_layout_the_byte_scan_does_not_know_counts_as_holding_every_byte() -> None:
    from worker.cleaning.arrow_bytes import Bytes

    assert Bytes(pa.array(["a", "b"]).dictionary_encode()).has(b"z")
    assert Bytes(pa.array(["a", "b"], pa.string_view())).has(b"z")
    assert not Bytes(pa.chunked_array([pa.array(["a"]), pa.array(["b"])])).has(b"z")
    assert Bytes(pa.array([b"\x00z"], pa.large_binary())).has(b"z")
