"""The Celery client: broker settings, the task names, and sending by name.

The web sends tasks by these names and never imports worker code; `worker.celery_app`
registers the implementations under the same names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, NamedTuple

import redis
from celery import Celery
from kombu import Queue

from console.core.settings import Settings, SettingsError

PROCESS_JOB = "console.process_job"
PROFILE_DATASET = "console.profile_dataset"
RECONCILE = "console.reconcile"
MAKE_OUTPUT = "console.make_output"  # args [job_id, format]: a finished job's output made on request
TASK_NAMES = (PROCESS_JOB, PROFILE_DATASET, RECONCILE, MAKE_OUTPUT)

celery_app = Celery("console")


def configure_celery(settings: Settings) -> Celery:
    """Point the shared Celery app at this process's broker and queue."""
    settings.require_services("REDIS_URL")
    visibility = settings.BROKER_VISIBILITY_TIMEOUT
    transport = {
        "visibility_timeout": visibility,
        # Messages a dead worker held come back after the visibility timeout; look for them
        # often enough that "after" means soon after (kombu's default sweep is every ~100 s).
        "unacked_restore_interval": max(1, min(10, visibility // 10)),
        "unacked_restore_throttle": 1,
        # A broker gone without closing its connections must not hang a publish (and a web request).
        "socket_timeout": 10,
        "socket_connect_timeout": 3,
        # Ten lists per queue, taken 0 first: a job's priority is its rank among its owner's
        # unfinished jobs (jobs.dispatch_priority), so users' jobs interleave.
        "priority_steps": list(range(10)),
        # Delivered-not-acknowledged messages are kept per queue (kombu's default is one "unacked" hash,
        # index and restore lock for the whole Redis database): consoles (or test sessions) sharing a
        # Redis then never restore each other's messages, nor wait on a lock a killed worker of another
        # one left held for unacked_mutex_expire.
        **unacked_keys(settings.CELERY_QUEUE),
    }
    previous = (celery_app.conf.broker_url, celery_app.conf.task_default_queue)
    if previous[0] is not None and previous != (settings.REDIS_URL, settings.CELERY_QUEUE):
        _forget_configuration()
    celery_app.conf.update(
        broker_url=settings.REDIS_URL,
        broker_transport_options=transport,
        result_backend=None,
        task_ignore_result=True,
        task_default_queue=settings.CELERY_QUEUE,
        task_queues=[Queue(settings.CELERY_QUEUE)],
        task_create_missing_queues=False,
        task_acks_late=True,
        # A worker that dies mid-task leaves the message to be delivered again.
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.JOB_SOFT_TIME_LIMIT,
        task_time_limit=settings.JOB_TIME_LIMIT,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        # Web requests must answer fast when Redis is down; the reconciler sends later.
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2},
        timezone="UTC",
        # The reconciler is not a beat entry: a task would wait behind the very backlog it has to
        # look past. Workers started with `--beat` run it in a thread (worker.reconciler).
        beat_schedule={},
    )
    return celery_app


def _forget_configuration() -> None:
    """Forget what Celery built from the previous broker and queue (its connection pool, the queue
    table), so a process configured again sends where it is now told to. kombu keeps pools per
    broker URL, so the old one is left for whoever still uses it."""
    celery_app._pool = None
    celery_app.__dict__.pop("amqp", None)


def send(
    name: str, *, args: list[Any], task_id: str | None = None, queue: str | None = None, priority: int | None = None
) -> None:
    """Send one task message by name (`priority` 0, the default, is taken first, 9 last); raises
    whatever the broker raises when it cannot be reached."""
    celery_app.send_task(
        name, args=args, task_id=task_id, queue=queue or celery_app.conf.task_default_queue, priority=priority
    )


def _broker_client() -> redis.Redis:
    """A client of the broker's Redis, for what kombu does not offer (queue depth, marks beside a queue)."""
    return redis.Redis.from_url(celery_app.conf.broker_url, socket_connect_timeout=2, socket_timeout=5)


def send_once(name: str, *, args: list[Any], key: str, seconds: int, priority: int | None = None) -> bool:
    """`send()`, unless a message was sent under `key` in the last `seconds` (a Redis SET NX with that
    expiry, kept beside the queue): True when sent now. Raises what the broker raises."""
    client = _broker_client()
    queue = celery_app.conf.task_default_queue
    mark = f"{queue}:once:{key}"
    if not client.set(mark, b"1", nx=True, ex=seconds):
        return False
    try:
        send(name, args=args, queue=queue, priority=priority)
    except BaseException:
        client.delete(mark)
        raise
    return True


class Message(NamedTuple):
    """One task message for `send_many()`."""

    args: list[Any]
    task_id: str
    priority: int | None = None


class Sent(NamedTuple):
    """How `send_many()` went: the first `count` messages were sent; `error` stopped the rest (None: all sent)."""

    count: int
    error: Exception | None = None


# Messages per Redis round trip in send_many(); each costs two commands (the message and Flower's task-sent event).
SEND_BATCH = 250


def send_many(name: str, messages: Sequence[Message], *, queue: str | None = None) -> Sent:
    """Send the messages by task name over one broker connection, pipelined: one Redis round trip per
    SEND_BATCH messages instead of two per message. Never raises for the broker: the messages after
    the first batch that failed are reported not sent (a failed batch counts as not sent as a whole,
    although Redis may have taken part of it: a message sent twice is harmless, one never sent is not).
    """
    target = queue or celery_app.conf.task_default_queue
    sent = 0
    try:
        with celery_app.producer_or_acquire() as producer:
            _reuse_redis_client(producer.channel)
            for start in range(0, len(messages), SEND_BATCH):
                chunk = messages[start : start + SEND_BATCH]
                # Outermost batch: its commands run on leaving the block, and a failure raises there.
                # (kombu < 5.7 has no batches: the messages then go one by one, as send() sends them.)
                batch = producer.batch(max_size=4 * SEND_BATCH) if hasattr(producer, "batch") else nullcontext()
                with batch:
                    for message in chunk:
                        celery_app.send_task(
                            name, args=message.args, task_id=message.task_id, queue=target,
                            priority=message.priority, producer=producer,
                        )  # fmt: skip
                sent += len(chunk)
    except Exception as exc:  # the broker client raises many kinds; all mean "not sent"
        return Sent(sent, exc)
    return Sent(sent)


def _reuse_redis_client(channel: Any) -> None:
    """Make kombu's Redis channel hand out one client for its publishes instead of building one each
    time (conn_or_acquire() builds a redis.Redis, about as much CPU as the rest of a send); the client
    takes a connection from the channel's pool per command as before, and is built again when the
    channel replaces its pool (after a fork or a lost connection). A channel of another transport, or
    of a kombu without these methods, is left alone."""
    if getattr(channel, "_console_reuses_client", False):
        return
    if not (hasattr(channel, "_create_client") and hasattr(channel, "conn_or_acquire") and hasattr(channel, "pool")):
        return
    built: list[tuple[Any, Any]] = []  # (the pool, its client)

    @contextmanager
    def conn_or_acquire(client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = channel.pool
        if not built or built[0][0] is not pool:
            built[:] = [(pool, channel._create_client())]
        yield built[0][1]

    channel.conn_or_acquire = conn_or_acquire
    channel._console_reuses_client = True


def revoke_running(task_id: str | Sequence[str]) -> None:
    """Ask the worker running `task_id` (or each of a list, in one broadcast) to stop it now: SIGUSR1
    raises SoftTimeLimitExceeded inside the task.

    Best effort: a revoke sent while no worker is online is lost, which is why the job row
    also carries the cancel flag.
    """
    celery_app.control.revoke(task_id if isinstance(task_id, str) else list(task_id), terminate=True, signal="SIGUSR1")


def unacked_keys(queue_name: str) -> dict[str, str]:
    """The Redis keys kombu keeps `queue_name`'s delivered, not yet acknowledged messages under."""
    return {
        "unacked_key": f"unacked:{queue_name}",
        "unacked_index_key": f"unacked_index:{queue_name}",
        "unacked_mutex_key": f"unacked_mutex:{queue_name}",
    }


# kombu keeps a message with priority p > 0 in the list "<queue>\x06\x16<p>".
_PRIORITY_SEP = "\x06\x16"


@dataclass(frozen=True)
class BrokerHolds:
    """Task ids of the messages Redis holds: waiting in the queue, or delivered and not yet acknowledged
    (running, prefetched, or held by a worker until a retry's countdown ends)."""

    waiting: set[str]
    unacked: set[str]

    @property
    def all(self) -> set[str]:
        return self.waiting | self.unacked


def broker_holds(queue_name: str) -> BrokerHolds | None:
    """What Redis holds for `queue_name`; None when Redis cannot be asked.

    Reads kombu's Redis layout: the queue is a list (one per priority), and delivered messages
    wait in the queue's unacked hash (unacked_keys) until acknowledged.
    """
    try:
        client = _broker_client()
        lists = [queue_name, *(key.decode() for key in client.scan_iter(f"{queue_name}{_PRIORITY_SEP}*"))]
        waiting = [item for name in lists for item in client.lrange(name, 0, -1)]
        unacked = list(client.hvals(unacked_keys(queue_name)["unacked_key"]))
    except redis.RedisError:
        return None
    return BrokerHolds(waiting=_task_ids(waiting), unacked=_task_ids(unacked))


def queued_task_ids(queue_name: str) -> set[str] | None:
    """Task ids of every message Redis holds for `queue_name` (waiting or unacknowledged); None when unreachable."""
    holds = broker_holds(queue_name)
    return None if holds is None else holds.all


def _task_ids(raw: list[bytes]) -> set[str]:
    ids: set[str] = set()
    for item in raw:
        try:
            message = json.loads(item)
        except ValueError:
            continue
        if isinstance(message, list):  # unacked entries are [message, exchange, routing_key], of this queue only
            message = message[0]
        task_id = message.get("headers", {}).get("id") if isinstance(message, dict) else None
        if task_id:
            ids.add(task_id)
    return ids


def check_broker(settings: Settings, timeout: float = 3.0) -> None:
    """Raise SettingsError naming the URL (password hidden) when Redis cannot be reached."""
    settings.require_services("REDIS_URL")
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout).ping()
    except redis.RedisError as exc:
        raise SettingsError(f"cannot reach Redis at {settings.masked_redis_url()}: {exc}") from None
