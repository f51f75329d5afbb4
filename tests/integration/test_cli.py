"""The command line against the real services: migrate, create-user, and clear start-up errors."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from console.core.settings import Settings
from tests.conftest import ROOT
from tests.services import settings_env

pytestmark = pytest.mark.integration


def _console(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_migrate_is_idempotent(settings: Settings) -> None:
    result = _console(settings_env(settings), "migrate")

    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stdout


def test_create_user_prints_a_working_token_as_last_word(settings: Settings, client) -> None:
    result = _console(settings_env(settings), "create-user", "Cli.User@Example.com", "--role", "operator", "--password", "long-enough-pw")

    assert result.returncode == 0, result.stderr
    assert "cli.user@example.com" in result.stdout
    token = result.stdout.split()[-1]
    response = client.get("/api/jobs", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_create_user_twice_is_a_clear_error(settings: Settings) -> None:
    env = settings_env(settings)
    _console(env, "create-user", "twice@example.com", "--role", "member")

    result = _console(env, "create-user", "twice@example.com", "--role", "member")

    assert result.returncode == 1
    assert "already exists" in result.stderr


def test_create_user_rejects_a_bad_role(settings: Settings) -> None:
    result = _console(settings_env(settings), "create-user", "x@example.com", "--role", "boss")

    assert result.returncode == 2
    assert "invalid choice: 'boss'" in result.stderr


def test_unreachable_database_is_named_with_password_hidden(settings: Settings) -> None:
    env = {**settings_env(settings), "DATABASE_URL": "postgresql+psycopg2://ops:hunter2@127.0.0.1:1/console"}

    result = _console(env, "migrate")

    assert result.returncode == 2
    assert "cannot reach the database at postgresql+psycopg2://ops:***@127.0.0.1:1/console" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_unreachable_redis_stops_the_worker_with_the_url(settings: Settings) -> None:
    env = {**settings_env(settings), "REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"}

    result = _console(env, "worker")

    assert result.returncode == 2
    assert "cannot reach Redis at redis://:***@127.0.0.1:1/0" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_invalid_setting_is_named(settings: Settings) -> None:
    env = {**settings_env(settings), "PREVIEW_ROWS": "lots"}

    result = _console(env, "migrate")

    assert result.returncode == 2
    assert "PREVIEW_ROWS" in result.stderr


def test_serve_answers_on_the_given_port(settings: Settings, tmp_path) -> None:
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("wb") as handle:
        server = subprocess.Popen(
            [sys.executable, "-m", "console", "serve", "--port", str(port)], cwd=ROOT, env=settings_env(settings), stdout=handle, stderr=subprocess.STDOUT
        )
    try:
        for _ in range(100):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz/ready", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError(log.read_text())
        assert response.json()["status"] == "ok"
    finally:
        server.terminate()
        server.wait(20)
    assert "GET /healthz/ready" in log.read_text()  # uvicorn's access log went through loguru
    assert (settings.LOG_DIR / "web.log").exists()


def test_migrations_match_the_models(database_url: str) -> None:
    from alembic import command

    from console.core.migrate import alembic_config

    command.check(alembic_config(database_url))  # raises when the models need a migration the repo lacks


def _chunk_data_storage(dsn: str, schema: str) -> str:
    import psycopg2

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT a.attstorage FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = 'file_chunks' AND a.attname = 'data'",
            (schema,),
        )
        return cur.fetchone()[0]


def test_file_chunks_are_stored_without_a_second_compression() -> None:
    """Chunks are zlib-compressed by storage.py: the column is STORAGE EXTERNAL (no pglz), and back on downgrade."""
    import uuid

    import psycopg2
    from alembic import command
    from sqlalchemy.engine import make_url

    from console.core.migrate import alembic_config
    from tests.conftest import BASE_DATABASE_URL

    schema = f"test_storage_{uuid.uuid4().hex[:8]}"
    dsn = make_url(BASE_DATABASE_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    url = make_url(BASE_DATABASE_URL).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    admin = psycopg2.connect(dsn)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE SCHEMA "{schema}"')
    try:
        config = alembic_config(url)
        command.upgrade(config, "head")
        assert _chunk_data_storage(dsn, schema) == "e"  # external: out of line, not compressed
        command.downgrade(config, "5c2e7a9d0f41")
        assert _chunk_data_storage(dsn, schema) == "x"  # extended, PostgreSQL's default for bytea
        command.upgrade(config, "head")
        assert _chunk_data_storage(dsn, schema) == "e"
    finally:
        admin.cursor().execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
