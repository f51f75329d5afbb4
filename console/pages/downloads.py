"""A job's result files for the workspace, streamed from PostgreSQL chunk by chunk.

CSV downloads from the pages are made safe to open in a spreadsheet
(`worker.cleaning.formulas.neutralize_csv`): a cell that starts like a formula and is not a
plain number gets a leading apostrophe, so Excel or LibreOffice show it as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session

from console.core import outputs, storage
from console.core.db import session_scope
from console.core.errors import NotFound
from console.core.models import Job, OutputFormat
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




def downloads_of(session: Session, job: Job) -> list[Download]:
    """The formats this job's result can be downloaded in: its CSV always, others as the worker wrote
    them or makes them on request (file_id 0 until made: the download asks for it)."""
    files = outputs.stored(session, job)
    return [Download(fmt, *outputs.FORMATS[fmt], files.get(fmt, 0)) for fmt in outputs.offered(session, job) if fmt in outputs.FORMATS]


def unavailable(job: Job, available: list[Download]) -> list[dict[str, str]]:
    """Formats a succeeded job has no file in, with the worker's reason (e.g. too many rows for Excel)."""
    notes = (job.report or {}).get("outputs") or {}
    have = {item.format for item in available}
    return [{"label": outputs.FORMATS[fmt][0], "reason": str(notes[fmt])} for fmt in outputs.FORMATS if fmt not in have and fmt in notes]


def download_for(session: Session, job: Job, fmt: str) -> Download:
    """The job's download in `fmt`; raises outputs.BeingMade once a file made on request was asked for."""
    if fmt not in outputs.FORMATS:
        raise NotFound(f"job {job.id} has no {fmt} download")
    return Download(fmt, *outputs.FORMATS[fmt], outputs.file_for(session, job, fmt))


def stream(download: Download) -> Iterator[bytes]:
    """The file's bytes (CSV made spreadsheet-safe); opens its own session, as the request's is closed by then."""
    with session_scope() as session:
        chunks = storage.iter_chunks(session=session, file_id=download.file_id)
        yield from neutralize_csv(chunks) if download.format == OutputFormat.CSV.value else chunks
