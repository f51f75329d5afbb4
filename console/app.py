"""The web application: `create_app(settings)` builds it; `console.app:app` builds it from the environment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

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
from console.web_session import add_session_middleware


def create_app(settings: Settings) -> FastAPI:
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
        logger.info("console ready: database {}, broker {}", settings.masked_database_url(), settings.masked_redis_url())
        yield
        await flower_proxy.close_client(app)

    app = FastAPI(
        title="Data ops console",
        summary="Upload CSV files, describe how to clean them, and let Celery workers do the work.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    add_session_middleware(app, settings)
    app.add_middleware(BodySizeLimit, max_bytes=settings.MAX_UPLOAD_BYTES)
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


def __getattr__(name: str) -> Any:
    # `uvicorn console.app:app` builds the app on first access, so importing this module stays cheap.
    if name == "app":
        settings = get_settings()
        setup_logging("web", settings)
        return create_app(settings)
    raise AttributeError(name)
