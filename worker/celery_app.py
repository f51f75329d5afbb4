"""The worker's Celery app (`celery -A worker.celery_app worker`): the shared client app plus the tasks.

Worker-only hooks live here: Celery's logging goes to loguru, and every forked pool
process gets its own database connections.
"""

from __future__ import annotations

from typing import Any

from celery.signals import setup_logging as celery_setup_logging
from celery.signals import worker_process_init

from console.core.db import get_engine, init_engine
from console.core.logging import setup_logging
from console.core.queue import configure_celery
from console.core.settings import get_settings

settings = get_settings()
app = configure_celery(settings)
init_engine(settings)

import worker.tasks  # noqa: E402,F401  (registers the tasks on `app`)


@celery_setup_logging.connect
def _route_celery_logging(**_: Any) -> None:
    setup_logging("worker", settings)


@worker_process_init.connect
def _fresh_connections_per_child(**_: Any) -> None:
    # Pooled connections inherited through fork would be shared with the parent.
    get_engine().dispose(close=False)
    setup_logging("worker", settings)
