"""Datasets in the admin: upload a CSV; see its columns, types, profile and first rows; download it; run a config."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqladmin import expose
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from console.admin import downloads
from console.admin import formatting as fmt
from console.admin.common import csrf_token, in_thread, posted_form, require_role, signed_in
from console.admin.views import ConsoleView
from console.core import audit
from console.core.errors import Invalid
from console.core.models import CleaningConfig, Dataset, Job
from console.uploads import first_rows, store_upload
from console.web_session import session_role

PREVIEW_ROWS = 20


class DatasetAdmin(ConsoleView, model=Dataset):
    icon = "fa-solid fa-table"
    # Uploads have their own page (streamed and checked like the API's); datasets are never edited.
    can_create = can_edit = can_delete = False
    list_template = "admin/dataset_list.html"
    details_template = "admin/dataset_details.html"

    column_list = [
        Dataset.id, Dataset.name, Dataset.owner, Dataset.original_filename, Dataset.size,
        Dataset.row_count, Dataset.profile_status, Dataset.created_at,
    ]  # fmt: skip
    column_details_list = [Dataset.id]  # the page is its own template; see details_context
    column_searchable_list = [Dataset.name, Dataset.original_filename, Dataset.sha256, "owner.email"]
    column_sortable_list = [
        Dataset.id, Dataset.name, Dataset.size, Dataset.row_count, Dataset.profile_status, Dataset.created_at,
    ]  # fmt: skip
    column_default_sort = [(Dataset.created_at, True), (Dataset.id, True)]
    column_labels = {
        Dataset.id: "Id", Dataset.name: "Name", Dataset.owner: "Owner", Dataset.original_filename: "File",
        Dataset.size: "Size", Dataset.sha256: "SHA-256", Dataset.row_count: "Rows",
        Dataset.profile_status: "Profile", Dataset.created_at: "Uploaded", "owner.email": "owner email",
    }  # fmt: skip
    column_formatters = {
        Dataset.size: fmt.show(fmt.size),
        Dataset.row_count: fmt.show(lambda rows: "" if rows is None else f"{rows:,}"),
    }

    async def details_context(self, request: Request) -> dict[str, Any]:
        pk = str(request.path_params.get("pk", ""))
        if not pk.isdigit():
            return {}
        page = await in_thread(lambda session: dataset_page(session, int(pk)))
        if page is None:
            return {}
        return {
            **page,
            "csrf_token": csrf_token(request),
            "can_act": session_role(request) in self.writers,
            "title": str(page["dataset"]),
        }

    @expose("/upload", methods=["GET"])
    async def upload_form(self, request: Request) -> Response:
        require_role(request, self.writers, "upload datasets")
        context = {
            "csrf_token": csrf_token(request),
            "title": "Upload a CSV",
            "limit": fmt.size(_settings(request).MAX_UPLOAD_BYTES),
        }
        return await self.templates.TemplateResponse(request, "admin/dataset_upload.html", context)

    @expose("/upload", methods=["POST"])
    async def upload(self, request: Request) -> Response:
        """Stream the file into storage through the same checks as the API (`console.uploads`), then show it."""
        form = await posted_form(request)
        require_role(request, self.writers, "upload datasets")
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            await form.close()
            raise HTTPException(status_code=400, detail="file: choose a CSV file to upload")
        name = str(form.get("name") or "").strip()[:255] or None
        settings = _settings(request)

        def store(session: Session) -> int:
            actor = signed_in(session, request)
            dataset = store_upload(
                session=session, user=actor, settings=settings, filename=upload.filename, fileobj=upload.file, name=name
            )
            audit.record(
                session=session, actor=actor, action="dataset.upload", target_type="dataset", ids=[dataset.id],
                outcome={"via": "admin", "size": dataset.size, "sha256": dataset.sha256},
                detail=f"uploaded {dataset.original_filename} as {dataset}",
            )  # fmt: skip
            return dataset.id

        try:
            dataset_id = await in_thread(store)
        finally:
            await form.close()
        return RedirectResponse(
            request.url_for("admin:details", identity=self.identity, pk=dataset_id), status_code=303
        )

    @expose("/{pk:int}/original", methods=["GET"])
    async def original(self, request: Request) -> Response:
        """The uploaded file; `?safe=1` re-writes it as UTF-8 CSV with formula-looking cells defused."""
        dataset_id = int(request.path_params["pk"])
        dataset = await in_thread(lambda session: session.get(Dataset, dataset_id))
        if dataset is None:
            raise HTTPException(status_code=404, detail=f"Dataset {dataset_id} does not exist.")
        body = downloads.file_chunks(dataset.file_id)
        filename = dataset.original_filename
        if request.query_params.get("safe"):
            body = downloads.neutralized_csv(
                body, encoding=dataset.encoding or "utf-8", delimiter=dataset.delimiter or ","
            )
            filename = filename.rsplit(".", 1)[0] + "-safe.csv"
        disposition = f"attachment; filename=\"{_ascii(filename)}\"; filename*=UTF-8''{quote(filename)}"
        return StreamingResponse(body, media_type="text/csv", headers={"Content-Disposition": disposition})


def dataset_page(session: Session, dataset_id: int) -> dict[str, Any] | None:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        return None
    dataset.owner  # noqa: B018 - loaded for the page, after the session closes
    try:
        columns, rows = first_rows(session=session, dataset=dataset, limit=PREVIEW_ROWS)
        preview, preview_error = fmt.table(columns, rows), None
    except Invalid as exc:
        preview, preview_error = None, str(exc.detail)
    configs = session.execute(
        select(CleaningConfig.id, CleaningConfig.name, CleaningConfig.version).order_by(CleaningConfig.name).limit(500)
    ).all()
    recent = list(session.scalars(select(Job).where(Job.dataset_id == dataset.id).order_by(Job.id.desc()).limit(10)))
    return {
        "dataset": dataset,
        "preview": preview,
        "preview_error": preview_error,
        "profile_rows": _profile_rows(dataset),
        "configs": configs,
        "recent_jobs": recent,
    }


def _profile_rows(dataset: Dataset) -> list[dict[str, Any]]:
    profile = dataset.profile or {}
    rows = []
    for column in dataset.columns or []:
        stats = profile.get(column["name"], {})
        top = ", ".join(f"{value} ({count})" for value, count in stats.get("top") or [])
        rows.append({
            "name": column["name"], "type": column.get("type", "unknown"), "missing": stats.get("missing"),
            "distinct": stats.get("distinct"), "min": stats.get("min"), "max": stats.get("max"), "top": top,
        })  # fmt: skip
    return rows


def _settings(request: Request) -> Any:
    return request.app.state.settings


def _ascii(filename: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
