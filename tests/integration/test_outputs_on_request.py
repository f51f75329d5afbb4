"""xlsx made on request (XLSX_ON_REQUEST): a job stores CSV and Parquet only, and a `make_output`
task, sent by name as the web sends it, makes the xlsx from the stored Parquet: the same sheet the
job would have written, stored with the job once, the report's note saying what was written.
Every download path (API, workspace, admin) offers it, asks for it, answers 202 "being made"
and then serves it.

Real PostgreSQL, Redis and worker processes (faultkit: a schema and a queue of each test's own);
the failure and busy cases call worker.runner.make_output in this process.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg2
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from console.admin import jobs as admin_jobs
from console.core import outputs as outputs_asked
from console.core import queue, storage
from console.core.db import session_scope
from console.core.models import Job, JobOutput
from console.core.settings import Settings
from tests.integration.admin_support import sign_in_to_workspace
from tests.integration.factories import Account, make_account
from tests.integration.faultkit import (
    Worker,
    events,
    job_row,
    private,  # noqa: F401  (fixture)
    spawn,  # noqa: F401  (fixture)
    store_dataset,
    submit,
    tuned,
    wait_final,
    wait_until,
)
from worker import outputs, runner
from worker.cleaning import engine, reading
from worker.cleaning.config import validate_config

pytestmark = pytest.mark.integration

DATA = (
    "name,n,zip,joined\n"
    "=HYPERLINK(\"http://x\"),1,02134,2024-01-31T10:00\n"
    "Bob,-4,00501,2024-02-01T11:30\n"
    "@sum,,10001,\n"
).encode()
STEPS: list[dict[str, Any]] = [{"op": "sort", "by": "n"}, {"op": "cast", "columns": {"joined": "datetime"}}]


def stored_outputs(job_id: int) -> dict[str, bytes]:
    with session_scope() as session:
        rows = session.scalars(select(JobOutput).where(JobOutput.job_id == job_id)).all()
        return {row.format: b"".join(storage.iter_chunks(session=session, file_id=row.file_id)) for row in rows}


def eager_xlsx(tmp_path: Path) -> tuple[dict[str, bytes], str]:
    """The xlsx the job would have written with itself (the default way): its parts, and its note."""
    (tmp_path / "in.csv").write_bytes(DATA)
    loaded = reading.read_csv(tmp_path / "in.csv")
    result, report = engine.run(loaded.frame, validate_config({"steps": STEPS}), formats=loaded.formats)
    written = outputs.write_outputs(result, tmp_path, date_formats=report.date_formats)
    return parts(tmp_path.joinpath("output.xlsx").read_bytes()), written.notes["xlsx"]


def parts(xlsx: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(xlsx)) as book:
        return {name: book.read(name) for name in book.namelist()}


@pytest.fixture
def on_request(private: Settings) -> Settings:  # noqa: F811
    return tuned(private, XLSX_ON_REQUEST=True)


@pytest.fixture
def owner() -> Account:
    return make_account()


@pytest.fixture
def finished(on_request: Settings, spawn: Callable[..., Worker], owner: Account) -> int:  # noqa: F811
    """A job of `owner` run by a real worker with XLSX_ON_REQUEST; the worker keeps running."""
    spawn(on_request)
    job = submit(owner.user, store_dataset(owner.user, DATA, "people.csv"), STEPS)
    assert wait_final([job])[job].status == "succeeded"
    return job


@pytest.fixture
def browser(app, private: Settings) -> Any:  # type: ignore[no-untyped-def]  # noqa: F811
    """A cookie jar of its own on the session's app, without running its lifespan again (that would
    point this process back at the session's schema and queue). The admin binds its sessions when
    mounted, so its download path is tested in test_admin_pages instead."""
    test_client = TestClient(app, follow_redirects=False)
    yield test_client
    test_client.close()


def download_once_made(get: Callable[[], Any]) -> tuple[Any, Any]:
    """The first answer (202, being made) and the one that finally serves the file."""
    first = get()
    assert first.status_code == 202, (first.status_code, first.text[:300])
    assert first.headers["retry-after"] == "2"
    final = wait_until(lambda: (lambda r: r if r.status_code != 202 else None)(get()), timeout=60, what="the xlsx", every=0.3)
    return first, final


def test_the_api_answers_202_until_the_xlsx_is_made_then_serves_it(
    finished: int, owner: Account, client: TestClient, tmp_path: Path
) -> None:
    expected, _ = eager_xlsx(tmp_path)
    url = f"/api/jobs/{finished}/output?format=xlsx"

    first, final = download_once_made(lambda: client.get(url, headers=owner.headers))

    assert first.json() == {"detail": f"the xlsx file of job {finished} is being made; ask again in a few seconds"}
    assert final.status_code == 200
    assert parts(final.content) == expected
    assert client.get(url, headers=make_account().headers).status_code == 404  # another member's job
    with session_scope() as session:  # made once, however often it was asked for
        assert len(session.scalars(select(JobOutput).where(JobOutput.job_id == finished)).all()) == 3


def test_the_workspace_offers_the_xlsx_and_shows_a_page_until_it_is_made(
    finished: int, owner: Account, browser: TestClient, tmp_path: Path
) -> None:
    expected, _ = eager_xlsx(tmp_path)
    sign_in_to_workspace(browser, owner)
    page = browser.get(f"/jobs/{finished}")
    assert f"/jobs/{finished}/download/xlsx" in page.text

    first, final = download_once_made(lambda: browser.get(f"/jobs/{finished}/download/xlsx"))

    assert 'id="being-made"' in first.text and 'http-equiv="refresh"' in first.text
    assert final.status_code == 200 and parts(final.content) == expected


def test_the_admin_offers_the_xlsx_and_serves_it_once_made(finished: int) -> None:
    with session_scope() as session:
        job = session.get_one(Job, finished)
        assert admin_jobs.output_formats(session, job) == ["csv", "parquet", "xlsx"]
        with pytest.raises(outputs_asked.BeingMade):
            admin_jobs.output_file_id(session, finished, "xlsx")

    wait_until(lambda: "xlsx" in stored_outputs(finished), timeout=60, what="the xlsx made on request")

    with session_scope() as session:
        made = session.scalar(select(JobOutput.file_id).where(JobOutput.job_id == finished, JobOutput.format == "xlsx"))
        assert admin_jobs.output_file_id(session, finished, "xlsx") == made
