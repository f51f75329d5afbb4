"""What a small job asks of the database, counted (not timed): the runner claims, copies the file out
and writes the result in few statements, storing all its outputs in one INSERT and one COPY
(storage.store_small), and the small-files path stores files exactly as the streaming one does.

Runs worker.runner.run_job in this process against the real PostgreSQL (a schema of the test's own).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select

from console.core import storage
from console.core.db import get_engine, session_scope
from console.core.models import FileChunk, Job, JobEvent, JobOutput, StoredFile
from console.core.settings import Settings
from tests.integration.factories import make_account
from tests.integration.faultkit import private, store_dataset  # noqa: F401  (fixture)
from worker import runner

pytestmark = pytest.mark.integration

STEPS: list[dict[str, Any]] = [{"op": "trim_whitespace", "columns": ["name"]}, {"op": "sort", "by": "id"}]


def small_csv(rows: int = 1000) -> bytes:
    return ("id,name,score\n" + "".join(f"{i}, name {i % 97} ,{i * 0.5}\n" for i in range(rows, 0, -1))).encode()


def queued_job(dataset_id: int, owner_id: int) -> int:
    with session_scope() as session:
        job = Job(owner_id=owner_id, dataset_id=dataset_id, steps=STEPS, task_id=os.urandom(16).hex(), status="queued")
        session.add(job)
        session.flush()
        return job.id


class Statements:
    """Every statement the engine sends (COPY included: psycopg2's copy_expert bypasses the engine's
    events, so storage's copier is counted by wrapping it)."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        self.sql.append(" ".join(statement.split())[:80])


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Statements]:
    seen = Statements()
    real = storage._rows_copier

    def counting_copier(session: Any) -> Any:
        copier = real(session)
        if copier is None:
            return None

        def copy(rows: Any) -> None:
            seen.sql.append("COPY file_chunks")
            copier(rows)

        return copy

    monkeypatch.setattr(storage, "_rows_copier", counting_copier)
    engine = get_engine()
    event.listen(engine, "before_cursor_execute", seen)
    yield seen
    event.remove(engine, "before_cursor_execute", seen)


def test_a_small_job_takes_five_statements_one_of_them_a_copy(private: Settings, counted: Statements) -> None:  # noqa: F811
    account = make_account()
    dataset = store_dataset(account.user, small_csv())
    first, second = queued_job(dataset, account.user.id), queued_job(dataset, account.user.id)
    assert runner.run_job(first, settings=private) == "succeeded"  # warm: the first run of a process loads more
    counted.sql.clear()

    assert runner.run_job(second, settings=private) == "succeeded"

    kinds = [" ".join(line.split()[:3]) for line in counted.sql]
    # claim: job + dataset + the file's summary and first (here: only) chunk + fairness lock, then the
    # update (under the fairness rule) with its event; the result: files, their chunks (COPY), job update with its event
    # and the job_outputs rows.
    assert kinds == [
        "SELECT jobs.status, jobs.cancel_requested,",
        "WITH moved AS",
        "INSERT INTO stored_files",
        "COPY file_chunks",
        "WITH moved AS",
    ], counted.sql
    with session_scope() as session:
        messages = session.scalars(select(JobEvent.message).where(JobEvent.job_id == second).order_by(JobEvent.id)).all()
        formats = session.scalars(select(JobOutput.format).where(JobOutput.job_id == second)).all()
    assert [message.split(":")[0] for message in messages] == ["running", "succeeded"], messages
    assert sorted(formats) == ["csv", "parquet"]  # xlsx: made when first asked for


def test_store_small_stores_files_as_the_streaming_store_does(private: Settings) -> None:  # noqa: F811
    files = [
        ("a.csv", "text/csv", b"x,y\n" + b"1,2\n" * 50_000),  # compresses
        ("b.bin", "application/octet-stream", os.urandom(3000)),  # does not
        ("empty.csv", "text/csv", b""),
        ("big.csv", "text/csv", os.urandom(storage.DEFAULT_CHUNK_BYTES + 10)),  # two chunks
    ]
    with session_scope() as session:
        small = storage.store_small(session=session, files=files)
        streamed = [
            storage.store_stream(session=session, filename=name, chunks=[data], content_type=kind).id
            for name, kind, data in files
        ]

    with session_scope() as session:
        for (name, kind, data), one, other in zip(files, small, streamed, strict=True):
            assert b"".join(storage.iter_chunks(session=session, file_id=one)) == data
            a, b = session.get_one(StoredFile, one), session.get_one(StoredFile, other)
            summary = lambda f: (f.filename, f.content_type, f.size, f.stored_size, f.sha256, f.chunk_count, f.complete)  # noqa: E731
            assert summary(a) == summary(b) == (name, kind, len(data), a.stored_size, hashlib.sha256(data).hexdigest(),
                                                 a.chunk_count, True)  # fmt: skip
            chunks = lambda f: session.execute(select(FileChunk.seq, FileChunk.compressed, FileChunk.data).where(FileChunk.file_id == f).order_by(FileChunk.seq)).all()  # noqa: E731,E501
            assert [(s, c, bytes(d)) for s, c, d in chunks(one)] == [(s, c, bytes(d)) for s, c, d in chunks(other)]
