"""Rows for tests, each test making its own so nothing is shared between tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from console.core import storage
from console.core.db import session_scope
from console.core.models import Dataset, Job, ProfileStatus, User
from console.core.users import create_user, issue_token


@dataclass
class Account:
    user: User
    token: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def make_account(role: str = "member") -> Account:
    password = f"pw-{uuid.uuid4().hex[:12]}"
    with session_scope() as session:
        user = create_user(session=session, email=f"{role}-{uuid.uuid4().hex[:10]}@example.com", role=role, password=password)
        token = issue_token(session=session, user=user)
    return Account(user=user, token=token, password=password)


def make_raw_dataset(owner: User, content: bytes, name: str = "raw.csv", columns: list[str] | None = None) -> int:
    """A dataset stored directly, bypassing the upload checks (for files the API would refuse)."""
    with session_scope() as session:
        stored = storage.store_stream(session=session, filename=name, chunks=[content])
        dataset = Dataset(
            owner_id=owner.id,
            name=name,
            original_filename=name,
            size=stored.size,
            sha256=stored.sha256 or "",
            columns=[{"name": column, "type": "unknown"} for column in columns or []],
            profile_status=ProfileStatus.PENDING.value,
            file_id=stored.id,
        )
        session.add(dataset)
        session.flush()
        return dataset.id


def make_unsent_job(owner: User, dataset_id: int, steps: list[dict] | None = None) -> int:
    """A job row that was accepted but never sent (as when the broker was down)."""
    with session_scope() as session:
        job = Job(owner_id=owner.id, dataset_id=dataset_id, steps=steps or [], task_id=str(uuid.uuid4()))
        session.add(job)
        session.flush()
        return job.id
