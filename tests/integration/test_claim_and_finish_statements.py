"""The cheaper statements of a small job's run, each against the route it replaced:

- the claim checks the fairness rule in its own UPDATE (jobs.claim(turn_limit=...)): it lands
  exactly when must_wait_turn() (the separate query it replaced) lets the job go;
- the dataset's file is copied out from the head read with the claim (storage.copy_head_to_path),
  the same bytes as storage.copy_to_path, one chunk or many;
- the success writes the job_outputs rows in its transition's statement (jobs.succeed): only when
  the job moved;
- a pooled connection is pinged only when it may be dead (console.core.db): a backend ended under
  an idle pooled connection is still noticed at checkout, and the next statement works.

Runs in this process against the real PostgreSQL (a schema of the test's own).
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.pool import NullPool

from console.core import job_statements, jobs, storage
from console.core.db import get_engine, session_scope
from console.core.models import Dataset, Job, JobOutput, User
from console.core.settings import Settings
from tests.integration.factories import make_account
from tests.integration.faultkit import private, store_dataset, tuned  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
__all__ = ["private"]  # the fixture imported above, for pyflakes

STALE = 60


def _job(owner: User, dataset: int, status: str, **values: Any) -> int:
    with session_scope() as session:
        job = Job(owner_id=owner.id, dataset_id=dataset, steps=[], task_id=os.urandom(16).hex(), status=status, **values)
        session.add(job)
        session.flush()
        return job.id


def _claim_with_turn(job_id: int, limit: int) -> bool:
    """The runner's claim: the fairness lock with the read, then the claim with the rule in it (rolled back)."""
    with session_scope() as session:
        owner = session.scalar(select(Job.owner_id).where(Job.id == job_id))
        session.execute(select(jobs.fairness_lock(owner)))
        taken = jobs.claim(session=session, job_id=job_id, lease="l", attempt=1, stale_seconds=STALE, turn_limit=limit)
        session.rollback()
        return taken


def _waits(job_id: int, limit: int) -> bool:
    with session_scope() as session:
        job = session.get_one(Job, job_id)
        return jobs.must_wait_turn(session=session, job=job, limit=limit, stale_seconds=STALE) is not None


def test_the_claim_lands_exactly_when_must_wait_turn_lets_the_job_go(private: Settings) -> None:  # noqa: F811
    users = [make_account().user for _ in range(3)]
    datasets = {user.id: store_dataset(user, b"a\n1\n") for user in users}
    stale = func.clock_timestamp() - func.make_interval(0, 0, 0, 0, 0, 0, 2 * STALE)
    # Each user's other jobs: running (fresh), running with a stale heartbeat (a dead worker), queued.
    shapes = [(0, 0, 0), (1, 0, 0), (2, 0, 1), (1, 1, 1), (0, 2, 1), (2, 1, 0)]
    seen = set()
    for first, second in itertools.product(shapes, repeat=2):
        with session_scope() as session:  # a clean slate: only this case's jobs
            session.execute(update(Job).values(status="succeeded"))
        for user, (running, dead, queued) in zip(users, (first, second, (0, 0, 0)), strict=True):
            for _ in range(running):
                _job(user, datasets[user.id], "running", heartbeat_at=func.clock_timestamp())
            for _ in range(dead):
                _job(user, datasets[user.id], "running", heartbeat_at=stale)
            for _ in range(queued):
                _job(user, datasets[user.id], "queued")
        candidate = _job(users[0], datasets[users[0].id], "queued")
        for limit in (1, 2):
            expected = not _waits(candidate, limit)
            assert _claim_with_turn(candidate, limit) == expected, (first, second, limit)
            seen.add(expected)
    assert seen == {True, False}  # both outcomes were exercised


def test_copying_out_from_the_claims_head_gives_the_file_as_copy_to_path_does(private: Settings, tmp_path: Path) -> None:  # noqa: F811
    owner = make_account().user
    contents = {
        "one chunk": b"a,b\n" + b"1,2\n" * 1000,
        "three chunks": os.urandom(2 * storage.DEFAULT_CHUNK_BYTES + 17),
        "empty": b"",
    }
    for name, content in contents.items():
        dataset = store_dataset(owner, content)
        head_columns, joined = storage.head_columns(Dataset.file_id)
        with session_scope() as session:
            row = session.execute(joined(select(*head_columns)).where(Dataset.id == dataset)).one()
            head = storage.FileHead(*row)
            fast, plain = tmp_path / f"{name}-head", tmp_path / f"{name}-plain"
            assert storage.copy_head_to_path(session=session, head=head, path=fast) == len(content)
            storage.copy_to_path(session=session, file_id=head.file_id, path=plain)
        assert fast.read_bytes() == plain.read_bytes() == content, name
    with pytest.raises(storage.NotFound):
        storage.copy_head_to_path(session=None, head=storage.FileHead(1, False, 0, None, None), path=tmp_path / "x")  # type: ignore[arg-type]


