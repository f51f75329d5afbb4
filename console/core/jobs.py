"""The job lifecycle. Every change of a job's status goes through `transition()`.

    pending ──send──> queued ──worker──> running ──> succeeded
       │                 │                  │──────> failed
       └──── cancel ─────┴───── cancel ─────┴──────> cancelled

`transition()` is one conditional UPDATE, so two processes racing on a job cannot both
win, and a final state is never overwritten. Requeue and re-run make new jobs.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from loguru import logger
from sqlalchemy import ColumnElement, and_, func, insert, or_, update
from sqlalchemy.orm import Session

from console.core import queue
from console.core.errors import InvalidTransition, NotFound
from console.core.models import CleaningConfig, Dataset, Job, JobEvent, JobStatus, User

S = JobStatus
ALLOWED_FROM: dict[JobStatus, frozenset[JobStatus]] = {
    S.QUEUED: frozenset({S.PENDING}),
    # running -> running is a redelivery after the worker holding the job was lost.
    S.RUNNING: frozenset({S.PENDING, S.QUEUED, S.RUNNING}),
    S.SUCCEEDED: frozenset({S.RUNNING}),
    S.FAILED: frozenset({S.PENDING, S.QUEUED, S.RUNNING}),
    S.CANCELLED: frozenset({S.PENDING, S.QUEUED, S.RUNNING}),
}
_TIMESTAMP_OF = {S.QUEUED: "queued_at", S.RUNNING: "started_at"}


def transition(
    *,
    session: Session,
    job_id: int,
    to: JobStatus,
    holding: str | None = None,
    reason: str | None = None,
    only_if: ColumnElement[bool] | None = None,
    **values: Any,
) -> bool:
    """Move the job to `to` if the lifecycle allows it from its current status; return whether it moved.

    With `holding`, the change lands only while that lease still holds the job; `only_if` adds
    a condition of the caller's. Flushes, never commits.
    """
    now = func.clock_timestamp()
    stamps: dict[str, Any] = {}
    if to in _TIMESTAMP_OF:
        stamps[_TIMESTAMP_OF[to]] = now
    if to == S.RUNNING:
        stamps["heartbeat_at"] = now
    if to in (S.SUCCEEDED, S.FAILED, S.CANCELLED):
        stamps["finished_at"] = now
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.status.in_([status.value for status in ALLOWED_FROM[to]]))
        .values(status=to.value, **stamps, **values)
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    if holding is not None:
        statement = statement.where(Job.lease == holding)
    if only_if is not None:
        statement = statement.where(only_if)
    moved = session.execute(statement).first() is not None
    if moved:
        record_event(session=session, job_id=job_id, message=f"{to.value}" + (f": {reason}" if reason else ""))
    return moved


def claim(*, session: Session, job_id: int, lease: str, attempt: int, stale_seconds: float) -> bool:
    """Take the job for a run holding `lease`: from pending or queued, or from running when the
    heartbeat of the run that had it is older than `stale_seconds` (its worker is gone)."""
    stale = Job.heartbeat_at < func.clock_timestamp() - timedelta(seconds=stale_seconds)
    free = or_(Job.status != S.RUNNING.value, and_(Job.status == S.RUNNING.value, or_(Job.heartbeat_at.is_(None), stale)))
    return transition(
        session=session, job_id=job_id, to=S.RUNNING, reason=f"attempt {attempt}", only_if=free, lease=lease, attempts=attempt
    )


def record_event(*, session: Session, job_id: int, message: str, level: str = "INFO") -> None:
    """Log a line about the job (job id bound) and keep it with the job for its page."""
    logger.bind(job_id=job_id).log(level, message)
    session.execute(insert(JobEvent).values(job_id=job_id, level=level, message=message[:10_000]))


def submit(
    *,
    session: Session,
    owner: User,
    dataset: Dataset,
    steps: list[dict[str, Any]],
    config: CleaningConfig | None = None,
    retry_of: Job | None = None,
    rerun_of: Job | None = None,
) -> Job:
    """Create a job for already validated `steps`, COMMIT it, then send its message.

    The job is committed before the send, so an accepted job is never lost: when the
    broker cannot be reached it stays `pending` and the reconciler sends it later.
    """
    job = Job(
        owner_id=owner.id,
        dataset_id=dataset.id,
        config_id=config.id if config else None,
        config_version=config.version if config else None,
        steps=steps,
        task_id=str(uuid.uuid4()),
        retry_of_id=retry_of.id if retry_of else None,
        rerun_of_id=rerun_of.id if rerun_of else None,
    )
    session.add(job)
    session.flush()
    origin = f" (requeue of job {retry_of.id})" if retry_of else f" (re-run of job {rerun_of.id})" if rerun_of else ""
    record_event(session=session, job_id=job.id, message=f"created by {owner.email}{origin}")
    session.commit()
    send(session=session, job=job)
    return job


def send(*, session: Session, job: Job) -> bool:
    """Send the job's message and mark it queued; commits. Returns False (job stays pending) if the send failed."""
    try:
        queue.send(queue.PROCESS_JOB, args=[job.id], task_id=job.task_id)
    except Exception as exc:  # the broker client raises many kinds; all mean "not sent"
        record_event(session=session, job_id=job.id, level="WARNING", message=f"not sent yet, broker unavailable: {exc}")
        session.commit()
        return False
    transition(session=session, job_id=job.id, to=S.QUEUED)
    session.commit()
    session.refresh(job)
    return True


def cancel(*, session: Session, job: Job) -> Job:
    """Cancel a job in any unfinished state; commits.

    A pending or queued job gets its final state here (no worker holds it; a worker
    checks the row before it starts). A running job is flagged and its worker stops
    between steps and records `cancelled` itself.
    """
    session.refresh(job)
    if job.is_finished:
        raise InvalidTransition(f"job {job.id} is already {job.status}; only unfinished jobs can be cancelled")
    if job.status in (S.PENDING, S.QUEUED) and transition(
        session=session, job_id=job.id, to=S.CANCELLED, reason="cancelled before it started", cancel_requested=True
    ):
        session.commit()
    else:
        session.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True))
        record_event(session=session, job_id=job.id, message="cancel requested; the worker stops it")
        session.commit()
        try:
            queue.revoke_running(job.task_id)
        except Exception as exc:  # the flag alone still stops the job at its next step
            logger.bind(job_id=job.id).warning("revoke not sent: {}", exc)
    session.refresh(job)
    return job


def requeue(*, session: Session, job: Job, by: User) -> Job:
    """A new job with the same steps snapshot as a finished one; commits and sends."""
    _require_finished(job, "requeued")
    return submit(session=session, owner=job.owner, dataset=job.dataset, steps=job.steps, config=job.config, retry_of=job)


def rerun(*, session: Session, job: Job, by: User, steps: list[dict[str, Any]]) -> Job:
    """A new job with the config as it is now (`steps`, validated by the caller); commits and sends."""
    _require_finished(job, "re-run")
    if job.config is None:
        raise NotFound(f"the config of job {job.id} was deleted; requeue it with its snapshot instead")
    return submit(session=session, owner=job.owner, dataset=job.dataset, steps=steps, config=job.config, rerun_of=job)


def _require_finished(job: Job, verb: str) -> None:
    if not job.is_finished:
        raise InvalidTransition(f"job {job.id} is {job.status}; only finished jobs can be {verb}")
