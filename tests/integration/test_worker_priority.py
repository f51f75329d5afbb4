"""A real worker's processes run below the web's CPU priority (worker/priority.py): nice
WORKER_NICE, 10 by default; 0 keeps the default priority."""

from __future__ import annotations

from typing import Any

import psutil
import pytest

from console.core.settings import Settings
from tests.integration.faultkit import (
    private,  # noqa: F401  (fixture)
    spawn,  # noqa: F401  (fixture)
)

pytestmark = pytest.mark.integration
__all__ = ["private", "spawn"]  # the fixtures imported above, for pyflakes


def _niceness(worker: Any) -> list[int]:
    """The niceness of the worker's main process and of each pool process."""
    tree = worker.children()
    pool = [process for process in tree if not process.children()]
    assert pool, "the worker has no pool processes"
    # The Celery main process: the parent of the pool (the launched process itself, or its child).
    main = psutil.Process(pool[0].ppid())
    return [process.nice() for process in [main, *pool]]


def test_worker_processes_run_at_nice_10_by_default(private: Settings, spawn: Any) -> None:  # noqa: F811
    worker = spawn(private, concurrency=2)
    assert _niceness(worker) == [10, 10, 10]


def test_the_setting_chooses_the_niceness(private: Settings, spawn: Any) -> None:  # noqa: F811
    worker = spawn(private, concurrency=1, WORKER_NICE="0")
    assert _niceness(worker) == [0, 0]
