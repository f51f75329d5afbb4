"""Progress callbacks: the reader, the engine and the writer report real units; a Tracker makes one percent."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from worker.cleaning import arrow_csv, engine, reading, writing
from worker.cleaning.progress import Tracker

STEPS = {"steps": [{"op": "drop_duplicates"}, {"op": "trim_whitespace"}]}


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    rows = "".join(f"{i},name {i % 7} ,{i * 0.5}\n" for i in range(3000))
    path.write_text("id,name,x\n" + rows)
    return path


def test_the_reader_reports_bytes_then_columns(csv_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int, int]] = []
    monkeypatch.setattr(arrow_csv, "_BLOCK", 1024)
    reading.read_csv(csv_file, on_progress=lambda *call: calls.append(call))
    phases = [phase for phase, _, _ in calls]
    assert phases.index("parse") < phases.index("type")
    size = csv_file.stat().st_size
    assert [c for c in calls if c[0] == "parse"][-1][1:] == (size, size)
    assert [c for c in calls if c[0] == "type"][-1][1:] == (3, 3)
    assert all(done <= total for _, done, total in calls)


def test_the_engine_and_the_writer_report_steps_and_rows(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": pd.Series([" x", "y", " x"], dtype="str"), "n": [1, 2, 1]})
    calls: list[tuple[str, int, int]] = []
    out, report = engine.run(df, STEPS, on_progress=lambda *call: calls.append(call))
    writing.write_csv(out, tmp_path / "out.csv", on_progress=lambda *call: calls.append(call))
    assert calls == [("step", 1, 2), ("step", 2, 2), ("write", 2, 2)]


def test_the_tracker_maps_phases_onto_one_rising_percent() -> None:
    shown: list[int] = []
    tracker = Tracker(shown.append, start=20, end=90, every=0, weights={"parse": 50, "step": 50})
    tracker("parse", 50, 100)
    tracker("parse", 100, 100)
    tracker("step", 0, 4)  # the same point as the end of parsing: nothing new to show
    tracker("step", 1, 4)
    tracker("unknown", 1, 1)
    tracker("step", 4, 4)
    assert shown == [37, 55, 63, 90]


def test_the_tracker_passes_on_at_most_one_percent_a_period_but_always_the_end() -> None:
    now = [0.0]
    shown: list[int] = []
    tracker = Tracker(shown.append, every=2.0, weights={"write": 1}, clock=lambda: now[0])
    for done in range(1, 10):
        now[0] += 0.5
        tracker("write", done, 10)
    tracker("write", 10, 10)
    assert shown == [10, 50, 90, 100]


def test_a_whole_run_moves_the_bar_from_start_to_end(csv_file: Path, tmp_path: Path) -> None:
    shown: list[int] = []
    tracker = Tracker(shown.append, start=5, end=99, every=0)
    loaded = reading.read_csv(csv_file, on_progress=tracker)
    out, report = engine.run(loaded.frame, STEPS, formats=loaded.formats, on_progress=tracker)
    writing.write_csv(out, tmp_path / "out.csv", report.date_formats, on_progress=tracker)
    assert shown == sorted(shown) and len(set(shown)) == len(shown)
    assert shown[-1] == 99
