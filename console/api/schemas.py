"""Request and response bodies of the REST API, named by role."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DbId = Field(ge=1, le=2_147_483_647)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnPublic(BaseModel):
    name: str
    type: str


class DatasetPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    owner_id: int
    name: str
    original_filename: str
    size: int
    sha256: str
    encoding: str | None
    delimiter: str | None
    columns: list[ColumnPublic]
    row_count: int | None
    profile_status: str
    profile_error: str | None
    profile: dict[str, Any] | None
    created_at: datetime


class Preview(BaseModel):
    columns: list[str]
    rows: list[list[Any]]


class ConfigCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    steps: list[Any]


class ConfigUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    steps: list[Any] | None = None


class ConfigPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    owner_id: int
    name: str
    description: str
    steps: list[dict[str, Any]]
    version: int
    created_at: datetime
    updated_at: datetime


class JobCreate(Strict):
    dataset_id: int = DbId
    config_id: int = DbId


class JobError(BaseModel):
    message: str
    traceback: str | None


class JobPublic(BaseModel):
    id: int
    owner_id: int
    dataset_id: int
    config_id: int | None
    config_version: int | None
    steps: list[dict[str, Any]]
    status: str
    progress: int
    task_id: str
    attempts: int
    rows_in: int | None
    rows_out: int | None
    report: dict[str, Any] | None
    error: JobError | None
    output_available: bool
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    retry_of_id: int | None
    rerun_of_id: int | None


class BulkAction(Strict):
    action: Literal["cancel", "requeue", "rerun"]
    ids: list[int] = Field(min_length=1, max_length=1000)
    dry_run: bool = False


class BulkOutcome(BaseModel):
    id: int
    outcome: Literal["done", "would_do", "skipped", "not_found"]
    detail: str
    new_job_id: int | None = None


class HealthPublic(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = {}
