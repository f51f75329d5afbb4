"""Turn errors into responses: `{"detail": ...}` under /api, an HTML page elsewhere. Never a traceback."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from loguru import logger
from starlette.exceptions import HTTPException

from console.core import errors
from console.templating import templates

STATUS_OF: dict[type[errors.ConsoleError], int] = {
    errors.NotAuthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.InvalidTransition: 409,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.Invalid: 422,
    errors.Unavailable: 503,
}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.ConsoleError, _console_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _console_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.ConsoleError)
    status = next(code for kind, code in STATUS_OF.items() if isinstance(exc, kind))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return error_response(request, status, exc.detail, headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(request, exc.status_code, exc.detail, getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
        for error in exc.errors()
    ]
    return error_response(request, 422, detail)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.opt(exception=exc).error("unhandled error on {} {}", request.method, request.url.path)
    return error_response(request, 500, "internal server error")


def error_response(request: Request, status: int, detail: object, headers: dict[str, str] | None = None) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    page = templates.get_template("errors/error.html").render(status=status, detail=detail)
    return HTMLResponse(page, status_code=status, headers=headers)


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api") or path.startswith("/healthz") or "text/html" not in request.headers.get("accept", "")
