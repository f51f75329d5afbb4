"""What every workspace route relies on: the signed-in user, the CSRF check, own-only lookups, rendering.

The workspace is each user's own: every role (admins and operators too) sees only the
datasets, configs, jobs and tokens it owns here; another user's are 404, as if they did not
exist. Seeing everyone's things is what /admin is for.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from console.core.errors import Forbidden, NotFound
from console.core.models import ApiToken, CleaningConfig, Dataset, Job, User
from console.deps import SessionDep
from console.pages import rendering
from console.templating import templates
from console.web_session import CSRF_FIELD, csrf_ok, csrf_secret, session_user_id, sign_out

CSRF_HEADER = "x-csrf-token"
MAX_ID = 2_147_483_647  # a PostgreSQL integer: a larger id names nothing
CSRF_REFUSED = (
    "This form has expired or was sent from another site, so it was refused. "
    "Go back, reload the page and send it again."
)
# Pages only load our own files; data shown on them can never run as script, even if escaping failed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class SignInRequired(Exception):
    """No signed-in user: pages redirect to the sign-in form, JSON routes answer 401."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


async def sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(f"/signin?next={quote(exc.next_path)}", status_code=303)
    return JSONResponse({"detail": "not signed in: sign in at /signin"}, status_code=401)


async def check_csrf(request: Request) -> None:
    """Refuse (403) any state-changing request without this session's CSRF token, in a form field or header."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    token: object = request.headers.get(CSRF_HEADER)
    if token is None:
        token = (await request.form()).get(CSRF_FIELD)
    if not csrf_ok(request, token):
        raise Forbidden(CSRF_REFUSED)


def page_user(request: Request, session: SessionDep) -> User:
    user_id = session_user_id(request)
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active:
        if user_id is not None:
            sign_out(request)  # a removed or deactivated user is out at their next click
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return user


PageUser = Annotated[User, Depends(page_user)]
Mine = TypeVar("Mine", Dataset, CleaningConfig, Job, ApiToken)


def get_mine(session: Session, user: User, model: type[Mine], item_id: int, label: str) -> Mine:
    """The row if `user` owns it; NotFound otherwise, whatever the user's role (never 403: no leak of existence)."""
    item = session.get(model, item_id) if 1 <= item_id <= MAX_ID else None
    if item is None or _owner_of(item) != user.id:
        raise NotFound(f"{label} {item_id} not found")
    return item


def _owner_of(item: Dataset | CleaningConfig | Job | ApiToken) -> int:
    return item.user_id if isinstance(item, ApiToken) else item.owner_id


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, user: User | None, status_code: int = 200
) -> HTMLResponse:
    """A workspace page: the template with the user, this session's CSRF token and any flash message."""
    full = {
        "user": user,
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_secret(request),
        "flash": request.session.pop("flash", None),
        "nav": request.url.path,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, full, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A one-line message shown on the next page this session renders."""
    request.session["flash"] = {"message": message, "kind": kind}


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def safe_next(path: str | None) -> str:
    """A local path to go to after signing in; anything that could leave the site becomes `/`."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")) or any(c in path for c in "\r\n"):
        return "/"
    return path


rendering.install_filters(templates.env)
