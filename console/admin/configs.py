"""Cleaning configs in the admin: the JSON editor with the vocabulary beside it and a live before/after preview,
the version bump on every edit, export and import as JSON, and "run on a dataset" from the config's page."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterable
from typing import Any

from sqladmin import expose
from sqladmin.fields import JSONField
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from wtforms import Form
from wtforms.validators import StopValidation

from console.admin import formatting as fmt
from console.admin.common import csrf_token, in_thread, posted_form, require_role, signed_in
from console.admin.views import ConsoleView
from console.core import audit
from console.core.errors import Conflict, ConsoleError, Invalid
from console.core.models import CleaningConfig, Dataset, Job
from console.validation import check_steps_for_dataset, validated_steps
from console.web_session import session_role, session_user_id
from worker.cleaning.step_models import STEP_MODELS

EXPORT_FORMAT = "data-ops-console/cleaning-config@1"
PREVIEW_ROWS = 20
MAX_IMPORT_BYTES = 1024 * 1024


class StepsField(JSONField):
    """The config's steps as JSON text; refuses anything `validated_steps` refuses, naming the step."""

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return json.dumps(self.data if self.data is not None else [], indent=2, ensure_ascii=False)

    def pre_validate(self, form: Form) -> None:
        if self.process_errors:
            raise StopValidation()
        try:
            validated_steps(self.data)
        except Invalid as exc:
            raise StopValidation("; ".join(messages(exc))) from None


def messages(exc: ConsoleError) -> Iterable[str]:
    detail = exc.detail
    return [str(problem.get("msg", problem)) for problem in detail] if isinstance(detail, list) else [str(detail)]


