"""Uploaded CSVs: storing one as a dataset and reading its first rows, for the API, the admin and the workspace.

The file is streamed into PostgreSQL chunk by chunk; only its first 64 KiB are looked at
here (encoding, delimiter, header). Types, row count and profile come from the worker.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import BinaryIO

from loguru import logger
from sqlalchemy.orm import Session

from console.core import queue, storage
from console.core.errors import Invalid
from console.core.models import Dataset, User
from console.core.settings import Settings
from worker.cleaning.errors import ReadError
from worker.cleaning.sniff import iter_rows, sniff

SNIFF_BYTES = 64 * 1024


def store_upload(
    *, session: Session, user: User, settings: Settings, filename: str | None, fileobj: BinaryIO, name: str | None = None
) -> Dataset:
    """Check and store the upload, COMMIT the dataset, then ask a worker to profile it.

    Raises Invalid (empty, not a CSV) or TooLarge (over MAX_UPLOAD_BYTES); nothing is kept then.
    """
    filename = PurePath(filename or "upload.csv").name[:255] or "upload.csv"
    head = fileobj.read(SNIFF_BYTES)
    if not head:
        raise Invalid(f"file: {filename} is empty")
    try:
        sniffed = sniff(head)
    except ReadError as exc:
        raise Invalid(f"file: {filename} is not a CSV file: {exc}") from None
    fileobj.seek(0)
    stored = storage.store_stream(
        session=session,
        filename=filename,
        chunks=storage.iter_file(fileobj),
        max_bytes=settings.MAX_UPLOAD_BYTES,
        chunk_bytes=settings.FILE_CHUNK_BYTES,
    )
    dataset = Dataset(
        owner_id=user.id,
        name=(name or filename).strip()[:255] or filename,
        original_filename=filename,
        size=stored.size,
        sha256=stored.sha256 or "",
        encoding=sniffed.encoding,
        delimiter=sniffed.delimiter,
        columns=[{"name": column, "type": "unknown"} for column in sniffed.columns],
        file_id=stored.id,
    )
    session.add(dataset)
    session.commit()
    try:
        queue.send(queue.PROFILE_DATASET, args=[dataset.id])
    except Exception as exc:  # profiling is a nicety: the upload stands without it
        logger.warning("dataset {} stored but not sent for profiling: {}", dataset.id, exc)
    return dataset


def first_rows(*, session: Session, dataset: Dataset, limit: int) -> tuple[list[str], list[list[str | None]]]:
    """The header and first `limit` rows of the stored file, read chunk by chunk (no pandas, not the whole file)."""
    chunks = storage.iter_chunks(session=session, file_id=dataset.file_id)
    try:
        return iter_rows(chunks, encoding=dataset.encoding or "utf-8", delimiter=dataset.delimiter or ",", limit=limit)
    except ReadError as exc:
        raise Invalid(f"the dataset cannot be previewed: {exc}") from None
