"""A finished job's outputs made on request: formats its run left to be made when first asked for
(the report's `on_request` names them; settings.XLSX_ON_REQUEST), made from the job's stored Parquet
by the `make_output` task (worker.tasks), one process at a time per job.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from loguru import logger
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from console.core import storage
from console.core.db import session_scope
from console.core.jobs import record_event
from console.core.models import Job, JobOutput, JobStatus
from console.core.settings import Settings
from worker import job_files, outputs
from worker.cleaning.errors import CleaningError

S = JobStatus

# pg_try_advisory_xact_lock(_MAKING, job id): one process at a time makes a job's outputs on request.
_MAKING = 0x6F757470
_MAKERS: dict[str, Callable[[Path, Path], str]] = {"xlsx": outputs.xlsx_from_parquet}
MADE, BUSY, NOTHING_TO_MAKE, MAKING_FAILED = "made", "busy", "nothing to make", "failed"
MAKE_ATTEMPTS = 3  # a format whose making failed this many times is no longer on request


def make_output(job_id: int, fmt: str, *, settings: Settings) -> str:
    """Make a succeeded job's output in `fmt` that its run left to be made on request (the report's
    `on_request` names it; settings.XLSX_ON_REQUEST), from the job's stored Parquet, and store it with
    the job: the file, its job_outputs row and the report's note on it, in one transaction.

    Returns MADE; NOTHING_TO_MAKE when the job has that output already, or never will (not succeeded,
    not on request, an earlier making failed); BUSY when another process is making it right now (ask
    again later: nothing is lost); MAKING_FAILED when making it failed: an event says why; after
    MAKE_ATTEMPTS failures the report's note says why and
    the format is no longer on request, so a download answers with the reason instead of waiting.
    Raises OperationalError / InterfaceError when the database is away (the task retries).
    """
    with logger.contextualize(job_id=job_id):
        job_files.use_private_tmp()
        with session_scope() as session:
            if not session.scalar(select(func.pg_try_advisory_xact_lock(_MAKING, job_id))):
                return BUSY
            row = session.execute(select(Job.status, Job.report).where(Job.id == job_id)).first()
            report = (row.report if row is not None else None) or {}
            made = session.scalars(select(JobOutput.format).where(JobOutput.job_id == job_id)).all()
            if row is None or row.status != S.SUCCEEDED.value or fmt not in report.get("on_request", []) or fmt in made:
                return NOTHING_TO_MAKE
            parquet_id = session.scalar(
                select(JobOutput.file_id).where(JobOutput.job_id == job_id, JobOutput.format == "parquet")
            )
            try:
                # A savepoint: a failure undoes the making but keeps the lock while the note is written.
                with session.begin_nested(), tempfile.TemporaryDirectory(prefix=f"job-{job_id}-{fmt}-") as name:
                    source, target = Path(name) / "output.parquet", Path(name) / f"output.{fmt}"
                    if parquet_id is None or fmt not in _MAKERS:
                        raise CleaningError(f"the job has no Parquet output to make its {fmt} from")
                    storage.copy_to_path(session=session, file_id=parquet_id, path=source)
                    started = time.monotonic()
                    note = _MAKERS[fmt](source, target)
                    made_in = time.monotonic() - started
                    stored = job_files.store_outputs(session, job_id, [outputs.OutputFile(fmt, target, outputs.CONTENT_TYPES[fmt])])
            except (OperationalError, InterfaceError):
                raise
            except Exception as exc:  # SoftTimeLimitExceeded too: the soft time limit
                logger.opt(exception=exc).warning("{} not made on request", fmt)
                why = "it ran past the time limit" if isinstance(exc, SoftTimeLimitExceeded) else f"{type(exc).__name__}: {exc}"
                failed = dict(report.get("on_request_failed") or {})
                failed[fmt] = int(failed.get(fmt, 0)) + 1
                if failed[fmt] < MAKE_ATTEMPTS:  # maybe passing (a full disk, a busy machine): the next download asks again
                    note = f"making it on request failed ({failed[fmt]} of {MAKE_ATTEMPTS} tries): {why}"
                    updated = report | {"on_request_failed": failed}
                    session.execute(update(Job).where(Job.id == job_id).values(report=updated))
                    record_event(session=session, job_id=job_id, message=f"{fmt} {note}", level="WARNING")
                else:
                    _set_output_note(
                        session, job_id, report | {"on_request_failed": failed}, fmt,
                        f"not written: making it on request failed {failed[fmt]} times, last: {why}",
                    )  # fmt: skip
                return MAKING_FAILED
            session.execute(insert(JobOutput).values(job_id=job_id, format=fmt, file_id=stored[fmt]))
            _set_output_note(session, job_id, report, fmt, note, f"{fmt} made on request in {made_in:.1f} s: {note}")
        return MADE


def _set_output_note(session: Session, job_id: int, report: dict[str, Any], fmt: str, note: str, event: str = "") -> None:
    """The report's note on `fmt` becomes `note`, and `fmt` is no longer on request; logged with the job."""
    later = [name for name in report.get("on_request", []) if name != fmt]
    updated = {key: value for key, value in report.items() if key != "on_request"} | (
        {"on_request": later} if later else {}
    )
    updated["outputs"] = {**report.get("outputs", {}), fmt: note}
    session.execute(update(Job).where(Job.id == job_id).values(report=updated))
    record_event(session=session, job_id=job_id, message=event or note, level="INFO" if event else "WARNING")
