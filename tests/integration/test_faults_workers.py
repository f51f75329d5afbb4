"""Workers that die: SIGKILL of a pool process and of a whole worker mid-job, the attempt budget,
a poison job that gets its process killed every time, and time limits.

Each test runs its own workers on a queue of their own with short timings (faultkit.FAST).
"""

from __future__ import annotations

import csv
import io
import os
import signal
import threading
from collections.abc import Callable

import psutil
import pytest

from console.core import queue
from console.core.settings import Settings
from tests.integration.factories import make_account
from tests.integration.faultkit import (
    SLOW_STEP,
    Worker,
    assert_ended_without_output,
    assert_succeeded_once,
    events,
    output_text,
    people_csv,
    private,  # noqa: F401  (fixture)
    spawn,  # noqa: F401  (fixture)
    store_dataset,
    submit,
    tuned,
    wait_final,
    wait_running,
    wait_until,
)

pytestmark = pytest.mark.integration
ROWS = 20_000
SLOW = [SLOW_STEP] * 60  # a few seconds of real work, progress after every step
QUICK = [{"op": "change_case", "columns": ["name"], "case": "upper"}]


@pytest.fixture
def people(private: Settings) -> tuple[object, int]:
    account = make_account()
    return account.user, store_dataset(account.user, people_csv(ROWS), "people.csv")


def assert_people_output(job_id: int, upper: bool = False) -> None:
    rows = list(csv.reader(io.StringIO(output_text(job_id))))
    assert rows[0] == ["id", "name", "city"] and len(rows) == ROWS + 1
    name = "name 5 x5"
    assert rows[6] == ["5", name.upper() if upper else name, "city5"]


def test_pool_process_killed_mid_job_is_delivered_again_and_finished(private: Settings, spawn, people) -> None:
    owner, dataset = people
    worker = spawn(private)
    job = submit(owner, dataset, SLOW)
    victim = wait_running(job)
    assert victim in {child.pid for child in worker.children()}

    os.kill(victim, signal.SIGKILL)
    wait_final([job])

    seen = assert_succeeded_once(job)
    assert seen.attempts == 2
    assert_people_output(job)
    lines = events(job)
    assert [line.split(" on ")[0] for line in lines if line.startswith("running")] == [
        "running: attempt 1",
        "running: attempt 2",
    ]
    assert worker.alive()


def test_whole_worker_killed_mid_job_loses_none_of_its_jobs(private: Settings, spawn, people) -> None:
    # A short visibility timeout, so the dead worker's unacknowledged messages come back within
    # the test too: the late duplicates must change nothing.
    fast = tuned(private, JOB_SOFT_TIME_LIMIT=10, JOB_TIME_LIMIT=11, BROKER_VISIBILITY_TIMEOUT=12)
    owner, dataset = people
    first = spawn(fast, concurrency=2)
    jobs = [submit(owner, dataset, SLOW), submit(owner, dataset, SLOW)]
    for job in jobs:
        wait_running(job)

    first.kill()
    spawn(fast, beat=True)
    wait_final(jobs)
    wait_until(lambda: queue.queued_task_ids(fast.CELERY_QUEUE) == set(), 60, "the dead worker's messages to drain")

    for job in jobs:
        assert assert_succeeded_once(job).attempts == 2
        assert_people_output(job)


def test_job_whose_worker_dies_on_every_attempt_fails_as_worker_lost(private: Settings, spawn, people) -> None:
    owner, dataset = people
    worker = spawn(tuned(private, JOB_MAX_ATTEMPTS=2), beat=True)
    job = submit(owner, dataset, SLOW)
    os.kill(wait_running(job, attempt=1), signal.SIGKILL)
    os.kill(wait_running(job, attempt=2), signal.SIGKILL)
    wait_final([job])
    after = submit(owner, dataset, QUICK)
    wait_final([after])

    lost = assert_ended_without_output(job, "failed")
    assert lost.attempts == 2
    assert lost.error is not None and lost.error.startswith("worker lost: the job was started 2 times")
    assert events(job)[-1] == "failed: worker lost"
    assert_succeeded_once(after)
    assert worker.alive()


class OomKiller:
    """Plays the kernel's OOM killer (or a container's memory limit) for one worker's processes:
    any of them that grows past `limit_mb` of resident memory is SIGKILLed."""

    def __init__(self, worker: Worker, limit_mb: int) -> None:
        self.worker, self.limit = worker, limit_mb * 1024 * 1024
        self.kills: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> OomKiller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            for child in self.worker.children():
                try:
                    if child.memory_info().rss > self.limit:
                        child.kill()
                        self.kills.append(child.pid)
                except psutil.NoSuchProcess:
                    continue


def test_poison_job_fails_after_its_attempt_budget_and_other_jobs_still_finish(
    private: Settings, spawn: Callable[..., Worker], people
) -> None:
    owner, small = people
    # Compresses to almost nothing in storage; as a frame it needs several hundred MB.
    poison = store_dataset(owner, iter([b"a,b,c,d\n"] + [b"alpha beta,gamma delta,12345,epsilon\n" * 100_000] * 10))
    worker = spawn(private, concurrency=2, beat=True)
    baseline = max(child.memory_info().rss for child in worker.children()) // (1024 * 1024)

    with OomKiller(worker, limit_mb=baseline + 150) as oom:
        job = submit(owner, poison, [{"op": "drop_duplicates"}])
        others = [submit(owner, small, QUICK) for _ in range(3)]
        wait_final([job, *others], timeout=120)

    lost = assert_ended_without_output(job, "failed")
    budget = private.JOB_MAX_ATTEMPTS
    assert lost.error is not None and lost.error.startswith(f"worker lost: the job was started {budget} times")
    # The budget bounds the redeliveries: one start, and one kill, per attempt.
    assert lost.attempts == budget == len(oom.kills)
    assert sum(line.startswith("running: attempt") for line in events(job)) == budget
    for other in others:
        assert_succeeded_once(other)
    assert worker.alive()


def test_job_past_its_soft_time_limit_fails_and_keeps_no_output(private: Settings, spawn, people) -> None:
    owner, dataset = people
    worker = spawn(tuned(private, JOB_SOFT_TIME_LIMIT=1, JOB_TIME_LIMIT=20, BROKER_VISIBILITY_TIMEOUT=30))
    pool = {child.pid for child in worker.children()}
    job = submit(owner, dataset, SLOW * 3)
    wait_final([job])
    after = submit(owner, dataset, QUICK)
    wait_final([after])

    stopped = assert_ended_without_output(job, "failed")
    assert stopped.error == "time limit: the job ran past 1 s and was stopped"
    assert stopped.attempts == 1
    assert_succeeded_once(after)
    assert {child.pid for child in worker.children()} == pool  # the soft limit killed nothing
