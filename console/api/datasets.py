"""Datasets: streamed upload, list, get, preview of the first rows."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from sqlalchemy import select

from console.api.schemas import DatasetPublic, Preview
from console.core import queue, storage
from console.core.errors import Invalid
from console.core.models import Dataset
from console.deps import CurrentUser, OwnedDataset, SessionDep, SettingsDep
from worker.cleaning.errors import ReadError
from worker.cleaning.sniff import iter_rows, sniff

router = APIRouter(prefix="/datasets", tags=["datasets"])
SNIFF_BYTES = 64 * 1024


@router.post("", status_code=201, response_model=DatasetPublic)
def upload_dataset(
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a CSV file")],
    name: Annotated[str | None, Form(max_length=255)] = None,
) -> Dataset:
    filename = PurePath(file.filename or "upload.csv").name[:255] or "upload.csv"
    head = file.file.read(SNIFF_BYTES)
    if not head:
        raise Invalid(f"file: {filename} is empty")
    try:
        sniffed = sniff(head)
    except ReadError as exc:
        raise Invalid(f"file: {filename} is not a CSV file: {exc}") from None
    file.file.seek(0)
    stored = storage.store_stream(
        session=session,
        filename=filename,
        chunks=storage.iter_file(file.file),
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
    except Exception:  # profiling is a nicety: the upload stands without it
        pass
    return dataset


@router.get("", response_model=list[DatasetPublic])
def list_datasets(
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[Dataset]:
    query = select(Dataset).order_by(Dataset.id.desc()).limit(limit).offset(offset)
    if not user.sees_everything:
        query = query.where(Dataset.owner_id == user.id)
    return list(session.scalars(query))


@router.get("/{dataset_id}", response_model=DatasetPublic)
def get_dataset(dataset: OwnedDataset) -> Dataset:
    return dataset


@router.get("/{dataset_id}/preview", response_model=Preview)
def preview_dataset(
    dataset: OwnedDataset, session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> Preview:
    chunks = storage.iter_chunks(session=session, file_id=dataset.file_id)
    try:
        columns, rows = iter_rows(
            chunks, encoding=dataset.encoding or "utf-8", delimiter=dataset.delimiter or ",", limit=limit
        )
    except ReadError as exc:
        raise Invalid(f"the dataset cannot be previewed: {exc}") from None
    return Preview(columns=columns, rows=rows)

