"""The worker's Celery app (`celery -A worker.celery_app worker`): the shared client app plus the tasks.

Worker-only hooks live here: Celery's logging goes to loguru, every forked pool process
gets its own database connections, the task events Flower shows are published in batches
(EventBatchingConsumer), transparent huge pages are off (worker/hugepages.py) and the processes
run below the web's CPU priority (worker/priority.py).
"""

from __future__ import annotations

import math
import time
from typing import Any

from celery.signals import setup_logging as celery_setup_logging
from celery.signals import task_postrun, task_prerun, worker_process_init
from celery.worker.consumer import Consumer
from loguru import logger

from console.core.db import get_engine, init_engine
from console.core.logging import setup_logging
from console.core.queue import MAKE_OUTPUT, PROCESS_JOB, configure_celery
from console.core.settings import get_settings
from worker import hugepages, priority

# Task events (received, started, succeeded...) wait this long in the worker before they are published
# together; Flower shows them that much later.
EVENT_FLUSH_SECONDS = 0.2


class EventBatchingConsumer(Consumer):
    """Celery's consumer, publishing buffered task events at most every EVENT_FLUSH_SECONDS.

    Celery buffers task events and publishes the buffer on the next turn of the event loop, so
    with small jobs nearly every event went out alone: one Redis PUBLISH, and a Redis client
    built for it by kombu, three times a job (~40 % of the main process's CPU for 1,000-row
    jobs). Batched, one publish carries all of a period's events ("task.multi", which Celery's
    event receivers, Flower's included, take apart). Events still buffered at shutdown go out then.
    """

    _flush_scheduled_at = -math.inf  # monotonic time of the pending flush's scheduling; -inf: none pending

    def on_send_event_buffered(self) -> None:
        if not self.hub:
            super().on_send_event_buffered()
            return
        now = time.monotonic()
        # A flush pending for much longer than its delay was dropped with the timer (a consumer restart
        # after a broker outage): schedule another, or events would wait forever.
        if now - self._flush_scheduled_at > 10 * EVENT_FLUSH_SECONDS:
            self._flush_scheduled_at = now
            self.hub.call_later(EVENT_FLUSH_SECONDS, self._flush_batch)

    def _flush_batch(self) -> None:
        self._flush_scheduled_at = -math.inf
        self._flush_events()

    def shutdown(self) -> None:
        try:
            self._flush_events()
        except Exception as exc:  # the broker may be gone: the events are lost, as Celery's own would be
            logger.warning("task events not published at shutdown: {}", exc)
        super().shutdown()


settings = get_settings()
app = configure_celery(settings)
app.conf.worker_consumer = f"{__name__}:EventBatchingConsumer"
init_engine(settings)
if not settings.WORKER_TRANSPARENT_HUGEPAGES:
    hugepages.disable()  # before the pool is forked: its processes inherit it
priority.lower_to(settings.WORKER_NICE)  # likewise

import worker.tasks  # noqa: E402,F401  (registers the tasks on `app`)

_bound: dict[str, Any] = {}


@celery_setup_logging.connect
def _route_celery_logging(**_: Any) -> None:
    setup_logging("worker", settings)


@worker_process_init.connect
def _fresh_connections_per_child(**_: Any) -> None:
    # Pooled connections inherited through fork would be shared with the parent.
    get_engine().dispose(close=False)
    setup_logging("worker", settings)


@task_prerun.connect
def _bind_job_id(task_id: str, task: Any, args: tuple[Any, ...] = (), **_: Any) -> None:
    # Celery's own lines about a job's task (retry, success, failure) carry the job id too.
    if task.name in (PROCESS_JOB, MAKE_OUTPUT) and args:
        context = logger.contextualize(job_id=args[0])
        context.__enter__()
        _bound[task_id] = context


@task_postrun.connect
def _unbind_job_id(task_id: str, **_: Any) -> None:
    context = _bound.pop(task_id, None)
    if context is not None:
        context.__exit__(None, None, None)
