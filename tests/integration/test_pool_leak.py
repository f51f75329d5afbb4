"""Clients that drop their connection mid-request must not wedge the web process's database pool (issue 7).

A real uvicorn (`python -m console serve`, one worker) gets bursts of job submissions and status
reads from clients that close the socket (RST) before the answer. uvicorn does not cancel such
requests, so they all still run; before the fix they filled the threadpool with requests blocked
in the pool's checkout while the requests holding the connections waited for a thread, and every
request after that failed with "QueuePool limit ... reached". The server's connections are told
apart in pg_stat_activity by an application_name of the test's own.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg2
import pytest
from sqlalchemy.engine import make_url

from console.core.settings import Settings
from tests.conftest import ROOT
from tests.integration.factories import make_account, make_raw_dataset
from tests.services import settings_env

pytestmark = pytest.mark.integration

AT_ONCE = 200
# Liveness, not speed: with the fix the backlog is gone in seconds; before it, in many minutes.
DEADLINE = 90.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _drop_burst(port: int, requests: list[bytes]) -> None:
    """Send every request on a connection of its own, all at once, then reset them all before the answers."""
    sockets = []
    try:
        for request in requests:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sockets.append(sock)
            sock.sendall(request)
        time.sleep(0.3)  # for the server to read them: a reset discards what it has not read yet
    finally:
        for sock in sockets:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()


def _busy_connections(dsn: str, application_name: str) -> list[str]:
    """States of the server's connections that are checked out of its pool (not idle)."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT state FROM pg_stat_activity WHERE application_name = %s AND state IS DISTINCT FROM 'idle'",
            (application_name,),
        )
        return [row[0] for row in cur.fetchall()]


def test_clients_dropping_mid_request_leave_the_pool_usable(settings: Settings, engine, tmp_path: Path) -> None:
    application_name = f"pool-leak-{uuid.uuid4().hex[:8]}"
    url = make_url(settings.DATABASE_URL).update_query_dict({"application_name": application_name})
    env = {**settings_env(settings), "DATABASE_URL": url.render_as_string(hide_password=False), "WEB_WORKERS": "1"}
    dsn = make_url(settings.DATABASE_URL).set(drivername="postgresql").render_as_string(hide_password=False)

    account = make_account("member")
    dataset_id = make_raw_dataset(account.user, b"a,b\n1,x\n2,y\n", columns=["a", "b"])
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as handle:
        server = subprocess.Popen(
            [sys.executable, "-m", "console", "serve", "--port", str(port)],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, headers=account.headers, timeout=30) as client:
            for _ in range(150):
                try:
                    client.get("/healthz")
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            config = client.post("/api/configs", json={"name": "c", "steps": [{"op": "drop_duplicates"}]}).json()
            body = json.dumps({"dataset_id": dataset_id, "config_id": config["id"]}).encode()
            job = client.post("/api/jobs", content=body, headers={"Content-Type": "application/json"})
            assert job.status_code == 202, job.text
            job_id = job.json()["id"]

            auth = f"Authorization: Bearer {account.token}\r\nHost: 127.0.0.1\r\n"
            status = f"GET /api/jobs/{job_id} HTTP/1.1\r\n{auth}\r\n".encode()
            submit = (
                f"POST /api/jobs HTTP/1.1\r\n{auth}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            # Bursts of status reads drive the old failure most surely (each held a connection between
            # its job lookup and its endpoint); the last burst mixes in submissions.
            rng = random.Random(7)
            _drop_burst(port, [status] * AT_ONCE)
            _drop_burst(port, [status] * AT_ONCE)
            _drop_burst(port, [rng.choice((status, submit)) for _ in range(AT_ONCE)])

            # Every dropped request still runs to its end; then the pool must be whole again.
            deadline = time.monotonic() + DEADLINE
            busy = _busy_connections(dsn, application_name)
            while busy and time.monotonic() < deadline:
                time.sleep(0.5)
                busy = _busy_connections(dsn, application_name)
            assert busy == [], f"connections still checked out of the web's pool: {busy}"

            answer = client.get(f"/api/jobs/{job_id}", timeout=DEADLINE)
            assert answer.status_code == 200, answer.text
            again = client.post("/api/jobs", content=body, headers={"Content-Type": "application/json"}, timeout=DEADLINE)
            assert again.status_code == 202, again.text
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:  # uvicorn waits for requests still running; a wedged one never ends
            server.kill()
            server.wait(10)
    logged = log.read_text(errors="replace") + "".join(
        path.read_text(errors="replace") for path in Path(settings.LOG_DIR).glob("web*.log")
    )
    assert "QueuePool limit" not in logged
