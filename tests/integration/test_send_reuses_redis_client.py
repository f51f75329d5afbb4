"""Sending job messages reuses the broker channel's Redis client (console.core.queue.send_many):
kombu built a redis.Redis for every publish batch, about as much CPU as the rest of a send. The
messages still all reach the queue, with their task ids.

Against the real Redis, on a queue of the test's own.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kombu.transport import redis as kombu_redis

from console.core import queue
from console.core.settings import Settings
from tests.integration.faultkit import private  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
__all__ = ["private"]  # the fixture imported above, for pyflakes


def test_sends_share_one_redis_client_and_every_message_arrives(private: Settings, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    built: list[Any] = []
    real = kombu_redis.Channel._create_client

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = real(self, *args, **kwargs)
        built.append(client)
        return client

    monkeypatch.setattr(kombu_redis.Channel, "_create_client", counting)
    ids = [uuid.uuid4().hex for _ in range(6)]
    after_first = 0
    for start in range(0, 6, 2):  # three sends, as three submissions would
        messages = [queue.Message(args=[0], task_id=task_id, priority=0) for task_id in ids[start : start + 2]]
        assert queue.send_many("console.test_nothing", messages) == queue.Sent(2)
        after_first = after_first or len(built)

    assert len(built) == after_first, f"{len(built) - after_first} more Redis clients built by two more sends"
    holds = queue.broker_holds(private.CELERY_QUEUE)
    assert holds is not None and set(ids) <= holds.waiting
