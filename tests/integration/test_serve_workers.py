"""`console serve --workers N` / WEB_WORKERS: N uvicorn worker processes, each with its own engine and
log file, all stopped by one SIGTERM; `console up` starts the web that way too."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import psycopg2
import pytest
import redis
from sqlalchemy.engine import make_url

from console.core.settings import Settings
from tests.conftest import BASE_DATABASE_URL, BASE_REDIS_URL, ROOT
from tests.services import settings_env

pytestmark = pytest.mark.integration

# Liveness deadlines only: each is met within seconds when things work.
DEADLINE = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _web_workers(supervisor: psutil.Process) -> list[psutil.Process]:
    """The uvicorn worker processes under `supervisor` (spawned: `multiprocessing.spawn`), at any depth."""
    found = []
    for child in supervisor.children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def _wait(condition, what: str, output: Path):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}; output:\n{output.read_text(errors='replace')[-5000:]}")


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def _serve(env: dict[str, str], output: Path, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    with output.open("wb") as handle:
        server = subprocess.Popen(
            [sys.executable, "-m", "console", "serve", "--port", str(port), *args],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        if server.poll() is None:  # whatever the test left running, by the group we started
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)


def _has_database_connection(process: psutil.Process) -> bool:
    return any(conn.raddr and conn.raddr.port == 5432 for conn in process.net_connections("tcp"))


def test_serve_with_two_workers_answers_from_both_and_sigterm_stops_them_all(settings: Settings, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    env = {**settings_env(settings), "LOG_DIR": str(logs), "LOG_LEVEL": "INFO"}
    output = tmp_path / "serve.out"
    with _serve(env, output, "--workers", "2") as (server, base):
        _wait(lambda: _ready(base), "serve never answered", output)
        supervisor = psutil.Process(server.pid)
        workers = _wait(lambda: (found := _web_workers(supervisor)) and len(found) == 2 and found, "no 2 workers", output)
        pids = {worker.pid for worker in workers}

        assert len(pids) == 2 and server.pid not in pids
        # Each worker makes its own engine once started (its lifespan checks the database with it).
        _wait(lambda: all(_has_database_connection(worker) for worker in workers), "a worker has no connection", output)
        assert not _has_database_connection(supervisor)  # the supervisor keeps none

        def both_answered() -> bool:
            with ThreadPoolExecutor(16) as pool:  # new connections, some accepted by each worker
                codes = set(pool.map(lambda _: httpx.get(f"{base}/healthz", timeout=10).status_code, range(64)))
            assert codes == {200}
            served = [logs / "web-1.log", logs / "web-2.log"]
            return all(path.exists() and "GET /healthz " in path.read_text(errors="replace") for path in served)

        _wait(both_answered, "not both workers answered requests (per-worker logs web-1.log, web-2.log)", output)
        assert "Started parent process" in (logs / "web.log").read_text(errors="replace")

        server.send_signal(signal.SIGTERM)
        assert server.wait(DEADLINE) == 0
        gone, alive = psutil.wait_procs(workers, timeout=DEADLINE)
        assert alive == [], f"workers still running after SIGTERM: {[p.pid for p in alive]}"


def test_workers_stop_when_their_supervisor_is_killed(settings: Settings, tmp_path: Path) -> None:
    env = {**settings_env(settings), "LOG_DIR": str(tmp_path / "logs")}
    output = tmp_path / "serve.out"
    with _serve(env, output, "--workers", "2") as (server, base):
        _wait(lambda: _ready(base), "serve never answered", output)
        workers = _wait(lambda: (found := _web_workers(psutil.Process(server.pid))) and len(found) == 2 and found, "no 2 workers", output)

        os.kill(server.pid, signal.SIGKILL)  # the supervisor only: no chance to stop its workers
        server.wait(10)

        gone, alive = psutil.wait_procs(workers, timeout=DEADLINE)
        assert alive == [], f"orphaned workers kept running: {[p.pid for p in alive]}"


@pytest.fixture
def own_schema(settings: Settings) -> Iterator[Settings]:
    """Settings on a schema and queue of this test's own: `up` runs a worker with the reconciler, which
    must not touch the session's jobs."""
    schema = f"test_up_{uuid.uuid4().hex[:8]}"
    dsn = make_url(BASE_DATABASE_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    url = make_url(BASE_DATABASE_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    admin = psycopg2.connect(dsn)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield settings.model_copy(
            update={"DATABASE_URL": url.render_as_string(hide_password=False), "CELERY_QUEUE": f"console-{schema}"}
        )
    finally:
        admin.cursor().execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
        client = redis.Redis.from_url(BASE_REDIS_URL)
        client.delete(*client.keys(f"console-{schema}*") or [f"console-{schema}"])


def test_console_up_starts_the_web_with_the_configured_workers(own_schema: Settings, tmp_path: Path) -> None:
    port = _free_port()
    env = {**settings_env(own_schema), "LOG_DIR": str(tmp_path / "logs"), "DATA_DIR": str(tmp_path / "data")}
    output = tmp_path / "up.out"
    with output.open("wb") as handle:
        up = subprocess.Popen(
            [sys.executable, "-m", "console", "up", "--port", str(port), "--workers", "3"],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait(lambda: _ready(f"http://127.0.0.1:{port}"), "console up never answered", output)
        launcher = psutil.Process(up.pid)
        workers = _wait(lambda: len(found := _web_workers(launcher)) == 3 and found, "no 3 web workers under up", output)

        up.send_signal(signal.SIGTERM)
        assert up.wait(DEADLINE) == 0, output.read_text(errors="replace")[-4000:]
        gone, alive = psutil.wait_procs(workers, timeout=DEADLINE)
        assert alive == []
        assert "web: 3 processes" in output.read_text(errors="replace")
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(10)
