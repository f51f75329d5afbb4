"""What the admin's own pages share: database calls off the event loop, who is signed in, the CSRF check, roles.

A page that changes something is a POST: `posted_form` refuses it (403) without this session's
CSRF token, and `require_role` refuses a role that may not act. Errors become HTTP errors
that sqladmin renders as its error page, so a refusal says why instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import anyio.to_thread
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from console.core.bulk import describe_error
from console.core.db import session_scope
from console.core.errors import ConsoleError
from console.core.models import User
from console.http_errors import STATUS_OF
from console.web_session import CSRF_FIELD, csrf_ok, csrf_secret, session_role, session_user_id

T = TypeVar("T")
EXPIRED = "The form expired or came from another site; reload the page and submit again."


async def in_thread(function: Callable[[Session], T]) -> T:
    """Run a blocking database call off the event loop, in its own session (committed when it returns).

    ConsoleErrors come back as HTTP errors with their status and message.
    """

    def run() -> T:
        with session_scope() as session:
            return function(session)

    try:
        return await anyio.to_thread.run_sync(run)
    except ConsoleError as exc:
        raise as_http(exc) from None


def as_http(exc: ConsoleError) -> HTTPException:
    status = next(code for kind, code in STATUS_OF.items() if isinstance(exc, kind))
    return HTTPException(status_code=status, detail=describe_error(exc))


def signed_in(session: Session, request: Request) -> User:
    """The signed-in user, read again from the database (sqladmin's login check already ran)."""
    user = session.get(User, session_user_id(request) or 0)
    if user is None or not user.is_active:
        raise HTTPException(status_code=403, detail="Sign in again: this account is no longer active.")
    return user


def require_role(request: Request, roles: Iterable[str], what: str) -> None:
    if session_role(request) not in set(roles):
        raise HTTPException(status_code=403, detail=f"Your role ({session_role(request)}) may not {what}.")


async def posted_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token matched this session's (403 otherwise)."""
    form = await request.form()
    if not csrf_ok(request, form.get(CSRF_FIELD)):
        await form.close()  # uploaded files are spooled to disk until closed
        raise HTTPException(status_code=403, detail=EXPIRED)
    return form


def csrf_token(request: Request) -> str:
    return csrf_secret(request)


def parse_ids(raw: str | None, label: str = "ids") -> list[int]:
    """ "4,5, 9" -> [4, 5, 9]; 400 naming the bad value otherwise."""
    ids: list[int] = []
    for part in (raw or "").replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdigit() or not 1 <= int(part) <= 2_147_483_647:
            raise HTTPException(status_code=400, detail=f"{label}: {part[:20]!r} is not a job id")
        ids.append(int(part))
    return list(dict.fromkeys(ids))
