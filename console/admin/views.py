"""The admin's base view and its admin-only views: users and API tokens.

Views are declarations; behaviour lives in the hooks and in `console.core`. Jobs, datasets,
configs and the audit log have modules of their own in this package.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import anyio.to_thread
from sqladmin import ModelView, expose
from sqladmin.authorization import Action
from sqladmin.fields import BooleanField, SelectField
from sqladmin.formatters import BASE_FORMATTERS
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from wtforms import Field, Form, PasswordField, StringField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from console.admin import formatting as fmt
from console.admin.auth import ADMINS, STAFF, CsrfForm
from console.admin.common import csrf_token, in_thread, posted_form, require_role, signed_in
from console.core import audit
from console.core.errors import Conflict, Forbidden, Invalid
from console.core.models import ApiToken, CleaningConfig, Dataset, Job, Role, User
from console.core.security import hash_password
from console.core.users import issue_token, normalize_email, revoke_token
from console.web_session import session_role, session_user_id

_READS = frozenset({Action.LIST, Action.DETAILS, Action.EXPORT})


# ---- who may do what ---------------------------------------------------------------------------


class ConsoleView(ModelView):
    """Readers may open the view (list, details); writers may also create, edit, delete and act.

    The `can_*` flags still switch an action off for everyone.
    """

    readers: ClassVar[frozenset[str]] = STAFF
    writers: ClassVar[frozenset[str]] = STAFF

    can_export = False
    page_size = 25
    form_base_class = CsrfForm
    column_type_formatters = {**BASE_FORMATTERS, datetime: fmt.when}
    # Users are an admin-only view: a link to one would be a 403 for operators.
    non_link_related_fields = ["owner"]

    def is_accessible(self, request: Request) -> bool:
        return session_role(request) in self.readers

    def has_permission(self, request: Request, action: str, obj: Any | None = None) -> bool:
        allowed = self.readers if action in _READS else self.writers
        return session_role(request) in allowed


# ---- users and tokens ------------------------------------------------------------------------


def _email_address(form: Form, field: Field) -> None:
    try:
        normalize_email(field.data or "")
    except Invalid as exc:
        raise ValidationError(str(exc.detail)) from None


class UserForm(CsrfForm):
    email = StringField(
        "Email",
        validators=[InputRequired(), Length(max=320), _email_address],
        render_kw={"class": "form-control", "type": "email"},
    )
    password = PasswordField(
        "Password",
        validators=[Optional(), Length(min=8, max=1024)],
        description="At least 8 characters, stored as an argon2 hash. Leave blank to keep the current one.",
        render_kw={"class": "form-control", "autocomplete": "new-password"},
    )
    role = SelectField(
        "Role",
        choices=[(role.value, role.value) for role in Role],
        default=Role.OPERATOR.value,
        render_kw={"class": "form-control"},
    )
    is_active = BooleanField("Active", default=True, render_kw={"class": "form-check-input"})


class UserAdmin(ConsoleView, model=User):
    readers = writers = ADMINS
    icon = "fa-solid fa-user"

    form = UserForm
    form_columns = [User.email, User.role, User.is_active]
    column_list = [User.id, User.email, User.role, User.is_active, User.created_at]
    column_details_list = [User.id, User.email, User.role, User.is_active, User.created_at, User.tokens]
    column_searchable_list = [User.email, User.role]
    column_sortable_list = [User.id, User.email, User.role, User.is_active, User.created_at]
    column_default_sort = [(User.created_at, True), (User.id, True)]
    column_labels = {
        User.id: "Id",
        User.email: "Email",
        User.role: "Role",
        User.is_active: "Active",
        User.created_at: "Created",
        User.tokens: "API tokens",
    }

    async def on_model_change(self, data: dict[str, Any], model: User, is_created: bool, request: Request) -> None:
        password = data.pop("password", None)
        data["email"] = normalize_email(data["email"])
        if (
            not is_created
            and model.id == session_user_id(request)
            and (data["role"] != Role.ADMIN or not data["is_active"])
        ):
            raise Forbidden("you cannot take away your own admin role or deactivate yourself")
        user_id = 0 if is_created else model.id
        taken = await in_thread(
            lambda session: session.scalar(select(User.id).where(User.email == data["email"], User.id != user_id))
        )
        if taken is not None:
            raise Conflict(f"a user with email {data['email']} already exists")
        if password:
            model.password_hash = await anyio.to_thread.run_sync(hash_password, password)

    async def on_model_delete(self, model: User, request: Request) -> None:
        if model.id == session_user_id(request):
            raise Forbidden("you cannot delete yourself")
        owned = await in_thread(lambda session: _owned_counts(session, model.id))
        if any(owned.values()):
            things = ", ".join(f"{count} {kind}" for kind, count in owned.items() if count)
            raise Conflict(f"{model.email} still owns {things}; deactivate the user instead")


def _owned_counts(session: Session, user_id: int) -> dict[str, int]:
    return {
        label: session.scalar(select(func.count()).where(model.owner_id == user_id)) or 0
        for label, model in (("dataset(s)", Dataset), ("config(s)", CleaningConfig), ("job(s)", Job))
    }


class ApiTokenAdmin(ConsoleView, model=ApiToken):
    readers = writers = ADMINS
    name = "API token"
    icon = "fa-solid fa-key"
    can_create = can_edit = can_delete = False

    column_list = [
        ApiToken.id,
        ApiToken.prefix,
        ApiToken.name,
        ApiToken.user,
        ApiToken.created_at,
        ApiToken.last_used_at,
        ApiToken.revoked_at,
    ]
    column_details_list = column_list
    column_searchable_list = [ApiToken.prefix, ApiToken.name, "user.email"]
    column_sortable_list = [ApiToken.id, ApiToken.name, ApiToken.created_at, ApiToken.last_used_at, ApiToken.revoked_at]
    column_default_sort = [(ApiToken.created_at, True), (ApiToken.id, True)]
    column_labels = {
        ApiToken.id: "Id",
        ApiToken.prefix: "Prefix",
        ApiToken.name: "Name",
        ApiToken.user: "User",
        ApiToken.created_at: "Created",
        ApiToken.last_used_at: "Last used",
        ApiToken.revoked_at: "Revoked",
    }
    column_formatters = {ApiToken.prefix: fmt.show(lambda prefix: f"{prefix}…")}
    column_formatters_detail = column_formatters
    list_template = "admin/token_list.html"
    details_template = "admin/token_details.html"

    @expose("/issue", methods=["GET"])
    async def issue_form(self, request: Request) -> Response:
        users = await in_thread(
            lambda session: list(session.scalars(select(User).where(User.is_active).order_by(User.email)))
        )
        context = {"users": users, "csrf_token": csrf_token(request), "title": "Issue an API token"}
        return await self.templates.TemplateResponse(request, "admin/token_issue.html", context)

    @expose("/issue", methods=["POST"])
    async def issue(self, request: Request) -> Response:
        """Make a token for a user and show it once; only its hash is kept."""
        form = await posted_form(request)
        require_role(request, self.writers, "issue API tokens")
        user_id, name = str(form.get("user_id", "")), str(form.get("name", "")).strip() or "issued in the admin"

        def issue(session: Session) -> tuple[str, User]:
            actor = signed_in(session, request)
            holder = session.get(User, int(user_id)) if user_id.isdigit() else None
            if holder is None or not holder.is_active:
                raise HTTPException(status_code=400, detail="user: choose an active user")
            token = issue_token(session=session, user=holder, name=name)
            audit.record(
                session=session, actor=actor, action="token.issue", target_type="user", ids=[holder.id],
                outcome={"via": "admin", "prefix": token[:12], "name": name[:100]},
                detail=f"API token for {holder.email}",
            )  # fmt: skip
            return token, holder

        token, holder = await in_thread(issue)
        context = {"token": token, "holder": holder, "title": "API token issued"}
        response = await self.templates.TemplateResponse(request, "admin/token_issued.html", context)
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/{pk:int}/revoke", methods=["POST"])
    async def revoke(self, request: Request) -> Response:
        await posted_form(request)
        require_role(request, self.writers, "revoke API tokens")
        token_id = int(request.path_params["pk"])

        def revoke(session: Session) -> None:
            actor = signed_in(session, request)
            token = session.get(ApiToken, token_id)
            if token is None:
                raise HTTPException(status_code=404, detail=f"API token {token_id} does not exist.")
            revoke_token(session=session, token_id=token.id, user=token.user)
            audit.record(
                session=session, actor=actor, action="token.revoke", target_type="api_token", ids=[token.id],
                outcome={"via": "admin", "prefix": token.prefix},
                detail=f"API token {token.prefix}… of {token.user.email}",
            )  # fmt: skip

        await in_thread(revoke)
        return RedirectResponse(request.url_for("admin:details", identity=self.identity, pk=token_id), status_code=303)
