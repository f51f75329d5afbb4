"""Garbage collection in a serving web process: freeze what lives as long as the process, watch the rest.

A full collection walks every object the collector tracks: about 150,000 once the app is built
(FastAPI and pydantic models, SQLAlchemy's mappers, SQLAdmin, Celery), 100-240 ms of CPU on these
cores, and the event loop serves nothing meanwhile: that was the tail of the API's latency (a
`python -m benchmarks api` run saw 11-14 of them per web process, 200-1,000 ms of wall time each on
a loaded machine). Almost all of those objects live as long as the process, so once the app is
built and the request path's lazy imports are done, `gc.freeze()` moves them to the permanent
generation, which no collection walks again; what is left (about 9,000 objects) takes 1-3 ms to
collect, and the same runs saw no full collection at all after startup. It must run in the serving
process itself, after startup: workers are spawned, not forked, so a freeze in the supervisor (or
before the app is built, or before the first submission imported Celery's sending side) leaves
the objects that matter unfrozen. The young generation's threshold is raised (700 -> 7000):
fewer objects of requests still in flight are promoted, and the young collections' total CPU was
3-4 times lower in those runs, for an average pause no longer (0.2-0.3 ms).
"""

from __future__ import annotations

import asyncio
import gc
import time

from loguru import logger

GC_THRESHOLDS = (7000, 10, 10)
SLOW_GC_MS = 20.0  # a collection at least this long is logged as a warning


class GcWatch:
    """Collections per generation, their total and longest time (gc.callbacks), and the slow ones.

    Times are wall-clock (what a request waiting on the event loop feels) and this thread's CPU time
    (the collector's own work: on a busy machine the two differ by the time the OS ran others)."""

    def __init__(self, slow_ms: float = SLOW_GC_MS) -> None:
        self.slow_ms = slow_ms
        self.count = [0, 0, 0]
        self.total_ms = [0.0, 0.0, 0.0]
        self.cpu_ms = [0.0, 0.0, 0.0]
        self.max_ms = [0.0, 0.0, 0.0]
        self.slow: list[tuple[int, float, float]] = []  # (generation, ms, CPU ms) not yet reported
        self._started = (0.0, 0.0)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        # Runs inside the collector: no logging (its lock may be held by the code that allocated).
        if phase == "start":
            self._started = (time.perf_counter(), time.thread_time())
            return
        took = (time.perf_counter() - self._started[0]) * 1000
        cpu = (time.thread_time() - self._started[1]) * 1000
        generation = info["generation"]
        self.count[generation] += 1
        self.total_ms[generation] += took
        self.cpu_ms[generation] += cpu
        self.max_ms[generation] = max(self.max_ms[generation], took)
        if took >= self.slow_ms and len(self.slow) < 1000:
            self.slow.append((generation, took, cpu))

    def take_slow(self) -> list[tuple[int, float, float]]:
        taken, self.slow = self.slow, []
        return taken

    def summary(self) -> str:
        return ", ".join(
            f"generation {g}: {self.count[g]} in {self.total_ms[g]:.0f} ms ({self.cpu_ms[g]:.0f} ms CPU, longest "
            f"{self.max_ms[g]:.1f} ms)"
            for g in range(3)
        )


class ServingGc:
    """What `serving_gc_policy` did in this process, and its watch of the collections since."""

    def __init__(self, frozen: int, unfrozen: int, watch: GcWatch) -> None:
        self.frozen, self.unfrozen, self.watch = frozen, unfrozen, watch

    def describe(self) -> str:
        return f"{self.frozen:,} objects frozen, {self.unfrozen:,} tracked, thresholds {gc.get_threshold()}"

    async def report_slow_collections(self, every: float = 1.0) -> None:
        """Log the slow collections (at most one line a second), from the event loop, not the collector."""
        while True:
            await asyncio.sleep(every)
            slow = self.watch.take_slow()
            if slow:
                generation, took, cpu = max(slow, key=lambda item: item[1])
                logger.warning(
                    "slow garbage collection: {} over {:.0f} ms, longest {:.1f} ms (generation {}, {:.1f} ms of CPU)",
                    len(slow), self.watch.slow_ms, took, generation, cpu,
                )  # fmt: skip


_serving_gc: ServingGc | None = None


def serving_gc_policy() -> ServingGc:
    """Warm the request path's lazy imports, collect, freeze what is left and set the thresholds, once
    per process (the app's lifespan calls it: in a uvicorn worker, after the app is built)."""
    global _serving_gc
    if _serving_gc is None:
        _warm_up()
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        watch = GcWatch()
        gc.callbacks.append(watch)
        _serving_gc = ServingGc(gc.get_freeze_count(), len(gc.get_objects()), watch)
    return _serving_gc


def _warm_up() -> None:
    """What the first job submission would import and build (Celery's amqp layer, kombu's Redis
    transport), so that it is frozen with the rest; no connection is made."""
    from celery import canvas, result  # noqa: F401  (imported by the first send_task)

    from console.core.queue import celery_app

    celery_app.amqp.router  # noqa: B018  (cached properties, built on first use)
    celery_app.events.Dispatcher  # noqa: B018  (the task-sent event)
    celery_app.backend  # noqa: B018
    celery_app.Task  # noqa: B018
    with celery_app.connection_for_write() as connection:
        connection.transport  # noqa: B018  (imports kombu's transport; no connection is made before a send)
