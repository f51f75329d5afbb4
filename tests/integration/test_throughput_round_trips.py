"""What a transition and a submission ask of the database, after the throughput work: a transition
is one statement (the conditional UPDATE and its event together), a new job's message priority
comes back with its INSERT, and only the queued mark commits without waiting for the disk. (A
small job's statements are listed in test_runner_round_trips.)

Runs console.core.jobs in this process against the real PostgreSQL (a schema of the test's own).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from sqlalchemy import func, select, text

from console.core import jobs, queue
from console.core.db import session_scope
from console.core.models import Dataset, Job, JobEvent, User
from console.core.settings import Settings
from tests.integration.factories import make_account
from tests.integration.faultkit import private, store_dataset  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
__all__ = ["private"]  # the fixture imported above, for pyflakes


def _job(owner: User, dataset_id: int, status: str, **values: Any) -> int:
    with session_scope() as session:
        job = Job(owner_id=owner.id, dataset_id=dataset_id, steps=[], task_id=os.urandom(16).hex(), status=status, **values)
        session.add(job)
        session.flush()
        return job.id


def _events_of(job_id: int) -> list[str]:
    with session_scope() as session:
        return list(session.scalars(select(JobEvent.message).where(JobEvent.job_id == job_id).order_by(JobEvent.id)))


def test_a_transition_writes_its_event_only_when_the_job_moves(private: Settings) -> None:  # noqa: F811
    owner = make_account().user
    dataset = store_dataset(owner, b"a\n1\n")
    queued = _job(owner, dataset, "queued", lease="mine")
    finished = _job(owner, dataset, "succeeded")

    with session_scope() as session:
        assert not jobs.transition(session=session, job_id=queued, to=jobs.S.RUNNING, holding="other's", reason="no")
        assert not jobs.transition(session=session, job_id=finished, to=jobs.S.FAILED, reason="no")
        assert not jobs.transition(session=session, job_id=queued, to=jobs.S.RUNNING, only_if=Job.cancel_requested.is_(True))
        assert jobs.transition(session=session, job_id=queued, to=jobs.S.RUNNING, holding="mine", reason="yes", attempts=1)

    assert _events_of(finished) == []
    assert _events_of(queued) == ["running: yes"]
    with session_scope() as session:
        row = session.get_one(Job, queued)
        assert (row.status, row.attempts, row.started_at is not None, row.heartbeat_at is not None) == ("running", 1, True, True)


def test_a_transition_sees_what_its_session_changed_but_did_not_flush(private: Settings) -> None:  # noqa: F811
    # As an ORM statement would (autoflush): a cancel flagged in the session stops the move.
    owner = make_account().user
    dataset = store_dataset(owner, b"a\n1\n")
    job_id = _job(owner, dataset, "pending")
    with session_scope() as session:
        job = session.get_one(Job, job_id)
        job.cancel_requested = True
        assert not jobs.transition(session=session, job_id=job_id, to=jobs.S.QUEUED, only_if=Job.cancel_requested.is_(False))
        assert jobs.transition(session=session, job_id=job_id, to=jobs.S.QUEUED, reason="flagged")
    assert _events_of(job_id) == ["queued: flagged"]


def test_new_jobs_get_the_priorities_dispatch_priorities_gives(private: Settings, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    # The reference: dispatch_priorities (a query of its own) on the same jobs, as they are after the submit.
    sent: list[queue.Message] = []
    real = queue.send_many

    def recording(name: str, messages: Any, **kwargs: Any) -> queue.Sent:
        sent.extend(messages)
        return real(name, messages, **kwargs)

    monkeypatch.setattr(queue, "send_many", recording)
    owners = [make_account().user for _ in range(3)]
    datasets = {owner.id: store_dataset(owner, b"a\n1\n") for owner in owners}
    for index, owner in enumerate(owners):
        for status in ("running", "queued", "pending", "succeeded", "failed", "cancelled")[: 2 * index + 1]:
            _job(owner, datasets[owner.id], status)
    order = [owners[i] for i in (0, 1, 0, 2, 2, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0, 1)]

    with session_scope() as session:
        users = {owner.id: session.get_one(User, owner.id) for owner in owners}
        items = [jobs.NewJob(users[owner.id], session.get_one(Dataset, datasets[owner.id]), []) for owner in order]
        made = jobs.submit_many(session=session, items=items)
        one = jobs.submit(session=session, owner=users[owners[1].id], dataset=session.get_one(Dataset, datasets[owners[1].id]), steps=[])
        made_ids = [job.id for job in [*made, one]]
        reference = jobs.dispatch_priorities(session=session, jobs=[*made, one])
        assert session.scalar(select(func.count()).where(Job.id.in_(made_ids), Job.status != "queued")) == 0

    given = {message.args[0]: message.priority for message in sent}
    assert [given[job_id] for job_id in made_ids] == [reference[job_id] for job_id in made_ids]
    assert max(given.values()) == 9  # the cap is reached: owner 0 has more than nine before its last ones


def test_sending_marks_only_pending_jobs_queued_and_updates_the_sessions_copies(private: Settings) -> None:  # noqa: F811
    owner = make_account().user
    dataset = store_dataset(owner, b"a\n1\n")
    pending, taken = _job(owner, dataset, "pending"), _job(owner, dataset, "pending")
    with session_scope() as session:
        mine = [session.get_one(Job, pending), session.get_one(Job, taken)]
        # A worker takes the second job between its send and the mark (another connection, committed).
        with session_scope() as worker:
            assert jobs.transition(session=worker, job_id=taken, to=jobs.S.RUNNING, reason="fast worker")
        sent = jobs.send_many(session=session, jobs=mine)
        assert [job.id for job in sent] == [pending, taken]
        assert (mine[0].status, mine[0].queued_at is not None, mine[0].sent_at is not None) == ("queued", True, True)
        assert mine[1].status == "running"  # as it is: not marked queued over the worker's claim
    with session_scope() as session:
        rows = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_([pending, taken])))}
        assert (rows[pending].status, rows[taken].status, rows[taken].queued_at) == ("queued", "running", None)
        assert rows[pending].queued_at == mine[0].queued_at and rows[pending].sent_at == mine[0].sent_at
    assert _events_of(pending) == ["queued"]
    assert _events_of(taken) == ["running: fast worker"]


def test_only_a_transaction_that_marked_a_job_queued_commits_without_waiting_for_the_disk(private: Settings) -> None:  # noqa: F811
    owner = make_account().user
    dataset = store_dataset(owner, b"a\n1\n")
    pending, running = _job(owner, dataset, "pending"), _job(owner, dataset, "running")
    setting = text("SHOW synchronous_commit")
    with session_scope() as session:
        assert jobs._mark_queued(session, [session.get_one(Job, running)]) == []
        assert session.scalar(setting) == "on"  # nothing moved: the commit stays durable
    with session_scope() as session:
        marked = jobs._mark_queued(session, [session.get_one(Job, pending)])
        assert [job.id for job in marked] == [pending]
        assert session.scalar(setting) == "off"
    with session_scope() as session:
        assert session.scalar(setting) == "on"  # for that transaction only
        assert session.get_one(Job, pending).status == "queued"
