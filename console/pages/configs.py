"""Cleaning configs: the list, the form builder (new and edit), saving, deleting, and the builder's live check."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from console.api import configs as api_configs
from console.api.schemas import ConfigCreate, ConfigUpdate
from console.core.errors import Conflict, Invalid
from console.core.models import CleaningConfig, Dataset
from console.deps import SessionDep
from console.pages.checking import PREVIEW_ROWS, columns_before_each, live_preview, step_problems
from console.pages.deps import PageUser, flash, get_mine, redirect, render
from console.pages.vocabulary import builder_vocabulary
from console.uploads import first_rows

router = APIRouter()
BEFORE_ROWS = PREVIEW_ROWS
StepsJson = Annotated[str, Form(max_length=1_000_000)]
Name = Annotated[str, Form(max_length=200)]
Description = Annotated[str, Form(max_length=10_000)]


class Draft(BaseModel):
    """What the builder sends to be checked while the user edits."""

    dataset_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    steps: Any = None


@router.get("/configs")
def list_configs(request: Request, session: SessionDep, user: PageUser) -> Response:
    configs = session.scalars(
        select(CleaningConfig).where(CleaningConfig.owner_id == user.id).order_by(CleaningConfig.name)
    ).all()
    latest = session.scalar(select(Dataset.id).where(Dataset.owner_id == user.id).order_by(Dataset.id.desc()).limit(1))
    return render(request, "pages/configs.html", {"configs": configs, "latest_dataset": latest}, user=user)


@router.post("/configs/check")
def check_draft(draft: Draft, session: SessionDep, user: PageUser) -> dict[str, Any]:
    """Problems per step, the columns each step sees, and (when the steps are good) the live preview."""
    dataset = get_mine(session, user, Dataset, draft.dataset_id, "dataset") if draft.dataset_id else None
    problems = step_problems(draft.steps, dataset)
    answer: dict[str, Any] = {
        "problems": problems,
        "columns_before": columns_before_each(draft.steps, dataset.column_names if dataset else []),
        "preview": None,
    }
    if dataset is not None and not problems:
        answer["preview"] = live_preview(session=session, dataset=dataset, steps=draft.steps)
    return answer


@router.get("/configs/new")
def new_config(request: Request, session: SessionDep, user: PageUser, dataset: int | None = None) -> Response:
    return _builder(request, session, user, config=None, dataset=_dataset_for(session, user, dataset))


@router.get("/configs/{config_id}")
def edit_config(request: Request, config_id: int, session: SessionDep, user: PageUser, dataset: int | None = None) -> Response:
    config = get_mine(session, user, CleaningConfig, config_id, "config")
    return _builder(request, session, user, config=config, dataset=_dataset_for(session, user, dataset))


@router.post("/configs/new")
def create_config(
    request: Request,
    session: SessionDep,
    user: PageUser,
    name: Name = "",
    description: Description = "",
    steps_json: StepsJson = "[]",
    dataset_id: Annotated[int | None, Form()] = None,
) -> Response:
    return _save(request, session, user, None, name, description, steps_json, dataset_id)


@router.post("/configs/{config_id}")
def update_config(
    request: Request,
    config_id: int,
    session: SessionDep,
    user: PageUser,
    name: Name = "",
    description: Description = "",
    steps_json: StepsJson = "[]",
    dataset_id: Annotated[int | None, Form()] = None,
) -> Response:
    config = get_mine(session, user, CleaningConfig, config_id, "config")
    return _save(request, session, user, config, name, description, steps_json, dataset_id)


@router.post("/configs/{config_id}/delete")
def delete_config(request: Request, config_id: int, session: SessionDep, user: PageUser) -> Response:
    config = get_mine(session, user, CleaningConfig, config_id, "config")
    name = config.name
    api_configs.delete_config(config, session)
    session.commit()
    flash(request, f"Deleted the config {name}. Jobs that ran with it keep their steps.")
    return redirect("/configs")


def _save(
    request: Request,
    session: SessionDep,
    user: PageUser,
    config: CleaningConfig | None,
    name: str,
    description: str,
    steps_json: str,
    dataset_id: int | None,
) -> Response:
    dataset = get_mine(session, user, Dataset, dataset_id, "dataset") if dataset_id else None
    try:
        steps = json.loads(steps_json)
    except ValueError as exc:
        steps, problems = [], [{"step": None, "field": "steps", "message": f"the steps are not valid JSON ({exc})"}]
    else:
        problems = step_problems(steps, dataset)
    draft = {"name": name, "description": description, "steps": steps}
    if not name.strip() or problems:
        name_error = None if name.strip() else "Give the config a name."
        return _builder(request, session, user, config, dataset, draft, problems, name_error, status_code=422)
    try:
        saved = _store(session, user, config, name, description, steps)
    except Conflict as exc:
        name_error = str(exc.detail).removeprefix("name: ")
        return _builder(request, session, user, config, dataset, draft, [], name_error, status_code=409)
    session.commit()
    flash(request, f"Saved the config {saved.name} (version {saved.version}).")
    return redirect(f"/datasets/{dataset.id}?config={saved.id}#process" if dataset else "/configs")


def _store(
    session: SessionDep, user: PageUser, config: CleaningConfig | None, name: str, description: str, steps: Any
) -> CleaningConfig:
    if config is None:
        body = ConfigCreate(name=name.strip(), description=description, steps=steps)
        return api_configs.create_config(body, session, user)
    return api_configs.update_config(config, ConfigUpdate(name=name.strip(), description=description, steps=steps), session)


def _dataset_for(session: SessionDep, user: PageUser, dataset_id: int | None) -> Dataset | None:
    """The dataset whose columns the builder offers: the one asked for, else the user's latest upload."""
    if dataset_id is not None:
        return get_mine(session, user, Dataset, dataset_id, "dataset")
    return session.scalar(select(Dataset).where(Dataset.owner_id == user.id).order_by(Dataset.id.desc()).limit(1))


