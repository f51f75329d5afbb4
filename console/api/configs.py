"""Cleaning configs: create, list, get, update (the version goes up), delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from console.api.schemas import ConfigCreate, ConfigPreviewPublic, ConfigPreviewRequest, ConfigPublic, ConfigUpdate
from console.core.errors import Conflict
from console.core.models import CleaningConfig, Dataset
from console.deps import CurrentUser, OwnedConfig, SessionDep, get_owned
from console.previewing import preview_steps
from console.validation import validated_steps

router = APIRouter(prefix="/configs", tags=["configs"])


@router.post("", status_code=201, response_model=ConfigPublic)
def create_config(body: ConfigCreate, session: SessionDep, user: CurrentUser) -> CleaningConfig:
    config = CleaningConfig(
        owner_id=user.id, name=body.name.strip(), description=body.description, steps=validated_steps(body.steps)
    )
    session.add(config)
    _flush_unique(session, config.name)
    return config


@router.post("/preview", response_model=ConfigPreviewPublic)
def preview_config(body: ConfigPreviewRequest, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """The steps run on the first `limit` rows of the dataset, in this process: before and after rows, and the report."""
    dataset = get_owned(session, user, Dataset, body.dataset_id, "dataset")
    steps = body.steps if body.config_id is None else get_owned(session, user, CleaningConfig, body.config_id, "config").steps
    return preview_steps(session=session, dataset=dataset, steps=steps, limit=body.limit)


@router.get("", response_model=list[ConfigPublic])
def list_configs(
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[CleaningConfig]:
    query = select(CleaningConfig).order_by(CleaningConfig.id.desc()).limit(limit).offset(offset)
    if not user.sees_everything:
        query = query.where(CleaningConfig.owner_id == user.id)
    return list(session.scalars(query))


@router.get("/{config_id}", response_model=ConfigPublic)
def get_config(config: OwnedConfig) -> CleaningConfig:
    return config


@router.put("/{config_id}", response_model=ConfigPublic)
def update_config(config: OwnedConfig, body: ConfigUpdate, session: SessionDep) -> CleaningConfig:
    if body.steps is not None:
        config.steps = validated_steps(body.steps)
    if body.name is not None:
        config.name = body.name.strip()
    if body.description is not None:
        config.description = body.description
    # Every edit is a new version; jobs keep the snapshot they ran with.
    config.version = CleaningConfig.version + 1
    _flush_unique(session, config.name)
    session.refresh(config)
    return config


@router.delete("/{config_id}", status_code=204)
def delete_config(config: OwnedConfig, session: SessionDep) -> Response:
    session.delete(config)
    return Response(status_code=204)


def _flush_unique(session: SessionDep, name: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"name: you already have a config named {name!r}") from None
