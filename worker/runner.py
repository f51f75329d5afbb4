"""Run one job: claim it, feed the stored file and the steps snapshot to the engine, write the result.

The final write (output file, preview, report, status) is one transaction and lands only
while this run's lease still holds the job, so a job delivered twice is finished once.
"""

from __future__ import annotations

import tempfile
import threading
import time
import traceback
import uuid
from datetime import UTC, datetime
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from loguru import logger
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from console.core import storage
from console.core.db import session_scope
from console.core.jobs import claim as claim_job
from console.core.jobs import record_event, transition
from console.core.models import Dataset, Job, JobStatus
from console.core.settings import Settings
from worker.cleaning import engine, reading, writing
from worker.cleaning.config import check_columns, validate_config
from worker.cleaning.errors import Cancelled, CleaningError

S = JobStatus


class Busy(Exception):
    """Another run holds the job and is alive (its heartbeat is fresh); try again later."""


def run_job(job_id: int, *, settings: Settings) -> str:
    """Run the job to a final state and return that state (or `skipped` when it must not run here).

    Raises Busy when a live run holds the job, and DBAPIError when the database is away.
    """
    with logger.contextualize(job_id=job_id):
        lease = claim(job_id, settings=settings)
        if lease is None:
            return "skipped"
        with Heartbeat(job_id, lease, settings.JOB_HEARTBEAT_SECONDS):
            return _run_guarded(job_id, lease, settings)


def _run_guarded(job_id: int, lease: str, settings: Settings) -> str:
    try:
        return _run_claimed(job_id, lease, settings)
    except Cancelled:
        return _finish(job_id, lease, S.CANCELLED, reason="stopped on request")
    except SoftTimeLimitExceeded:
        if _cancel_requested(job_id):
            return _finish(job_id, lease, S.CANCELLED, reason="stopped on request")
        return _fail(job_id, lease, f"time limit: the job ran past {settings.JOB_SOFT_TIME_LIMIT} s and was stopped")
    except CleaningError as exc:
        return _fail(job_id, lease, str(exc), traceback.format_exc())
    except DBAPIError:
        raise  # the task retries with backoff; the row still says running and the next claim takes over
    except Exception as exc:
        logger.exception("job crashed")
        return _fail(job_id, lease, f"internal error: {type(exc).__name__}: {exc}", traceback.format_exc())


def claim(job_id: int, *, settings: Settings) -> str | None:
    """Take the job for this run; return its lease, or None when the job must not run here."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            logger.warning("job does not exist; message dropped")
            return None
        if job.is_finished:
            logger.info("job is already {}; nothing to do", job.status)
            return None
        if job.cancel_requested:
            transition(session=session, job_id=job_id, to=S.CANCELLED, reason="cancelled before it started")
            return None
        if job.status == S.RUNNING and not _is_stale(job, settings):
            raise Busy(f"job {job_id} is running elsewhere")
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            transition(
                session=session,
                job_id=job_id,
                to=S.FAILED,
                reason="worker lost",
                error_message=(
                    f"worker lost: the job was started {job.attempts} times and its worker stopped each time "
                    "(killed, out of memory, or past the hard time limit)"
                ),
            )
            return None
        lease = uuid.uuid4().hex
        taken = claim_job(
            session=session, job_id=job_id, lease=lease, attempt=job.attempts + 1, stale_seconds=settings.JOB_STALE_SECONDS
        )
        if not taken:
            raise Busy(f"job {job_id} was taken by another run")
        return lease


def _is_stale(job: Job, settings: Settings) -> bool:
    if job.heartbeat_at is None:
        return True
    return (datetime.now(UTC) - job.heartbeat_at).total_seconds() > settings.JOB_STALE_SECONDS


class Heartbeat:
    """Refresh the job's heartbeat from a thread while the run works, so a stalled step still looks alive
    and a dead worker's job looks dead."""

    def __init__(self, job_id: int, lease: str, every: float) -> None:
        self.job_id, self.lease, self.every = job_id, lease, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                with session_scope() as session:
                    session.execute(
                        update(Job)
                        .where(Job.id == self.job_id, Job.lease == self.lease, Job.status == S.RUNNING.value)
                        .values(heartbeat_at=func.clock_timestamp())
                    )
            except DBAPIError as exc:
                logger.bind(job_id=self.job_id).warning("heartbeat not written: {}", exc.orig)


