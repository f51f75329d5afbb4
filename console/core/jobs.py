"""The job lifecycle. Every change of a job's status goes through `transition()`.

    pending ──send──> queued ──worker──> running ──> succeeded
       │                 │                  │──────> failed
       └──── cancel ─────┴───── cancel ─────┴──────> cancelled

`transition()` is one conditional UPDATE (sent with the INSERT of its event as one
statement), so two processes racing on a job cannot both win, and a final state is never
overwritten; `transition_many()` is the same rule for many jobs in one statement. Requeue and
re-run make new jobs; `submit_many()` makes many in a few statements (bulk actions), `submit()`
is it for one: a submission is two transactions, the INSERT of the job (its message priority
comes back with it) and its event, then, once sent, the queued mark with its event in one
statement whose commit does not wait for the disk (see _mark_queued_statement).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from loguru import logger
from sqlalchemy import ColumnElement, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value

from console.core import queue
from console.core.errors import ConsoleError, InvalidTransition, NotFound
from console.core.models import CleaningConfig, Dataset, Job, JobStatus, User
from console.core.job_statements import (  # the lifecycle's statements, built once
    CREATE_JOBS, EVENTS, FREE_AND_TURN_TO_CLAIM, FREE_TO_CLAIM, MARK_QUEUED, REFRESH, UNFINISHED, S, may_move_to,
    heartbeat_alive, moved_message, stamps, transition_call,
)  # fmt: skip


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
    return _transition(session, job_id, to, holding, reason, only_if, values)


def _transition(
    session: Session,
    job_id: int,
    to: JobStatus,
    holding: str | None,
    reason: str | None,
    only_if: ColumnElement[bool] | None,
    values: dict[str, Any],
    outputs: dict[str, int] | None = None,
    params: dict[str, Any] | None = None,
) -> bool:
    if session.autoflush:
        session.flush()  # a Core statement does not autoflush; callers may rely on it, as with the ORM's
    message = moved_message(to, reason)
    statement, bound = transition_call(job_id, to, holding, only_if, message, values, outputs)
    moved = session.execute(statement, bound | (params or {})).first() is not None
    if moved:
        logger.bind(job_id=job_id).log("INFO", message)
    return moved


def succeed(
    *,
    session: Session,
    job_id: int,
    holding: str,
    outputs: dict[str, int],
    reason: str | None = None,
    only_if: ColumnElement[bool] | None = None,
    **values: Any,
) -> bool:
    """`transition()` to succeeded, with the job's output files ({format: stored file id}) recorded in
    the same statement when it moves. Flushes, never commits."""
    return _transition(session, job_id, S.SUCCEEDED, holding, reason, only_if, values, outputs=outputs)


def transition_many(
    *,
    session: Session,
    job_ids: Sequence[int],
    to: JobStatus,
    reason: str | None = None,
    only_if: ColumnElement[bool] | None = None,
    **values: Any,
) -> list[Job]:
    """`transition()` for many jobs: one conditional UPDATE, one INSERT of the events of those that moved.

    Each job moves only if the lifecycle allows it from its own current status (and `only_if`
    holds for it); the others are left as they are. Returns the jobs that moved, as they are
    now (the session's copies are refreshed). Flushes, never commits.
    """
    if not job_ids:
        return []
    statement = (
        update(Job)
        .where(Job.id.in_(list(job_ids)), may_move_to(to))
        .values(status=to.value, **stamps(to), **values)
        .returning(Job)
    )
    if only_if is not None:
        statement = statement.where(only_if)
    moved = sorted(session.scalars(statement, execution_options=REFRESH), key=lambda job: job.id)
    message = moved_message(to, reason)
    record_events(session=session, events=[(job.id, message) for job in moved])
    return moved


def claim(
    *,
    session: Session,
    job_id: int,
    lease: str,
    attempt: int,
    stale_seconds: float,
    by: str | None = None,
    turn_limit: int | None = None,
) -> bool:
    """Take the job for a run holding `lease`: from pending or queued, or from running when the
    heartbeat of the run that had it is older than `stale_seconds` (its worker is gone).
    `by` (host and process) goes into the job's log, so operators see where each attempt ran.

    With `turn_limit`, only when must_wait_turn(limit=turn_limit) would let it go now, checked in the
    same statement (one round trip fewer than asking first): the caller holds the owner's fairness
    lock already (see fairness_lock) and asks must_wait_turn() why when it was not taken."""
    reason = f"attempt {attempt}" + (f" on {by}" if by else "")
    values = {"lease": lease, "attempts": attempt}
    params: dict[str, Any] = {"stale": timedelta(seconds=stale_seconds)}
    condition = FREE_TO_CLAIM
    if turn_limit is not None:
        condition, params["limit"] = FREE_AND_TURN_TO_CLAIM, turn_limit
    return _transition(session, job_id, S.RUNNING, None, reason, condition, values, params=params)


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


# Built once (every claim runs it): the owner's jobs running with a fresh heartbeat.
_RUNNING_COUNT = select(func.count()).where(
    Job.owner_id == bindparam("owner_id"),
    Job.status == S.RUNNING.value,
    heartbeat_alive(Job),
)


def running_count(*, session: Session, owner_id: int, stale_seconds: float) -> int:
    """The owner's jobs running right now (a stale heartbeat means the worker is gone: not counted)."""
    params = {"owner_id": owner_id, "stale": timedelta(seconds=stale_seconds)}
    return int(session.execute(_RUNNING_COUNT, params).scalar_one())


def fairness_lock(owner_id: Any) -> ColumnElement[Any]:
    """The transaction-scoped advisory lock on an owner that `must_wait_turn()` takes, as an expression:
    a claim can take it in the statement that reads the job (`locked=True` then), saving a round trip."""
    return func.pg_advisory_xact_lock(_FAIRNESS_LOCK, owner_id)


def must_wait_turn(*, session: Session, job: Job, limit: int, stale_seconds: float, locked: bool = False) -> int | None:
    """Whether `job` must let another user's job go first; returns its owner's running count when so.

    A user at `limit` running jobs waits while another user under the limit has a job queued;
    alone, a user uses every free worker. Takes a transaction-scoped advisory lock on the owner
    (unless the transaction holds it already: `locked`, see fairness_lock()), so call it in the
    transaction that then claims the job. Flushes nothing.
    """
    if not locked:
        session.execute(select(fairness_lock(job.owner_id)))
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
    record_events(session=session, events=[(job_id, message)], level=level)


def record_events(*, session: Session, events: Sequence[tuple[int, str]], level: str = "INFO") -> None:
    """`record_event()` for many (job id, message) pairs: each logged, all kept in one INSERT."""
    if not events:
        return
    for job_id, message in events:
        logger.bind(job_id=job_id).log(level, message)
    rows = [{"job_id": job_id, "level": level, "message": message[:10_000]} for job_id, message in events]
    if session.autoflush:
        session.flush()  # as the ORM's INSERT would: a job added to the session is written before its events
    session.execute(insert(EVENTS), rows)  # Core: the ORM's bulk INSERT path costs ~3 times the CPU


@dataclass(frozen=True)
class NewJob:
    """One job for `submit_many()`: validated `steps` for `dataset`, with where they came from.

    `config_version` is the version `steps` came from (default: the config's current one).
    """

    owner: User
    dataset: Dataset
    steps: list[dict[str, Any]]
    config: CleaningConfig | None = None
    retry_of: Job | None = None
    rerun_of: Job | None = None
    config_version: int | None = None

    def row(self) -> dict[str, Any]:
        config = self.config
        version = self.config_version if self.config_version is not None else config.version if config else None
        return {
            "owner_id": self.owner.id,
            "dataset_id": self.dataset.id,
            "config_id": config.id if config else None,
            "config_version": version,
            "steps": self.steps,
            "task_id": str(uuid.uuid4()),  # never reused: workers drop a message whose id they revoked
            "retry_of_id": self.retry_of.id if self.retry_of else None,
            "rerun_of_id": self.rerun_of.id if self.rerun_of else None,
        }

    def created_message(self) -> str:
        origin = (
            f" (requeue of job {self.retry_of.id})" if self.retry_of
            else f" (re-run of job {self.rerun_of.id})" if self.rerun_of
            else ""
        )  # fmt: skip
        return f"created by {self.owner.email}{origin}"


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
    item = NewJob(owner, dataset, steps, config, retry_of, rerun_of, config_version)
    (job,) = submit_many(session=session, items=[item])
    return job


def submit_many(*, session: Session, items: Sequence[NewJob]) -> list[Job]:
    """Create a job per item in one INSERT (each with its own task id) and COMMIT them, then send
    their messages over one broker connection and mark the sent ones queued (one more commit).

    Returns the jobs in the order of `items`. What `submit()` promises holds for each: every job
    is committed before any message is sent; when the broker cannot be reached the jobs stay
    `pending` with a warning event and the reconciler sends them later. Raises only when the
    jobs could not be created (nothing committed then).
    """
    if not items:
        return []
    # Each new job comes back with its owner's unfinished jobs before this INSERT: the base of the
    # message priorities, with no query of their own (CREATE_JOBS).
    statement = CREATE_JOBS
    rows = session.execute(statement, [item.row() for item in items], execution_options={"render_nulls": True}).all()
    created = [row[0] for row in rows]
    made = [(job.id, item.created_message()) for job, item in zip(created, items, strict=True)]
    record_events(session=session, events=made)
    session.commit()
    try:
        send_many(session=session, jobs=created, ranks=_ranks_of_new(rows))
    except Exception as exc:  # committed: the reconciler sends what is still pending
        session.rollback()
        logger.opt(exception=exc).warning("{} new job(s) left pending: {}", len(created), exc)
    return created


def _ranks_of_new(rows: Sequence[Any]) -> dict[int, int]:
    """`dispatch_priority()` of jobs just made, from (job, owner's unfinished jobs before the INSERT)
    rows in id order: each job also comes after the earlier new jobs of its owner."""
    ranks: dict[int, int] = {}
    new_before: dict[int, int] = {}
    for job, before in sorted(rows, key=lambda row: row[0].id):
        ranks[job.id] = min(int(before) + new_before.get(job.owner_id, 0), 9)
        new_before[job.owner_id] = new_before.get(job.owner_id, 0) + 1
    return ranks


def send(*, session: Session, job: Job, queue_name: str | None = None) -> bool:
    """Send the job's message (to `queue_name`, default the configured queue) and mark it queued; commits.

    Returns False (job stays pending) if the send failed.
    """
    return bool(send_many(session=session, jobs=[job], queue_name=queue_name))


def send_many(
    *, session: Session, jobs: Sequence[Job], queue_name: str | None = None, ranks: dict[int, int] | None = None
) -> list[Job]:
    """Send the jobs' messages (to `queue_name`, default the configured queue) over one broker
    connection, pipelined, and move the sent ones pending -> queued; commits. Returns the jobs sent.
    `ranks`: their message priorities when known (default: dispatch_priorities, one query).

    A job whose message could not be sent stays `pending` with a warning event (the reconciler
    sends it later). The session's copies of the jobs sent are refreshed.
    """
    if not jobs:
        return []
    if ranks is None:
        ranks = dispatch_priorities(session=session, jobs=jobs)
    messages = [queue.Message(args=[job.id], task_id=job.task_id, priority=ranks.get(job.id, 0)) for job in jobs]
    sent = queue.send_many(queue.PROCESS_JOB, messages, queue=queue_name)
    if sent.error is not None:
        warning = f"not sent yet, broker unavailable: {sent.error}"
        record_events(session=session, level="WARNING", events=[(job.id, warning) for job in jobs[sent.count :]])
    done = jobs[: sent.count]
    moved = _mark_queued(session, done)
    session.commit()
    if len(moved) < len(done):
        # A worker took the job (or a cancel ended it) before it could be marked queued: show it as it is.
        moved_ids = {job.id for job in moved}
        stale = [job.id for job in done if job.id not in moved_ids]
        session.scalars(select(Job).where(Job.id.in_(stale)).execution_options(populate_existing=True)).all()
    return list(done)


def _mark_queued(session: Session, jobs: Sequence[Job]) -> list[Job]:
    """Move the sent jobs pending -> queued with their events (transition_many's rule, in one statement
    built once); the session's copies take the new status and stamps. Returns the jobs that moved."""
    if not jobs:
        return []
    if session.autoflush:
        session.flush()
    by_id = {job.id: job for job in jobs}
    message = moved_message(S.QUEUED, None)
    moved = []
    for row in session.execute(MARK_QUEUED, {"ids": list(by_id)}):
        job = by_id[row.id]
        for key in ("status", "queued_at", "sent_at"):
            set_committed_value(job, key, getattr(row, key))
        logger.bind(job_id=job.id).log("INFO", message)
        moved.append(job)
    return sorted(moved, key=lambda job: job.id)


def dispatch_priority(*, session: Session, job: Job) -> int:
    """The job's message priority: how many of its owner's unfinished jobs came before it, up to 9.

    Workers take priority 0 first, so a user's first job waits behind other users' first jobs,
    not behind a burst of someone else's: jobs from different users interleave in the queue.
    """
    earlier = select(func.count()).where(Job.owner_id == job.owner_id, Job.id < job.id, Job.status.in_(UNFINISHED))
    return min(int(session.execute(earlier).scalar_one()), 9)


def dispatch_priorities(*, session: Session, jobs: Sequence[Job]) -> dict[int, int]:
    """`dispatch_priority()` of each job, in one query: job id -> priority.

    Per owner, the unfinished jobs before the first of `jobs` are counted once; from there a
    running count in id order gives each job the unfinished ones in between.
    """
    if len(jobs) <= 1:
        return {job.id: dispatch_priority(session=session, job=job) for job in jobs}
    wanted, owners = [job.id for job in jobs], sorted({job.owner_id for job in jobs})
    first = min(wanted)
    unfinished = Job.status.in_(UNFINISHED)
    before = (
        select(Job.owner_id, func.count().label("count"))
        .where(Job.owner_id.in_(owners), Job.id < first, unfinished)
        .group_by(Job.owner_id)
        .subquery()
    )
    between = func.count().filter(unfinished).over(partition_by=Job.owner_id, order_by=Job.id, rows=(None, -1))
    ranked = (
        select(Job.id, Job.owner_id, between.label("between"))
        .where(Job.owner_id.in_(owners), Job.id >= first, or_(unfinished, Job.id.in_(wanted)))
        .subquery()
    )
    query = (
        select(ranked.c.id, ranked.c.between + func.coalesce(before.c.count, 0))
        .select_from(ranked.outerjoin(before, before.c.owner_id == ranked.c.owner_id))
        .where(ranked.c.id.in_(wanted))
    )
    return {job_id: min(int(count), 9) for job_id, count in session.execute(query)}


def cancel(*, session: Session, job: Job) -> Job:
    """Cancel a job in any unfinished state; commits.

    A pending or queued job gets its final state here (no worker holds it; a worker
    checks the row before it starts). A running job is flagged and its worker stops
    between steps and records `cancelled` itself. Raises InvalidTransition for a finished job.
    """
    done = cancel_many(session=session, job_ids=[job.id])[job.id]
    if isinstance(done, ConsoleError):
        raise done
    return done


def cancel_many(*, session: Session, job_ids: Sequence[int]) -> dict[int, Job | ConsoleError]:
    """`cancel()` for many jobs: two UPDATEs, one commit, one revoke broadcast for those running.

    Returns, by job id, the job as it is after the cancel (the session's copy, refreshed), or
    why it was refused: InvalidTransition when it had already finished.
    """
    ids = list(dict.fromkeys(job_ids))
    if not ids:
        return {}
    not_started = Job.status.in_([S.PENDING.value, S.QUEUED.value])
    why = "cancelled before it started"
    ended = transition_many(
        session=session, job_ids=ids, to=S.CANCELLED, reason=why, only_if=not_started, cancel_requested=True
    )
    rest = sorted(set(ids) - {job.id for job in ended})
    flagged: list[Job] = []
    if rest:
        # Running (or started since it was read): flag it; its worker stops between steps and records `cancelled`.
        flag = update(Job).where(Job.id.in_(rest), Job.status.in_(UNFINISHED)).values(cancel_requested=True)
        flagged = list(session.scalars(flag.returning(Job), execution_options=REFRESH))
        record_events(session=session, events=[(job.id, "cancel requested; the worker stops it") for job in flagged])
    left = sorted(set(rest) - {job.id for job in flagged})
    finished: list[Job] = []
    if left:
        finished = list(session.scalars(select(Job).where(Job.id.in_(left)).execution_options(populate_existing=True)))
    session.commit()
    if flagged:
        try:
            queue.revoke_running([job.task_id for job in flagged])
        except Exception as exc:  # the flag alone still stops each job at its next step
            for job in flagged:
                logger.bind(job_id=job.id).warning("revoke not sent: {}", exc)
    done: dict[int, Job | ConsoleError] = {job.id: job for job in [*ended, *flagged]}
    for job in finished:
        done[job.id] = InvalidTransition(f"job {job.id} is already {job.status}; only unfinished jobs can be cancelled")
    return {job_id: done.get(job_id, NotFound(f"job {job_id} not found")) for job_id in ids}


def requeue(*, session: Session, job: Job, by: User) -> Job:
    """A new job with the same steps snapshot as a finished one; commits and sends."""
    (new,) = submit_many(session=session, items=[requeue_of(job)])
    return new


def rerun(*, session: Session, job: Job, by: User, steps: list[dict[str, Any]]) -> Job:
    """A new job with the config as it is now (`steps`, validated by the caller); commits and sends."""
    (new,) = submit_many(session=session, items=[rerun_of(job, steps=steps)])
    return new


def requeue_of(job: Job) -> NewJob:
    """What a requeue of `job` submits; InvalidTransition if it is not finished."""
    _require_finished(job, "requeued")
    # config_version: the version of the snapshot it runs again
    return NewJob(job.owner, job.dataset, job.steps, job.config, retry_of=job, config_version=job.config_version)


def rerun_of(job: Job, *, steps: list[dict[str, Any]]) -> NewJob:
    """What a re-run of `job` with `steps` submits; InvalidTransition if it is not finished, NotFound
    if its config was deleted."""
    _require_finished(job, "re-run")
    if job.config is None:
        raise NotFound(f"the config of job {job.id} was deleted; requeue it with its snapshot instead")
    return NewJob(job.owner, job.dataset, steps, job.config, rerun_of=job)


def _require_finished(job: Job, verb: str) -> None:
    if not job.is_finished:
        raise InvalidTransition(f"job {job.id} is {job.status}; only finished jobs can be {verb}")