class ConfigAdmin(ConsoleView, model=CleaningConfig):
    name = "Cleaning config"
    icon = "fa-solid fa-list-check"
    create_template = "admin/config_create.html"
    edit_template = "admin/config_edit.html"
    details_template = "admin/config_details.html"
    list_template = "admin/config_list.html"

    form_columns = [CleaningConfig.name, CleaningConfig.description, CleaningConfig.steps]
    form_overrides = {"steps": StepsField}
    form_widget_args = {"steps": {"rows": 16, "class": "form-control font-monospace", "spellcheck": "false"}}
    column_list = [
        CleaningConfig.id, CleaningConfig.name, CleaningConfig.owner, CleaningConfig.version,
        CleaningConfig.steps, CleaningConfig.updated_at, CleaningConfig.created_at,
    ]  # fmt: skip
    column_details_list = [
        CleaningConfig.id, CleaningConfig.name, CleaningConfig.description, CleaningConfig.owner,
        CleaningConfig.version, CleaningConfig.steps, CleaningConfig.created_at, CleaningConfig.updated_at,
    ]  # fmt: skip
    column_searchable_list = [CleaningConfig.name, CleaningConfig.description, "owner.email"]
    column_sortable_list = [
        CleaningConfig.id, CleaningConfig.name, CleaningConfig.version, CleaningConfig.created_at,
        CleaningConfig.updated_at,
    ]  # fmt: skip
    column_default_sort = [(CleaningConfig.created_at, True), (CleaningConfig.id, True)]
    column_labels = {
        CleaningConfig.id: "Id", CleaningConfig.name: "Name", CleaningConfig.description: "Description",
        CleaningConfig.owner: "Owner", CleaningConfig.version: "Version", CleaningConfig.steps: "Steps",
        CleaningConfig.created_at: "Created", CleaningConfig.updated_at: "Updated", "owner.email": "owner email",
    }  # fmt: skip
    column_formatters = {
        CleaningConfig.steps: fmt.show(lambda steps: ", ".join(step.get("op", "?") for step in steps or []))
    }
    column_formatters_detail = {CleaningConfig.steps: fmt.show(fmt.pretty_json)}

    async def on_model_change(
        self, data: dict[str, Any], model: CleaningConfig, is_created: bool, request: Request
    ) -> None:
        try:
            data["steps"] = validated_steps(data.get("steps"))
        except Invalid as exc:
            raise Invalid("; ".join(messages(exc))) from None
        data["name"] = (data.get("name") or "").strip()
        if is_created:
            model.owner_id = session_user_id(request)
        else:
            # Every edit is a new version (in SQL, so two racing edits cannot share one); jobs keep their snapshot.
            model.version = CleaningConfig.version + 1
        owner_id, config_id = model.owner_id, 0 if is_created else model.id
        clash = await in_thread(lambda session: name_taken(session, owner_id, data["name"], config_id))
        if clash:
            raise Conflict(f"name: the owner already has a config named {data['name']!r}")

    async def create_context(self, request: Request) -> dict[str, Any]:
        return await self._editor_context()

    async def edit_context(self, request: Request) -> dict[str, Any]:
        return await self._editor_context()

    async def _editor_context(self) -> dict[str, Any]:
        datasets = await in_thread(recent_datasets)
        return {"vocabulary": VOCABULARY, "datasets": datasets}

    async def details_context(self, request: Request) -> dict[str, Any]:
        pk = str(request.path_params.get("pk", ""))
        if not pk.isdigit():
            return {}

        def read(session: Session) -> dict[str, Any]:
            recent = select(Job).where(Job.config_id == int(pk)).order_by(Job.id.desc()).limit(10)
            return {"datasets": recent_datasets(session), "recent_jobs": list(session.scalars(recent))}

        context = await in_thread(read)
        return {**context, "csrf_token": csrf_token(request), "can_act": session_role(request) in self.writers}

    @expose("/preview", methods=["POST"])
    async def preview(self, request: Request) -> Response:
        """The first rows of a dataset before and after the unsaved steps; changes nothing (POST for the CSRF)."""
        form = await posted_form(request)
        try:
            steps = validated_steps(json.loads(str(form.get("steps") or "[]")))
        except json.JSONDecodeError as exc:
            return JSONResponse({"errors": [f"steps: not valid JSON: {exc}"]}, status_code=422)
        except Invalid as exc:
            return JSONResponse({"errors": list(messages(exc))}, status_code=422)
        dataset_id = str(form.get("dataset_id") or "")
        if not dataset_id.isdigit():
            return JSONResponse({"errors": ["dataset: choose a dataset to preview on"]}, status_code=422)
        try:
            result = await in_thread(lambda session: run_preview(session, int(dataset_id), steps))
        except HTTPException as exc:
            return JSONResponse({"errors": [str(exc.detail)]}, status_code=exc.status_code)
        return JSONResponse(result)

    @expose("/{pk:int}/export", methods=["GET"])
    async def export_json(self, request: Request) -> Response:
        config_id = int(request.path_params["pk"])
        config = await in_thread(lambda session: session.get(CleaningConfig, config_id))
        if config is None:
            raise HTTPException(status_code=404, detail=f"Config {config_id} does not exist.")
        body = {
            "format": EXPORT_FORMAT, "name": config.name, "description": config.description,
            "version": config.version, "steps": config.steps,
        }  # fmt: skip
        filename = re.sub(r"[^A-Za-z0-9_.-]+", "-", config.name).strip("-") or "config"
        return JSONResponse(
            body, headers={"Content-Disposition": f'attachment; filename="config-{config.id}-{filename}.json"'}
        )

    @expose("/import-json", methods=["GET"])
    async def import_form(self, request: Request) -> Response:
        require_role(request, self.writers, "import configs")
        return await self._import_page(request, {})

    @expose("/import-json", methods=["POST"])
    async def import_json(self, request: Request) -> Response:
        """A config from an exported file or pasted JSON (an export, `{"steps": [...]}` or a bare list of steps)."""
        form = await posted_form(request)
        require_role(request, self.writers, "import configs")
        upload, pasted = form.get("file"), str(form.get("json") or "")
        values = {"name": str(form.get("name") or "").strip(), "json": pasted}
        if isinstance(upload, UploadFile) and upload.filename:
            raw = await upload.read(MAX_IMPORT_BYTES + 1)
            if len(raw) > MAX_IMPORT_BYTES:
                await form.close()
                return await self._import_page(request, values, "file: larger than 1 MB; a config is a small JSON file")
            pasted = raw.decode("utf-8", errors="replace")
        await form.close()
        try:
            name, description, steps = parse_import(pasted, values["name"])
        except Invalid as exc:
            return await self._import_page(request, values, "; ".join(messages(exc)))

        def create(session: Session) -> int:
            actor = signed_in(session, request)
            if name_taken(session, actor.id, name, 0):
                raise Conflict(f"name: you already have a config named {name!r}; give the import another name")
            config = CleaningConfig(owner_id=actor.id, name=name, description=description, steps=steps)
            session.add(config)
            session.flush()
            audit.record(
                session=session, actor=actor, action="config.import", target_type="cleaning_config", ids=[config.id],
                outcome={"via": "admin", "steps": len(steps)}, detail=f"imported config {config}",
            )  # fmt: skip
            return config.id

        try:
            config_id = await in_thread(create)
        except HTTPException as exc:
            return await self._import_page(request, values, str(exc.detail))
        return RedirectResponse(request.url_for("admin:details", identity=self.identity, pk=config_id), status_code=303)

    async def _import_page(self, request: Request, values: dict[str, str], error: str | None = None) -> Response:
        context = {"csrf_token": csrf_token(request), "values": values, "error": error, "title": "Import a config"}
        return await self.templates.TemplateResponse(
            request, "admin/config_import.html", context, status_code=400 if error else 200
        )


