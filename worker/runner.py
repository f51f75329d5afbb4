"""Run one job: claim it, feed the stored file and the steps snapshot to the engine, write the result.

The final write (output file, preview, report, status) is one transaction and lands only
while this run's lease still holds the job, so a job delivered twice is finished once.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from loguru import logger
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from console.core import storage
from console.core.db import session_scope
from console.core.jobs import claim as claim_job
from console.core.jobs import fail_worker_lost, must_wait_turn, record_event, transition
from console.core.models import Dataset, Job, JobOutput, JobStatus
from console.core.settings import Settings
from worker import outputs
from worker.cleaning import engine, reading, writing
from worker.cleaning.config import check_columns, validate_config
from worker.cleaning.errors import Cancelled, CleaningError

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


def run_job(job_id: int, *, settings: Settings) -> str:
    """Run the job to a final state and return that state (or `skipped` when it must not run here).

    Raises Busy when a live run holds the job, WaitYourTurn when its owner must let another
    user go first, and OperationalError / InterfaceError when the database is away.
    """
    with logger.contextualize(job_id=job_id):
        _use_private_tmp()
        lease = claim(job_id, settings=settings)
        if lease is None:
            return "skipped"
        try:
            with Heartbeat(job_id, lease, settings.JOB_HEARTBEAT_SECONDS):
                return _run_guarded(job_id, lease, settings)
        except SoftTimeLimitExceeded:
            # A stop signal that landed outside the work itself: a cancel's revoke arriving just after
            # the engine saw the cancel flag, while the end was being recorded.
            return _stopped(job_id, lease, settings)


def _run_guarded(job_id: int, lease: str, settings: Settings) -> str:
    try:
        return _run_claimed(job_id, lease, settings)
    except Cancelled:
        return _finish(job_id, lease, S.CANCELLED, reason="stopped on request")
    except SoftTimeLimitExceeded:
        return _stopped(job_id, lease, settings)
    except CleaningError as exc:
        return _fail(job_id, lease, str(exc), traceback.format_exc())
    except (OperationalError, InterfaceError):
        raise  # the database is away: the task retries with backoff and the next claim takes over
    except MemoryError:
        message = "out of memory: the data and its cleaning did not fit in this worker's memory"
        return _fail(job_id, lease, message, traceback.format_exc())
    except Exception as exc:
        logger.exception("job crashed")
        return _fail(job_id, lease, f"internal error: {type(exc).__name__}: {exc}", traceback.format_exc())


def claim(job_id: int, *, settings: Settings) -> str | None:
    """Take the job for this run; return its lease, or None when the job must not run here.

    Raises Busy (a live run holds it) or WaitYourTurn (fairness); neither uses an attempt.
    """
    with session_scope() as session:
        # The heartbeat's age by the database's clock, the one every heartbeat is written with.
        row = session.execute(
            select(Job, func.extract("epoch", func.clock_timestamp() - Job.heartbeat_at)).where(Job.id == job_id)
        ).first()
        if row is None:
            logger.warning("job does not exist; message dropped")
            return None
        job, age = row[0], None if row[1] is None else float(row[1])
        if job.is_finished:
            logger.info("job is already {}; nothing to do", job.status)
            return None
        if job.cancel_requested:
            transition(session=session, job_id=job_id, to=S.CANCELLED, reason="cancelled before it started")
            return None
        if job.status == S.RUNNING and age is not None and age <= settings.JOB_STALE_SECONDS:
            raise Busy(f"job {job_id} is running elsewhere", retry_in=settings.JOB_STALE_SECONDS - age + 0.5)
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            still_stale = or_(Job.status != S.RUNNING.value, _stale(settings))
            fail_worker_lost(session=session, job_id=job_id, attempts=job.attempts, only_if=still_stale)
            return None
        waits = must_wait_turn(
            session=session, job=job, limit=settings.JOBS_PER_USER_RUNNING, stale_seconds=settings.JOB_STALE_SECONDS
        )
        if waits is not None:
            raise WaitYourTurn(f"owner runs {waits} jobs (limit {settings.JOBS_PER_USER_RUNNING}) and others wait")
        lease = uuid.uuid4().hex
        taken = claim_job(
            session=session,
            job_id=job_id,
            lease=lease,
            attempt=job.attempts + 1,
            stale_seconds=settings.JOB_STALE_SECONDS,
            by=f"{socket.gethostname()} pid {os.getpid()}",
        )
        if not taken:
            raise Busy(f"job {job_id} was taken by another run", retry_in=settings.JOB_STALE_SECONDS)
        return lease


def _stale(settings: Settings) -> ColumnElement[bool]:
    limit = func.clock_timestamp() - timedelta(seconds=settings.JOB_STALE_SECONDS)
    return or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < limit)


_PRIVATE_TMP = "console-worker-"


def _use_private_tmp() -> None:
    """Give this process a temporary folder of its own (once), after removing those of worker
    processes that are gone: a killed process leaves its job's input and output files behind."""
    current = Path(tempfile.gettempdir())
    if current.name == f"{_PRIVATE_TMP}{os.getpid()}":
        return
    base = current.parent if current.name.startswith(_PRIVATE_TMP) else current  # set by a parent before a fork
    for folder in base.glob(f"{_PRIVATE_TMP}*"):
        pid = folder.name.removeprefix(_PRIVATE_TMP)
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            logger.info("removed {}, left by a worker process that is gone", folder)
    mine = base / f"{_PRIVATE_TMP}{os.getpid()}"
    mine.mkdir(mode=0o700, exist_ok=True)
    tempfile.tempdir = str(mine)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


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
        source = Path(folder) / "input.csv"
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
            loaded.frame,
            config,
            formats=loaded.formats,
            should_stop=lambda: _must_stop(job_id, lease),
            on_step=on_step,
        )
        written = outputs.write_outputs(
            result, Path(folder), date_formats=report.date_formats, xlsx_max_rows=settings.XLSX_MAX_ROWS
        )
        preview = writing.frame_preview(result, settings.PREVIEW_ROWS, report.date_formats)
        summary = report.to_dict() | {"outputs": written.notes}
        return _succeed(job_id, lease, written.files, preview, summary, len(loaded.frame), len(result))


