"""Processing from the workspace: the Process button, the job's status, report and downloads, cancel and run again."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from console.core.db import session_scope
from console.core.models import Job, JobOutput
from tests.integration.factories import make_raw_dataset, make_unsent_job
from tests.integration.helpers import download_made
from tests.integration.test_pages import Visitor, signed_in

pytestmark = pytest.mark.integration

RISKY = b"name,formula,amount\n=HYPERLINK(\"x\"),@SUM(A1),-5\n<script>x</script>,+1+2,3\n=HYPERLINK(\"x\"),@SUM(A1),-5\n"


def _status(visitor: Visitor, job_id: int) -> dict[str, Any]:
    return visitor.http.get(f"/jobs/{job_id}/status", headers={"Accept": "application/json"}).json()


def _wait(visitor: Visitor, job_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    state = _status(visitor, job_id)
    while not state["finished"] and time.monotonic() < deadline:
        time.sleep(0.2)
        state = _status(visitor, job_id)
    return state


def _process(visitor: Visitor, dataset_id: int, config_id: int) -> int:
    response = visitor.post("/jobs", {"dataset_id": dataset_id, "config_id": config_id})
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def test_process_answers_at_once_and_the_job_page_shows_report_preview_and_downloads(app, client, worker) -> None:
    visitor, _ = signed_in(app)
    dataset_id = visitor.upload(RISKY, filename="risky.csv")
    config_id = visitor.save_config(dataset_id, [{"op": "drop_duplicates"}])

    started = time.monotonic()
    job_id = _process(visitor, dataset_id, config_id)
    answered_in = time.monotonic() - started
    state = _wait(visitor, job_id)
    page = visitor.get(f"/jobs/{job_id}").text

    assert answered_in < 5
    assert state["status"] == "succeeded" and state["progress"] == 100
    assert state["rows_in"] == 3 and state["rows_out"] == 2
    assert state["report"][0]["summary"] and state["report"][0]["summary"] in page.replace("&#39;", "'")
    assert state["downloads"][0] == {"format": "csv", "label": "CSV", "url": f"/jobs/{job_id}/download/csv"}
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page


def test_csv_download_is_the_result_with_formulas_neutralised(app, client, worker) -> None:
    visitor, _ = signed_in(app)
    dataset_id = visitor.upload(RISKY, filename="risky.csv")
    job_id = _process(visitor, dataset_id, visitor.save_config(dataset_id, [{"op": "drop_duplicates"}]))
    _wait(visitor, job_id)

    response = visitor.get(f"/jobs/{job_id}/download/csv")
    rows = list(csv.reader(io.StringIO(response.text)))

    assert visitor.get(f"/jobs/{job_id}/download/exe").status_code == 404
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="job-{job_id}-cleaned.csv"'
    assert rows[0] == ["name", "formula", "amount"]
    assert rows[1] == ["'=HYPERLINK(\"x\")", "'@SUM(A1)", "-5"]
    assert rows[2] == ["<script>x</script>", "'+1+2", "3"]


def test_every_format_the_worker_wrote_is_offered_and_downloads(app, client, worker) -> None:
    visitor, _ = signed_in(app)
    dataset_id = visitor.upload()
    job_id = _process(visitor, dataset_id, visitor.save_config(dataset_id, [{"op": "drop_duplicates"}]))
    state = _wait(visitor, job_id)
    with session_scope() as session:
        written = set(session.scalars(select(JobOutput.format).where(JobOutput.job_id == job_id))) | {"csv"}
    magic = {"csv": b"name,age", "parquet": b"PAR1", "xlsx": b"PK\x03\x04"}

    offered = {item["format"]: download_made(visitor.http, item["url"]) for item in state["downloads"]}

    assert set(offered) == written | {"xlsx"}  # xlsx made when first asked for
    for fmt, response in offered.items():
        assert response.status_code == 200 and response.content.startswith(magic[fmt]), fmt
        assert response.headers["content-disposition"] == f'attachment; filename="job-{job_id}-cleaned.{fmt}"'


def test_download_of_an_unfinished_job_is_409(app, client) -> None:
    visitor, account = signed_in(app)
    job_id = make_unsent_job(account.user, make_raw_dataset(account.user, b"a\n1\n", columns=["a"]))

    response = visitor.get(f"/jobs/{job_id}/download/csv")

    assert response.status_code == 409 and "only a finished, succeeded job" in response.text


def test_process_with_a_config_that_does_not_fit_shows_why_and_makes_no_job(app, client) -> None:
    visitor, account = signed_in(app)
    first = visitor.upload(b"name,age\nAda,3\n")
    other = visitor.upload(b"city\nOslo\n", filename="cities.csv")
    config_id = visitor.save_config(first, [{"op": "sort", "by": "age"}])

    response = visitor.post("/jobs", {"dataset_id": other, "config_id": config_id})

    assert response.status_code == 422
    assert "This config does not fit this dataset." in response.text
    assert "Step 1: by: no column &#39;age&#39;" in response.text
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.owner_id == account.user.id)) == 0


def test_cancel_a_waiting_job_from_the_jobs_list(app, client) -> None:
    visitor, account = signed_in(app)
    job_id = make_unsent_job(account.user, make_raw_dataset(account.user, b"a\n1\n", columns=["a"]))

    response = visitor.post(f"/jobs/{job_id}/cancel", headers={"Referer": "http://testserver/jobs"})
    listing = visitor.get("/jobs").text

    assert response.status_code == 303 and response.headers["location"] == "/jobs"
    assert _status(visitor, job_id)["status"] == "cancelled"
    assert f"Job {job_id} is cancelled." in listing


def test_cancel_of_a_finished_job_says_so(app, client) -> None:
    visitor, account = signed_in(app)
    job_id = make_unsent_job(account.user, make_raw_dataset(account.user, b"a\n1\n", columns=["a"]))
    visitor.post(f"/jobs/{job_id}/cancel")

    visitor.post(f"/jobs/{job_id}/cancel")
    page = visitor.get(f"/jobs/{job_id}").text

    assert "already cancelled; only unfinished jobs can be cancelled" in page


def test_run_again_makes_a_new_job_and_keeps_the_old_one(app, client, worker) -> None:
    visitor, _ = signed_in(app)
    dataset_id = visitor.upload()
    first = _process(visitor, dataset_id, visitor.save_config(dataset_id, [{"op": "drop_duplicates"}]))
    _wait(visitor, first)

    response = visitor.post(f"/jobs/{first}/again")
    second = int(response.headers["location"].rsplit("/", 1)[1])
    state = _wait(visitor, second)

    assert second != first and state["status"] == "succeeded"
    assert _status(visitor, first)["status"] == "succeeded"
    with session_scope() as session:
        assert session.get(Job, second).rerun_of_id == first  # type: ignore[union-attr]


def test_run_again_of_a_job_without_its_config_repeats_its_steps(app, client) -> None:
    visitor, account = signed_in(app)
    old = make_unsent_job(account.user, make_raw_dataset(account.user, b"a\n1\n", columns=["a"]), [{"op": "drop_duplicates"}])
    visitor.post(f"/jobs/{old}/cancel")

    response = visitor.post(f"/jobs/{old}/again")
    new = int(response.headers["location"].rsplit("/", 1)[1])

    with session_scope() as session:
        job = session.get(Job, new)
        assert job.retry_of_id == old and job.steps == [{"op": "drop_duplicates"}]  # type: ignore[union-attr]
    assert f"Job {new} runs job {old} again." in visitor.get(f"/jobs/{new}").text


def test_run_again_of_an_unfinished_job_is_refused_with_the_reason(app, client) -> None:
    visitor, account = signed_in(app)
    job_id = make_unsent_job(account.user, make_raw_dataset(account.user, b"a\n1\n", columns=["a"]))

    response = visitor.post(f"/jobs/{job_id}/again")
    page = visitor.get(response.headers["location"]).text

    assert response.headers["location"] == f"/jobs/{job_id}"
    assert f"Could not run job {job_id} again:" in page


def test_jobs_list_shows_status_and_timings(app, client, worker) -> None:
    visitor, _ = signed_in(app)
    dataset_id = visitor.upload()
    job_id = _process(visitor, dataset_id, visitor.save_config(dataset_id, [{"op": "drop_duplicates"}]))
    _wait(visitor, job_id)

    listing = visitor.get("/jobs").text

    row = listing.split(f'href="/jobs/{job_id}"', 1)[1].split("</tr>", 1)[0]
    assert '<span class="badge status-succeeded">succeeded</span>' in row
    assert " s</td>" in row and "2 → 2" in row and "Run again" in row
