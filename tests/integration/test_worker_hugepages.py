"""A real worker's pool processes run with transparent huge pages off (worker/hugepages.py), unless
WORKER_TRANSPARENT_HUGEPAGES says to keep the kernel's default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from console.core.settings import Settings
from tests.integration.faultkit import (
    private,  # noqa: F401  (fixture)
    spawn,  # noqa: F401  (fixture)
)

pytestmark = pytest.mark.integration
__all__ = ["private", "spawn"]  # the fixtures imported above, for pyflakes


def _pool_thp(worker: Any) -> list[str]:
    """THP_enabled of the worker's pool processes (the leaves of its process tree)."""
    pool = [process for process in worker.children() if not process.children()]
    assert pool, "the worker has no pool processes"
    states = []
    for process in pool:
        status = Path(f"/proc/{process.pid}/status").read_text()
        states.append(next(line.split(":", 1)[1].strip() for line in status.splitlines() if line.startswith("THP_enabled")))
    return states


def test_pool_processes_run_without_transparent_huge_pages(private: Settings, spawn: Any) -> None:  # noqa: F811
    worker = spawn(private, concurrency=2)
    assert _pool_thp(worker) == ["0", "0"]


def test_the_setting_keeps_the_kernels_default(private: Settings, spawn: Any) -> None:  # noqa: F811
    worker = spawn(private, concurrency=1, WORKER_TRANSPARENT_HUGEPAGES="true")
    assert _pool_thp(worker) == ["1"]
