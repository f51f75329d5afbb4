"""The user's datasets: the list with the upload form, the upload itself, and a dataset's page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from console.core.errors import Invalid, TooLarge
from console.core.models import CleaningConfig, Dataset, ProfileStatus
from console.deps import SessionDep, SettingsDep
from console.pages.deps import PageUser, flash, get_mine, redirect, render
from console.pages.rendering import filesize
from console.uploads import first_rows, store_upload

router = APIRouter()
PREVIEW_ROWS = 20


@router.get("/datasets")
def list_datasets(request: Request, session: SessionDep, settings: SettingsDep, user: PageUser) -> Response:
    return _datasets_page(request, session, settings, user)


@router.post("/datasets")
def upload(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    file: Annotated[UploadFile | None, File()] = None,
    name: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """A plain form post (redirect, or the form again with the reason) or the page's XHR (JSON either way)."""
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        if file is None or not file.filename:
            raise Invalid("file: choose a CSV file to upload")
        dataset = store_upload(
            session=session, user=user, settings=settings, filename=file.filename, fileobj=file.file, name=name or None
        )
    except (Invalid, TooLarge) as exc:
        session.rollback()
        status = 413 if isinstance(exc, TooLarge) else 422
        message = upload_message(exc, settings.MAX_UPLOAD_BYTES)
        if wants_json:
            return JSONResponse({"detail": message}, status_code=status)
        return _datasets_page(request, session, settings, user, status_code=status, error=message, name=name)
    url = f"/datasets/{dataset.id}"
    if wants_json:
        return JSONResponse({"id": dataset.id, "url": url}, status_code=201)
    flash(request, f"Uploaded {dataset.original_filename}.")
    return redirect(url)


@router.get("/datasets/{dataset_id}")
def dataset_page(request: Request, dataset_id: int, session: SessionDep, user: PageUser, config: int | None = None) -> Response:
    dataset = get_mine(session, user, Dataset, dataset_id, "dataset")
    return render(request, "pages/dataset.html", dataset_context(session, user, dataset, config), user=user)


@router.get("/datasets/{dataset_id}/status")
def dataset_status(dataset_id: int, session: SessionDep, user: PageUser) -> dict[str, Any]:
    """What the dataset page polls while the worker profiles the upload."""
    dataset = get_mine(session, user, Dataset, dataset_id, "dataset")
    return {
        "id": dataset.id,
        "profile_status": dataset.profile_status,
        "profile_ready": dataset.profile_status != ProfileStatus.PENDING,
        "row_count": dataset.row_count,
        "columns": dataset.columns,
    }


def dataset_context(session: SessionDep, user: PageUser, dataset: Dataset, config_id: int | None) -> dict[str, Any]:
    try:
        columns, rows = first_rows(session=session, dataset=dataset, limit=PREVIEW_ROWS)
        preview_error = None
    except Invalid as exc:
        columns, rows, preview_error = [], [], str(exc.detail)
    configs = session.scalars(
        select(CleaningConfig).where(CleaningConfig.owner_id == user.id).order_by(CleaningConfig.name)
    ).all()
    return {
        "dataset": dataset,
        "preview": {"columns": columns, "rows": rows},
        "preview_error": preview_error,
        "profile": dataset.profile or {},
        "configs": configs,
        "selected_config": config_id if config_id is not None else (configs[0].id if len(configs) == 1 else None),
    }


def upload_message(exc: Invalid | TooLarge, max_bytes: int) -> str:
    """The reason as a sentence for the page: `file: x.csv is empty` -> `x.csv is empty.`"""
    if isinstance(exc, TooLarge):
        return f"The file is too large: uploads are limited to {filesize(max_bytes)}."
    text = str(exc.detail).removeprefix("file: ")
    return text if text.endswith(".") else f"{text}."


def _datasets_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: PageUser, status_code: int = 200, **extra: Any
) -> Response:
    datasets = session.scalars(select(Dataset).where(Dataset.owner_id == user.id).order_by(Dataset.id.desc())).all()
    context = {"datasets": datasets, "max_upload_bytes": settings.MAX_UPLOAD_BYTES, **extra}
    return render(request, "pages/datasets.html", context, user=user, status_code=status_code)