def _succeed(
    job_id: int,
    lease: str,
    files: list[outputs.OutputFile],
    preview: dict[str, Any],
    report: dict[str, Any],
    rows_in: int,
    rows_out: int,
) -> str:
    outcome = _retrying_db(lambda: _write_success(job_id, lease, files, preview, report, rows_in, rows_out))
    if outcome == "cancel":
        return _finish(job_id, lease, S.CANCELLED, reason="stopped on request before its result was written")
    return outcome


def _write_success(
    job_id: int,
    lease: str,
    files: list[outputs.OutputFile],
    preview: dict[str, Any],
    report: dict[str, Any],
    rows_in: int,
    rows_out: int,
) -> str:
    """One transaction: the output files (one per format), preview, report and the final status, or none of them."""
    with session_scope() as session:
        stored = {
            file.format: storage.store_path(
                session=session,
                path=file.path,
                filename=f"job-{job_id}-output.{file.format}",
                content_type=file.content_type,
            )
            for file in files
        }
        moved = transition(
            session=session,
            job_id=job_id,
            to=S.SUCCEEDED,
            holding=lease,
            reason=f"{rows_in:,} rows in, {rows_out:,} rows out",
            output_file_id=stored["csv"].id,
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
        session.add_all(JobOutput(job_id=job_id, format=fmt, file_id=file.id) for fmt, file in stored.items())
    return S.SUCCEEDED.value


def _stopped(job_id: int, lease: str, settings: Settings) -> str:
    """SoftTimeLimitExceeded was raised: by a cancel's revoke (SIGUSR1), or by the soft time limit."""
    if _cancel_requested(job_id):
        return _finish(job_id, lease, S.CANCELLED, reason="stopped on request")
    return _fail(job_id, lease, f"time limit: the job ran past {settings.JOB_SOFT_TIME_LIMIT} s and was stopped")


def _fail(job_id: int, lease: str, message: str, trace: str | None = None) -> str:
    logger.info("job failed: {}", message)
    return _finish(job_id, lease, S.FAILED, reason=message[:500], error_message=message, error_traceback=trace)


def _finish(job_id: int, lease: str, to: JobStatus, *, reason: str, **values: Any) -> str:
    """Record the run's end while its lease holds. A cancel requested before that wins over `failed`,
    as it does over `succeeded`: someone asked for the job to stop, and it did."""

    def write() -> str:
        with session_scope() as session:
            yields_to_cancel = Job.cancel_requested.is_(False) if to == S.FAILED else None
            moved = transition(
                session=session, job_id=job_id, to=to, holding=lease, reason=reason, only_if=yields_to_cancel, **values
            )
            if not moved and to == S.FAILED:
                to_cancel = "stopped on request; it was failing: " + reason
                if transition(session=session, job_id=job_id, to=S.CANCELLED, holding=lease, reason=to_cancel[:500]):
                    return S.CANCELLED.value
        return to.value if moved else "skipped"

    with _stop_signals_ignored():
        return _retrying_db(write)


@contextmanager
def _stop_signals_ignored() -> Iterator[None]:
    """While the run's end is written, a late stop signal (SIGUSR1: a cancel's revoke, the soft time
    limit) must not break off the write; the end being written is final either way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGUSR1, previous)


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
    try:
        with session_scope() as session:
            row = session.execute(select(Job.cancel_requested, Job.lease).where(Job.id == job_id)).one()
    except (OperationalError, InterfaceError) as exc:
        # A database restart must not throw the work away: go on, and the final write waits for it.
        logger.warning("cancel flag not read: {}", exc.orig)
        return False
    if row.lease != lease:
        with session_scope() as session:
            record_event(session=session, job_id=job_id, level="WARNING", message="another run took the job over")
        return True
    return bool(row.cancel_requested)


def _cancel_requested(job_id: int) -> bool:
    with session_scope() as session:
        return bool(session.execute(select(Job.cancel_requested).where(Job.id == job_id)).scalar())
