"""The user workspace at `/`: sign in, upload, configure, process, follow jobs, download, API tokens.

`mount_pages(app)` adds the routes (every POST among them checked for the session's CSRF
token), the sign-in redirect, and the static files under /static.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from console.pages import auth, configs, datasets, jobs, tokens
from console.pages.deps import SignInRequired, check_csrf, sign_in_required

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

pages_router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
for module in (auth, datasets, configs, jobs, tokens):
    pages_router.include_router(module.router)


def mount_pages(app: FastAPI) -> None:
    app.include_router(pages_router)
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