def _run_claimed(job_id: int, lease: str, settings: Settings) -> str:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        dataset = session.get(Dataset, job.dataset_id)
        assert dataset is not None
        steps, file_id = list(job.steps), dataset.file_id
    with tempfile.TemporaryDirectory(prefix=f"job-{job_id}-") as folder:
        source, target = Path(folder) / "input.csv", Path(folder) / "output.csv"
        with session_scope() as session:
            storage.copy_to_path(session=session, file_id=file_id, path=source)
        _progress(job_id, lease, 5)
        config = validate_config({"steps": steps})
        loaded = reading.read_csv(source)
        check_columns(config, list(loaded.frame.columns), loaded.types)
        _progress(job_id, lease, 20)

        def on_step(done: int, total: int) -> None:
            _progress(job_id, lease, 20 + int(70 * done / max(total, 1)))

        result, report = engine.run(
            loaded.frame, config, should_stop=lambda: _must_stop(job_id, lease), on_step=on_step
        )
        writing.write_csv(result, target)
        preview = writing.frame_preview(result, settings.PREVIEW_ROWS)
        return _succeed(job_id, lease, target, preview, report.to_dict(), len(loaded.frame), len(result))


def _succeed(
    job_id: int, lease: str, output: Path, preview: dict[str, Any], report: dict[str, Any], rows_in: int, rows_out: int
) -> str:
    outcome = _retrying_db(lambda: _write_success(job_id, lease, output, preview, report, rows_in, rows_out))
    if outcome == "cancel":
        return _finish(job_id, lease, S.CANCELLED, reason="stopped on request before its result was written")
    return outcome


def _write_success(
    job_id: int, lease: str, output: Path, preview: dict[str, Any], report: dict[str, Any], rows_in: int, rows_out: int
) -> str:
    """One transaction: the output file, preview, report and the final status, or none of them."""
    with session_scope() as session:
        stored = storage.store_path(session=session, path=output, filename=f"job-{job_id}-output.csv")
        moved = transition(
            session=session,
            job_id=job_id,
            to=S.SUCCEEDED,
            holding=lease,
            reason=f"{rows_in:,} rows in, {rows_out:,} rows out",
            output_file_id=stored.id,
            preview=preview,
            report=report,
            rows_in=rows_in,
            rows_out=rows_out,
            progress=100,
            only_if=Job.cancel_requested.is_(False),
        )
        if not moved:
            # A cancel or another run owns the job now: this output goes with the rolled-back transaction.
            session.rollback()
            if _cancel_requested(job_id):
                return "cancel"
            logger.warning("lease lost before the result was written; result discarded")
            return "skipped"
    return S.SUCCEEDED.value


def _fail(job_id: int, lease: str, message: str, trace: str | None = None) -> str:
    logger.info("job failed: {}", message)
    return _finish(job_id, lease, S.FAILED, reason=message[:500], error_message=message, error_traceback=trace)


def _finish(job_id: int, lease: str, to: JobStatus, *, reason: str, **values: Any) -> str:
    def write() -> str:
        with session_scope() as session:
            moved = transition(session=session, job_id=job_id, to=to, holding=lease, reason=reason, **values)
        return to.value if moved else "skipped"

    return _retrying_db(write)


def _retrying_db(write: Callable[[], str], waits: tuple[float, ...] = (0.5, 1, 2, 4, 8, 15)) -> str:
    """Run a final write, waiting out a database that is restarting, so a finished job's result is not lost."""
    for wait in waits:
        try:
            return write()
        except (OperationalError, InterfaceError) as exc:
            logger.warning("database unavailable for the final write ({}); retrying in {} s", exc.orig, wait)
            time.sleep(wait)
    return write()


def _progress(job_id: int, lease: str, percent: int) -> None:
    try:
        with session_scope() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.lease == lease, Job.status == S.RUNNING.value)
                .values(progress=min(percent, 99), heartbeat_at=func.clock_timestamp())
            )
    except (OperationalError, InterfaceError) as exc:
        logger.warning("progress not written: {}", exc.orig)  # progress is a nicety; the job goes on


def _must_stop(job_id: int, lease: str) -> bool:
    with session_scope() as session:
        row = session.execute(select(Job.cancel_requested, Job.lease).where(Job.id == job_id)).one()
    if row.lease != lease:
        with session_scope() as session:
            record_event(session=session, job_id=job_id, level="WARNING", message="another run took the job over")
        return True
    return bool(row.cancel_requested)


def _cancel_requested(job_id: int) -> bool:
    with session_scope() as session:
        return bool(session.execute(select(Job.cancel_requested).where(Job.id == job_id)).scalar())
