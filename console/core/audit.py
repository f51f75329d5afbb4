"""The audit log: who did what to which things, and how it went. One row per action, in the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from console.core.models import AuditEntry, User

SYSTEM = "system"
# Never kept in an entry, whatever a caller passes in `outcome`.
SECRET_KEYS = frozenset({"password", "password_hash", "token", "token_hash", "csrf_token"})


def record(
    *,
    session: Session,
    actor: User | None,
    action: str,
    target_type: str,
    ids: Sequence[int],
    outcome: dict[str, Any],
    detail: str = "",
) -> AuditEntry:
    """Add an entry (flush only: it lands with the caller's commit, or not at all).

    `outcome` is stored as JSON: values that JSON cannot hold become text, secret keys are dropped.
    """
    entry = AuditEntry(
        actor_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else SYSTEM,
        action=action[:64],
        target_type=target_type[:32],
        target_ids=[int(i) for i in ids],
        outcome=_json_ready(outcome),
        detail=detail[:10_000],
    )
    session.add(entry)
    session.flush()
    return entry


def _json_ready(value: dict[str, Any]) -> dict[str, Any]:
    cleaned = {key: item for key, item in value.items() if key not in SECRET_KEYS}
    return json.loads(json.dumps(cleaned, default=str))
