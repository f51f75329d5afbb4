"""`console up` the embedded way: no DATABASE_URL / REDIS_URL, everything started by the launcher."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from console.core.settings import Settings
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(pattern: str, log: Path, process: subprocess.Popen[bytes], timeout: float = 120) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if match := re.search(pattern, text):
            return match
        if process.poll() is not None:
            break
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} not seen; console up output:\n{log.read_text(errors='replace')[-6000:]}")


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_console_up_with_embedded_servers_processes_a_job_and_stops_cleanly() -> None:
    data = Path(tempfile.mkdtemp(prefix="console-up-", dir="/tmp"))
    log = data / "up.log"
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields}
    env.update(DATA_DIR=str(data / "data"), LOG_DIR=str(data / "logs"), CELERY_QUEUE=f"up-{port}", PYTHONPATH=str(ROOT))
    with log.open("wb") as handle:
        up = subprocess.Popen(
            [sys.executable, "-m", "console", "up", "--port", str(port)], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    try:
        database_url = _wait_for(r"embedded PostgreSQL: (\S+)", log, up).group(1)
        redis_url = _wait_for(r"embedded Redis: (\S+)", log, up).group(1)
        _wait_for(r"first run: created admin@example.com", log, up)
        base = f"http://127.0.0.1:{port}"
        _wait_until_ready(base, log)
        token = subprocess.run(
            [sys.executable, "-m", "console", "create-user", "up@example.com", "--role", "member"],
            cwd=ROOT, env={**env, "DATABASE_URL": database_url, "REDIS_URL": redis_url}, capture_output=True, text=True, check=True,
        ).stdout.split()[-1]  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}

        dataset = httpx.post(f"{base}/api/datasets", headers=headers, files={"file": ("d.csv", b"a,b\n1,x\n1,x\n2,\n")}).json()
        config = httpx.post(f"{base}/api/configs", headers=headers, json={"name": "c", "steps": [{"op": "drop_duplicates"}]}).json()
        job = httpx.post(f"{base}/api/jobs", headers=headers, json={"dataset_id": dataset["id"], "config_id": config["id"]}).json()
        finished = _wait_for_job(base, headers, job["id"], log)

        assert finished["status"] == "succeeded", finished
        assert finished["rows_out"] == 2
        assert httpx.get(f"{base}/api/jobs/{job['id']}/output", headers=headers).text.splitlines() == ["a,b", "1,x", "2,"]
        assert httpx.get(f"{base}/flower/", follow_redirects=False).status_code in (200, 302, 303, 401, 404)
    finally:
        up.send_signal(signal.SIGTERM)
        exit_code = up.wait(60)
    assert exit_code == 0, log.read_text(errors="replace")[-4000:]
    assert _port_is_free(port)
    pg_port = int(database_url.rsplit(":", 1)[1].split("/")[0])
    assert _port_is_free(pg_port)
    assert (data / "data" / "postgres" / "PG_VERSION").exists()


def _wait_until_ready(base: str, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"console not ready; output:\n{log.read_text(errors='replace')[-6000:]}")


def _wait_for_job(base: str, headers: dict[str, str], job_id: int, log: Path, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = httpx.get(f"{base}/api/jobs/{job_id}", headers=headers).json()
        if job["status"] in {"succeeded", "failed", "cancelled"}:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish; output:\n{log.read_text(errors='replace')[-6000:]}")