def _builder(
    request: Request,
    session: SessionDep,
    user: PageUser,
    config: CleaningConfig | None,
    dataset: Dataset | None,
    draft: dict[str, Any] | None = None,
    problems: list[dict[str, Any]] | None = None,
    name_error: str | None = None,
    status_code: int = 200,
) -> Response:
    draft = draft or {
        "name": config.name if config else "",
        "description": config.description if config else "",
        "steps": config.steps if config else [],
    }
    columns = dataset.column_names if dataset else []
    if problems is None:  # a fresh page shows what is wrong with the saved steps for this dataset, too
        problems = step_problems(draft["steps"], dataset) if draft["steps"] else []
    before: dict[str, Any] = {"columns": [], "rows": []}
    if dataset is not None:
        try:
            before_columns, before_rows = first_rows(session=session, dataset=dataset, limit=BEFORE_ROWS)
            before = {"columns": before_columns, "rows": before_rows}
        except Invalid:
            pass
    datasets = session.scalars(
        select(Dataset).where(Dataset.owner_id == user.id).order_by(Dataset.id.desc()).limit(200)
    ).all()
    state = {
        "vocabulary": builder_vocabulary(),
        "steps": draft["steps"] if isinstance(draft["steps"], list) else [],
        "columns": columns,
        "types": {column["name"]: column["type"] for column in (dataset.columns if dataset else [])},
        "columns_before": columns_before_each(draft["steps"], columns),
        "problems": problems,
        "dataset_id": dataset.id if dataset else None,
    }
    context = {
        "config": config,
        "dataset": dataset,
        "datasets": datasets,
        "draft": draft,
        "steps_text": json.dumps(draft["steps"], indent=2, ensure_ascii=False),
        "problems": problems,
        "general_problems": [p for p in problems if p["step"] is None],
        "name_error": name_error,
        "state": state,
        "before": before,
    }
    return render(request, "pages/config_builder.html", context, user=user, status_code=status_code)
