"""The console's tables: users and their tokens, stored files, datasets, cleaning configs, jobs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DDL,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from console.core.db import Base


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    MEMBER = "member"


class JobStatus(enum.StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ProfileStatus(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


def _values(enum_cls: type[enum.StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in enum_cls)


def _created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN ({_values(Role)})", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default=Role.MEMBER.value)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _created_at()

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.ADMIN, Role.OPERATOR)

    def __str__(self) -> str:
        return self.email


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="default")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created_at()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="tokens")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"


class StoredFile(Base):
    """File bytes live in `file_chunks`; this row is the file's identity and summary."""

    __tablename__ = "stored_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100), default="text/csv")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    stored_size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created_at()

    def __str__(self) -> str:
        return f"{self.filename} ({self.size} bytes)"


class FileChunk(Base):
    __tablename__ = "file_chunks"

    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    compressed: Mapped[bool] = mapped_column(Boolean, default=False)
    # STORAGE EXTERNAL (migration 62a9eb2152a8): chunks are compressed already (storage.py), so
    # PostgreSQL must not pglz them again. SQLAlchemy has no column option for it: a DDL event.
    data: Mapped[bytes] = mapped_column(LargeBinary)


event.listen(
    FileChunk.__table__,
    "after_create",
    DDL("ALTER TABLE %(fullname)s ALTER COLUMN data SET STORAGE EXTERNAL").execute_if(dialect="postgresql"),
)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (CheckConstraint(f"profile_status IN ({_values(ProfileStatus)})", name="profile_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    original_filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    encoding: Mapped[str | None] = mapped_column(String(32))
    delimiter: Mapped[str | None] = mapped_column(String(4))
    # [{"name": ..., "type": ...}]; types come from the profile task, "unknown" before.
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    profile_status: Mapped[str] = mapped_column(String(16), default=ProfileStatus.PENDING.value)
    profile_error: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = _created_at()

    owner: Mapped[User] = relationship()
    file: Mapped[StoredFile] = relationship()

    @property
    def column_names(self) -> list[str]:
        return [column["name"] for column in self.columns or []]

    def __str__(self) -> str:
        return f"#{self.id} {self.name}"


class CleaningConfig(Base):
    __tablename__ = "cleaning_configs"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="cleaning_configs_owner_id_name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    owner: Mapped[User] = relationship()

    def __str__(self) -> str:
        return f"#{self.id} {self.name} v{self.version}"


class Job(Base):
    """One run of a config snapshot over a dataset. A row is history: it is never rewritten into another run."""

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(f"status IN ({_values(JobStatus)})", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"), index=True)
    config_id: Mapped[int | None] = mapped_column(ForeignKey("cleaning_configs.id", ondelete="SET NULL"), index=True)
    config_version: Mapped[int | None] = mapped_column(Integer)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING.value, index=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease: Mapped[str | None] = mapped_column(String(64))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _created_at()
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When a message for the job was last published; the reconciler re-sends at most once per period.
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rows_in: Mapped[int | None] = mapped_column(BigInteger)
    rows_out: Mapped[int | None] = mapped_column(BigInteger)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_traceback: Mapped[str | None] = mapped_column(Text)
    output_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_files.id", ondelete="SET NULL"))
    preview: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    retry_of_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    rerun_of_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))

    owner: Mapped[User] = relationship()
    dataset: Mapped[Dataset] = relationship()
    config: Mapped[CleaningConfig | None] = relationship()
    output_file: Mapped[StoredFile | None] = relationship()
    events: Mapped[list[JobEvent]] = relationship(
        back_populates="job", order_by="JobEvent.id", cascade="all, delete-orphan"
    )

    @property
    def is_finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def __str__(self) -> str:
        return f"job #{self.id} ({self.status})"


FINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class JobEvent(Base):
    """A line of the job's own log: state changes and what the worker said about it."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = _created_at()
    level: Mapped[str] = mapped_column(String(16), default="INFO")
    message: Mapped[str] = mapped_column(Text)

    job: Mapped[Job] = relationship(back_populates="events")


class OutputFormat(enum.StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    XLSX = "xlsx"


class JobOutput(Base):
    """One file of a job's result in one format; the CSV is also `jobs.output_file_id`."""

    __tablename__ = "job_outputs"
    __table_args__ = (CheckConstraint(f"format IN ({_values(OutputFormat)})", name="format"),)

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    format: Mapped[str] = mapped_column(String(16), primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_files.id", ondelete="CASCADE"))

    file: Mapped[StoredFile] = relationship()


class AuditEntry(Base):
    """Who did what to which things, and how it went: one row per operator or user action."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_email: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str] = mapped_column(String(32))
    target_ids: Mapped[list[int]] = mapped_column(JSONB, default=list)
    outcome: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    detail: Mapped[str] = mapped_column(Text, default="")

    actor: Mapped[User | None] = relationship()
