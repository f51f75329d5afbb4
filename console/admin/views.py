"""The admin's model views: users and tokens (admins only), datasets, cleaning configs and jobs (operators too).

Views are declarations; behaviour lives in the hooks. Job status is never edited here:
it changes only through `console.core.jobs`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar

import anyio.to_thread
from markupsafe import Markup
from sqladmin import ModelView
from sqladmin.authorization import Action
from sqladmin.fields import BooleanField, JSONField, SelectField
from sqladmin.formatters import BASE_FORMATTERS
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from wtforms import Field, Form, PasswordField, StringField
from wtforms.validators import InputRequired, Length, Optional, StopValidation, ValidationError

from console.admin.auth import ADMINS, STAFF, CsrfForm
from console.web_session import session_role, session_user_id
from console.core.db import session_scope
from console.core.errors import Conflict, Forbidden, Invalid
from console.core.models import ApiToken, CleaningConfig, Dataset, Job, Role, User
from console.core.security import hash_password
from console.core.users import normalize_email
from console.validation import validated_steps

_READS = frozenset({Action.LIST, Action.DETAILS, Action.EXPORT})


# ---- how values look -------------------------------------------------------------------------


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _size(value: int | None) -> str:
    if value is None:
        return ""
    if value < 1024:
        return f"{value:,} bytes"
    size, unit = float(value), "bytes"
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        if size < 1024:
            break
    return f"{size:,.1f} {unit}"


def _json(value: Any) -> Markup:
    if value is None:
        return Markup("")
    return Markup('<pre class="mb-0">{}</pre>').format(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _text(value: str | None) -> Markup:
    return Markup('<pre class="mb-0">{}</pre>').format(value) if value else Markup("")


def _columns(value: list[dict[str, Any]] | None) -> str:
    return ", ".join(f"{column.get('name')} ({column.get('type', 'unknown')})" for column in value or [])


def _preview(value: dict[str, Any] | None) -> Markup:
    """The first rows as a table; every cell came from an uploaded file, so every cell is escaped."""
    if not value or "columns" not in value:
        return _json(value)
    head = Markup("").join(Markup("<th>{}</th>").format(name) for name in value["columns"])
    rows = Markup("").join(
        Markup("<tr>{}</tr>").format(
            Markup("").join(Markup("<td>{}</td>").format("" if cell is None else cell) for cell in row)
        )
        for row in value.get("rows", [])
    )
    return Markup('<table class="table table-sm mb-0"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>').format(
        head, rows
    )


def _show(render: Callable[[Any], Any]) -> Callable[[Any, str], Any]:
    """A column formatter that renders the attribute's value with `render`."""
    return lambda model, attribute: render(getattr(model, attribute))


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
    column_type_formatters = {**BASE_FORMATTERS, datetime: _when}
    # Users are an admin-only view: a link to one would be a 403 for operators.
    non_link_related_fields = ["owner"]

    def is_accessible(self, request: Request) -> bool:
        return session_role(request) in self.readers

    def has_permission(self, request: Request, action: str, obj: Any | None = None) -> bool:
        allowed = self.readers if action in _READS else self.writers
        return session_role(request) in allowed


async def _in_thread(function: Callable[[Session], Any]) -> Any:
    """Run a blocking database call off the event loop, in its own committed session."""

    def run() -> Any:
        with session_scope() as session:
            return function(session)

    return await anyio.to_thread.run_sync(run)


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
        User.id: "Id", User.email: "Email", User.role: "Role", User.is_active: "Active",
        User.created_at: "Created", User.tokens: "API tokens",
    }

    async def on_model_change(self, data: dict[str, Any], model: User, is_created: bool, request: Request) -> None:
        password = data.pop("password", None)
        data["email"] = normalize_email(data["email"])
        if not is_created and model.id == session_user_id(request) and (
            data["role"] != Role.ADMIN or not data["is_active"]
        ):
            raise Forbidden("you cannot take away your own admin role or deactivate yourself")
        user_id = 0 if is_created else model.id
        taken = await _in_thread(
            lambda session: session.scalar(select(User.id).where(User.email == data["email"], User.id != user_id))
        )
        if taken is not None:
            raise Conflict(f"a user with email {data['email']} already exists")
        if password:
            model.password_hash = await anyio.to_thread.run_sync(hash_password, password)

    async def on_model_delete(self, model: User, request: Request) -> None:
        if model.id == session_user_id(request):
            raise Forbidden("you cannot delete yourself")
        owned = await _in_thread(lambda session: _owned_counts(session, model.id))
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
        ApiToken.id, ApiToken.prefix, ApiToken.name, ApiToken.user,
        ApiToken.created_at, ApiToken.last_used_at, ApiToken.revoked_at,
    ]
    column_details_list = column_list
    column_searchable_list = [ApiToken.prefix, ApiToken.name, "user.email"]
    column_sortable_list = [ApiToken.id, ApiToken.name, ApiToken.created_at, ApiToken.last_used_at, ApiToken.revoked_at]
    column_default_sort = [(ApiToken.created_at, True), (ApiToken.id, True)]
    column_labels = {
        ApiToken.id: "Id", ApiToken.prefix: "Prefix", ApiToken.name: "Name", ApiToken.user: "User",
        ApiToken.created_at: "Created", ApiToken.last_used_at: "Last used", ApiToken.revoked_at: "Revoked",
    }
    column_formatters = {ApiToken.prefix: _show(lambda prefix: f"{prefix}…")}
    column_formatters_detail = column_formatters


