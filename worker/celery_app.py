"""The worker's Celery app (`celery -A worker.celery_app worker`): the shared client app plus the tasks.

Worker-only hooks live here: Celery's logging goes to loguru, and every forked pool
process gets its own database connections.
"""

from __future__ import annotations

from typing import Any

from celery.signals import setup_logging as celery_setup_logging
from celery.signals import task_postrun, task_prerun, worker_process_init
from loguru import logger

from console.core.db import get_engine, init_engine
from console.core.logging import setup_logging
from console.core.queue import MAKE_OUTPUT, PROCESS_JOB, configure_celery
from console.core.settings import get_settings

settings = get_settings()
app = configure_celery(settings)
init_engine(settings)

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
