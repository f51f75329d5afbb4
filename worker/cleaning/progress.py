"""Progress of a run as it happens: phases report real units done, a Tracker turns them into one percent.

The reader, the engine and the writer take ``on_progress(phase, done, total)`` and call it
as work gets done: ``check`` and ``parse`` in bytes of the file, ``type`` in columns,
``step`` in steps, ``write`` in rows. It may be called from a reader thread. A Tracker maps
those calls onto one percent for a progress bar and passes it on at most every ``every``
seconds (and whenever a phase ends), so a caller can write it to a database as it comes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

OnProgress = Callable[[str, int, int], None]

# Share of the bar each phase takes, in the order they run (as measured on 1M-row files).
WEIGHTS = {"check": 5, "parse": 25, "type": 15, "step": 35, "write": 20}


class Tracker:
    """``tracker(phase, done, total)`` -> ``on_percent(p)`` with p in [start, end], never going back."""

    def __init__(
        self,
        on_percent: Callable[[int], None],
        *,
        start: int = 0,
        end: int = 100,
        every: float = 1.0,
        weights: dict[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.on_percent, self.start, self.end, self.every, self.clock = on_percent, start, end, every, clock
        self.weights = dict(weights or WEIGHTS)
        self._lock = threading.Lock()
        self._shown = start
        self._last = float("-inf")

    def percent(self, phase: str, done: int, total: int) -> int:
        names = list(self.weights)
        if phase not in self.weights:
            return self._shown
        before = sum(self.weights[n] for n in names[: names.index(phase)])
        share = min(max(done / total, 0.0), 1.0) if total > 0 else 1.0
        fraction = (before + self.weights[phase] * share) / sum(self.weights.values())
        return self.start + int((self.end - self.start) * fraction)

    def __call__(self, phase: str, done: int, total: int) -> None:
        value = self.percent(phase, done, total)
        with self._lock:  # callers in several threads: one at a time, so the percents passed on only rise
            now = self.clock()
            finished = total > 0 and done >= total
            if value <= self._shown or (now - self._last < self.every and not finished):
                return
            self._shown, self._last = value, now
            self.on_percent(value)