# ---- the work --------------------------------------------------------------------------------


class DatasetAdmin(ConsoleView, model=Dataset):
    icon = "fa-solid fa-table"
    # Uploads go through the API, which streams and checks the file.
    can_create = can_edit = can_delete = False

    column_list = [
        Dataset.id, Dataset.name, Dataset.owner, Dataset.original_filename, Dataset.size,
        Dataset.row_count, Dataset.profile_status, Dataset.created_at,
    ]
    column_details_list = [
        Dataset.id, Dataset.name, Dataset.owner, Dataset.original_filename, Dataset.size, Dataset.sha256,
        Dataset.encoding, Dataset.delimiter, Dataset.columns, Dataset.row_count, Dataset.profile_status,
        Dataset.profile_error, Dataset.profile, Dataset.created_at,
    ]
    column_searchable_list = [Dataset.name, Dataset.original_filename, Dataset.sha256, "owner.email"]
    column_sortable_list = [
        Dataset.id, Dataset.name, Dataset.size, Dataset.row_count, Dataset.profile_status, Dataset.created_at,
    ]
    column_default_sort = [(Dataset.created_at, True), (Dataset.id, True)]
    column_labels = {
        Dataset.id: "Id", Dataset.name: "Name", Dataset.owner: "Owner", Dataset.original_filename: "File",
        Dataset.size: "Size", Dataset.sha256: "SHA-256", Dataset.encoding: "Encoding", Dataset.delimiter: "Delimiter",
        Dataset.columns: "Columns", Dataset.row_count: "Rows", Dataset.profile_status: "Profile status",
        Dataset.profile_error: "Profile error", Dataset.profile: "Profile", Dataset.created_at: "Uploaded",
    }
    column_formatters = {Dataset.size: _show(_size)}
    column_formatters_detail = {
        Dataset.size: _show(_size),
        Dataset.columns: _show(_columns),
        Dataset.profile: _show(_json),
        Dataset.profile_error: _show(_text),
    }


class StepsField(JSONField):
    """The config's steps as JSON text; refuses anything `validated_steps` refuses, naming the step."""

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return json.dumps(self.data if self.data is not None else [], indent=2, ensure_ascii=False)

    def pre_validate(self, form: Form) -> None:
        if self.process_errors:
            raise StopValidation()
        try:
            validated_steps(self.data)
        except Invalid as exc:
            raise StopValidation("; ".join(_messages(exc))) from None


def _messages(exc: Invalid) -> Iterable[str]:
    detail = exc.detail
    return [str(problem.get("msg", problem)) for problem in detail] if isinstance(detail, list) else [str(detail)]


