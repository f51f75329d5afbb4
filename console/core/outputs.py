"""A succeeded job's result files by format, and asking for the ones its run left to be made.

A run stores CSV and Parquet; with settings.XLSX_ON_REQUEST it leaves the xlsx to be made when
first asked for (the report's ``on_request`` names it; the worker's ``make_output`` task builds it
from the stored Parquet). Every download path (API, workspace, admin) asks here, so they agree:
a stored file is served; a format on request is asked for and answered BeingMade until the
worker has stored it (asking again is harmless: the worker makes it once); anything else is
InvalidTransition with the run's reason (e.g. too many rows for Excel).
"""

from __future__ import annotations

from loguru import logger
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.core import queue
from console.core.errors import InvalidTransition, Unavailable
from console.core.models import Job, JobOutput, JobStatus

# Every download format: the label people see, and the media type a download is sent with
# (the API, the workspace and the admin all take theirs from here).
FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("CSV", "text/csv; charset=utf-8"),
    "parquet": ("Parquet", "application/vnd.apache.parquet"),
    "xlsx": ("Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
MEDIA_TYPES = {fmt: media for fmt, (_, media) in FORMATS.items()}

# Seconds a client is told to wait before asking again for a file being made.
RETRY_AFTER = 2
# One request to make a file per this many seconds, however many clients ask meanwhile: a worker
# that died making it (the task is acknowledged early, so it is not redelivered) is asked again after it.
ASK_AGAIN_AFTER = 60


class BeingMade(Exception):
    """The file was asked for and is being made: ask again in RETRY_AFTER seconds."""

    def __init__(self, job_id: int, fmt: str) -> None:
        super().__init__(f"the {fmt} file of job {job_id} is being made; ask again in a few seconds")
        self.detail = str(self)


def stored(session: Session, job: Job) -> dict[str, int]:
    """The job's stored result files: format -> file id (CSV first)."""
    if job.status != JobStatus.SUCCEEDED:
        return {}
    rows = session.execute(select(JobOutput.format, JobOutput.file_id).where(JobOutput.job_id == job.id))
    files = {fmt: file_id for fmt, file_id in rows}
    if job.output_file_id is not None:  # jobs finished before outputs were recorded per format
        files.setdefault("csv", job.output_file_id)
    return dict(sorted(files.items(), key=lambda item: (item[0] != "csv", item[0])))


def on_request(job: Job) -> list[str]:
    """Formats the job's run left to be made when first asked for."""
    if job.status != JobStatus.SUCCEEDED:
        return []
    return [str(fmt) for fmt in ((job.report or {}).get("on_request") or [])]


def offered(session: Session, job: Job) -> list[str]:
    """Every format a download of this job can be asked in: stored ones and ones made on request."""
    files = stored(session, job)
    return [*files, *(fmt for fmt in on_request(job) if fmt not in files)]


def file_for(session: Session, job: Job, fmt: str) -> int:
    """The id of the job's file in `fmt`. Raises InvalidTransition saying why there is none,
    BeingMade once it has asked the worker for a file made on request, Unavailable when the
    broker cannot take that request."""
    if job.status != JobStatus.SUCCEEDED:
        raise InvalidTransition(f"job {job.id} is {job.status}; only a finished, succeeded job has a result to download")
    files = stored(session, job)
    if fmt in files:
        return files[fmt]
    if fmt in on_request(job):
        ask(job.id, fmt)
        raise BeingMade(job.id, fmt)
    reason = ((job.report or {}).get("outputs") or {}).get(fmt) or "it finished before that format was written"
    raise InvalidTransition(f"job {job.id} has no {fmt} output: {reason}")


def ask(job_id: int, fmt: str) -> None:
    """Send the worker the request to make the job's `fmt` file, ahead of queued jobs (priority 0: a
    person waits for it), unless it was asked for in the last ASK_AGAIN_AFTER seconds."""
    try:
        queue.send_once(
            queue.MAKE_OUTPUT, args=[job_id, fmt], key=f"make_output:{job_id}:{fmt}", seconds=ASK_AGAIN_AFTER, priority=0
        )
    except Exception as exc:
        logger.bind(job_id=job_id).warning("{} not asked for: broker unavailable: {}", fmt, exc)
        raise Unavailable(f"the {fmt} file of job {job_id} cannot be made now: the queue is unavailable") from None
