"""Find jobs the machinery dropped and put them back on their way. Runs every few seconds (beat).

- `pending` past the grace period: the send failed (broker down) -> send again.
- `queued` past the grace period whose message Redis no longer holds (broker lost its
  memory) -> send again.
- `running` with a stale heartbeat: the worker died -> send again, so a new run claims it
  (or, past the attempt budget, the claim fails it as "worker lost").

A send that turns out to be a duplicate is harmless: a run claims the job only while no
live run holds it, and a finished job's message does nothing.
"""

from __future__ import annotations

from datetime import timedelta

from loguru import logger
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.core import jobs, queue
from console.core.db import session_scope
from console.core.models import Job, JobStatus
from console.core.settings import Settings

S = JobStatus
BATCH = 500


def reconcile(*, settings: Settings) -> dict[str, int]:
    """One pass; returns how many jobs of each kind were sent again."""
    grace = func.now() - timedelta(seconds=settings.JOB_RESEND_AFTER_SECONDS)
    stale = func.now() - timedelta(seconds=settings.JOB_STALE_SECONDS)
    with session_scope() as session:
        pending = _select(session, Job.status == S.PENDING.value, Job.created_at < grace)
        queued = _select(session, Job.status == S.QUEUED.value, Job.queued_at < grace)
        running = _select(session, Job.status == S.RUNNING.value, Job.heartbeat_at < stale)
        sent = {"pending": sum(jobs.send(session=session, job=job) for job in pending)}
        held = queue.queued_task_ids(settings.CELERY_QUEUE) if queued else set()
        lost = [job for job in queued if held is not None and job.task_id not in held]
        sent["queued"] = sum(_resend(session, job, "its message was lost by the broker") for job in lost)
        sent["running"] = sum(_resend(session, job, "its worker stopped heart-beating") for job in running)
    if any(sent.values()):
        logger.info("reconciler sent again: {}", sent)
    return sent


def _select(session: Session, *conditions: object) -> list[Job]:
    return list(session.scalars(select(Job).where(*conditions).order_by(Job.id).limit(BATCH)))  # type: ignore[arg-type]


def _resend(session: Session, job: Job, why: str) -> int:
    try:
        queue.send(queue.PROCESS_JOB, args=[job.id], task_id=job.task_id)
    except Exception as exc:  # broker still down: the next pass tries again
        logger.bind(job_id=job.id).warning("could not send again ({}): {}", why, exc)
        return 0
    jobs.record_event(session=session, job_id=job.id, level="WARNING", message=f"sent again: {why}")
    session.commit()
    return 1