def test_a_success_records_its_outputs_only_when_the_job_moves(private: Settings) -> None:  # noqa: F811
    owner = make_account().user
    dataset = store_dataset(owner, b"a\n1\n")
    with session_scope() as session:
        files = storage.store_small(session=session, files=[("o.csv", "text/csv", b"a\n"), ("o.parquet", "x", b"p")])
    mine = _job(owner, dataset, "running", lease="mine")
    outputs = {"csv": files[0], "parquet": files[1]}
    with session_scope() as session:
        assert not jobs.succeed(session=session, job_id=mine, holding="other's", outputs=outputs, output_file_id=files[0])
        assert not jobs.succeed(
            session=session, job_id=mine, holding="mine", outputs=outputs, only_if=Job.cancel_requested.is_(True)
        )
        assert session.scalar(select(func.count()).select_from(JobOutput)) == 0
        assert jobs.succeed(
            session=session, job_id=mine, holding="mine", outputs=outputs, reason="done", output_file_id=files[0],
            preview={"columns": ["a"], "rows": [["1"]]}, report=None, rows_in=1, rows_out=1,
            only_if=job_statements.CANCEL_NOT_REQUESTED,
        )  # fmt: skip
    with session_scope() as session:
        made = dict(session.execute(select(JobOutput.format, JobOutput.file_id).where(JobOutput.job_id == mine)).all())
        job = session.get_one(Job, mine)
        assert made == outputs
        assert (job.status, job.output_file_id, job.preview, job.report, job.rows_out) == (
            "succeeded", files[0], {"columns": ["a"], "rows": [["1"]]}, None, 1,
        )  # fmt: skip


def test_a_pooled_connection_whose_backend_was_ended_is_replaced_at_checkout(private: Settings) -> None:  # noqa: F811
    engine = get_engine()
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    # Back in the pool, idle (and recently used: no ping for its age). A connection of no pool ends its backend.
    outside = create_engine(engine.url, poolclass=NullPool)
    with outside.connect() as other:
        assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    outside.dispose()
    for _ in range(50):  # the backend's goodbye reaches the socket
        if _pooled_socket_readable(engine):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the ended backend's connection never looked dead")
    with engine.connect() as connection:  # no error: the dead one was noticed and replaced
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != pid


def _pooled_socket_readable(engine: Any) -> bool:
    from console.core import db

    pooled = list(engine.pool._pool.queue)
    return any(db._may_be_dead(record.dbapi_connection) for record in pooled if record.dbapi_connection is not None)


def test_a_claim_the_fairness_rule_held_back_goes_back_in_line_even_if_the_rule_answers_otherwise_later(
    private: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """must_wait_turn() runs after the claim, in a new snapshot: another owner's job may have started or
    finished in between and it may say "go". The job was held back all the same and must go back in
    line (WaitYourTurn, a short hand-back), not be taken for busy (Busy waits JOB_STALE_SECONDS)."""
    from worker import claiming

    settings = tuned(private, JOBS_PER_USER_RUNNING=1)
    first, second = make_account().user, make_account().user
    first_data, second_data = store_dataset(first, b"a\n1\n"), store_dataset(second, b"a\n1\n")
    _job(first, first_data, "running", heartbeat_at=func.clock_timestamp())
    _job(second, second_data, "queued")
    candidate = _job(first, first_data, "queued")
    monkeypatch.setattr(claiming, "must_wait_turn", lambda **_: None)  # the rule's answer a moment later
    with session_scope() as session, pytest.raises(claiming.WaitYourTurn):
        claiming.claim(candidate, settings=settings, session=session)
    with session_scope() as session:
        assert session.get_one(Job, candidate).status == "queued"

    # Taken by another run between the read and the claim: busy, as before.
    def taken_meanwhile(**_: Any) -> bool:
        with session_scope() as other:
            other.execute(
                update(Job).where(Job.id == candidate).values(status="running", heartbeat_at=func.clock_timestamp())
            )
        return False

    monkeypatch.setattr(claiming, "claim_job", taken_meanwhile)
    with session_scope() as session, pytest.raises(claiming.Busy):
        claiming.claim(candidate, settings=settings, session=session)
