"""xlsx made on request (XLSX_ON_REQUEST): a job stores CSV and Parquet only, and a `make_output`
task, sent by name as the web sends it, makes the xlsx from the stored Parquet: the same sheet the
job would have written, stored with the job once, the report's note saying what was written.
Every download path (API, workspace, admin) offers it, asks for it, answers 202 "being made"
and then serves it.

Real PostgreSQL, Redis and worker processes (faultkit: a schema and a queue of each test's own);
the failure and busy cases call worker.on_request.make_output in this process.
"""

from __future__ import annotations

import io
import uuid
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
from tests.integration.test_outputs import DATA  # the job these tests run: formula-looking cells, zips, dates
from tests.integration.faultkit import (
    Worker,
    events,
    job_row,
    private,  # noqa: F401  (fixture)
    queue_task_ids,
    spawn,  # noqa: F401  (fixture)
    store_dataset,
    submit,
    tuned,
    wait_final,
    wait_until,
)
from worker import on_request as making
from worker import outputs
from worker.cleaning import engine, reading
from worker.cleaning.config import validate_config

pytestmark = pytest.mark.integration

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


def test_the_job_stores_csv_and_parquet_and_names_xlsx_on_request(finished: int) -> None:
    row = job_row(finished)

    assert sorted(stored_outputs(finished)) == ["csv", "parquet"]
    assert row.report["on_request"] == ["xlsx"]
    assert row.report["outputs"] == {"csv": "written", "parquet": "written", "xlsx": outputs.ON_REQUEST_NOTE}


def test_make_output_task_makes_the_same_xlsx_the_job_would_have_written(finished: int, tmp_path: Path) -> None:
    expected, note = eager_xlsx(tmp_path)

    queue.send(queue.MAKE_OUTPUT, args=[finished, "xlsx"])
    wait_until(lambda: "xlsx" in stored_outputs(finished), timeout=60, what="the xlsx made on request")

    made = stored_outputs(finished)
    row = job_row(finished)
    assert parts(made["xlsx"]) == expected
    assert sorted(made) == ["csv", "parquet", "xlsx"]
    assert "on_request" not in row.report
    assert row.report["outputs"]["xlsx"] == note == "written; 2 formula-looking cells were prefixed with '"
    assert any(line.startswith("xlsx made on request in ") for line in events(finished)), events(finished)


def test_a_second_request_makes_nothing_more(finished: int, on_request: Settings) -> None:
    assert making.make_output(finished, "xlsx", settings=on_request) == making.MADE
    first = stored_outputs(finished)["xlsx"]

    again = [making.make_output(finished, "xlsx", settings=on_request) for _ in range(2)]

    assert again == [making.NOTHING_TO_MAKE] * 2
    assert stored_outputs(finished)["xlsx"] == first
    with session_scope() as session:
        assert len(session.scalars(select(JobOutput).where(JobOutput.job_id == finished)).all()) == 3


def test_a_format_not_on_request_is_not_made(finished: int, on_request: Settings) -> None:
    assert making.make_output(finished, "parquet", settings=on_request) == making.NOTHING_TO_MAKE
    assert making.make_output(finished + 10_000, "xlsx", settings=on_request) == making.NOTHING_TO_MAKE


def test_while_another_process_makes_it_the_request_answers_busy_and_changes_nothing(
    finished: int, on_request: Settings
) -> None:
    url = make_url(on_request.DATABASE_URL or "").set(drivername="postgresql").render_as_string(hide_password=False)
    other = psycopg2.connect(url)
    try:
        with other.cursor() as cursor:  # what another make_output holds while it works
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (making._MAKING, finished))
            assert making.make_output(finished, "xlsx", settings=on_request) == making.BUSY
    finally:
        other.rollback()
        other.close()

    assert sorted(stored_outputs(finished)) == ["csv", "parquet"]
    assert job_row(finished).report["on_request"] == ["xlsx"]
    assert making.make_output(finished, "xlsx", settings=on_request) == making.MADE


def test_a_failing_making_is_tried_again_then_says_why_and_is_no_longer_on_request(
    finished: int, on_request: Settings
) -> None:
    with session_scope() as session:  # the job's Parquet replaced by bytes that are not Parquet
        (bad,) = storage.store_small(session=session, files=[("bad.parquet", "application/octet-stream", b"not parquet")])
        session.execute(
            update(JobOutput).where(JobOutput.job_id == finished, JobOutput.format == "parquet").values(file_id=bad)
        )

    outcomes = []
    for _ in range(making.MAKE_ATTEMPTS - 1):
        outcomes.append(making.make_output(finished, "xlsx", settings=on_request))
        assert job_row(finished).report["on_request"] == ["xlsx"]  # may pass: the next download asks again
    assert events(finished)[-1].startswith(f"xlsx making it on request failed ({making.MAKE_ATTEMPTS - 1} of ")
    outcomes.append(making.make_output(finished, "xlsx", settings=on_request))

    row = job_row(finished)
    assert outcomes == [making.MAKING_FAILED] * making.MAKE_ATTEMPTS
    assert sorted(stored_outputs(finished)) == ["csv", "parquet"]
    assert "on_request" not in row.report
    last = f"not written: making it on request failed {making.MAKE_ATTEMPTS} times, last: "
    assert row.report["outputs"]["xlsx"].startswith(last)
    assert row.status == "succeeded"
    assert events(finished)[-1] == row.report["outputs"]["xlsx"]
    assert making.make_output(finished, "xlsx", settings=on_request) == making.NOTHING_TO_MAKE


def test_many_downloads_send_one_request_to_make_it(private: Settings, client: TestClient) -> None:  # noqa: F811
    # No worker takes this test's queue: what the downloads sent stays there to be counted.
    owner = make_account()
    dataset = store_dataset(owner.user, DATA, "people.csv")
    with session_scope() as session:
        (csv_id,) = storage.store_small(session=session, files=[("out.csv", "text/csv", b"a\n1\n")])
        job = Job(owner_id=owner.user.id, dataset_id=dataset, steps=STEPS, task_id=uuid.uuid4().hex, status="succeeded")
        job.output_file_id = csv_id
        job.report = {"on_request": ["xlsx"], "outputs": {"xlsx": outputs.ON_REQUEST_NOTE}}
        session.add(job)
        session.flush()
        job_id = job.id

    answers = [client.get(f"/api/jobs/{job_id}/output?format=xlsx", headers=owner.headers).status_code for _ in range(5)]

    assert answers == [202] * 5
    assert len(queue_task_ids(private.REDIS_URL or "", private.CELERY_QUEUE)) == 1


def test_xlsx_from_parquet_is_the_xlsx_of_the_frame(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "text": pd.array(["=1+1", "plain", None], dtype="string"),
            "whole": pd.array([1, None, 2**60], dtype="Int64"),
            "real": [1.5, float("nan"), -2.0],
            "flag": pd.array([True, None, False], dtype="boolean"),
            "when": pd.to_datetime(["2024-01-31 10:00", None, "2023-12-01 00:00"]),
        }
    )
    direct = outputs.write_xlsx(frame, tmp_path / "direct.xlsx")
    frame.to_parquet(tmp_path / "result.parquet", index=False, engine="pyarrow")

    note = outputs.xlsx_from_parquet(tmp_path / "result.parquet", tmp_path / "again.xlsx")

    assert note == direct
    assert parts((tmp_path / "again.xlsx").read_bytes()) == parts((tmp_path / "direct.xlsx").read_bytes())
