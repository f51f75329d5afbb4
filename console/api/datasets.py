"""Datasets: streamed upload, list, get, preview of the first rows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from console.api.schemas import DatasetPublic, Preview
from console.core import storage
from console.core.models import Dataset
from console.deps import CurrentUser, OwnedDataset, SessionDep, SettingsDep
from console.uploads import first_rows, store_upload

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.post("", status_code=201, response_model=DatasetPublic)
def upload_dataset(
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="a CSV file")],
    name: Annotated[str | None, Form(max_length=255)] = None,
) -> Dataset:
    return store_upload(session=session, user=user, settings=settings, filename=file.filename, fileobj=file.file, name=name)


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
    columns, rows = first_rows(session=session, dataset=dataset, limit=limit)
    return Preview(columns=columns, rows=rows)


@router.get("/{dataset_id}/file", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
def download_original(dataset: OwnedDataset) -> StreamingResponse:
    headers = {"Content-Disposition": f'attachment; filename="{_ascii_filename(dataset.original_filename)}"'}
    return StreamingResponse(storage.stream_file(dataset.file_id), media_type="text/csv", headers=headers)


def _ascii_filename(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name) or "dataset.csv"
