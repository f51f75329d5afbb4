"""The worker's processes run at a lower CPU priority than the web (Unix; elsewhere nothing happens).

On a machine that runs both, a job's cleaning keeps every core busy (pyarrow's and the engine's
threads) while people wait on the web's answers: at the same priority the kernel shares the
cores evenly and a request may wait behind a slice of cleaning. A worker niced to
`WORKER_NICE` (10 by default; 0 keeps the default priority) still gets every core the web leaves
idle, so jobs finish as fast when the web is quiet. Set in the worker's main process before the
pool is forked: its processes inherit it (on Linux niceness is per thread, and the pool is
forked from the main thread).
"""

from __future__ import annotations

import os

from loguru import logger


def lower_to(niceness: int) -> int:
    """Raise this process's niceness to ``niceness`` (never lower it); the niceness it now has."""
    if not hasattr(os, "getpriority"):
        return 0
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness > current:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
        except OSError as exc:
            logger.warning("could not lower the worker's priority to nice {}: {}", niceness, exc)
            return current
    return os.getpriority(os.PRIO_PROCESS, 0)
