"""Transparent huge pages off in the worker's processes (Linux; elsewhere nothing happens).

numpy asks the kernel for huge pages (madvise) on every array of 4 MiB or more. A job allocates
and frees hundreds of MiB of such arrays, and on a kernel in THP `madvise` mode each first touch
of one may wait while the kernel assembles and zeroes a 2 MiB page (compaction): on the 1M-row
benchmark file that doubled the kernel's share of the run and made it swing from run to run (the
engine's whole run 0.89-1.53 s with THP, 0.74-0.83 s without; pyarrow's read+write, which makes
few such arrays, the same either way). The setting is per process, inherited by forked children
(the pool) and kept across exec; `WORKER_TRANSPARENT_HUGEPAGES=true` leaves the kernel's default.
"""

from __future__ import annotations

import ctypes
import sys

from loguru import logger

PR_SET_THP_DISABLE = 41
PR_GET_THP_DISABLE = 42


def disable() -> bool:
    """Turn transparent huge pages off for this process and its future children; whether it took."""
    libc = _libc()
    if libc is None:
        return False
    if libc.prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0:
        logger.warning("could not turn transparent huge pages off (errno {})", ctypes.get_errno())
        return False
    return True


def disabled() -> bool:
    """Whether transparent huge pages are off for this process."""
    libc = _libc()
    return libc is not None and libc.prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(None, use_errno=True)
