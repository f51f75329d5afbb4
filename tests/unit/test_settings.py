"""Settings refuse unsafe or malformed values with a message naming the key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from console.core.settings import Settings, SettingsError, mask_url

BASE = {"DATABASE_URL": "postgresql+psycopg2://u:pw@db:5432/c", "REDIS_URL": "redis://r:6379/0", "_env_file": None}


def test_bare_postgresql_url_gets_the_psycopg2_driver() -> None:
    settings = Settings(**{**BASE, "DATABASE_URL": "postgresql://u:pw@db/c"})

    assert settings.DATABASE_URL == "postgresql+psycopg2://u:pw@db/c"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("DATABASE_URL", "mysql://u@db/c", "DATABASE_URL must be a PostgreSQL URL"),
        ("DATABASE_URL", "not a url", "DATABASE_URL is not a database URL"),
        ("REDIS_URL", "http://r", "REDIS_URL must start with redis://"),
        ("MAX_UPLOAD_BYTES", "0", "MAX_UPLOAD_BYTES"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
        ("CELERY_QUEUE", "a queue", "CELERY_QUEUE"),
    ],
)
def test_bad_value_names_the_setting(key: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(**{**BASE, key: value})

    assert message in str(raised.value)


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY is a default value"):
        Settings(**BASE, ENVIRONMENT="production")


def test_time_limits_must_nest_inside_the_visibility_timeout() -> None:
    with pytest.raises(ValidationError, match="JOB_SOFT_TIME_LIMIT < JOB_TIME_LIMIT < BROKER_VISIBILITY_TIMEOUT"):
        Settings(**BASE, JOB_TIME_LIMIT=4000, BROKER_VISIBILITY_TIMEOUT=3600)


def test_missing_urls_are_named() -> None:
    settings = Settings(_env_file=None, DATABASE_URL=None, REDIS_URL=None)

    with pytest.raises(SettingsError, match="DATABASE_URL and REDIS_URL not set"):
        settings.require_services()


def test_masked_url_hides_the_password() -> None:
    assert mask_url("postgresql+psycopg2://u:secret@db:5432/c") == "postgresql+psycopg2://u:***@db:5432/c"
    assert "secret" not in Settings(**BASE).masked_redis_url().replace("redis://r", "")


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREVIEW_ROWS", "7")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://u@h/d")

    settings = Settings(_env_file=None)

    assert settings.PREVIEW_ROWS == 7
    assert settings.DATABASE_URL == "postgresql+psycopg2://u@h/d"
