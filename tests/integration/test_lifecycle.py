"""The job lifecycle against the real database: allowed moves, final states, redelivery."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from console.core import jobs, queue
from console.core.db import session_scope
from console.core.models import Job, JobEvent, JobStatus
from tests.integration.factories import make_account, make_unsent_job
from tests.integration.helpers import create_config, submit, upload, wait_for_job

pytestmark = pytest.mark.integration
S = JobStatus
SMALL = b"a,b\n1,x\n1,x\n2,y\n"


def _job(job_id: int) -> Job:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _move(job_id: int, to: JobStatus, **kwargs) -> bool:
    with session_scope() as session:
        return jobs.transition(session=session, job_id=job_id, to=to, **kwargs)


@pytest.fixture
def pending_job(client) -> int:
    account = make_account()
    dataset = upload(client, account.headers, SMALL)
    return make_unsent_job(account.user, dataset["id"])


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ([S.QUEUED, S.RUNNING, S.SUCCEEDED], S.RUNNING),
        ([S.QUEUED, S.RUNNING, S.FAILED], S.SUCCEEDED),
        ([S.CANCELLED], S.QUEUED),
        ([S.QUEUED], S.SUCCEEDED),
        ([S.QUEUED, S.RUNNING, S.SUCCEEDED], S.CANCELLED),
    ],
)
def test_lifecycle_allows_the_path_and_refuses_what_follows(pending_job: int, path: list[JobStatus], refused: JobStatus) -> None:
    for step in path:
        assert _move(pending_job, step), step

    assert not _move(pending_job, refused)
    assert _job(pending_job).status == path[-1]


def test_final_write_needs_the_lease(pending_job: int) -> None:
    assert _move(pending_job, S.RUNNING, lease="mine")

    assert not _move(pending_job, S.SUCCEEDED, holding="someone-else")
    assert _move(pending_job, S.SUCCEEDED, holding="mine")


def test_state_changes_are_kept_as_job_events(pending_job: int) -> None:
    _move(pending_job, S.QUEUED)
    _move(pending_job, S.CANCELLED, reason="because")

    with session_scope() as session:
        messages = session.scalars(select(JobEvent.message).where(JobEvent.job_id == pending_job).order_by(JobEvent.id)).all()
    assert messages == ["queued", "cancelled: because"]
    job = _job(pending_job)
    assert job.queued_at is not None and job.finished_at is not None


def test_cancelling_a_pending_job_records_the_final_state(client, pending_job: int) -> None:
    with session_scope() as session:
        job = session.get(Job, pending_job)
        jobs.cancel(session=session, job=job)

    assert _job(pending_job).status == S.CANCELLED


def test_redelivered_finished_job_does_nothing(client, worker) -> None:
    account = make_account()
    dataset = upload(client, account.headers, SMALL)
    config = create_config(client, account.headers, [{"op": "drop_duplicates"}], "dedup")
    first = wait_for_job(client, account.headers, submit(client, account.headers, dataset["id"], config["id"])["id"])
    before = _job(first["id"])

    queue.send(queue.PROCESS_JOB, args=[first["id"]])  # a second delivery of the same job
    said = f"job={first['id']} | worker.claiming"
    deadline = time.monotonic() + 30
    while not _seen(worker.output(), said, "already succeeded; nothing to do") and time.monotonic() < deadline:
        time.sleep(0.2)
    after = _job(first["id"])

    assert _seen(worker.output(), said, "already succeeded; nothing to do")
    assert (after.status, after.output_file_id, after.finished_at, after.attempts) == (
        before.status,
        before.output_file_id,
        before.finished_at,
        before.attempts,
    )


def test_job_lines_in_the_worker_log_carry_the_job_id(client, worker, settings) -> None:
    account = make_account()
    dataset = upload(client, account.headers, SMALL)
    config = create_config(client, account.headers, [{"op": "drop_duplicates"}], "dedup")
    job = wait_for_job(client, account.headers, submit(client, account.headers, dataset["id"], config["id"])["id"])

    lines = [line for line in (settings.LOG_DIR / "worker.log").read_text().splitlines() if f"job={job['id']} " in line]

    assert any("running: attempt 1" in line for line in lines)
    assert any("succeeded" in line for line in lines)


def _seen(output: str, *parts: str) -> bool:
    return any(all(part in line for part in parts) for line in output.splitlines())
