"""The engine loop: validation, cancellation, progress callbacks, and how step failures surface."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from worker.cleaning import engine, steps
from worker.cleaning.config import validate_config
from worker.cleaning.errors import Cancelled, ConfigError, StepError

FRAME = pd.DataFrame({"name": pd.Series(["a", "b", "a", None], dtype="str"), "n": pd.array([1, None, 1, 4], dtype="Int64")})
STEPS = {
    "steps": [
        {"op": "drop_duplicates"},
        {"op": "fill_missing", "columns": ["n"], "strategy": "constant", "value": 0},
        {"op": "sort", "by": "n", "descending": True},
    ]
}


def test_run_applies_steps_in_order_and_reports_each() -> None:
    out, report = engine.run(FRAME, STEPS)
    assert out["n"].tolist() == [4, 1, 0]
    assert (report.rows_in, report.rows_out) == (4, 3)
    assert [(s.step, s.op, s.rows_before, s.rows_after) for s in report.steps] == [
        (1, "drop_duplicates", 4, 3),
        (2, "fill_missing", 3, 3),
        (3, "sort", 3, 3),
    ]
    assert report.steps[1].cells_changed == {"n": 1}


def test_report_is_json_ready() -> None:
    _, report = engine.run(FRAME, STEPS)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["rows_out"] == 3
    assert data["steps"][1]["summary"] == "fill_missing n: 1 cell with 0"
    assert data["steps"][1]["details"] == {"strategy": "constant", "values": {"n": 0}, "notes": []}


def test_run_accepts_a_validated_config() -> None:
    out, _ = engine.run(FRAME, validate_config(STEPS))
    assert len(out) == 3


def test_run_validates_a_dict_config() -> None:
    with pytest.raises(ConfigError, match=r"step 1 \(sort\): by: required"):
        engine.run(FRAME, {"steps": [{"op": "sort"}]})


def test_run_checks_columns_before_any_step() -> None:
    calls: list[tuple[int, int]] = []
    with pytest.raises(ConfigError, match="column 'n' was dropped by step 1"):
        engine.run(
            FRAME,
            {"steps": [{"op": "drop_columns", "columns": ["n"]}, {"op": "sort", "by": "n"}]},
            on_step=lambda d, t: calls.append((d, t)),
        )
    assert calls == []


def test_on_step_reports_progress_after_each_step() -> None:
    calls: list[tuple[int, int]] = []
    engine.run(FRAME, STEPS, on_step=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_should_stop_is_asked_before_each_step() -> None:
    answers = iter([False, True])
    calls: list[tuple[int, int]] = []
    with pytest.raises(Cancelled, match="before step 2 of 3"):
        engine.run(FRAME, STEPS, should_stop=lambda: next(answers), on_step=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3)]


def test_an_unexpected_data_error_becomes_a_step_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(df: pd.DataFrame, step: object) -> None:
        raise ValueError("cannot do that")

    monkeypatch.setitem(steps.OPS, "sort", broken)
    with pytest.raises(StepError) as caught:
        engine.run(FRAME, STEPS)
    assert str(caught.value) == "step 3 (sort): unexpected error: ValueError: cannot do that"
    assert isinstance(caught.value.__cause__, ValueError)


def test_other_exceptions_pass_through_untouched(monkeypatch: pytest.MonkeyPatch) -> None:
    class TimeLimit(Exception):
        pass

    def slow(df: pd.DataFrame, step: object) -> None:
        raise TimeLimit

    monkeypatch.setitem(steps.OPS, "drop_duplicates", slow)
    with pytest.raises(TimeLimit):
        engine.run(FRAME, STEPS)


def test_run_never_mutates_its_input_and_handles_a_duplicate_index() -> None:
    df = FRAME.set_axis([0, 0, 1, 1])
    before = df.copy()
    out, report = engine.run(df, STEPS)
    pd.testing.assert_frame_equal(df, before)
    assert out["n"].tolist() == [4, 1, 0]
    assert report.rows_out == 3


def test_no_steps_returns_the_frame_unchanged() -> None:
    out, report = engine.run(FRAME, {"steps": []})
    pd.testing.assert_frame_equal(out, FRAME)
    assert report.to_dict() == {"rows_in": 4, "rows_out": 4, "steps": [], "date_formats": {}}
