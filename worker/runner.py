"""Run one job: claim it, feed the stored file and the steps snapshot to the engine, write the result.

The final write (output files, preview, report, status) is one transaction and lands only
while this run's lease still holds the job, so a job delivered twice is finished once.

A job whose file would not fit WORKER_MEMORY_BUDGET_MB in memory is cleaned on the low-memory
path (worker.cleaning.lowmem: the same CSV, Parquet, report and preview, no xlsx); the report's
``path`` says which path ran.

What a run asks of the database, so that a small job costs little: the claim (one transaction
that also reads the steps and the dataset's file), copying the file out (on the same
connection), and the final write. Progress is written at most every PROGRESS_EVERY seconds, and
none in the run's first PROGRESS_EVERY seconds (or first heartbeat period, if shorter); the
cancel flag is read at most every CANCEL_CHECK_EVERY seconds (a cancel's revoke stops a long
step at once, and the final write never lands over a cancel).
"""

from __future__ import annotations

import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from loguru import logger
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from console.core import storage
from console.core.db import pinned_session_scope, session_scope
from console.core.job_statements import CANCEL_NOT_REQUESTED
from console.core.jobs import record_event, transition
from console.core.jobs import succeed as succeed_job
from console.core.models import Job, JobStatus
from console.core.settings import Settings
from worker import job_files, outputs
from worker.claiming import Claimed, claim
from worker.cleaning import engine, lowmem, reading, writing
from worker.cleaning.config import CleaningConfig, check_columns, validate_config
from worker.cleaning.errors import Cancelled, CleaningError
from worker.cleaning.progress import OnProgress, Tracker

S = JobStatus
MIB = 1 << 20
PROGRESS_EVERY = 2.0  # seconds between progress writes (the Tracker's period); also the longest start without one
CANCEL_CHECK_EVERY = 1.0  # seconds between reads of the cancel flag
IN_MEMORY, LOW_MEMORY = "in-memory", "low-memory"


def run_job(job_id: int, *, settings: Settings) -> str:
    """Run the job to a final state and return that state (or `skipped` when it must not run here).

    Raises Busy when a live run holds the job, WaitYourTurn when its owner must let another user go
    first (both from worker.claiming), and OperationalError / InterfaceError when the database is away.
    """
    with logger.contextualize(job_id=job_id):
        job_files.use_private_tmp()
        with pinned_session_scope() as session:
            claimed = claim(job_id, settings=settings, session=session)
            if claimed is None:
                return "skipped"
            try:
                with Heartbeat(job_id, claimed.lease, settings.JOB_HEARTBEAT_SECONDS):
                    return _run_guarded(job_id, claimed, settings, session)
            except SoftTimeLimitExceeded:
                # A stop signal that landed outside the work itself: a cancel's revoke arriving just after
                # the engine saw the cancel flag, while the end was being recorded.
                return _stopped(job_id, claimed.lease, settings)


def _run_guarded(job_id: int, claimed: Claimed, settings: Settings, session: Session) -> str:
    lease = claimed.lease
    try:
        return _run_claimed(job_id, claimed, settings, session)
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


