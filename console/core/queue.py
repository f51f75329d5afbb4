"""The Celery client: broker settings, the task names, and sending by name.

The web sends tasks by these names and never imports worker code; `worker.celery_app`
registers the implementations under the same names.
"""

from __future__ import annotations

import json
from typing import Any

import redis
from celery import Celery
from kombu import Queue

from console.core.settings import Settings, SettingsError

PROCESS_JOB = "console.process_job"
PROFILE_DATASET = "console.profile_dataset"
RECONCILE = "console.reconcile"
TASK_NAMES = (PROCESS_JOB, PROFILE_DATASET, RECONCILE)

celery_app = Celery("console")


def configure_celery(settings: Settings) -> Celery:
    """Point the shared Celery app at this process's broker and queue."""
    settings.require_services("REDIS_URL")
    transport = {"visibility_timeout": settings.BROKER_VISIBILITY_TIMEOUT}
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
        beat_schedule={
            "reconcile": {"task": RECONCILE, "schedule": settings.RECONCILE_EVERY_SECONDS, "options": {"expires": 60}}
        },
    )
    return celery_app


def send(name: str, *, args: list[Any], task_id: str | None = None, queue: str | None = None) -> None:
    """Send one task message by name; raises whatever the broker raises when it cannot be reached."""
    celery_app.send_task(name, args=args, task_id=task_id, queue=queue or celery_app.conf.task_default_queue)


def revoke_running(task_id: str) -> None:
    """Ask the worker running `task_id` to stop it now: SIGUSR1 raises SoftTimeLimitExceeded inside the task.

    Best effort: a revoke sent while no worker is online is lost, which is why the job row
    also carries the cancel flag.
    """
    celery_app.control.revoke(task_id, terminate=True, signal="SIGUSR1")


def queued_task_ids(queue_name: str) -> set[str] | None:
    """Task ids of the messages Redis holds for `queue_name` (waiting or delivered, not yet acknowledged).

    None when Redis cannot be asked. Reads kombu's Redis layout: the queue is a list, and
    delivered messages wait in the `unacked` hash until acknowledged.
    """
    try:
        client = redis.Redis.from_url(celery_app.conf.broker_url, socket_connect_timeout=2, socket_timeout=5)
        raw = client.lrange(queue_name, 0, -1) + list(client.hvals("unacked"))
    except redis.RedisError:
        return None
    ids: set[str] = set()
    for item in raw:
        try:
            message = json.loads(item)
        except ValueError:
            continue
        if isinstance(message, list):  # unacked entries are [message, exchange, routing_key]
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
