"""Take a job for a run: one read and one claim statement, in one transaction committed before any work.

The claim lands only when the job may run here: not final, no cancel asked, no live run holding it
(Busy otherwise: its heartbeat is fresh), attempts left (past them the job fails as "worker lost"),
and its owner within their share of running jobs while others wait (WaitYourTurn otherwise). The run
gets a fresh lease: only the run holding it may finish the job.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from loguru import logger
from sqlalchemy import ColumnElement, Select, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session

from console.core import storage
from console.core.jobs import claim as claim_job
from console.core.job_statements import heartbeat_alive
from console.core.jobs import fail_worker_lost, fairness_lock, must_wait_turn, transition
from console.core.models import FINAL_STATUSES, Dataset, Job, JobStatus
from console.core.settings import Settings

S = JobStatus


class Busy(Exception):
    """Another run holds the job and is alive (its heartbeat is fresh); try again in `retry_in` seconds,
    when its heartbeat would be stale if its worker had died."""

    def __init__(self, message: str, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = retry_in


class WaitYourTurn(Exception):
    """The job's owner already runs their share while another user's job waits: hand the job back
    (no attempt is used) so that job goes first."""


@dataclass(frozen=True)
class Claimed:
    """What a run took with the job: its lease, the steps snapshot and the dataset's stored file (its
    summary and first chunk, read with the job: a small file needs no query of its own to be copied out)."""

    lease: str
    steps: list[dict[str, Any]]
    file: storage.FileHead


# What a claim reads, built once, in one statement (Core columns: no ORM objects to build): the job; its
# heartbeat's age by the database's clock (the one every heartbeat is written with); the dataset's stored
# file's summary and first chunk (storage.head_columns); and the owner's fairness lock (must_wait_turn's),
# so the next statement's snapshot is taken once it is held and the running count it reads is current.
def _claim_read() -> Select[Any]:
    head, joined = storage.head_columns(Dataset.file_id)
    query = select(
        Job.status,
        Job.cancel_requested,
        Job.attempts,
        Job.owner_id,
        Job.steps,
        func.extract("epoch", func.clock_timestamp() - Job.heartbeat_at),
        fairness_lock(Job.owner_id),
        *head,
    ).join(Dataset, Dataset.id == Job.dataset_id)
    return joined(query).where(Job.id == bindparam("job_id"))


_CLAIM_READ = _claim_read()
# After a claim that did not land: whether a live run holds the job (running, heartbeat within :stale).
_HELD_BY_LIVE_RUN = select(
    exists().where(
        Job.id == bindparam("job_id"),
        Job.status == S.RUNNING.value,
        heartbeat_alive(Job),
    )
)
_HOST = socket.gethostname()


def claim(job_id: int, *, settings: Settings, session: Session) -> Claimed | None:
    """Take the job for this run and commit; return what the run needs, or None when the job must not run here.

    Raises Busy (a live run holds it) or WaitYourTurn (fairness); neither uses an attempt.
    """
    row = session.execute(_CLAIM_READ, {"job_id": job_id}).first()
    if row is None:
        logger.warning("job does not exist; message dropped")
        return None
    status, cancel_requested, attempts, owner_id, steps, age = row[:6]
    age = None if age is None else float(age)
    if status in FINAL_STATUSES:
        logger.info("job is already {}; nothing to do", status)
        return None
    if cancel_requested:
        transition(session=session, job_id=job_id, to=S.CANCELLED, reason="cancelled before it started")
        return None
    if status == S.RUNNING and age is not None and age <= settings.JOB_STALE_SECONDS:
        raise Busy(f"job {job_id} is running elsewhere", retry_in=settings.JOB_STALE_SECONDS - age + 0.5)
    if attempts >= settings.JOB_MAX_ATTEMPTS:
        still_stale = or_(Job.status != S.RUNNING.value, _stale(settings))
        fail_worker_lost(session=session, job_id=job_id, attempts=attempts, only_if=still_stale)
        return None
    lease = uuid.uuid4().hex
    # The fairness rule goes into the claim's statement (the fairness lock is held since the read);
    # must_wait_turn() is asked only to tell why a claim did not land.
    limit = settings.JOBS_PER_USER_RUNNING
    taken = claim_job(
        session=session,
        job_id=job_id,
        lease=lease,
        attempt=attempts + 1,
        stale_seconds=settings.JOB_STALE_SECONDS,
        by=f"{_HOST} pid {os.getpid()}",
        turn_limit=limit,
    )
    if not taken:
        # Either another run took the job since the read, or the fairness rule held it back. Which
        # one is read from the job itself: must_wait_turn() may answer differently a moment after
        # the claim (another owner's job started or finished meanwhile), and a job held back by the
        # rule taken for "busy" would wait JOB_STALE_SECONDS instead of going back in line.
        if session.execute(_HELD_BY_LIVE_RUN, {"job_id": job_id, "stale": timedelta(seconds=settings.JOB_STALE_SECONDS)}).scalar():
            raise Busy(f"job {job_id} was taken by another run", retry_in=settings.JOB_STALE_SECONDS)
        waits = must_wait_turn(
            session=session, job=_Owned(owner_id), limit=limit, stale_seconds=settings.JOB_STALE_SECONDS, locked=True
        )
        running = f"runs {waits} jobs" if waits is not None else "was at the limit"
        raise WaitYourTurn(f"owner {running} (limit {limit}) and others wait")
    session.commit()  # the claim is visible (and the fairness lock released) before any work starts
    return Claimed(lease=lease, steps=list(steps), file=storage.FileHead(*row[7:]))


@dataclass(frozen=True)
class _Owned:
    """What must_wait_turn() reads of a job: its owner."""

    owner_id: int


def _stale(settings: Settings) -> ColumnElement[bool]:
    limit = func.clock_timestamp() - timedelta(seconds=settings.JOB_STALE_SECONDS)
    return or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < limit)
