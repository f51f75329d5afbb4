"""Who may use /admin: sign-in over the users table, the session cookie, and the admin forms' CSRF token.

Only admins and operators sign in. The session holds the user id and role; every request
re-reads the user, so a deactivated or removed user is signed out at their next click and a
demoted one (or a member signed in to the workspace) is refused.
"""

from __future__ import annotations

import hmac
from contextvars import ContextVar
from typing import Any

from sqladmin.authentication import AuthenticationBackend
from sqladmin.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from wtforms import Form
from wtforms.csrf.core import CSRF, CSRFTokenField
from wtforms.meta import DefaultMeta

from console.core.db import session_scope
from console.core.models import Role, User
from console.core.users import user_for_password
from console.web_session import csrf_secret, session_user_id, sign_in, sign_out

STAFF = frozenset({Role.ADMIN.value, Role.OPERATOR.value})
ADMINS = frozenset({Role.ADMIN.value})
OPERATORS_ONLY = "The console admin is for operators and admins only; this account is a member."

_csrf_secret: ContextVar[str | None] = ContextVar("admin_csrf_secret", default=None)


class AdminAuth(AuthenticationBackend):
    """Sign-in for /admin over the console's one session (`console.web_session`, added to the app)."""

    def __init__(self, secret_key: str) -> None:
        super().__init__(secret_key)
        # The app already runs the console's session middleware; a second one here would fight it.
        self.middlewares = []
        self.templates: Jinja2Templates | None = None

    def use_templates(self, templates: Jinja2Templates) -> None:
        """The admin's templates, so a refused sign-in can say why on the login page."""
        self.templates = templates

    async def login(self, request: Request) -> Response | bool:
        form = await request.form()
        # "username" is the field of sqladmin's stock login page, should the override go missing.
        email = str(form.get("email") or form.get("username") or "")
        password = str(form.get("password") or "")
        user = await run_in_threadpool(_user_for_password, email, password)
        if user is None:
            return False
        if user.role not in STAFF:
            return await self._login_page(request, OPERATORS_ONLY, status_code=403)
        sign_in(request, user)
        return True

    async def logout(self, request: Request) -> Response | bool:
        sign_out(request)
        return RedirectResponse(request.url_for("admin:login"), status_code=302)

    async def authenticate(self, request: Request) -> Response | bool:
        user_id = session_user_id(request)
        if user_id is None:
            return False
        role = await run_in_threadpool(_current_role, user_id)
        if role is None:
            request.session.clear()
            return False
        if request.session.get("role") != role:
            request.session["role"] = role
        if role not in STAFF:
            # A member signed in to the workspace stays signed in there; /admin is just not theirs.
            return await self._login_page(request, OPERATORS_ONLY, status_code=403)
        _csrf_secret.set(csrf_secret(request))
        return True

    async def _login_page(self, request: Request, error: str, status_code: int) -> Response:
        if self.templates is None:
            raise RuntimeError("AdminAuth.use_templates(admin.templates) was not called")
        return await self.templates.TemplateResponse(
            request, "sqladmin/login.html", {"error": error}, status_code=status_code
        )


def _user_for_password(email: str, password: str) -> User | None:
    if not email or not password:
        return None
    with session_scope() as session:
        return user_for_password(session=session, email=email, password=password)


def _current_role(user_id: int) -> str | None:
    """The user's role if they may still act, None if they are gone or deactivated."""
    with session_scope() as session:
        user = session.get(User, user_id)
        return user.role if user is not None and user.is_active else None


class _SessionTokenCSRF(CSRF):
    """A per-sign-in token kept in the signed session; sqladmin's forms carry none of their own."""

    def generate_csrf_token(self, csrf_token_field: CSRFTokenField) -> str:
        return _csrf_secret.get() or ""

    def validate_csrf_token(self, form: Form, field: CSRFTokenField) -> None:
        expected = _csrf_secret.get()
        if not expected or not isinstance(field.data, str) or not hmac.compare_digest(field.data, expected):
            # A hidden field's error is never shown by sqladmin's form templates; a 403 page is.
            raise HTTPException(
                status_code=403, detail="The form expired or came from another site; reload the page and submit again."
            )


class CsrfForm(Form):
    """Base of every admin form: adds a hidden `csrf_token` checked against the session."""

    class Meta(DefaultMeta):
        csrf = True
        csrf_class = _SessionTokenCSRF

    @property
    def data(self) -> dict[str, Any]:
        return {name: value for name, value in super().data.items() if name != self.meta.csrf_field_name}
