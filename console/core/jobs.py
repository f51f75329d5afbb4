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
from sqlalchemy import ColumnElement, and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

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


def claim(
    *, session: Session, job_id: int, lease: str, attempt: int, stale_seconds: float, by: str | None = None
) -> bool:
    """Take the job for a run holding `lease`: from pending or queued, or from running when the
    heartbeat of the run that had it is older than `stale_seconds` (its worker is gone).
    `by` (host and process) goes into the job's log, so operators see where each attempt ran."""
    stale = Job.heartbeat_at < func.clock_timestamp() - timedelta(seconds=stale_seconds)
    free = or_(Job.status != S.RUNNING.value, and_(Job.status == S.RUNNING.value, or_(Job.heartbeat_at.is_(None), stale)))
    reason = f"attempt {attempt}" + (f" on {by}" if by else "")
    return transition(
        session=session, job_id=job_id, to=S.RUNNING, reason=reason, only_if=free, lease=lease, attempts=attempt
    )


def fail_worker_lost(*, session: Session, job_id: int, attempts: int, only_if: ColumnElement[bool] | None = None) -> bool:
    """End a job whose worker stopped on every attempt as `failed` with "worker lost"; flushes."""
    message = (
        f"worker lost: the job was started {attempts} time{'s' if attempts != 1 else ''} and its worker stopped "
        "each time (killed, out of memory, or past the hard time limit)"
    )
    return transition(
        session=session, job_id=job_id, to=S.FAILED, reason="worker lost", only_if=only_if, error_message=message
    )


# Serialises the fairness check and claim of one owner's jobs across workers (pg_advisory_xact_lock(key, owner)).
_FAIRNESS_LOCK = 0x6A6F6273


def running_count(*, session: Session, owner_id: int, stale_seconds: float) -> int:
    """The owner's jobs running right now (a stale heartbeat means the worker is gone: not counted)."""
    alive = Job.heartbeat_at >= func.clock_timestamp() - timedelta(seconds=stale_seconds)
    query = select(func.count()).where(Job.owner_id == owner_id, Job.status == S.RUNNING.value, alive)
    return int(session.execute(query).scalar_one())


def must_wait_turn(*, session: Session, job: Job, limit: int, stale_seconds: float) -> int | None:
    """Whether `job` must let another user's job go first; returns its owner's running count when so.

    A user at `limit` running jobs waits while another user under the limit has a job queued;
    alone, a user uses every free worker. Takes a transaction-scoped advisory lock on the owner,
    so call it in the transaction that then claims the job. Flushes nothing.
    """
    session.execute(select(func.pg_advisory_xact_lock(_FAIRNESS_LOCK, job.owner_id)))
    running = running_count(session=session, owner_id=job.owner_id, stale_seconds=stale_seconds)
    if running < limit:
        return None
    other = aliased(Job)
    alive = other.heartbeat_at >= func.clock_timestamp() - timedelta(seconds=stale_seconds)
    others_running = (
        select(func.count()).where(other.owner_id == Job.owner_id, other.status == S.RUNNING.value, alive).scalar_subquery()
    )
    waiting = exists().where(Job.status == S.QUEUED.value, Job.owner_id != job.owner_id, others_running < limit)
    return running if session.execute(select(waiting)).scalar() else None


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
    config_version: int | None = None,
) -> Job:
    """Create a job for already validated `steps`, COMMIT it, then send its message.

    The job is committed before the send, so an accepted job is never lost: when the
    broker cannot be reached it stays `pending` and the reconciler sends it later.
    `config_version` is the version `steps` came from (default: the config's current one).
    """
    job = Job(
        owner_id=owner.id,
        dataset_id=dataset.id,
        config_id=config.id if config else None,
        config_version=config_version if config_version is not None else config.version if config else None,
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


def send(*, session: Session, job: Job, queue_name: str | None = None) -> bool:
    """Send the job's message (to `queue_name`, default the configured queue) and mark it queued; commits.

    Returns False (job stays pending) if the send failed.
    """
    try:
        priority = dispatch_priority(session=session, job=job)
        queue.send(queue.PROCESS_JOB, args=[job.id], task_id=job.task_id, queue=queue_name, priority=priority)
    except Exception as exc:  # the broker client raises many kinds; all mean "not sent"
        record_event(session=session, job_id=job.id, level="WARNING", message=f"not sent yet, broker unavailable: {exc}")
        session.commit()
        return False
    transition(session=session, job_id=job.id, to=S.QUEUED, sent_at=func.clock_timestamp())
    session.commit()
    session.refresh(job)
    return True


def dispatch_priority(*, session: Session, job: Job) -> int:
    """The job's message priority: how many of its owner's unfinished jobs came before it, up to 9.

    Workers take priority 0 first, so a user's first job waits behind other users' first jobs,
    not behind a burst of someone else's: jobs from different users interleave in the queue.
    """
    unfinished = [S.PENDING.value, S.QUEUED.value, S.RUNNING.value]
    earlier = select(func.count()).where(Job.owner_id == job.owner_id, Job.id < job.id, Job.status.in_(unfinished))
    return min(int(session.execute(earlier).scalar_one()), 9)


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
        unfinished = Job.status.in_([S.PENDING.value, S.QUEUED.value, S.RUNNING.value])
        flagged = session.execute(
            update(Job).where(Job.id == job.id, unfinished).values(cancel_requested=True).returning(Job.id)
        ).first()
        if flagged is None:
            # It finished between our look and the flag: its final state stands.
            session.rollback()
            session.refresh(job)
            raise InvalidTransition(f"job {job.id} is already {job.status}; only unfinished jobs can be cancelled")
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
    return submit(
        session=session,
        owner=job.owner,
        dataset=job.dataset,
        steps=job.steps,
        config=job.config,
        retry_of=job,
        config_version=job.config_version,  # the version of the snapshot it runs again
    )


def rerun(*, session: Session, job: Job, by: User, steps: list[dict[str, Any]]) -> Job:
    """A new job with the config as it is now (`steps`, validated by the caller); commits and sends."""
    _require_finished(job, "re-run")
    if job.config is None:
        raise NotFound(f"the config of job {job.id} was deleted; requeue it with its snapshot instead")
    return submit(session=session, owner=job.owner, dataset=job.dataset, steps=steps, config=job.config, rerun_of=job)


def _require_finished(job: Job, verb: str) -> None:
    if not job.is_finished:
        raise InvalidTransition(f"job {job.id} is {job.status}; only finished jobs can be {verb}")
