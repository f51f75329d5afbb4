"""Request and response bodies of the REST API, named by role."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class BulkOutcome(BaseModel):
    id: int
    outcome: Literal["done", "would_do", "skipped", "not_found"]
    detail: str
    new_job_id: int | None = None


class HealthPublic(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = {}


class JobFilterIn(Strict):
    """Every job matching all the given fields (members: among their own jobs)."""

    status: Literal["pending", "queued", "running", "succeeded", "failed", "cancelled"] | None = None
    owner_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    config_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    dataset_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    created_after: str | None = Field(
        default=None, max_length=40, description="YYYY-MM-DD or ISO 8601 date and time (UTC unless it says)"
    )
    created_before: str | None = Field(
        default=None, max_length=40, description="YYYY-MM-DD (the whole day counts) or ISO 8601 date and time"
    )
    search: str | None = Field(
        default=None, max_length=200, description="in the id, status, task id, error, owner, dataset or config name"
    )


class BulkRequest(Strict):
    """A bulk action on the jobs named by `ids` or on every job matching `filter` (exactly one of them)."""

    action: Literal["cancel", "requeue", "rerun"]
    ids: list[int] | None = Field(default=None, min_length=1, max_length=5000)
    filter: JobFilterIn | None = None
    dry_run: bool = False

    @model_validator(mode="after")
    def _ids_or_filter(self) -> BulkRequest:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give either `ids` or `filter`, not both and not neither")
        return self


class BulkResult(BaseModel):
    action: str
    dry_run: bool
    matched: int = Field(description="jobs named or matching the filter")
    acted: int = Field(description="jobs the action touched (dry run: would touch)")
    skipped: int
    not_found: int
    results: list[BulkOutcome]


class ConfigPreviewRequest(Strict):
    """Run `steps`, or the steps of config `config_id` (exactly one of them), on the first `limit` rows."""

    dataset_id: int = DbId
    steps: list[Any] | None = None
    config_id: int | None = Field(default=None, ge=1, le=2_147_483_647)
    limit: int = Field(default=200, ge=1, le=1000)

    @model_validator(mode="after")
    def _steps_or_config(self) -> ConfigPreviewRequest:
        if (self.steps is None) == (self.config_id is None):
            raise ValueError("give either `steps` or `config_id`, not both and not neither")
        return self


class ConfigPreviewPublic(BaseModel):
    before: Preview
    after: Preview
    report: dict[str, Any]
