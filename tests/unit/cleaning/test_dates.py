"""Dates through a run. The rule (dates.py): an untouched datetime column is written back exactly as
it was read when all its values share one shape; a cast writes its own format (ISO without one,
%Y-%m-%d for a date); mixed shapes, or a format that would lose detail, are written in ISO."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.cleaning import engine, reading
from worker.cleaning.writing import frame_preview, write_csv


def round_trip(tmp_path: Path, text: str, steps: list[dict] | None = None) -> str:
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(text, encoding="utf-8")
    loaded = reading.read_csv(source)
    out, report = engine.run(loaded.frame, {"steps": steps or []}, formats=loaded.formats)
    write_csv(out, target, report.date_formats)
    return target.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "values",
    [
        ["2024-01-31", "1999-12-01"],
        ["2024-01-31T10:00", "2024-02-01T00:00"],
        ["2024-01-31 10:00:05", "2024-02-01 00:00:00"],
        ["2024-01-31T10:00:00.123456", "2024-02-01T00:00:00.000000"],
        ["2024-01-31T10:00:00Z", "2024-02-01T23:59:59Z"],
        ["2024-01-31T10:00:00+05:30", "2024-02-01T00:00:00+05:30"],
        ["2024-01-31T10:00-0800", "2024-02-01T00:00-0800"],
    ],
)
def test_an_untouched_datetime_column_is_written_back_as_it_was_read(tmp_path: Path, values: list[str]) -> None:
    text = "id,when\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)) + "9,\n"
    assert reading.read_csv(_write(tmp_path, text)).types["when"] == "datetime"
    assert round_trip(tmp_path, text) == text


def test_a_sorted_and_filtered_datetime_column_keeps_its_shape(tmp_path: Path) -> None:
    text = "when,n\n2024-03-01T08:30,1\n2024-01-01T09:15,2\n2023-12-31T23:59,3\n"
    steps = [{"op": "filter_rows", "column": "n", "operator": "le", "value": 2}, {"op": "sort", "by": "when"}]
    assert round_trip(tmp_path, text, steps) == "when,n\n2024-01-01T09:15,2\n2024-03-01T08:30,1\n"


@pytest.mark.parametrize(
    ("values", "written"),
    [
        (["2024-01-31", "2024-01-31T10:00"], ["2024-01-31 00:00:00", "2024-01-31 10:00:00"]),
        (["2024-01-31T10:00:00.5", "2024-01-31T10:00:00.25"], ["2024-01-31 10:00:00.500", "2024-01-31 10:00:00.250"]),
    ],
    ids=["mixed shapes", "fractions strftime cannot write"],
)
def test_other_datetime_columns_are_written_in_iso(tmp_path: Path, values: list[str], written: list[str]) -> None:
    text = "when\n" + "".join(f"{v}\n" for v in values)
    assert round_trip(tmp_path, text) == "when\n" + "".join(f"{w}\n" for w in written)


def test_cast_with_a_format_writes_dates_in_that_format(tmp_path: Path) -> None:
    text = "d,t\n31/01/2024,2024-01-31T10:00\n29/02/2024,\n"
    steps = [
        {"op": "cast", "columns": {"d": "date"}, "format": "%d/%m/%Y"},
        {"op": "cast", "columns": {"t": "string"}},
        {"op": "filter_rows", "column": "d", "operator": "gt", "value": "2024-02-01"},
    ]
    assert round_trip(tmp_path, text, steps) == "d,t\n29/02/2024,\n"


def test_cast_to_date_without_a_format_writes_iso_dates_and_renames_keep_formats(tmp_path: Path) -> None:
    text = "Stamp,raw\n2024-01-31T10:00,x\n"
    steps = [
        {"op": "cast", "columns": {"Stamp": "date"}},
        {"op": "rename_columns", "mapping": {"Stamp": "Day Of"}},
        {"op": "normalize_column_names"},
    ]
    assert round_trip(tmp_path, text, steps) == "day_of,raw\n2024-01-31,x\n"


def test_a_format_that_would_lose_detail_falls_back_to_iso(tmp_path: Path) -> None:
    text = "d\n2024-01-31\n\n"
    steps = [{"op": "fill_missing", "columns": ["d"], "strategy": "constant", "value": "2024-06-30T12:30:00"}]
    assert round_trip(tmp_path, "d\n2024-01-31\nNA\n", steps) == "d\n2024-01-31 00:00:00\n2024-06-30 12:30:00\n"
    assert round_trip(tmp_path, text) == "d\n2024-01-31\n"


def test_the_preview_shows_dates_as_they_are_written(tmp_path: Path) -> None:
    loaded = reading.read_csv(_write(tmp_path, "when\n2024-01-31T10:00Z\n"))
    out, report = engine.run(loaded.frame, {"steps": []}, formats=loaded.formats)
    assert report.date_formats == {"when": "%Y-%m-%dT%H:%MZ"}
    assert frame_preview(out, 5, report.date_formats)["rows"] == [["2024-01-31T10:00Z"]]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "probe.csv"
    path.write_text(text, encoding="utf-8")
    return path
