"""Graceful shutdown: a worker asked to stop (SIGTERM) finishes its job and hands back the rest;
a web server restarted mid-upload drops nothing it accepted."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console.core.settings import Settings
from console.embedded import free_port
from tests.integration.factories import make_account
from tests.integration.faultkit import (
    SLOW_STEP,
    WebServer,
    assert_succeeded_once,
    job_row,
    people_csv,
    private,  # noqa: F401  (fixture)
    spawn,  # noqa: F401  (fixture)
    store_dataset,
    submit,
    wait_final,
    wait_running,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_worker_asked_to_stop_finishes_its_job_and_leaves_the_queue_to_the_next(private: Settings, spawn) -> None:
    account = make_account()
    slow = store_dataset(account.user, people_csv(20_000))
    small = store_dataset(account.user, people_csv(50))
    stopping = spawn(private)
    current = submit(account.user, slow, [SLOW_STEP] * 60)
    waiting = [submit(account.user, small, [{"op": "drop_duplicates"}]) for _ in range(3)]
    wait_running(current)

    code = stopping.terminate()

    assert code == 0
    assert job_row(current).status == "succeeded"  # finished before the worker went
    assert {job_row(job).status for job in waiting} == {"queued"}  # handed back, never started
    spawn(private)
    wait_final(waiting)
    for job in [current, *waiting]:
        assert assert_succeeded_once(job).attempts == 1


def multipart(content: bytes, boundary: str, started: threading.Event, piece: int = 64 * 1024) -> Iterator[bytes]:
    """A multipart upload of `content`, sent slowly; `started` is set once a part of it has gone out."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    for offset in range(0, len(content), piece):
        yield content[offset : offset + piece]
        if offset >= 4 * piece:
            started.set()
        time.sleep(0.02)
    yield f"\r\n--{boundary}--\r\n".encode()


def test_web_restart_mid_upload_drops_no_accepted_upload(private: Settings, tmp_path: Path) -> None:
    account = make_account()
    content = people_csv(60_000)  # about 40 pieces, sent over about a second
    port = free_port()
    server = WebServer(private, tmp_path / "web.log", port)
    started, answer = threading.Event(), []
    boundary = uuid.uuid4().hex

    def send() -> None:
        answer.append(
            httpx.post(
                f"{server.url}/api/datasets",
                headers={**account.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
                content=multipart(content, boundary, started),
                timeout=60,
            )
        )

    uploader = threading.Thread(target=send)
    uploader.start()
    try:
        assert started.wait(30), "the upload never got going"
        # uvicorn stops accepting connections, finishes the requests in flight, then exits.
        server.stop()
    finally:
        uploader.join(60)
    server = WebServer(private, tmp_path / "web.log", port)
    try:
        assert answer and answer[0].status_code == 201, answer and answer[0].text
        dataset = answer[0].json()
        kept = httpx.get(f"{server.url}/api/datasets/{dataset['id']}", headers=account.headers, timeout=10)
        download = httpx.get(f"{server.url}/api/datasets/{dataset['id']}/preview?limit=2", headers=account.headers, timeout=10)
    finally:
        server.stop()

    assert kept.status_code == 200 and kept.json()["size"] == len(content)
    assert download.json()["rows"] == [["0", "name 0 x0", "city0"], ["1", "name 1 x1", "city1"]]
