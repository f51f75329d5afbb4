"""Fairness: one user's burst of jobs does not hold another user's job behind it.

While another user has a job waiting, a user runs at most JOBS_PER_USER_RUNNING jobs at once;
a run over that share hands its job back (no attempt used) and the free worker takes the
next message. Alone, a user uses every free worker.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import combinations
from typing import Any

import pytest
from sqlalchemy import func, update

from console.core import jobs
from console.core.db import session_scope
from console.core.models import Job, User
from console.core.settings import Settings
from tests.integration.factories import make_account
from tests.integration.faultkit import (
    SLOW_STEP,
    assert_succeeded_once,
    job_row,
    people_csv,
    private,  # noqa: F401  (fixture)
    spawn,  # noqa: F401  (fixture)
    store_dataset,
    submit,
    tuned,
    wait_final,
    wait_until,
)

pytestmark = pytest.mark.integration


def job_in(owner: User, dataset: int, status: str, **values: Any) -> int:
    """A job row of `owner` put straight into `status` (no message is sent)."""
    with session_scope() as session:
        job = Job(owner_id=owner.id, dataset_id=dataset, steps=[], task_id=jobs.uuid.uuid4().hex, status=status, **values)
        session.add(job)
        session.flush()
        return job.id


def waits(job_id: int, limit: int = 1) -> int | None:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return jobs.must_wait_turn(session=session, job=job, limit=limit, stale_seconds=60)


@pytest.fixture
def two_users(private: Settings) -> tuple[tuple[User, int], tuple[User, int]]:
    first, second = make_account().user, make_account().user
    return (first, store_dataset(first, b"a\n1\n")), (second, store_dataset(second, b"a\n1\n"))


def test_user_at_the_limit_waits_while_another_users_job_is_queued(two_users) -> None:
    (a, a_data), (b, b_data) = two_users
    job_in(a, a_data, "running", heartbeat_at=func.now())
    mine = job_in(a, a_data, "queued")
    theirs = job_in(b, b_data, "queued")

    assert waits(mine) == 1
    assert waits(mine, limit=2) is None
    assert waits(theirs) is None  # b runs nothing yet


def test_user_alone_is_not_held_back(two_users) -> None:
    (a, a_data), (b, b_data) = two_users
    job_in(a, a_data, "running", heartbeat_at=func.now())
    mine = job_in(a, a_data, "queued")
    job_in(b, b_data, "succeeded")

    assert waits(mine) is None


def test_jobs_of_a_dead_worker_do_not_count_against_their_owner(two_users) -> None:
    (a, a_data), (b, b_data) = two_users
    job_in(a, a_data, "running", heartbeat_at=func.now() - timedelta(minutes=5))
    mine = job_in(a, a_data, "queued")
    job_in(b, b_data, "queued")

    assert waits(mine) is None


def test_others_waiting_at_their_own_limit_do_not_hold_a_user_back(two_users) -> None:
    (a, a_data), (b, b_data) = two_users
    job_in(a, a_data, "running", heartbeat_at=func.now())
    mine = job_in(a, a_data, "queued")
    job_in(b, b_data, "running", heartbeat_at=func.now())
    job_in(b, b_data, "queued")

    assert waits(mine) is None  # b could not start its job either: handing back would only spin


def test_one_users_burst_does_not_delay_another_users_single_job(private: Settings, spawn) -> None:
    burst_owner, single_owner = make_account().user, make_account().user
    burst_data = store_dataset(burst_owner, people_csv(2_000))
    single_data = store_dataset(single_owner, people_csv(2_000))
    steps = [SLOW_STEP] * 3
    spawn(tuned(private, JOBS_PER_USER_RUNNING=1), concurrency=2)

    burst = [submit(burst_owner, burst_data, steps) for _ in range(40)]
    # The single job arrives while the burst is being worked on, not before the worker is up.
    wait_until(lambda: job_row(burst[0]).status in {"running", "succeeded"}, 60, "the burst to start")
    single = submit(single_owner, single_data, steps)
    done = wait_final([*burst, single], timeout=180)

    for job in [*burst, single]:
        assert assert_succeeded_once(job).attempts == 1  # handing a job back uses no attempt
    arrived, started, finished = done[single].created_at, done[single].started_at, done[single].finished_at
    waiting = [job for job in burst if done[job].started_at > arrived]
    # Judged against the burst jobs still waiting when the single one arrived, so a slow machine
    # (more of the burst done before it arrives) cannot tip it: without fairness the queue is first
    # in, first out and every one of them would start before the single job.
    assert len(waiting) >= 10, f"only {len(waiting)} burst jobs were still waiting; the test proves nothing"
    overtook = [job for job in waiting if done[job].started_at < started]
    assert len(overtook) <= 3, f"{len(overtook)} of {len(waiting)} waiting burst jobs started before the single one"
    # Once nobody else waits, the burst uses both worker processes again.
    late = [done[job] for job in burst if done[job].started_at > finished]
    assert any(x.started_at < y.finished_at and y.started_at < x.finished_at for x, y in combinations(late, 2))
    assert job_row(single).status == "succeeded"


def test_two_bursts_interleave_to_the_end(private: Settings, spawn) -> None:
    # Priorities by rank interleave only each user's first nine jobs; past them both bursts share
    # the lowest priority, first in first out. The running limit interleaves them from there on.
    first_owner, second_owner = make_account().user, make_account().user
    first_data = store_dataset(first_owner, people_csv(2_000))
    second_data = store_dataset(second_owner, people_csv(2_000))
    steps = [SLOW_STEP] * 3
    # A handed-back job is away for JOB_HANDBACK_SECONDS, while the other user's jobs run one at a time:
    # kept short beside a job's run, so that wait cannot string several of one user's jobs together.
    spawn(tuned(private, JOBS_PER_USER_RUNNING=1, JOB_HANDBACK_SECONDS=0.1), concurrency=2)

    first = [submit(first_owner, first_data, steps) for _ in range(20)]
    second = [submit(second_owner, second_data, steps) for _ in range(20)]
    done = wait_final([*first, *second], timeout=180)

    for job in [*first, *second]:
        assert assert_succeeded_once(job).attempts == 1
    order = ["first" if job.id in first else "second" for job in sorted(done.values(), key=lambda job: job.finished_at)]
    # Without the limit the last dozen or so to finish are all the second user's.
    assert order[-10:].count("first") >= 3 and order[-10:].count("second") >= 3, " ".join(o[0] for o in order)