class ConfigAdmin(ConsoleView, model=CleaningConfig):
    name = "Cleaning config"
    icon = "fa-solid fa-list-check"

    form_columns = [CleaningConfig.name, CleaningConfig.description, CleaningConfig.steps]
    form_overrides = {"steps": StepsField}
    form_widget_args = {"steps": {"rows": 14, "class": "form-control font-monospace"}}
    column_list = [
        CleaningConfig.id, CleaningConfig.name, CleaningConfig.owner, CleaningConfig.version,
        CleaningConfig.steps, CleaningConfig.updated_at, CleaningConfig.created_at,
    ]
    column_details_list = [
        CleaningConfig.id, CleaningConfig.name, CleaningConfig.description, CleaningConfig.owner,
        CleaningConfig.version, CleaningConfig.steps, CleaningConfig.created_at, CleaningConfig.updated_at,
    ]
    column_searchable_list = [CleaningConfig.name, CleaningConfig.description, "owner.email"]
    column_sortable_list = [
        CleaningConfig.id, CleaningConfig.name, CleaningConfig.version, CleaningConfig.created_at,
        CleaningConfig.updated_at,
    ]
    column_default_sort = [(CleaningConfig.created_at, True), (CleaningConfig.id, True)]
    column_labels = {
        CleaningConfig.id: "Id", CleaningConfig.name: "Name", CleaningConfig.description: "Description",
        CleaningConfig.owner: "Owner", CleaningConfig.version: "Version", CleaningConfig.steps: "Steps",
        CleaningConfig.created_at: "Created", CleaningConfig.updated_at: "Updated",
    }
    column_formatters = {
        CleaningConfig.steps: _show(lambda steps: ", ".join(step.get("op", "?") for step in steps or [])),
    }
    column_formatters_detail = {CleaningConfig.steps: _show(_json)}

    async def on_model_change(
        self, data: dict[str, Any], model: CleaningConfig, is_created: bool, request: Request
    ) -> None:
        try:
            data["steps"] = validated_steps(data.get("steps"))
        except Invalid as exc:
            raise Invalid("; ".join(_messages(exc))) from None
        data["name"] = (data.get("name") or "").strip()
        if is_created:
            model.owner_id = session_user_id(request)
        else:
            # Every edit is a new version (in SQL, so two racing edits cannot share one); jobs keep their snapshot.
            model.version = CleaningConfig.version + 1
        owner_id, config_id = model.owner_id, 0 if is_created else model.id
        clash = await _in_thread(
            lambda session: session.scalar(
                select(CleaningConfig.id).where(
                    CleaningConfig.owner_id == owner_id,
                    CleaningConfig.name == data["name"],
                    CleaningConfig.id != config_id,
                )
            )
        )
        if clash is not None:
            raise Conflict(f"name: the owner already has a config named {data['name']!r}")


class JobAdmin(ConsoleView, model=Job):
    icon = "fa-solid fa-gears"
    can_create = can_edit = can_delete = False
    show_compact_lists = False

    column_list = [
        Job.id, Job.status, Job.progress, Job.owner, Job.dataset, Job.config, Job.config_version, Job.attempts,
        Job.created_at, Job.queued_at, Job.started_at, Job.finished_at, Job.rows_in, Job.rows_out,
        Job.error_message,
    ]
    column_details_list = [
        Job.id, Job.status, Job.progress, Job.owner, Job.dataset, Job.config, Job.config_version, Job.task_id,
        Job.attempts, Job.cancel_requested, Job.created_at, Job.queued_at, Job.started_at, Job.heartbeat_at,
        Job.finished_at, Job.rows_in, Job.rows_out, Job.retry_of_id, Job.rerun_of_id, Job.steps, Job.report,
        Job.preview, Job.error_message, Job.error_traceback, Job.events,
    ]
    column_searchable_list = [Job.status, Job.task_id, Job.error_message, "owner.email", "dataset.name"]
    column_sortable_list = [
        Job.id, Job.status, Job.progress, Job.attempts, Job.created_at, Job.queued_at, Job.started_at,
        Job.finished_at, Job.rows_in, Job.rows_out,
    ]
    column_default_sort = [(Job.created_at, True), (Job.id, True)]
    column_labels = {
        Job.id: "Id", Job.status: "Status", Job.progress: "Progress", Job.owner: "Owner", Job.dataset: "Dataset",
        Job.config: "Config", Job.config_version: "Config version", Job.attempts: "Attempts",
        Job.cancel_requested: "Cancel requested", Job.report: "Report", Job.preview: "Preview",
        Job.events: "Events", Job.created_at: "Created",
        Job.queued_at: "Queued", Job.started_at: "Started", Job.heartbeat_at: "Heartbeat",
        Job.finished_at: "Finished", Job.rows_in: "Rows in", Job.rows_out: "Rows out",
        Job.error_message: "Error", Job.error_traceback: "Traceback", Job.retry_of_id: "Requeue of job",
        Job.rerun_of_id: "Re-run of job", Job.steps: "Steps (snapshot)", Job.task_id: "Celery task id",
    }
    column_formatters = {
        Job.status: _show(str),
        Job.progress: _show(lambda progress: f"{progress}%"),
    }
    column_formatters_detail = {
        **column_formatters,
        Job.steps: _show(_json),
        Job.report: _show(_json),
        Job.preview: _show(_preview),
        Job.error_traceback: _show(_text),
        Job.events: lambda job, attribute: [
            f"{_when(event.at)}  {event.level}  {event.message}" for event in job.events
        ],
    }
