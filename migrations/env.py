"""Alembic environment: the console's models, the URL from its settings (or the caller's connection)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from console.core import models  # noqa: F401  (registers the tables on Base.metadata)
from console.core.db import Base
from console.core.settings import get_settings

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.attributes.get("url")
    if url is None:
        settings = get_settings()
        settings.require_services("DATABASE_URL")
        url = settings.DATABASE_URL
    return url


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
