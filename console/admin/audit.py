"""The audit log in the admin (admins only): every operator action, filterable by action, actor and date.

`ConsoleAuditBackend` also records what sqladmin's own forms change (users, configs), so
the log holds both the job actions and the edits.
"""

from __future__ import annotations

import anyio.to_thread
from sqladmin.audit import AuditBackend
from sqladmin.audit import AuditEntry as AdminChange
from sqladmin.filters import AllUniqueStringValuesFilter
from starlette.requests import Request

from console.admin import formatting as fmt
from console.admin.auth import ADMINS
from console.admin.filters import ActorFilter, DateFilter
from console.admin.views import ConsoleView
from console.core import audit
from console.core.db import session_scope
from console.core.models import AuditEntry, User
from console.web_session import session_user_id

TARGET_OF = {"user": "user", "cleaning-config": "cleaning_config", "dataset": "dataset", "job": "job"}
ACTION_OF = {"cleaning-config": "config"}
# Small fields whose new value is worth keeping; other fields are named only (steps can be long, passwords never).
KEPT_VALUES = ("email", "role", "is_active", "name")


class AuditAdmin(ConsoleView, model=AuditEntry):
    readers = writers = ADMINS
    name = "Audit entry"
    name_plural = "Audit log"
    icon = "fa-solid fa-clipboard-list"
    can_create = can_edit = can_delete = False
    page_size = 50

    column_list = [
        AuditEntry.at, AuditEntry.actor_email, AuditEntry.action, AuditEntry.target_ids, AuditEntry.outcome,
        AuditEntry.detail,
    ]  # fmt: skip
    column_details_list = [
        AuditEntry.id, AuditEntry.at, AuditEntry.actor_email, AuditEntry.action, AuditEntry.target_type,
        AuditEntry.target_ids, AuditEntry.detail, AuditEntry.outcome,
    ]  # fmt: skip
    column_filters = [
        AllUniqueStringValuesFilter(AuditEntry.action, title="Action"),
        ActorFilter(),
        DateFilter(AuditEntry.at, "at_from", "On or after", until=False),
        DateFilter(AuditEntry.at, "at_until", "On or before", until=True),
    ]
    column_searchable_list = [AuditEntry.actor_email, AuditEntry.action, AuditEntry.detail, AuditEntry.target_type]
    column_sortable_list = [AuditEntry.at, AuditEntry.action, AuditEntry.actor_email]
    column_default_sort = [(AuditEntry.at, True), (AuditEntry.id, True)]
    column_labels = {
        AuditEntry.id: "Id", AuditEntry.at: "When", AuditEntry.actor_email: "Who", AuditEntry.action: "Action",
        AuditEntry.target_type: "Target", AuditEntry.target_ids: "Ids", AuditEntry.outcome: "Outcome",
        AuditEntry.detail: "What",
    }  # fmt: skip
    column_formatters = {
        AuditEntry.at: fmt.show(fmt.short_when),
        AuditEntry.actor_email: fmt.show(lambda email: fmt.truncated(email, 28)),
        AuditEntry.target_ids: fmt.show(lambda ids: fmt.truncated(", ".join(f"#{i}" for i in ids or []), 40)),
        AuditEntry.outcome: fmt.show(lambda outcome: outcome_summary(outcome)),
        AuditEntry.detail: fmt.show(lambda detail: fmt.truncated(detail, 50)),
    }
    column_formatters_detail = {AuditEntry.outcome: fmt.show(fmt.pretty_json)}


def outcome_summary(outcome: dict | None) -> str:
    """ "via admin: 37 done, 3 skipped" for job actions; the key facts for the rest."""
    if not outcome:
        return ""
    counts = [f"{outcome[key]} {key.replace('_', ' ')}" for key in ("done", "skipped", "not_found") if outcome.get(key)]
    facts = (
        counts or [f"{key} {value}" for key, value in outcome.items() if key not in ("via", "results", "changes")][:3]
    )
    return f"via {outcome.get('via', '?')}: " + ", ".join(facts) if facts else f"via {outcome.get('via', '?')}"


class ConsoleAuditBackend(AuditBackend):
    """sqladmin's create / update / delete of a row, as an audit_log entry (passwords are never kept)."""

    async def log(self, entry: AdminChange, request: Request) -> None:
        user_id = session_user_id(request)
        await anyio.to_thread.run_sync(lambda: _store(entry, user_id))


def _store(entry: AdminChange, user_id: int | None) -> None:
    with session_scope() as session:
        actor = session.get(User, user_id) if user_id is not None else None
        noun = ACTION_OF.get(entry.identity, entry.identity)
        ids = [int(entry.pk)] if entry.pk and entry.pk.isdigit() else []
        changes = entry.changes or {}
        fields = sorted(key for key in changes if key not in audit.SECRET_KEYS)
        values = {key: changes[key] for key in KEPT_VALUES if key in changes}
        audit.record(
            session=session,
            actor=actor,
            action=f"{noun}.{entry.action}",
            target_type=TARGET_OF.get(entry.identity, entry.identity.replace("-", "_")),
            ids=ids,
            outcome={"via": "admin", "fields": fields, "values": values},
            detail=f"{entry.action} {noun} {entry.pk or ''}".strip(),
        )
