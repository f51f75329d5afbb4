"""Find jobs the machinery dropped and put them back on their way.

A worker started with `--beat` runs a pass every RECONCILE_EVERY_SECONDS in a thread of its
main process (`install()`), not as a queued task: a task would wait behind the very backlog
it has to look past, and could not run at all while every pool process is busy.

- `pending` past the grace period: the send failed (broker down) -> send again; the pass
  stops at the first failed send, since the broker is still down.
- `queued` past the grace period whose message Redis no longer holds (broker lost its
  memory) -> send again.
- `running` with a stale heartbeat: the worker died. Cancel requested -> `cancelled`; attempt
  budget used up -> `failed` ("worker lost"), here, with no worker needed; otherwise send
  again, at the front of the queue (it already had its turn).

Each re-send is first claimed with a conditional UPDATE of `sent_at`, so a job is sent again
at most once per period however many reconcilers run. A send that turns out to be a
duplicate is harmless: a run claims the job only while no live run holds it, and a
finished job's message does nothing.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from celery import Celery, bootsteps
from loguru import logger
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from console.core import jobs, queue
from console.core.db import session_scope
from console.core.models import Job, JobStatus
from console.core.settings import Settings, get_settings

S = JobStatus
BATCH = 500


def reconcile(*, settings: Settings) -> dict[str, int]:
    """One pass. Returns how many jobs it sent (again) by the state they were in (`pending`,
    `queued`, `running`), and how many stale ones it ended (`lost`: failed, `cancelled`)."""
    done = {"pending": 0, "queued": 0, "running": 0, "lost": 0, "cancelled": 0}
    holds = queue.broker_holds(settings.CELERY_QUEUE)
    with session_scope() as session:
        if holds is not None:  # Redis unreachable: nothing can be sent, and nothing is known to be missing
            done["pending"] = _send_pending(session, settings)
            done["queued"] = _resend_lost_messages(session, settings, holds)
        done.update(_recover_stale_running(session, settings, holds))
    if any(done.values()):
        logger.info("reconciler: {}", done)
    return done


def _ago(seconds: float) -> ColumnElement[Any]:
    return func.clock_timestamp() - timedelta(seconds=seconds)


def _select(session: Session, *conditions: ColumnElement[bool]) -> list[Job]:
    return list(session.scalars(select(Job).where(*conditions).order_by(Job.id).limit(BATCH)))


def _send_pending(session: Session, settings: Settings) -> int:
    sent = 0
    for job in _select(session, Job.status == S.PENDING.value, Job.created_at < _ago(settings.JOB_RESEND_AFTER_SECONDS)):
        if not jobs.send(session=session, job=job, queue_name=settings.CELERY_QUEUE):
            break  # the broker is still down; the next pass tries again
        sent += 1
    return sent


def _resend_lost_messages(session: Session, settings: Settings, holds: queue.BrokerHolds) -> int:
    grace = settings.JOB_RESEND_AFTER_SECONDS
    queued = _select(session, Job.status == S.QUEUED.value, Job.queued_at < _ago(grace), _not_sent_within(grace))
    lost = [job for job in queued if job.task_id not in holds.all]
    return sum(_resend(session, settings, job, grace, "its message was lost by the broker") for job in lost)


def _recover_stale_running(session: Session, settings: Settings, holds: queue.BrokerHolds | None) -> dict[str, int]:
    stale = settings.JOB_STALE_SECONDS
    still_stale = Job.heartbeat_at < _ago(stale)
    done = {"running": 0, "lost": 0, "cancelled": 0}
    for job in _select(session, Job.status == S.RUNNING.value, still_stale):
        if job.cancel_requested:
            why = "its worker was lost after the cancel was requested"
            moved = jobs.transition(session=session, job_id=job.id, to=S.CANCELLED, only_if=still_stale, reason=why)
            done["cancelled"] += _committed(session, moved)
        elif job.attempts >= settings.JOB_MAX_ATTEMPTS:
            moved = jobs.fail_worker_lost(session=session, job_id=job.id, attempts=job.attempts, only_if=still_stale)
            done["lost"] += _committed(session, moved)
        elif holds is not None:
            # Sent even when a copy waits in the queue: that copy (a dead pool process's message, handed
            # back by Celery) went to the back, behind the whole backlog. This one goes to the front.
            done["running"] += _resend(session, settings, job, stale, "its worker stopped heart-beating", priority=0)
    return done


def _committed(session: Session, moved: bool) -> int:
    session.commit()
    return int(moved)


def _not_sent_within(seconds: float) -> ColumnElement[bool]:
    return or_(Job.sent_at.is_(None), Job.sent_at < _ago(seconds))


def _resend(
    session: Session, settings: Settings, job: Job, period: float, why: str, priority: int | None = None
) -> int:
    """Send the job's message again unless another pass did within `period`; commits.
    `priority` defaults to the job's rank among its owner's unfinished jobs."""
    claimed = session.execute(
        update(Job)
        .where(Job.id == job.id, Job.status == job.status, _not_sent_within(period))
        .values(sent_at=func.clock_timestamp())
        .returning(Job.id)
    ).first()
    session.commit()
    if claimed is None:
        return 0
    try:
        if priority is None:
            priority = jobs.dispatch_priority(session=session, job=job)
        queue.send(queue.PROCESS_JOB, args=[job.id], task_id=job.task_id, queue=settings.CELERY_QUEUE, priority=priority)
    except Exception as exc:  # broker down again: the next period tries again
        logger.bind(job_id=job.id).warning("could not send again ({}): {}", why, exc)
        return 0
    jobs.record_event(session=session, job_id=job.id, level="WARNING", message=f"sent again: {why}")
    session.commit()
    return 1


class ReconcilerThread:
    """Runs `reconcile()` every RECONCILE_EVERY_SECONDS until stopped; a failed pass is logged, not fatal."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reconciler", daemon=True)

    def start(self) -> None:
        logger.info("reconciler runs every {} s", self.settings.RECONCILE_EVERY_SECONDS)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.RECONCILE_EVERY_SECONDS):
            try:
                reconcile(settings=self.settings)
            except Exception:  # the database or Redis is away; the next pass tries again
                logger.exception("reconciler pass failed")


class ReconcilerStep(bootsteps.StartStopStep):
    """The worker's reconciler, on when the worker was started with `--beat`."""

    label = "Reconciler"
    conditional = True

    def __init__(self, parent: Any, beat: bool = False, **kwargs: Any) -> None:
        self.enabled = bool(beat)
        self.thread: ReconcilerThread | None = None
        super().__init__(parent, **kwargs)

    def start(self, parent: Any) -> None:
        self.thread = ReconcilerThread(get_settings())
        self.thread.start()

    def stop(self, parent: Any) -> None:
        if self.thread is not None:
            self.thread.stop()

    shutdown = stop


def install(app: Celery) -> None:
    """Add the reconciler to the workers of `app` (it runs only in those started with `--beat`)."""
    if ReconcilerStep not in app.steps["worker"]:
        app.steps["worker"].add(ReconcilerStep)
