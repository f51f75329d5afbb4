"""A file larger than the worker's memory budget is cleaned on the low-memory path, through a real
worker, with the in-memory path's results: the same CSV bytes, Parquet rows, report and preview.

Each test runs its own workers (faultkit) on a queue and schema of its own; the low-memory worker
gets the lowest budget the settings allow (256 MiB), which a file of ~7.7 MiB does not fit.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from console.core import storage
from console.core.db import session_scope
from console.core.models import JobOutput
from console.core.settings import Settings
from tests.integration.factories import make_account
from tests.integration.faultkit import (
    Worker,
    assert_succeeded_once,
    events,
    job_row,
    output_text,
    private,  # noqa: F401  (fixture)
    spawn,  # noqa: F401  (fixture)
    store_dataset,
    submit,
    tuned,
    wait_final,
)
from worker.cleaning import lowmem

pytestmark = pytest.mark.integration

BUDGET_MB = 256  # the lowest WORKER_MEMORY_BUDGET_MB allowed
ROWS = 160_000  # ~7.7 MiB: over the ~6.2 MiB that fits 256 MiB in memory
STEPS: list[dict[str, Any]] = [
    {"op": "drop_duplicates"},
    {"op": "fill_missing", "columns": ["age"], "strategy": "median"},
    {"op": "fill_missing", "columns": ["city"], "strategy": "constant", "value": "unknown"},
    {"op": "trim_whitespace", "columns": ["name", "city"]},
    {"op": "change_case", "columns": ["city"], "case": "title"},
    {"op": "cast", "columns": {"joined": "date"}, "errors": "coerce"},
    {"op": "filter_rows", "column": "active", "operator": "eq", "value": True},
    {"op": "sort", "by": ["income"], "descending": True},
]
CITIES = ["Paris", " berlin", "Oslo ", "NA", "", "São Paulo", "rome", "n/a"]


def messy_csv(rows: int) -> bytes:
    """Ints and floats with gaps, text with stray spaces and NA tokens, zip codes with leading zeros,
    dates with gaps, yes/no; every 20th row repeats an earlier one exactly."""

    def line(k: int) -> str:
        name = f" Name{k % 5000} " if k % 4 == 0 else f"name{k % 5000}"
        age = "" if k % 11 == 0 else str(18 + k % 70)
        income = "" if k % 13 == 0 else f"{(k * 7919) % 100_000 / 100:.2f}"
        joined = "" if k % 17 == 0 else f"2024-{1 + k % 12:02d}-{1 + k % 28:02d}"
        active = "yes" if k % 3 else "no"
        return f"{k},{name},{age},{income},{CITIES[k % len(CITIES)]},{(k * 31) % 100_000:05d},{joined},{active}\n"

    body = "".join(line(i if i % 20 else max(i - 7, 0)) for i in range(rows))
    return ("id,name,age,income,city,zip,joined,active\n" + body).encode()


def run_one(start: Callable[..., Worker], settings: Settings, owner: Any, dataset: int, steps: list[Any]) -> int:
    """The job run to its end by a worker of its own with these settings (stopped afterwards)."""
    worker = start(settings)
    job = submit(owner, dataset, steps)
    wait_final([job], timeout=180)
    worker.terminate()
    return job


def outputs_of(job_id: int) -> dict[str, bytes]:
    with session_scope() as session:
        rows = session.scalars(select(JobOutput).where(JobOutput.job_id == job_id)).all()
        return {row.format: b"".join(storage.iter_chunks(session=session, file_id=row.file_id)) for row in rows}


@pytest.fixture
def big(private: Settings) -> tuple[Any, int]:  # noqa: F811
    content = messy_csv(ROWS)
    assert not lowmem.fits_in_memory(len(content), BUDGET_MB << 20)  # the premise: too big for the budget
    owner = make_account().user
    return owner, store_dataset(owner, content, "big.csv")


def test_file_over_the_budget_is_cleaned_on_the_low_memory_path_with_the_in_memory_results(
    private: Settings,  # noqa: F811
    spawn: Callable[..., Worker],  # noqa: F811
    big: tuple[Any, int],
) -> None:
    owner, dataset = big
    low = run_one(spawn, tuned(private, WORKER_MEMORY_BUDGET_MB=BUDGET_MB), owner, dataset, STEPS)
    high = run_one(spawn, private, owner, dataset, STEPS)

    for job in (low, high):
        assert_succeeded_once(job)
    low_row, high_row = job_row(low), job_row(high)
    assert (low_row.report["path"], high_row.report["path"]) == ("low-memory", "in-memory")
    assert output_text(low) == output_text(high)
    low_files, high_files = outputs_of(low), outputs_of(high)
    assert sorted(low_files) == sorted(high_files) == ["csv", "parquet"]
    assert high_row.report["on_request"] == ["xlsx"] and "on_request" not in low_row.report
    assert pq.read_table(io.BytesIO(low_files["parquet"])).equals(pq.read_table(io.BytesIO(high_files["parquet"])))
    assert low_row.preview == high_row.preview
    assert (low_row.rows_in, low_row.rows_out) == (high_row.rows_in, high_row.rows_out)
    assert low_row.report["steps"] == high_row.report["steps"]


def test_low_memory_job_says_why_it_has_no_xlsx_and_which_path_ran(
    private: Settings,  # noqa: F811
    spawn: Callable[..., Worker],  # noqa: F811
    big: tuple[Any, int],
) -> None:
    owner, dataset = big
    job = run_one(spawn, tuned(private, WORKER_MEMORY_BUDGET_MB=BUDGET_MB), owner, dataset, STEPS[:1])

    assert_succeeded_once(job)
    notes = job_row(job).report["outputs"]
    assert notes["csv"] == notes["parquet"] == "written"
    assert notes["xlsx"].startswith("not written: low-memory mode")
    assert any(line.startswith("low-memory path: the file") for line in events(job)), events(job)
    assert events(job)[-1].endswith(", low-memory path")


def test_what_the_low_memory_path_cannot_do_is_cleaned_in_memory(
    private: Settings,  # noqa: F811
    spawn: Callable[..., Worker],  # noqa: F811
    big: tuple[Any, int],
) -> None:
    owner, dataset = big
    one_column = [{"op": "select_columns", "columns": ["city"]}, {"op": "trim_whitespace"}]
    job = run_one(spawn, tuned(private, WORKER_MEMORY_BUDGET_MB=BUDGET_MB), owner, dataset, one_column)

    assert_succeeded_once(job)
    report = job_row(job).report
    assert report["path"] == "in-memory"
    assert "one column" in report["path_note"]
    assert output_text(job).splitlines()[:3] == ["city", "Paris", "berlin"]
