"""A job's progress as the database shows it while a real worker runs the job: it rises through the
reading, the steps and the writing (in memory and on the low-memory path), written every couple of
seconds; a job quicker than that writes none, and goes from 0 straight to 100."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from console.core.settings import Settings
from tests.integration.factories import make_account
from tests.integration.faultkit import (
    FINAL,
    SLOW_STEP,
    Worker,
    job_row,
    people_csv,
    private,  # noqa: F401  (fixture)
    spawn,  # noqa: F401  (fixture)
    store_dataset,
    submit,
    tuned,
)
from tests.integration.test_runner_lowmem import BUDGET_MB, messy_csv

pytestmark = pytest.mark.integration


def watch(job_id: int, every: float = 0.02, timeout: float = 180) -> tuple[list[int], Any]:
    """The progress values the job row showed while the job was running, in order (each once), and the
    row once final."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = job_row(job_id)
        if row.status in FINAL:
            return seen, row
        if row.status == "running" and (not seen or seen[-1] != row.progress):
            seen.append(row.progress)
        time.sleep(every)
    raise AssertionError(f"job {job_id} not finished after {timeout} s; progress seen {seen}")


def assert_rose(seen: list[int], final: Any) -> None:
    shown = [value for value in seen if value != 0]  # 0: running, nothing written yet
    assert final.status == "succeeded" and final.progress == 100, final.status
    assert len(shown) >= 3, seen
    assert shown == sorted(shown) and 5 <= shown[0] and shown[-1] <= 99, seen


def test_long_job_shows_its_progress_rising_while_it_runs(worker) -> None:  # type: ignore[no-untyped-def]
    owner = make_account().user
    dataset = store_dataset(owner, people_csv(250_000), "people.csv")

    seen, final = watch(submit(owner, dataset, [SLOW_STEP] * 24))

    assert_rose(seen, final)


def test_low_memory_job_shows_its_progress_rising_while_it_runs(
    private: Settings,  # noqa: F811
    spawn: Callable[..., Worker],  # noqa: F811
) -> None:
    owner = make_account().user
    dataset = store_dataset(owner, messy_csv(300_000), "big.csv")
    spawn(tuned(private, WORKER_MEMORY_BUDGET_MB=BUDGET_MB))
    steps = [{"op": "regex_replace", "columns": ["name"], "pattern": r"(\w)", "replacement": r"\1"}] * 10

    seen, final = watch(submit(owner, dataset, steps))

    assert final.report["path"] == "low-memory"
    assert_rose(seen, final)


def test_quick_job_writes_no_progress_before_it_is_done(worker) -> None:  # type: ignore[no-untyped-def]
    owner = make_account().user
    dataset = store_dataset(owner, b"id,name\n1,Ann\n2,Bob\n3,Cid\n", "tiny.csv")
    steps = [{"op": "change_case", "columns": ["name"], "case": case} for case in ("upper", "lower") * 15]

    seen, final = watch(submit(owner, dataset, steps), every=0.002)

    assert final.status == "succeeded" and final.progress == 100
    assert set(seen) <= {0}, seen
