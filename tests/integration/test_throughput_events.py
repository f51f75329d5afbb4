"""Task events still reach Flower's kind of receiver when the worker publishes them in batches
(worker.celery_app.EventBatchingConsumer): every job's received, started and succeeded events
arrive, in fewer Redis publishes than events.

Runs a real worker on a schema and queue of the test's own.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from console.core.queue import celery_app
from console.core.settings import Settings
from tests.integration.factories import make_account
from tests.integration.faultkit import (
    private,  # noqa: F401  (fixture)
    spawn,  # noqa: F401  (fixture)
    store_dataset,
    submit,
    wait_final,
)

pytestmark = pytest.mark.integration
__all__ = ["private", "spawn"]  # the fixtures imported above, for pyflakes

JOBS = 6
STEPS: list[dict[str, Any]] = [{"op": "trim_whitespace", "columns": ["name"]}]
WANTED = ("task-received", "task-started", "task-succeeded")


class Received:
    """Celery's own event receiver (what Flower runs) in a thread: event types seen per task id."""

    def __init__(self) -> None:
        self.by_task: dict[str, set[str]] = defaultdict(set)
        self.ready = threading.Event()
        self._receiver: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with celery_app.connection_for_read() as connection:
            self._receiver = celery_app.events.Receiver(connection, handlers={"*": self._on_event})
            self.ready.set()
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("uuid"):
            self.by_task[event["uuid"]].add(event["type"])

    def __enter__(self) -> Received:
        self._thread.start()
        self.ready.wait(10)
        time.sleep(0.5)  # the receiver's queue is bound before the first event goes out
        return self

    def __exit__(self, *_: object) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True
        self._thread.join(10)


class Publishes:
    """The messages published on the task events channels (a Redis pattern subscription); other
    workers on the same Redis publish there too, so `count` takes the task ids to look for."""

    def __init__(self, redis_url: str) -> None:
        self.payloads: list[bytes] = []
        self._client = redis.Redis.from_url(redis_url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.psubscribe(**{"*celeryev*": self._on_message})
        self._thread: Any = None

    def _on_message(self, message: dict[str, Any]) -> None:
        if b"task" in message["channel"]:
            self.payloads.append(message["data"])

    def count(self, task_ids: list[str]) -> int:
        """The worker's publishes that carry a WANTED event of any of `task_ids` (the submitting
        process's task-sent events go out one a message: not counted)."""
        wanted = set(task_ids)
        return sum(
            any(event.get("uuid") in wanted and event.get("type") in WANTED for event in _events(payload))
            for payload in list(self.payloads)
        )

    def __enter__(self) -> Publishes:
        self._thread = self._pubsub.run_in_thread(sleep_time=0.05, daemon=True)
        return self

    def __exit__(self, *_: object) -> None:
        self._thread.stop()
        self._thread.join(5)
        self._pubsub.close()
        self._client.close()


@pytest.fixture
def events_seen(private: Settings) -> Iterator[tuple[Received, Publishes]]:  # noqa: F811
    with Received() as received, Publishes(private.REDIS_URL or "") as publishes:
        yield received, publishes


def test_every_task_event_arrives_in_fewer_publishes_than_events(
    private: Settings,  # noqa: F811
    spawn: Any,  # noqa: F811
    events_seen: tuple[Received, Publishes],
) -> None:
    received, publishes = events_seen
    owner = make_account().user
    rows = "".join(f"{i}, name {i} \n" for i in range(200))
    dataset = store_dataset(owner, f"id,name\n{rows}".encode())
    ids = [submit(owner, dataset, STEPS) for _ in range(JOBS)]
    spawn(private)
    finished = wait_final(ids)
    assert all(job.status == "succeeded" for job in finished.values())
    tasks = [job.task_id for job in finished.values()]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(set(WANTED) <= received.by_task[task] for task in tasks):
        time.sleep(0.1)
    for task in tasks:
        assert set(WANTED) <= received.by_task[task], (task, received.by_task[task])
    events = sum(len(received.by_task[task] & set(WANTED)) for task in tasks)
    # One publish per event without batching; batched, one carries a job's end and the next one's start.
    assert 0 < publishes.count(tasks) <= events // 2, (publishes.count(tasks), events)


def _events(payload: bytes) -> list[dict[str, Any]]:
    """The events in a kombu Redis message (its body base64 in the envelope; one event, or a list of them)."""
    message = json.loads(payload)
    body = message.get("body", "")
    if message.get("properties", {}).get("body_encoding") == "base64":
        body = base64.b64decode(body)
    events = json.loads(body)
    return events if isinstance(events, list) else [events]
