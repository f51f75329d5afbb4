"""The console's settings: one object, read from the environment and an optional `.env`.

This is the only module that reads `os.environ`. Everything else takes a `Settings`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

UNSAFE_SECRETS = {"changethis", "secret", "changeme", ""}
DEV_SECRET = "dev-only-secret-do-not-use-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", validate_default=True)

    # None means "start the embedded server" (only `console up` does that).
    DATABASE_URL: str | None = None
    REDIS_URL: str | None = None
    SECRET_KEY: SecretStr = SecretStr(DEV_SECRET)
    ENVIRONMENT: Literal["local", "production"] = "local"

    LOG_DIR: Path = Path("logs")
    LOG_LEVEL: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    MAX_UPLOAD_BYTES: int = Field(default=2 * 1024**3, gt=0)
    PREVIEW_ROWS: int = Field(default=50, gt=0, le=10_000)
    # Results with more rows get no xlsx (an Excel sheet holds 1,048,575 under its header;
    # writing one takes a few seconds per million rows).
    XLSX_MAX_ROWS: int = Field(default=1_048_575, ge=0, le=1_048_575)
    # A job's xlsx is made when first asked for (console.core.outputs, worker.on_request.make_output: from
    # its Parquet, a few seconds per million rows) rather than with every job; false: with every job.
    XLSX_ON_REQUEST: bool = True
    FILE_CHUNK_BYTES: int = Field(default=1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)

    CELERY_QUEUE: str = Field(default="console", pattern=r"^[A-Za-z0-9_.-]+$")
    JOB_SOFT_TIME_LIMIT: int = Field(default=3000, gt=0)
    JOB_TIME_LIMIT: int = Field(default=3300, gt=0)
    BROKER_VISIBILITY_TIMEOUT: int = Field(default=3600, gt=0)
    JOB_MAX_ATTEMPTS: int = Field(default=3, ge=1)
    JOB_HEARTBEAT_SECONDS: float = Field(default=5, gt=0)
    # A running job whose heartbeat is older than this lost its worker.
    JOB_STALE_SECONDS: float = Field(default=60, gt=0)
    RECONCILE_EVERY_SECONDS: float = Field(default=15, gt=0)
    # A pending or queued job this old without its message gets sent again.
    JOB_RESEND_AFTER_SECONDS: float = Field(default=30, gt=0)
    WORKER_CONCURRENCY: int = Field(default=2, ge=1)
    # Memory one job may use; a file whose in-memory cleaning would not fit is cleaned on the
    # low-memory path (columns on disk, same results).
    WORKER_MEMORY_BUDGET_MB: int = Field(default=1024, ge=256)
    # Leave the kernel's transparent huge pages on in worker processes (off by default: see worker/hugepages.py).
    WORKER_TRANSPARENT_HUGEPAGES: bool = False
    # Niceness of the worker's processes: below the web's priority, so requests do not wait behind cleaning
    # on a shared machine (see worker/priority.py); 0 keeps the default priority.
    WORKER_NICE: int = Field(default=10, ge=0, le=19)
    # Web processes `serve` starts (uvicorn workers); each keeps its own database pool.
    WEB_WORKERS: int = Field(default=2, ge=1, le=64)

    FLOWER_URL: str = "http://127.0.0.1:5555"
    DATA_DIR: Path = Path("data")

    # Fairness: while another user has a job waiting, a user runs at most this many jobs at once
    # (alone, a user may use every free worker).
    JOBS_PER_USER_RUNNING: int = Field(default=2, ge=1)
    # A job handed back because its owner is at that limit comes round again after this long.
    JOB_HANDBACK_SECONDS: float = Field(default=2, gt=0)
    # Whether the workspace offers a sign-up page; admins create users either way (/admin, the CLI).
    ALLOW_SIGNUP: bool = False

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url_is_postgres(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"DATABASE_URL is not a database URL: {exc}") from None
        if not url.drivername.startswith("postgresql"):
            raise ValueError(
                f"DATABASE_URL must be a PostgreSQL URL, got {url.render_as_string(hide_password=True)}"
            )
        # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which is not installed.
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg2")
        return url.render_as_string(hide_password=False)

    @field_validator("REDIS_URL")
    @classmethod
    def _redis_url_is_redis(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://")):
            raise ValueError(f"REDIS_URL must start with redis:// or rediss://, got {value.split('@')[-1]!r}")
        return value

    @model_validator(mode="after")
    def _enforce_safe_values(self) -> Settings:
        secret = self.SECRET_KEY.get_secret_value()
        if self.ENVIRONMENT == "production" and (secret in UNSAFE_SECRETS or secret == DEV_SECRET):
            raise ValueError("SECRET_KEY is a default value; set a real one (e.g. `openssl rand -hex 32`)")
        if self.ENVIRONMENT == "production" and len(secret) < 16:
            raise ValueError("SECRET_KEY is shorter than 16 characters; set a real one")
        # Redelivery must come after a hard-killed job, and before the reconciler gives up on it.
        if not self.JOB_SOFT_TIME_LIMIT < self.JOB_TIME_LIMIT < self.BROKER_VISIBILITY_TIMEOUT:
            raise ValueError(
                "time limits must satisfy JOB_SOFT_TIME_LIMIT < JOB_TIME_LIMIT < BROKER_VISIBILITY_TIMEOUT, got "
                f"{self.JOB_SOFT_TIME_LIMIT} / {self.JOB_TIME_LIMIT} / {self.BROKER_VISIBILITY_TIMEOUT}"
            )
        # Delayed retries (a busy job, a handed-back job) wait unacknowledged in a worker; past the
        # visibility timeout Redis would deliver them a second time.
        for name in ("JOB_STALE_SECONDS", "JOB_HANDBACK_SECONDS"):
            if getattr(self, name) >= self.BROKER_VISIBILITY_TIMEOUT:
                raise ValueError(
                    f"{name} ({getattr(self, name)}) must be shorter than BROKER_VISIBILITY_TIMEOUT "
                    f"({self.BROKER_VISIBILITY_TIMEOUT})"
                )
        if self.JOB_STALE_SECONDS < 3 * self.JOB_HEARTBEAT_SECONDS:
            raise ValueError(
                f"JOB_STALE_SECONDS ({self.JOB_STALE_SECONDS}) must be at least 3 x JOB_HEARTBEAT_SECONDS "
                f"({self.JOB_HEARTBEAT_SECONDS}), or live jobs would look dead"
            )
        return self

    def masked_database_url(self) -> str:
        return mask_url(self.DATABASE_URL)

    def masked_redis_url(self) -> str:
        return mask_url(self.REDIS_URL)

    def require_services(self, *names: str) -> None:
        """Raise a readable error when a URL the process needs (default: both) was not configured."""
        missing = [name for name in names or ("DATABASE_URL", "REDIS_URL") if getattr(self, name) is None]
        if missing:
            raise SettingsError(
                f"{' and '.join(missing)} not set: set {'them' if len(missing) > 1 else 'it'} in the environment "
                "or .env, or run `python -m console up`, which starts embedded servers"
            )


class SettingsError(Exception):
    """A setting is missing or a configured service cannot be reached."""


def mask_url(url: str | None) -> str:
    if url is None:
        return "(not set)"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


@lru_cache
def get_settings() -> Settings:
    return Settings()
