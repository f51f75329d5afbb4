"""Flower at /flower, behind the console's sign-in: a streaming reverse proxy to `settings.FLOWER_URL`.

Flower runs as its own process with `--url_prefix=flower` on loopback (or the internal network)
with its API open (`FLOWER_UNAUTHENTICATED_API`), so this proxy is its only door:

- who: the console's session (`console.web_session`), the user re-read from the database on
  every request. Anonymous -> redirect to /admin/login; a member or deactivated user -> 403.
- what: method, path, query and body pass through as they are, streamed both ways; the
  console's session cookie is not forwarded; hop-by-hop headers are dropped.
- writes: Flower's own cross-site checks are off when its API is open, so a POST, PUT, PATCH
  or DELETE from another site (by `Sec-Fetch-Site` or `Origin`) is refused here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, FastAPI, Request
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse

from console.core.db import session_scope
from console.core.errors import Forbidden
from console.core.models import Role, User
from console.web_session import SESSION_COOKIE, session_user_id

router = APIRouter(include_in_schema=False)

STAFF = frozenset({Role.ADMIN.value, Role.OPERATOR.value})
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# RFC 9110 section 7.6.1, plus what httpx sets itself.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
})  # fmt: skip
# Flower opens its API to every origin when it runs without auth; through the console it is same-origin only.
DROPPED_RESPONSE = HOP_BY_HOP - {"content-length"} | {
    "access-control-allow-origin", "access-control-allow-headers", "access-control-allow-methods",
}  # fmt: skip


@router.api_route("/flower", methods=METHODS)
async def flower_root(request: Request) -> Response:
    return RedirectResponse("/flower/", status_code=307)


@router.api_route("/flower/{path:path}", methods=METHODS)
async def flower(request: Request, path: str) -> Response:
    refusal = await _refusal(request)
    if refusal is not None:
        return refusal
    client = _client(request.app)
    target = httpx.URL(path=request.url.path, query=request.url.query.encode("latin-1"))
    upstream = client.build_request(
        request.method,
        target,
        headers=_forwarded_headers(request),
        content=request.stream() if request.method not in SAFE_METHODS else None,
    )
    try:
        response = await client.send(upstream, stream=True)
    except httpx.HTTPError as exc:
        return PlainTextResponse(
            f"Flower cannot be reached at {client.base_url} ({type(exc).__name__}); "
            "start it with `python -m console flower`.",
            status_code=502,
        )
    proxied = StreamingResponse(
        response.aiter_raw(), status_code=response.status_code, background=BackgroundTask(response.aclose)
    )
    # Raw headers, so that repeated ones (Set-Cookie) all pass.
    proxied.raw_headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.multi_items()
        if name.lower() not in DROPPED_RESPONSE
    ]
    return proxied


async def _refusal(request: Request) -> Response | None:
    """None when the signed-in user may use Flower; otherwise the answer to give instead."""
    user_id = session_user_id(request)
    role = await run_in_threadpool(_active_role, user_id) if user_id is not None else None
    if role is None:
        return RedirectResponse("/admin/login", status_code=302)
    if role not in STAFF:
        raise Forbidden("Flower is for operators and admins only")
    if request.method not in SAFE_METHODS and _cross_site(request):
        raise Forbidden("cross-site requests to Flower are refused")
    return None


def _active_role(user_id: int) -> str | None:
    with session_scope() as session:
        user = session.get(User, user_id)
        return user.role if user is not None and user.is_active else None


def _cross_site(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc != request.headers.get("host", "")


def _forwarded_headers(request: Request) -> list[tuple[str, str]]:
    headers = [(name, value) for name, value in request.headers.items() if name not in HOP_BY_HOP and name != "cookie"]
    cookies = _without_session(request.headers.get("cookie", ""))
    if cookies:
        headers.append(("cookie", cookies))
    if request.client is not None:
        headers.append(("x-forwarded-for", request.client.host))
    headers.append(("x-forwarded-proto", request.url.scheme))
    headers.append(("x-forwarded-host", request.headers.get("host", "")))
    return headers


def _without_session(cookie_header: str) -> str:
    """The request's cookies minus the console's session, which Flower has no business seeing."""
    parts = [part.strip() for part in cookie_header.split(";") if part.strip()]
    return "; ".join(part for part in parts if part.split("=", 1)[0].strip() != SESSION_COOKIE)


def _client(app: FastAPI) -> httpx.AsyncClient:
    client = getattr(app.state, "flower_client", None)
    if client is None:
        client = httpx.AsyncClient(
            base_url=app.state.settings.FLOWER_URL, timeout=httpx.Timeout(30.0, connect=3.0), follow_redirects=False
        )
        app.state.flower_client = client
    return client


async def close_client(app: FastAPI) -> None:
    client = getattr(app.state, "flower_client", None)
    if client is not None:
        await client.aclose()
        app.state.flower_client = None
