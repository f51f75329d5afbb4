"""The console's one sign-in session (a signed cookie shared by /, /admin and /flower) and its CSRF token.

The cookie is HttpOnly and SameSite=lax, Secure in production. It holds the user's id,
role and a per-sign-in CSRF secret; who the user is gets re-read from the database on
every request by whoever relies on it.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import HTTPConnection

from console.core.models import User
from console.core.settings import Settings

SESSION_COOKIE = "console_session"
SESSION_MAX_AGE = 12 * 60 * 60
CSRF_FIELD = "csrf_token"


def add_session_middleware(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.SECRET_KEY.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        same_site="lax",
        https_only=settings.ENVIRONMENT == "production",
    )


def sign_in(connection: HTTPConnection, user: User) -> None:
    connection.session.clear()
    connection.session.update(user_id=user.id, role=user.role, csrf=secrets.token_urlsafe(32))


def sign_out(connection: HTTPConnection) -> None:
    connection.session.clear()


def session_user_id(connection: HTTPConnection) -> int | None:
    if "session" not in connection.scope:
        return None
    user_id = connection.session.get("user_id")
    return user_id if isinstance(user_id, int) else None


def session_role(connection: HTTPConnection) -> str | None:
    return connection.session.get("role") if "session" in connection.scope else None


def csrf_secret(connection: HTTPConnection) -> str:
    """This session's CSRF token (made on first use); forms carry it, `csrf_ok` checks it."""
    if "csrf" not in connection.session:
        connection.session["csrf"] = secrets.token_urlsafe(32)
    return str(connection.session["csrf"])


def csrf_ok(connection: HTTPConnection, token: object) -> bool:
    expected = connection.session.get("csrf") if "session" in connection.scope else None
    return bool(expected) and isinstance(token, str) and hmac.compare_digest(token, str(expected))
