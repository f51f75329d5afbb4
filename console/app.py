"""The web application: `create_app(settings)` builds it; `console.app:app` builds it from the environment.

`python -m console serve --workers N` runs N uvicorn worker processes (spawned, not forked: each
imports `console.app:app` afresh), so everything a process owns is made in the worker itself:
the database engine and its pool, the Celery/Redis client, the Flower proxy's HTTP client and the
log sinks. Worker number N logs to `LOG_DIR/web-N.log` (the supervisor to `web.log`): two processes
never write, and rotate, the same file.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

from fastapi import FastAPI, Request
from loguru import logger
from starlette.types import ASGIApp, Receive, Scope, Send

from console import flower_proxy
from console.admin import mount_admin
from console.api import api_router
from console.api.health import router as health_router
from console.core.db import check_database, init_engine
from console.core.logging import setup_logging
from console.core.queue import check_broker, configure_celery
from console.core.settings import Settings, SettingsError, get_settings
from console.http_errors import error_response, install_error_handlers
from console.pages import mount_pages
from console.serving_gc import serving_gc_policy
from console.web_session import add_session_middleware


def create_app(settings: Settings, *, serving: bool = False) -> FastAPI:
    """The app; `serving=True` (uvicorn's `console.app:app`) also sets this process's garbage collection
    policy at startup (`serving_gc_policy`), which tests that build apps in their own process skip."""
    settings.require_services()
    engine = init_engine(settings)
    configure_celery(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_database(engine)
        try:
            check_broker(settings)
        except SettingsError as exc:
            # The web still accepts work without Redis: jobs wait as pending until it is back.
            logger.warning("{}; jobs will wait as pending until it is reachable", exc)
        policy = app.state.gc_policy = serving_gc_policy() if serving else None
        logger.info(
            "console ready: database {}, broker {}{}", settings.masked_database_url(), settings.masked_redis_url(),
            f"; garbage collector: {policy.describe()}" if policy else "",
        )  # fmt: skip
        reporter = asyncio.get_running_loop().create_task(policy.report_slow_collections()) if policy else None
        try:
            yield
        finally:
            if policy and reporter:
                reporter.cancel()
                logger.info("garbage collections in this process: {}", policy.watch.summary())
            await flower_proxy.close_client(app)
            # The log file's sink writes from a queue; uvicorn ends the process by raising the signal
            # that stopped it again, which would drop what is still queued.
            await logger.complete()

    app = FastAPI(
        title="Data ops console",
        summary="Upload CSV files, describe how to clean them, and let Celery workers do the work.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    add_session_middleware(app, settings)
    app.add_middleware(BodySizeLimit, max_bytes=settings.MAX_UPLOAD_BYTES)
    app.add_middleware(ServerTiming)  # added last: outermost of ours, it times the others too
    install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(api_router)
    app.include_router(flower_proxy.router)
    mount_admin(app, settings)
    mount_pages(app)
    return app


class BodySizeLimit:
    """Refuse a request whose declared body is over the upload limit before any of it is read."""

    SLACK = 64 * 1024  # multipart headers and boundaries around the file

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope["headers"]).get(b"content-length", b"")
            if declared.isdigit() and int(declared) > self.max_bytes + self.SLACK:
                detail = f"the request body is {int(declared):,} bytes; the upload limit is {self.max_bytes:,} bytes"
                await error_response(Request(scope), 413, detail)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ServerTiming:
    """`Server-Timing: app;dur=<ms>` on every HTTP response: the time from the request reaching the
    application to its response headers, so a load generator can tell the server's share of a
    latency from the network's, uvicorn's and its own (issue 7)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Any) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                message = {**message, "headers": [*message.get("headers", ()), (b"server-timing", b"app;dur=%.1f" % took)]}
            await send(message)

        await self.app(scope, receive, timed)


def __getattr__(name: str) -> Any:
    # `uvicorn console.app:app` builds the app on first access, so importing this module stays cheap.
    if name == "app":
        settings = get_settings()
        worker = multiprocessing.parent_process() is not None  # a process `serve --workers N` spawned
        setup_logging(f"web-{_worker_number(settings.LOG_DIR)}" if worker else "web", settings)
        if worker:
            _stop_with_supervisor()
        built = globals()["app"] = create_app(settings, serving=True)
        return built
    raise AttributeError(name)


_number_lock: IO[str] | None = None


def _worker_number(log_dir: Path) -> int | str:
    """The lowest worker number no live process holds (a lock file in the log folder), so a restarted
    worker takes its predecessor's number and log file; the pid where file locks are unavailable."""
    global _number_lock
    try:
        import fcntl
    except ImportError:  # pragma: no cover (not POSIX)
        return os.getpid()
    log_dir.mkdir(parents=True, exist_ok=True)
    for number in range(1, 1000):
        handle = (log_dir / f".web-{number}.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _number_lock = handle  # held until this process exits
        return number
    return os.getpid()


def _stop_with_supervisor() -> None:
    """Shut this worker down (SIGTERM: uvicorn's graceful stop) if the process that spawned it is gone,
    e.g. SIGKILLed, rather than keep serving the port as an orphan."""
    parent = multiprocessing.parent_process()
    supervisor = parent.pid if parent is not None else os.getppid()  # its pid, even if it died before this ran

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(1.0)
        logger.warning("the web supervisor (pid {}) is gone; stopping worker {}", supervisor, os.getpid())
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
