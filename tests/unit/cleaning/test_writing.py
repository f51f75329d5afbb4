"""Writing cleaned frames and previewing them, plus the report's JSON form."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from worker.cleaning.report import Report, StepReport, json_safe
from worker.cleaning.writing import frame_preview, pandas_csv, write_csv

FRAME = pd.DataFrame(
    {
        "name": pd.Series(["Ann", None, 'say "hi"\nthere', ""], dtype="str"),
        "n": pd.array([1, None, 3, 40], dtype="Int64"),
        "x": [1.5, np.nan, 2.0, 1e-5],
        "ok": pd.array([True, None, False, True], dtype="boolean"),
        "d": pd.to_datetime(pd.Series(["2024-01-31", None, "2024-02-01", "2024-03-01"])),
    }
).set_axis([7, 8, 9, 10])


def test_write_csv_leaves_missing_empty_and_integers_whole(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_csv(FRAME, path)
    assert path.read_text(encoding="utf-8") == (
        "name,n,x,ok,d\n"
        "Ann,1,1.5,True,2024-01-31\n"
        ",,,,\n"
        '"say ""hi""\nthere",3,2.0,False,2024-02-01\n'
        ",40,1e-05,True,2024-03-01\n"
    )


def test_frame_preview_renders_cells_as_written_and_missing_as_none() -> None:
    preview = frame_preview(FRAME, 3)
    assert preview == {
        "columns": ["name", "n", "x", "ok", "d"],
        "rows": [
            ["Ann", "1", "1.5", "True", "2024-01-31"],
            [None, None, None, None, None],
            ['say "hi"\nthere', "3", "2.0", "False", "2024-02-01"],
        ],
    }
    assert json.loads(json.dumps(preview)) == preview


def test_frame_preview_keeps_empty_text_apart_from_missing() -> None:
    assert frame_preview(FRAME, 10)["rows"][3][0] == ""
    assert len(frame_preview(FRAME, 10)["rows"]) == 4


def test_frame_preview_keeps_a_bare_carriage_return_inside_its_cell() -> None:
    # One column takes pandas' route (pandas_cells), which reads pandas' CSV back; pandas leaves
    # a "\r" unquoted, so the preview once split the row there (and the job failed on an IndexError).
    text = pd.Series(["x\ry", "z", "q\r\nw", None, "\ue000"], dtype="str")
    expected = [["x\ry"], ["z"], ["q\r\nw"], [None], ["\ue000"]]
    assert frame_preview(pd.DataFrame({"a": text}), 10)["rows"] == expected
    two = frame_preview(pd.DataFrame({"a": text, "n": pd.array([1, 2, 3, 4, 5], dtype="Int64")}), 10)["rows"]
    assert two == [[*row, str(n)] for row, n in zip(expected, range(1, 6), strict=True)]


@pytest.mark.parametrize("names", [["a\rb"], ["a\rb", "n"]], ids=["pandas-route", "arrow-route"])
def test_a_carriage_return_in_a_cell_or_a_name_is_quoted_and_reads_back(tmp_path: Path, names: list[str]) -> None:
    # pandas leaves a bare "\r" unquoted, and every CSV reader ends the row there.
    columns = {
        "a\rb": pd.Series(["x\ry", "z", "q\r\nw", None, "\r", 'say "\r"'], dtype="str"),
        "n": pd.array([1, 2, 3, 4, 5, 6], dtype="Int64"),
    }
    frame = pd.DataFrame({name: columns[name] for name in names})
    write_csv(frame, tmp_path / "out.csv")
    pandas_csv(frame, tmp_path / "reference.csv")
    written = (tmp_path / "out.csv").read_bytes()
    assert written == (tmp_path / "reference.csv").read_bytes()
    assert b'"x\ry"' in written and b'"a\rb"' in written
    records = list(csv.reader(io.StringIO(written.decode("utf-8"), newline="")))
    expected = [names] + [["" if v is None else v for v in row] for row in zip(*(
        [None if pd.isna(v) else str(v) for v in columns[name]] for name in names), strict=True)]
    assert records == expected
    back = pd.read_csv(io.BytesIO(written), dtype=str, keep_default_na=False)
    assert [list(back.columns)] + back.to_numpy().tolist() == expected


def test_frame_preview_of_empty_frames() -> None:
    assert frame_preview(FRAME.iloc[:0], 5) == {"columns": ["name", "n", "x", "ok", "d"], "rows": []}
    assert frame_preview(pd.DataFrame(index=range(2)), 5) == {"columns": [], "rows": [[], []]}
    assert frame_preview(FRAME, 0)["rows"] == []


def test_report_to_dict_is_plain_json() -> None:
    step = StepReport(
        step=1,
        op="fill_missing",
        rows_before=3,
        rows_after=3,
        cells_changed={"age": np.int64(2)},
        details={"values": {"age": np.float64(37.5)}, "when": pd.Timestamp("2024-01-31"), "gap": pd.NA},
        summary="fill_missing age: 2 cells with median 37.5",
    )
    data = Report(rows_in=3, rows_out=3, steps=[step]).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["steps"][0]["cells_changed"] == {"age": 2}
    assert data["steps"][0]["details"] == {"values": {"age": 37.5}, "when": "2024-01-31T00:00:00", "gap": None}


def test_json_safe_turns_non_finite_and_missing_into_none() -> None:
    assert json_safe([math.nan, math.inf, pd.NaT, None, np.bool_(True), (1, "a")]) == [None, None, None, None, True, [1, "a"]]
    assert json_safe(np.datetime64("2024-01-02T10:00:00.000000000")) == "2024-01-02T10:00:00"
    assert json_safe(np.datetime64("NaT")) is None
