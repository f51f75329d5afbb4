"""Service fixtures shared by integration and browser tests: a schema of our own in the real
PostgreSQL, a queue of our own in the real Redis, a real Celery worker subprocess, and the app
built with those settings. Loaded as a plugin by tests/conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from console.core.settings import Settings
from tests.conftest import BASE_DATABASE_URL, BASE_REDIS_URL, ROOT


def _schema_url(base: str, schema: str) -> str:
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def schema_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def database_url(schema_name: str) -> Iterator[str]:
    """A fresh schema, migrated to head; dropped at the end of the session."""
    from console.core.migrate import upgrade

    dsn = make_url(BASE_DATABASE_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{schema_name}"')
    url = _schema_url(BASE_DATABASE_URL, schema_name)
    upgrade(url)
    yield url
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP SCHEMA "{schema_name}" CASCADE')
    conn.close()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory, schema_name: str) -> Settings:
    return Settings(
        DATABASE_URL=database_url,
        REDIS_URL=BASE_REDIS_URL,
        CELERY_QUEUE=f"console-{schema_name}",
        LOG_DIR=tmp_path_factory.mktemp("logs"),
        DATA_DIR=tmp_path_factory.mktemp("data"),
        PREVIEW_ROWS=50,
        MAX_UPLOAD_BYTES=5 * 1024 * 1024,
        _env_file=None,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a subprocess needs to act with exactly these settings."""
    env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields}
    env.update(
        DATABASE_URL=settings.DATABASE_URL or "",
        REDIS_URL=settings.REDIS_URL or "",
        CELERY_QUEUE=settings.CELERY_QUEUE,
        LOG_DIR=str(settings.LOG_DIR),
        DATA_DIR=str(settings.DATA_DIR),
        PREVIEW_ROWS=str(settings.PREVIEW_ROWS),
        MAX_UPLOAD_BYTES=str(settings.MAX_UPLOAD_BYTES),
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.fixture(scope="session")
def engine(settings: Settings):  # type: ignore[no-untyped-def]
    """This test process's engine on the session's schema (factories use it)."""
    from console.core.db import init_engine

    return init_engine(settings)


@pytest.fixture(scope="session")
def app(settings: Settings, engine):  # type: ignore[no-untyped-def]
    from console.app import create_app

    return create_app(settings)


@pytest.fixture(scope="session")
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as test_client:
        yield test_client


class WorkerProcess:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process, self.log = process, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_worker(settings: Settings, log: Path, concurrency: int = 1, beat: bool = False) -> WorkerProcess:
    command = [sys.executable, "-m", "console", "worker", f"--concurrency={concurrency}"] + (["--beat"] if beat else [])
    with log.open("wb") as handle:
        process = subprocess.Popen(command, env=settings_env(settings), cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    worker = WorkerProcess(process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited with {process.returncode}:\n{worker.output()[-5000:]}")
        if " ready." in worker.output():
            return worker
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"worker did not become ready in 60 s:\n{worker.output()[-5000:]}")


def stop_worker(worker: WorkerProcess) -> None:
    if worker.process.poll() is None:
        worker.process.terminate()
        try:
            worker.process.wait(20)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


@pytest.fixture(scope="session")
def worker(settings: Settings, client: TestClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    """One real Celery worker (prefork, one process) consuming this session's queue."""
    running = start_worker(settings, tmp_path_factory.mktemp("worker") / "worker.log")
    yield running
    stop_worker(running)
