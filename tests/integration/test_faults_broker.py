"""The broker lost: Redis stopped while jobs are submitted, and Redis flushed with jobs queued.

Each test stops or flushes a Redis of its own (an EmbeddedRedis on a free port); the shared
one is never touched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from console.core import queue
from console.core.settings import Settings
from console.embedded import EmbeddedRedis
from tests.integration.factories import make_account
from tests.integration.faultkit import (
    SLOW_STEP,
    assert_succeeded_once,
    console_for,
    events,
    job_row,
    people_csv,
    private,  # noqa: F401  (fixture)
    spawn,  # noqa: F401  (fixture)
    store_dataset,
    submit,
    tuned,
    wait_final,
    wait_running,
    wait_until,
)
from tests.integration.helpers import create_config, upload

pytestmark = pytest.mark.integration


class OwnRedis:
    """An EmbeddedRedis that can be stopped and started again on the same port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server = EmbeddedRedis(data_dir)
        self.url = self.server.start()
        self.port = self.server.port

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server = EmbeddedRedis(self.data_dir, port=self.port)
        self.server.start()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def fast(private: Settings, own_redis: OwnRedis) -> Iterator[Settings]:
    own = tuned(private, REDIS_URL=own_redis.url)
    with console_for(own, restore=private):
        yield own


def post_within(client: TestClient, seconds: float, *args: Any, **kwargs: Any) -> Any:
    """POST from a thread; fail if no answer comes within `seconds` (a generous deadline, not a timing)."""
    answer: list[Any] = []
    thread = threading.Thread(target=lambda: answer.append(client.post(*args, **kwargs)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert answer, f"POST {args[0]} gave no answer within {seconds} s"
    return answer[0]


def test_job_accepted_while_redis_is_down_runs_once_redis_is_back(client, fast: Settings, own_redis: OwnRedis, spawn) -> None:
    account = make_account()
    dataset = upload(client, account.headers, people_csv(50))
    config = create_config(client, account.headers, [{"op": "change_case", "columns": ["name"], "case": "upper"}], "up")
    worker = spawn(fast, beat=True)

    own_redis.stop()
    accepted = post_within(client, 20, "/api/jobs", headers=account.headers, json={"dataset_id": dataset["id"], "config_id": config["id"]})
    job = accepted.json()

    assert accepted.status_code == 202, accepted.text
    assert job["status"] == "pending"
    assert any(line.startswith("not sent yet, broker unavailable") for line in events(job["id"]))
    own_redis.start()
    wait_final([job["id"]])

    assert assert_succeeded_once(job["id"]).attempts == 1
    created, not_sent, sent_later = events(job["id"])[:3]
    assert not_sent.startswith("not sent yet, broker unavailable") and sent_later == "queued"
    assert worker.alive()


def test_flushed_redis_loses_no_queued_or_running_job(fast: Settings, own_redis: OwnRedis, spawn) -> None:
    account = make_account()
    slow = store_dataset(account.user, people_csv(20_000))
    small = store_dataset(account.user, people_csv(50))
    worker = spawn(fast, beat=True)
    running = submit(account.user, slow, [SLOW_STEP] * 60)
    wait_running(running)
    queued = [submit(account.user, small, [{"op": "drop_duplicates"}]) for _ in range(5)]
    assert {job_row(job).status for job in queued} == {"queued"}

    own_redis.client().flushall()
    assert queue.queued_task_ids(fast.CELERY_QUEUE) == set()
    wait_final([running, *queued])

    for job in [running, *queued]:
        assert assert_succeeded_once(job).attempts == 1
    for job in queued:
        assert "sent again: its message was lost by the broker" in events(job)
    assert worker.alive()
