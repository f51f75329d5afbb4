"""Helpers for the operator console's tests: sign-ins, jobs in any state, the CSRF token of a page."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from console.core.db import session_scope
from console.core.models import AuditEntry, CleaningConfig, Job, JobStatus, User
from tests.integration.factories import Account
from tests.integration.helpers import create_config, upload

PEOPLE = b"name,age,city\nAda,36,London\nGrace,,New York\nAda,36,London\nLinus,28,Helsinki\n"
FINAL = ("succeeded", "failed", "cancelled")
UNFINISHED = ("pending", "queued", "running")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def log_in(browser: TestClient, account: Account, password: str | None = None) -> Response:
    """Sign in to /admin (operators and admins)."""
    return browser.post("/admin/login", data={"email": account.user.email, "password": password or account.password})


def sign_in_to_workspace(browser: TestClient, account: Account) -> Response:
    """Sign in at /signin, the workspace's door to the same session (members too)."""
    token = csrf_token(browser.get("/signin"))
    return browser.post(
        "/signin", data={"email": account.user.email, "password": account.password, "csrf_token": token}
    )


def csrf_token(page: Response) -> str:
    match = re.search(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"', page.text)
    assert match, f"the page carries no CSRF token: {page.status_code} {page.text[:300]}"
    return match.group(1)


def dataset_and_config(
    client: TestClient, owner: Account, steps: list[dict[str, Any]] | None = None
) -> tuple[int, int]:
    dataset = upload(client, owner.headers, PEOPLE, filename=f"{unique('people')}.csv")
    config = create_config(client, owner.headers, steps or [{"op": "drop_duplicates"}], unique("dedupe"))
    return dataset["id"], config["id"]


def make_job(owner: User, dataset_id: int, config_id: int | None, status: str, **values: Any) -> int:
    """A job row in `status` with the timestamps that status implies (no message is sent, no worker holds it)."""
    now = datetime.now(UTC)
    stamps: dict[str, Any] = {}
    if status != "pending":
        stamps["queued_at"] = now - timedelta(seconds=30)
    if status in ("running", *FINAL) and status != "cancelled":
        stamps["started_at"] = now - timedelta(seconds=20)
    if status in FINAL:
        stamps["finished_at"] = now - timedelta(seconds=5)
    with session_scope() as session:
        config = session.get(CleaningConfig, config_id) if config_id else None
        job = Job(
            owner_id=owner.id, dataset_id=dataset_id, config_id=config_id,
            config_version=config.version if config else None, steps=config.steps if config else [],
            task_id=str(uuid.uuid4()), status=status, progress=40 if status == "running" else 0,
            **{**stamps, **values},
        )  # fmt: skip
        session.add(job)
        session.flush()
        return job.id


def job_row(job_id: int) -> Job:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def status_of(job_id: int) -> str:
    return job_row(job_id).status


def audit_entries(actor: User, action: str | None = None) -> list[AuditEntry]:
    with session_scope() as session:
        query = select(AuditEntry).where(AuditEntry.actor_id == actor.id).order_by(AuditEntry.id)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return list(session.scalars(query))


def all_statuses() -> tuple[str, ...]:
    return tuple(status.value for status in JobStatus)
