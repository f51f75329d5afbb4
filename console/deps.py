"""Request dependencies: the session, the caller, and things the caller may see (404 otherwise)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from console.core.db import SessionLocal
from console.core.errors import NotAuthenticated, NotFound
from console.core.models import CleaningConfig, Dataset, Job, User
from console.core.settings import Settings
from console.core.users import user_for_token

bearer = HTTPBearer(auto_error=False, description="An API token from `python -m console create-user`")


def get_session() -> Iterator[Session]:
    session = SessionLocal()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def current_user(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("missing bearer token: send `Authorization: Bearer <token>`")
    user = user_for_token(session=session, token=credentials.credentials)
    session.commit()
    return user


CurrentUser = Annotated[User, Depends(current_user)]

# Ids are PostgreSQL integers: anything outside that range can name nothing.
DatasetId = Annotated[int, Path(ge=1, le=2_147_483_647, description="dataset id")]
ConfigId = Annotated[int, Path(ge=1, le=2_147_483_647, description="config id")]
JobId = Annotated[int, Path(ge=1, le=2_147_483_647, description="job id")]

Owned = TypeVar("Owned", Dataset, CleaningConfig, Job)


def get_owned(session: Session, user: User, model: type[Owned], item_id: int, label: str) -> Owned:
    """The row if it exists and the user may see it; NotFound otherwise (never 403: no leak of existence)."""
    item = session.get(model, item_id)
    if item is None or not (user.sees_everything or item.owner_id == user.id):
        raise NotFound(f"{label} {item_id} not found")
    return item


def owned_dataset(dataset_id: DatasetId, session: SessionDep, user: CurrentUser) -> Dataset:
    return get_owned(session, user, Dataset, dataset_id, "dataset")


def owned_config(config_id: ConfigId, session: SessionDep, user: CurrentUser) -> CleaningConfig:
    return get_owned(session, user, CleaningConfig, config_id, "config")


def owned_job(job_id: JobId, session: SessionDep, user: CurrentUser) -> Job:
    return get_owned(session, user, Job, job_id, "job")


OwnedDataset = Annotated[Dataset, Depends(owned_dataset)]
OwnedConfig = Annotated[CleaningConfig, Depends(owned_config)]
OwnedJob = Annotated[Job, Depends(owned_job)]