@dataclass
class Cleaned:
    """A cleaning's result, ready for the final write."""

    files: list[outputs.OutputFile]
    notes: dict[str, str]
    preview: dict[str, Any]
    report: dict[str, Any]
    rows_in: int
    rows_out: int
    path: str
    path_note: str = field(default="")
    on_request: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The report stored with the job: the engine's, what was written per format, the path that ran,
        and the formats made when first asked for (`on_request`, see worker.on_request)."""
        note = {"path_note": self.path_note} if self.path_note else {}
        later = {"on_request": list(self.on_request)} if self.on_request else {}
        return self.report | {"outputs": self.notes, "path": self.path} | note | later


def _run_claimed(job_id: int, claimed: Claimed, settings: Settings, session: Session) -> str:
    config = validate_config({"steps": claimed.steps})
    with tempfile.TemporaryDirectory(prefix=f"job-{job_id}-") as name:
        folder = Path(name)
        source = folder / "input.csv"
        storage.copy_head_to_path(session=session, head=claimed.file, path=source)
        if session.in_transaction():
            session.commit()  # a file of more than one chunk was read in a transaction of its own
        cleaned = _clean(job_id, claimed.lease, source, folder, config, settings)
        return _succeed(job_id, claimed.lease, cleaned, session)


def _clean(job_id: int, lease: str, source: Path, folder: Path, config: CleaningConfig, settings: Settings) -> Cleaned:
    """In memory, or on the low-memory path when the file would not fit the budget in memory (and that path can)."""
    should_stop = StopCheck(job_id, lease, CANCEL_CHECK_EVERY)
    # A run that outlives its first heartbeat writes to the row anyway: progress may start then.
    on_progress = progress_tracker(job_id, lease, quiet=min(PROGRESS_EVERY, settings.JOB_HEARTBEAT_SECONDS))
    size, budget = source.stat().st_size, settings.WORKER_MEMORY_BUDGET_MB
    if lowmem.fits_in_memory(size, budget * MIB):
        return _in_memory(source, folder, config, settings, should_stop, on_progress)
    _note(job_id, f"low-memory path: the file ({size / MIB:,.1f} MiB) would not fit this worker's memory budget "
          f"({budget:,} MiB) in memory")
    try:
        return _low_memory(source, folder, config, settings, should_stop, on_progress)
    except lowmem.Unsupported as exc:
        _note(job_id, f"the low-memory path cannot clean this one ({exc}); cleaning it in memory")
        cleaned = _in_memory(source, folder, config, settings, should_stop, on_progress)
        cleaned.path_note = f"low-memory path not possible: {exc}"
        return cleaned


def _in_memory(
    source: Path,
    folder: Path,
    config: CleaningConfig,
    settings: Settings,
    should_stop: Callable[[], bool],
    on_progress: OnProgress,
) -> Cleaned:
    loaded = reading.read_csv(source, on_progress=on_progress)
    check_columns(config, list(loaded.frame.columns), loaded.types)
    result, report = engine.run(
        loaded.frame, config, formats=loaded.formats, should_stop=should_stop, on_progress=on_progress
    )
    written = outputs.write_outputs(
        result,
        folder,
        date_formats=report.date_formats,
        xlsx_max_rows=settings.XLSX_MAX_ROWS,
        xlsx_on_request=settings.XLSX_ON_REQUEST,
        on_progress=on_progress,
        preview_rows=settings.PREVIEW_ROWS,
    )
    preview = written.preview
    if preview is None:  # the CSV writer took pandas' route, or wrote in blocks
        preview = writing.frame_preview(result, settings.PREVIEW_ROWS, report.date_formats)
    return Cleaned(
        written.files, written.notes, preview, report.to_dict(), report.rows_in, report.rows_out, IN_MEMORY,
        on_request=written.on_request,
    )  # fmt: skip


def _low_memory(
    source: Path,
    folder: Path,
    config: CleaningConfig,
    settings: Settings,
    should_stop: Callable[[], bool],
    on_progress: OnProgress,
) -> Cleaned:
    """Columns on disk (see cleaning.lowmem): CSV and Parquet byte for byte as in memory; xlsx is not written."""
    written = outputs.Outputs()
    csv, parquet = folder / "output.csv", folder / "output.parquet"
    result = lowmem.run_file(
        source,
        csv,
        config,
        budget_bytes=settings.WORKER_MEMORY_BUDGET_MB * MIB,
        parquet=parquet,
        folder=folder,
        preview_rows=settings.PREVIEW_ROWS,
        should_stop=should_stop,
        on_progress=on_progress,
    )
    written.add("csv", csv, "written")
    written.add("parquet", parquet, "written")
    written.notes["xlsx"] = (
        "not written: low-memory mode (the file is larger than this worker's memory budget); download CSV or Parquet"
    )
    report = result.report
    preview = writing.frame_preview(result.head, settings.PREVIEW_ROWS, report.date_formats)
    return Cleaned(written.files, written.notes, preview, report.to_dict(), report.rows_in, report.rows_out, LOW_MEMORY)


def progress_tracker(job_id: int, lease: str, quiet: float) -> OnProgress:
    """The run's `on_progress`: real units done -> one rising percent (5-99) in the job row, written at
    most every PROGRESS_EVERY seconds (and at each phase's end), none in the run's first `quiet` seconds:
    a quick job writes no progress at all."""
    tracker = Tracker(lambda percent: _progress(job_id, lease, percent), start=5, end=99, every=PROGRESS_EVERY)
    quiet_until = time.monotonic() + quiet

    def on_progress(phase: str, done: int, total: int) -> None:
        if time.monotonic() >= quiet_until:
            tracker(phase, done, total)

    return on_progress


class StopCheck:
    """The run's `should_stop`: whether the job was cancelled or taken over, read from its row at most
    every `every` seconds (the first time `every` seconds into the run); once true, always true."""

    def __init__(self, job_id: int, lease: str, every: float) -> None:
        self.job_id, self.lease, self.every = job_id, lease, every
        self._next = time.monotonic() + every
        self._stop = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if self._stop or now < self._next:
            return self._stop
        self._next = now + self.every
        self._stop = _must_stop(self.job_id, self.lease)
        return self._stop


def _succeed(job_id: int, lease: str, cleaned: Cleaned, session: Session) -> str:
    """The final write: first on the run's own connection (`session`, no transaction open), then, should
    the database be away, on fresh connections as it comes back."""
    first = [session]

    def write() -> str:
        if first:
            own = first.pop()
            try:
                outcome = _write_success(job_id, lease, cleaned, own)
                own.commit()
                return outcome
            except BaseException:
                own.rollback()
                raise
        with session_scope() as fresh:
            return _write_success(job_id, lease, cleaned, fresh)

    outcome = _retrying_db(write)
    if outcome == "cancel":
        return _finish(job_id, lease, S.CANCELLED, reason="stopped on request before its result was written")
    return outcome


def _write_success(job_id: int, lease: str, cleaned: Cleaned, session: Session) -> str:
    """One transaction (the caller commits it): the output files (one per format), preview, report and the
    final status, or none of them."""
    stored = job_files.store_outputs(session, job_id, cleaned.files)
    path = "" if cleaned.path == IN_MEMORY else f", {cleaned.path} path"
    moved = succeed_job(
        session=session,
        job_id=job_id,
        holding=lease,
        outputs=stored,
        reason=f"{cleaned.rows_in:,} rows in, {cleaned.rows_out:,} rows out{path}",
        output_file_id=stored["csv"],
        preview=cleaned.preview,
        report=cleaned.summary(),
        rows_in=cleaned.rows_in,
        rows_out=cleaned.rows_out,
        progress=100,
        only_if=CANCEL_NOT_REQUESTED,
    )
    if not moved:
        # A cancel or another run owns the job now: this output goes with the rolled-back transaction.
        session.rollback()
        if _cancel_requested(job_id):
            return "cancel"
        logger.warning("lease lost before the result was written; result discarded")
        return "skipped"
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


def _note(job_id: int, message: str) -> None:
    """A line in the job's log (its page shows it), written at once."""
    try:
        with session_scope() as session:
            record_event(session=session, job_id=job_id, message=message)
    except (OperationalError, InterfaceError) as exc:
        logger.warning("{} (not kept with the job: {})", message, exc.orig)


def _cancel_requested(job_id: int) -> bool:
    with session_scope() as session:
        return bool(session.execute(select(Job.cancel_requested).where(Job.id == job_id)).scalar())
