"""A job's result files for the workspace, streamed from PostgreSQL chunk by chunk.

CSV downloads from the pages are made safe to open in a spreadsheet
(`worker.cleaning.formulas.neutralize_csv`): a cell that starts like a formula and is not a
plain number gets a leading apostrophe, so Excel or LibreOffice show it as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.core import storage
from console.core.db import session_scope
from console.core.errors import InvalidTransition, NotFound
from console.core.models import Job, JobOutput, JobStatus, OutputFormat
from worker.cleaning.formulas import neutralize_csv


@dataclass(frozen=True)
class Download:
    format: str
    label: str
    media_type: str
    file_id: int

    def url(self, job_id: int) -> str:
        return f"/jobs/{job_id}/download/{self.format}"

    def filename(self, job_id: int) -> str:
        return f"job-{job_id}-cleaned.{self.format}"


LABELS = {
    OutputFormat.CSV.value: ("CSV", "text/csv; charset=utf-8"),
    OutputFormat.PARQUET.value: ("Parquet", "application/vnd.apache.parquet"),
    OutputFormat.XLSX.value: ("Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


def downloads_of(session: Session, job: Job) -> list[Download]:
    """The formats this job's result can be downloaded in: its CSV always, others as the worker wrote them."""
    if job.status != JobStatus.SUCCEEDED:
        return []
    files = {row.format: row.file_id for row in session.execute(select(JobOutput).where(JobOutput.job_id == job.id)).scalars()}
    if job.output_file_id is not None:
        files.setdefault(OutputFormat.CSV.value, job.output_file_id)
    return [Download(fmt, *LABELS[fmt], files[fmt]) for fmt in LABELS if fmt in files]


def unavailable(job: Job, available: list[Download]) -> list[dict[str, str]]:
    """Formats a succeeded job has no file in, with the worker's reason (e.g. too many rows for Excel)."""
    notes = (job.report or {}).get("outputs") or {}
    have = {item.format for item in available}
    return [{"label": LABELS[fmt][0], "reason": str(notes[fmt])} for fmt in LABELS if fmt not in have and fmt in notes]


def download_for(session: Session, job: Job, fmt: str) -> Download:
    if job.status != JobStatus.SUCCEEDED:
        raise InvalidTransition(f"job {job.id} is {job.status}; only a finished, succeeded job has a result to download")
    found = next((item for item in downloads_of(session, job) if item.format == fmt), None)
    if found is None:
        raise NotFound(f"job {job.id} has no {fmt} download")
    return found


def stream(download: Download) -> Iterator[bytes]:
    """The file's bytes (CSV made spreadsheet-safe); opens its own session, as the request's is closed by then."""
    with session_scope() as session:
        chunks = storage.iter_chunks(session=session, file_id=download.file_id)
        yield from neutralize_csv(chunks) if download.format == OutputFormat.CSV.value else chunks