def name_taken(session: Session, owner_id: int, name: str, config_id: int) -> bool:
    query = select(CleaningConfig.id).where(
        CleaningConfig.owner_id == owner_id, CleaningConfig.name == name, CleaningConfig.id != config_id
    )
    return session.scalar(query) is not None


def recent_datasets(session: Session) -> list[Any]:
    return list(session.execute(select(Dataset.id, Dataset.name).order_by(Dataset.id.desc()).limit(200)).all())


def parse_import(text: str, name: str) -> tuple[str, str, list[dict[str, Any]]]:
    """(name, description, validated steps) from the imported JSON; Invalid says what is wrong."""
    if not text.strip():
        raise Invalid("json: paste a config or choose a file")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid(f"json: not valid JSON: {exc}") from None
    if isinstance(document, list):
        document = {"steps": document}
    if not isinstance(document, dict) or "steps" not in document:
        raise Invalid('json: expected an exported config, {"steps": [...]} or a list of steps')
    steps = validated_steps(document["steps"])
    name = (name or str(document.get("name") or "")).strip()[:200]
    if not name:
        raise Invalid("name: give the imported config a name")
    return name, str(document.get("description") or "")[:10_000], steps


def run_preview(session: Session, dataset_id: int, steps: list[dict[str, Any]]) -> dict[str, Any]:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise HTTPException(status_code=404, detail=f"dataset {dataset_id} does not exist")
    try:
        check_steps_for_dataset(steps, dataset)
    except Invalid as exc:
        raise HTTPException(status_code=422, detail="; ".join(messages(exc))) from None
    try:
        # Another engineer's module; it runs the engine on the first rows only.
        from console.previewing import preview_steps
    except ImportError:
        raise HTTPException(status_code=503, detail="the live preview is not installed on this console yet") from None
    try:
        result = preview_steps(session=session, dataset=dataset, steps=steps, limit=PREVIEW_ROWS)
    except ConsoleError as exc:
        raise HTTPException(status_code=422, detail="; ".join(messages(exc))) from None
    return json.loads(json.dumps(result, default=str))


def _choices(annotation: Any) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return [str(arg) for arg in typing.get_args(annotation)]
    return [choice for arg in typing.get_args(annotation) for choice in _choices(arg)]


def _vocabulary() -> list[tuple[str, list[str]]]:
    """Each op with its parameters, e.g. ("fill_missing", ["columns?", "strategy: constant|mean|...", "value?"])."""
    entries = []
    for op, model in STEP_MODELS.items():
        params = []
        for name, field in model.model_fields.items():
            if name == "op":
                continue
            choices = _choices(field.annotation)
            label = name + ("" if field.is_required() else "?")
            params.append(f"{label}: {' | '.join(choices)}" if choices else label)
        entries.append((op, params))
    return entries


VOCABULARY = _vocabulary()
