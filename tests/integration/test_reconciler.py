"""The reconciler on rows made to look like the aftermath of a crash, one pass at a time.

Each test calls `reconcile()` in this process against a queue nobody consumes, then reads
what it sent straight from the Redis list and what it recorded from the job's events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, update

from console.core import queue
from console.core.db import session_scope
from console.core.models import Job
from console.core.settings import Settings
from tests.integration.factories import make_account, make_raw_dataset, make_unsent_job
from tests.integration.faultkit import clear_queue, console_for, events, job_row, private_schema, queue_task_ids, tuned
from worker.reconciler import reconcile

pytestmark = pytest.mark.integration
SMALL = b"a,b\n1,x\n2,y\n"
LONG_AGO = timedelta(minutes=10)


@pytest.fixture
def recon(settings: Settings, client) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    """Settings of a reconciler on a schema of its own, sending to a queue of its own that no worker reads."""
    with private_schema(settings.DATABASE_URL or "") as url:
        own = tuned(settings, DATABASE_URL=url, CELERY_QUEUE=f"recon-{uuid.uuid4().hex[:10]}", JOB_MAX_ATTEMPTS=3)
        with console_for(own, restore=settings):
            yield own
        clear_queue(own.REDIS_URL, own.CELERY_QUEUE)


def crashed_job(**state: Any) -> Job:
    """A job row in `state`; timestamps given as a timedelta are that long before now."""
    account = make_account()
    job_id = make_unsent_job(account.user, make_raw_dataset(account.user, SMALL, columns=["a", "b"]))
    values = {key: func.now() - value if isinstance(value, timedelta) else value for key, value in state.items()}
    if values:
        with session_scope() as session:
            session.execute(update(Job).where(Job.id == job_id).values(**values))
    return job_row(job_id)


def acted(**counts: int) -> dict[str, int]:
    """What `reconcile()` returns when it acted on `counts` jobs of each kind and on no others."""
    return {"pending": 0, "queued": 0, "running": 0, "lost": 0, "cancelled": 0, **counts}


def sent(recon: Settings, job: Job) -> int:
    return queue_task_ids(recon.REDIS_URL, recon.CELERY_QUEUE).count(job.task_id)


def test_pending_job_past_the_grace_period_is_sent_and_marked_queued(recon: Settings) -> None:
    job = crashed_job(created_at=LONG_AGO)

    done = reconcile(settings=recon)

    assert done == acted(pending=1)
    assert sent(recon, job) == 1
    assert job_row(job.id).status == "queued"
    assert events(job.id)[-1] == "queued"


def test_fresh_pending_job_is_left_to_the_request_sending_it(recon: Settings) -> None:
    job = crashed_job()

    done = reconcile(settings=recon)

    assert done == acted()
    assert sent(recon, job) == 0
    assert job_row(job.id).status == "pending"


def test_queued_job_whose_message_is_gone_is_sent_again_once(recon: Settings) -> None:
    job = crashed_job(status="queued", queued_at=LONG_AGO, sent_at=LONG_AGO)

    first, second = reconcile(settings=recon), reconcile(settings=recon)

    assert (first, second) == (acted(queued=1), acted())
    assert sent(recon, job) == 1
    assert events(job.id).count("sent again: its message was lost by the broker") == 1
    assert job_row(job.id).status == "queued"


def test_queued_job_whose_message_waits_in_the_queue_is_left_alone(recon: Settings) -> None:
    job = crashed_job(status="queued", queued_at=LONG_AGO, sent_at=LONG_AGO)
    queue.send(queue.PROCESS_JOB, args=[job.id], task_id=job.task_id)

    done = reconcile(settings=recon)

    assert done == acted()
    assert sent(recon, job) == 1
    assert not any(line.startswith("sent again") for line in events(job.id))


def test_running_job_with_a_stale_heartbeat_is_sent_again_once(recon: Settings) -> None:
    job = crashed_job(status="running", attempts=1, lease="dead", started_at=LONG_AGO, heartbeat_at=LONG_AGO)

    first = reconcile(settings=recon)
    second = reconcile(settings=recon)  # within the stale period: no second copy

    assert (first, second) == (acted(running=1), acted())
    assert sent(recon, job) == 1
    assert events(job.id).count("sent again: its worker stopped heart-beating") == 1
    assert job_row(job.id).status == "running"


def test_stale_running_job_goes_to_the_front_even_when_a_copy_waits_behind_a_backlog(recon: Settings) -> None:
    # A dead pool process's message is handed back to the end of the queue, behind every job waiting.
    job = crashed_job(status="running", attempts=1, lease="dead", started_at=LONG_AGO, heartbeat_at=LONG_AGO)
    for _ in range(3):
        queue.send(queue.PROCESS_JOB, args=[0], priority=9)
    queue.send(queue.PROCESS_JOB, args=[job.id], task_id=job.task_id, priority=9)

    done = reconcile(settings=recon)

    assert done == acted(running=1)
    order = queue_task_ids(recon.REDIS_URL, recon.CELERY_QUEUE)
    assert order[0] == job.task_id and order.count(job.task_id) == 2


def test_stale_running_job_is_sent_again_at_most_once_per_stale_period(recon: Settings) -> None:
    job = crashed_job(status="running", attempts=1, lease="dead", started_at=LONG_AGO, heartbeat_at=LONG_AGO)
    reconcile(settings=recon)
    clear_queue(recon.REDIS_URL, recon.CELERY_QUEUE)  # taken by a worker that died in turn, before claiming it

    reconcile(settings=recon)
    assert sent(recon, job) == 0
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job.id).values(sent_at=func.now() - LONG_AGO))
    reconcile(settings=recon)

    assert sent(recon, job) == 1
    assert events(job.id).count("sent again: its worker stopped heart-beating") == 2


def test_running_job_with_a_live_heartbeat_is_left_alone(recon: Settings) -> None:
    job = crashed_job(status="running", attempts=1, lease="alive", started_at=LONG_AGO, heartbeat_at=func.now())

    assert reconcile(settings=recon) == acted()

    assert sent(recon, job) == 0
    assert job_row(job.id).status == "running"


def test_stale_job_past_its_attempt_budget_fails_as_worker_lost_without_a_message(recon: Settings) -> None:
    job = crashed_job(status="running", attempts=3, lease="dead", started_at=LONG_AGO, heartbeat_at=LONG_AGO)

    done = reconcile(settings=recon)

    after = job_row(job.id)
    assert done == acted(lost=1)
    assert sent(recon, job) == 0
    assert after.status == "failed" and after.finished_at is not None
    assert after.error_message is not None and after.error_message.startswith("worker lost: the job was started 3 times")
    assert events(job.id)[-1] == "failed: worker lost"


def test_stale_job_with_a_cancel_request_ends_cancelled(recon: Settings) -> None:
    job = crashed_job(
        status="running", attempts=1, lease="dead", cancel_requested=True, started_at=LONG_AGO, heartbeat_at=LONG_AGO
    )

    assert reconcile(settings=recon) == acted(cancelled=1)

    assert sent(recon, job) == 0
    assert job_row(job.id).status == "cancelled"
    assert events(job.id)[-1] == "cancelled: its worker was lost after the cancel was requested"


def test_finished_jobs_are_never_touched(recon: Settings) -> None:
    done = crashed_job(status="succeeded", attempts=1, created_at=LONG_AGO, heartbeat_at=LONG_AGO, finished_at=LONG_AGO)

    assert reconcile(settings=recon) == acted()

    assert sent(recon, done) == 0
    assert job_row(done.id).status == "succeeded" and events(done.id) == []


def test_with_redis_unreachable_a_pass_sends_nothing_and_still_ends_lost_jobs(recon: Settings) -> None:
    pending = crashed_job(created_at=LONG_AGO)
    lost = crashed_job(status="running", attempts=3, lease="dead", started_at=LONG_AGO, heartbeat_at=LONG_AGO)
    unreachable = recon.model_copy(update={"REDIS_URL": "redis://127.0.0.1:1/0"})

    with console_for(unreachable, restore=recon):
        done = reconcile(settings=unreachable)

    assert done == acted(lost=1)
    assert job_row(pending.id).status == "pending"
    assert not any("broker unavailable" in line for line in events(pending.id))  # no line per pass while it is down
    assert job_row(lost.id).status == "failed"
