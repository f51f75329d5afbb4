"""The operator console's pages: dashboard, jobs list and job page, downloads, datasets, configs, audit log, tokens."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from console.admin import dashboard
from console.admin.filters import TOP
from console.core import storage
from console.core.db import session_scope
from console.core.models import ApiToken, CleaningConfig, Dataset, JobOutput
from console.core.settings import Settings
from tests.integration.admin_support import (
    PEOPLE,
    audit_entries,
    csrf_token,
    dataset_and_config,
    job_row,
    log_in,
    make_job,
    sign_in_to_workspace,
    unique,
)
from tests.integration.factories import make_account
from tests.integration.helpers import create_config, submit, upload, wait_for_job, wait_for_profile

pytestmark = pytest.mark.integration


@pytest.fixture
def browser(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def listed_ids(page_text: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'href="[^"]*/admin/job/details/(\d+)"', page_text)]


# ---- jobs list -------------------------------------------------------------------------------


def test_job_list_shows_status_progress_duration_owner_dataset_and_config(
    client: TestClient, browser: TestClient
) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    running = make_job(owner.user, dataset_id, config_id, "running")
    failed = make_job(owner.user, dataset_id, config_id, "failed", error_message="boom: column went missing")
    log_in(browser, make_account("operator"))

    page = browser.get("/admin/job/list", params={"owner_id": owner.user.id})

    assert listed_ids(page.text)[:2] == [failed, running]  # newest first
    assert 'data-status="running"' in page.text and 'data-status="failed"' in page.text
    assert 'role="progressbar" aria-valuenow="40"' in page.text
    assert "so far" in page.text and "boom: column went missing" in page.text
    assert owner.user.email in page.text and f"#{config_id} " in page.text and " v1" in page.text


@pytest.mark.parametrize("field", ["status", "owner_id", "config_id", "created_after", "created_before", "search"])
def test_job_list_filters(client: TestClient, browser: TestClient, field: str) -> None:
    owner, other = make_account(), make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    other_dataset, other_config = dataset_and_config(client, other)
    days = (9, 4) if field == "created_after" else (4, 9)  # the wanted job is on the filter's side of the 5th
    wanted = make_job(
        owner.user, dataset_id, config_id, "failed", created_at=datetime(2021, 3, days[0], 10, tzinfo=UTC)
    )
    unwanted = make_job(
        other.user, other_dataset, other_config, "succeeded", created_at=datetime(2021, 3, days[1], 10, tzinfo=UTC)
    )
    value = {
        "status": "failed", "owner_id": owner.user.id, "config_id": config_id, "created_after": "2021-03-05",
        "created_before": "2021-03-05", "search": owner.user.email,
    }[field]  # fmt: skip
    log_in(browser, make_account("operator"))

    page = browser.get("/admin/job/list", params={field: value, "sortBy": "id", "sort": "desc"})  # this test's first

    assert page.status_code == 200
    assert wanted in listed_ids(page.text)
    assert unwanted not in listed_ids(page.text)


def test_job_list_search_finds_a_job_by_id_and_dataset_name(client: TestClient, browser: TestClient) -> None:
    owner = make_account()
    dataset = upload(client, owner.headers, PEOPLE, filename=f"{unique('ledger')}.csv")
    config = create_config(client, owner.headers, [{"op": "drop_duplicates"}], unique("c"))
    job_id = make_job(owner.user, dataset["id"], config["id"], "queued")
    log_in(browser, make_account("operator"))

    by_name = browser.get("/admin/job/list", params={"search": dataset["name"]})
    by_id = browser.get("/admin/job/list", params={"search": str(job_id)})

    assert listed_ids(by_name.text) == [job_id]
    assert job_id in listed_ids(by_id.text)


def test_bad_filter_value_on_the_list_is_a_400(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))

    response = browser.get("/admin/job/list", params={"created_after": "the-other-day"})

    assert response.status_code == 400
    assert "must be a date" in response.text


# ---- the job page ----------------------------------------------------------------------------


def test_job_page_shows_timeline_readable_report_flower_link_and_both_ways_lineage(
    client: TestClient, browser: TestClient
) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    report = {"rows_in": 4, "rows_out": 3, "steps": [{
        "step": 1, "op": "drop_duplicates", "rows_before": 4, "rows_after": 3, "cells_changed": {},
        "details": {"removed": 1}, "summary": "removed 1 duplicate row",
    }]}  # fmt: skip
    parent = make_job(owner.user, dataset_id, config_id, "succeeded", report=report)
    child = client.post(f"/api/jobs/{parent}/requeue", headers=owner.headers).json()["id"]
    log_in(browser, make_account("operator"))

    parent_page = browser.get(f"/admin/job/details/{parent}")
    child_page = browser.get(f"/admin/job/details/{child}")

    text = parent_page.text
    assert all(label in text for label in ("Created", "Queued", "Started", "Finished"))
    assert "removed 1 duplicate row" in text and "4 → 3" in text
    assert f'href="/flower/task/{job_row(parent).task_id}"' in text
    assert f"/admin/job/details/{child}" in text and "Requeued" in text
    assert 'id="lineage-retry-of"' in child_page.text and f"/admin/job/details/{parent}" in child_page.text
    assert f"/admin/dataset/details/{dataset_id}" in text and f"/admin/cleaning-config/details/{config_id}" in text


def test_succeeded_job_downloads_as_csv_with_formula_cells_defused(
    client: TestClient, browser: TestClient, worker
) -> None:  # type: ignore[no-untyped-def]
    owner = make_account()
    content = b'name,formula,amount\nAda,=HYPERLINK("http://x"),-5\nBob,@SUM(A1),+7\nCy,-2+3,3\n'
    dataset = upload(client, owner.headers, content, filename="sheet.csv")
    config = create_config(client, owner.headers, [{"op": "trim_whitespace"}], unique("trim"))
    job = wait_for_job(client, owner.headers, submit(client, owner.headers, dataset["id"], config["id"])["id"])
    assert job["status"] == "succeeded", job
    log_in(browser, make_account("operator"))

    page = browser.get(f"/admin/job/details/{job['id']}")
    response = browser.get(f"/admin/job/{job['id']}/download", params={"format": "csv"})

    assert 'id="download-csv"' in page.text and 'id="job-preview"' in page.text
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert f'filename="job-{job["id"]}-cleaned.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["name", "formula", "amount"]
    assert [row[1] for row in rows[1:]] == ['\'=HYPERLINK("http://x")', "'@SUM(A1)", "'-2+3"]
    assert [row[2] for row in rows[1:]] == ["-5", "7", "3"]  # plain (negative) numbers stay numbers


def test_other_formats_come_from_job_outputs_and_missing_ones_say_so(client: TestClient, browser: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "succeeded")
    with session_scope() as session:
        stored = storage.store_stream(session=session, filename="out.parquet", chunks=[b"PAR1-bytes"])
        session.add(JobOutput(job_id=job_id, format="parquet", file_id=stored.id))
    unfinished = make_job(owner.user, dataset_id, config_id, "running")
    log_in(browser, make_account("operator"))

    parquet = browser.get(f"/admin/job/{job_id}/download", params={"format": "parquet"})
    xlsx = browser.get(f"/admin/job/{job_id}/download", params={"format": "xlsx"})
    running = browser.get(f"/admin/job/{unfinished}/download")
    page = browser.get(f"/admin/job/details/{job_id}")

    assert (parquet.status_code, parquet.content) == (200, b"PAR1-bytes")
    assert xlsx.status_code == 404 and "has no xlsx output" in xlsx.text
    assert running.status_code == 409 and "only a succeeded job has an output" in running.text
    assert 'id="download-parquet"' in page.text


def test_an_xlsx_made_on_request_is_offered_and_shows_a_page_while_being_made(
    client: TestClient, browser: TestClient
) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    report = {"on_request": ["xlsx"], "outputs": {"csv": "written", "parquet": "written", "xlsx": "made on request"}}
    job_id = make_job(owner.user, dataset_id, config_id, "succeeded", report=report)
    log_in(browser, make_account("operator"))

    page = browser.get(f"/admin/job/details/{job_id}")
    xlsx = browser.get(f"/admin/job/{job_id}/download", params={"format": "xlsx"})

    assert 'id="download-xlsx"' in page.text
    assert xlsx.status_code == 202 and xlsx.headers["retry-after"] == "2"
    assert 'id="being-made"' in xlsx.text and 'http-equiv="refresh"' in xlsx.text


def test_start_a_job_from_a_config_and_a_dataset(client: TestClient, browser: TestClient) -> None:
    owner, operator = make_account(), make_account("operator")
    dataset_id, config_id = dataset_and_config(client, owner)
    log_in(browser, operator)
    config_page = browser.get(f"/admin/cleaning-config/details/{config_id}")

    response = browser.post(
        "/admin/job/start",
        data={"csrf_token": csrf_token(config_page), "config_id": config_id, "dataset_id": dataset_id},
    )

    assert response.status_code == 303
    job_id = int(response.headers["location"].rsplit("/", 1)[1])
    job = job_row(job_id)
    assert (job.owner_id, job.dataset_id, job.config_id) == (operator.user.id, dataset_id, config_id)
    assert job.status != "pending"  # sent (a worker may have it already)
    (entry,) = audit_entries(operator.user, "job.start")
    assert entry.target_ids == [job_id]


def test_start_with_a_config_that_does_not_fit_the_dataset_says_why(client: TestClient, browser: TestClient) -> None:
    owner = make_account()
    dataset_id, _ = dataset_and_config(client, owner)
    config = create_config(client, owner.headers, [{"op": "drop_columns", "columns": ["salary"]}], unique("misfit"))
    log_in(browser, make_account("operator"))
    page = browser.get(f"/admin/dataset/details/{dataset_id}")

    response = browser.post(
        "/admin/job/start", data={"csrf_token": csrf_token(page), "config_id": config["id"], "dataset_id": dataset_id}
    )

    assert response.status_code == 422
    assert "salary" in response.text


# ---- dashboard -------------------------------------------------------------------------------


def test_dashboard_shows_jobs_by_status_the_last_day_and_the_fleet(client: TestClient, browser: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    make_job(owner.user, dataset_id, config_id, "failed", finished_at=datetime.now(UTC))
    log_in(browser, make_account("operator"))

    page = browser.get("/admin/")

    assert page.status_code == 200
    for status in ("pending", "queued", "running", "succeeded", "failed", "cancelled"):
        assert f'?status={status}" data-status="{status}"' in page.text
    failed_today = int(re.search(r'data-figure="failed">([\d,]+)<', page.text).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert failed_today >= 1
    assert "<svg" in page.text and re.search(r"<title>\d\d:00 failed: \d+</title>", page.text)
    assert 'id="queue-depth"' in page.text and 'id="oldest-queued"' in page.text and 'id="workers-online"' in page.text


def test_queue_depth_counts_the_priority_sub_queues(settings: Settings) -> None:
    queue = f"depth-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(settings.REDIS_URL or "")
    names = [queue, f"{queue}\x06\x163", f"{queue}\x06\x166", f"{queue}\x06\x169"]
    try:
        for count, name in enumerate(names, start=1):
            client.rpush(name, *[b"{}"] * count)

        depth = dashboard.queue_depth(settings.REDIS_URL or "", queue)
    finally:
        client.delete(*names)

    assert depth is not None
    assert (depth["waiting"], depth["default"], depth["priority 9"]) == (10, 1, 4)


def test_queue_depth_is_none_when_redis_is_down() -> None:
    assert dashboard.queue_depth("redis://127.0.0.1:1/0", "console") is None


def test_workers_online_are_the_ones_consuming_the_queue(settings: Settings, worker) -> None:  # type: ignore[no-untyped-def]
    watch = dashboard.WorkerWatch(ttl=60, timeout=2.0)

    names, age = watch.current(settings.CELERY_QUEUE)
    elsewhere, _ = dashboard.WorkerWatch(timeout=1.0).current("a-queue-nobody-reads")

    assert names is not None and any(name.endswith(f"-{worker.process.pid}") for name in names)
    assert age < 5
    assert elsewhere == []


@pytest.mark.parametrize(
    ("depth", "workers", "queued", "level"),
    [
        ({"waiting": 0}, ["w1"], 0, "ok"),
        (None, ["w1"], 0, "danger"),
        ({"waiting": 3}, [], 0, "danger"),
        ({"waiting": 0}, [], 2, "danger"),
    ],
)
def test_health_verdict(depth: dict | None, workers: list[str], queued: int, level: str) -> None:
    figures = {
        "by_status": {"queued": queued}, "oldest_queued": None, "oldest_pending": None,
        "last_day": {"succeeded": 10, "failed": 0, "cancelled": 0},
    }  # fmt: skip

    assert dashboard.health(figures, depth, workers).level == level


def test_health_warns_about_an_old_queued_job_and_many_failures() -> None:
    figures = {
        "by_status": {"queued": 1}, "oldest_queued": timedelta(minutes=12), "oldest_pending": None,
        "last_day": {"succeeded": 6, "failed": 4, "cancelled": 0},
    }  # fmt: skip

    verdict = dashboard.health(figures, {"waiting": 1}, ["w1"])

    assert verdict.level == "warning"
    assert any("12 min" in problem for problem in verdict.problems)
    assert any("4 of 10 jobs failed" in problem for problem in verdict.problems)


# ---- datasets --------------------------------------------------------------------------------


def test_upload_a_csv_in_the_admin_and_see_columns_types_profile_and_rows(
    client: TestClient, browser: TestClient, worker
) -> None:  # type: ignore[no-untyped-def]
    operator = make_account("operator")
    log_in(browser, operator)
    form = browser.get("/admin/dataset/upload")
    content = b"name,age\n<script>alert(1)</script>,36\nGrace,\n"

    response = browser.post(
        "/admin/dataset/upload", data={"csrf_token": csrf_token(form), "name": unique("people")},
        files={"file": ("people.csv", content, "text/csv")},
    )  # fmt: skip
    dataset_id = int(response.headers["location"].rsplit("/", 1)[1])
    wait_for_profile(client, operator.headers, dataset_id)
    page = browser.get(f"/admin/dataset/details/{dataset_id}")

    assert response.status_code == 303
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert(1)" not in page.text
    assert '<span class="badge bg-blue-lt">integer</span>' in page.text
    assert 'id="dataset-rows">2<' in page.text and f"{len(content)} bytes" in page.text
    assert "missing" in page.text  # Grace's age, in the preview table
    (entry,) = audit_entries(operator.user, "dataset.upload")
    assert entry.target_ids == [dataset_id]


def test_upload_without_csrf_token_stores_nothing(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))
    name = unique("sneaky")

    response = browser.post(
        "/admin/dataset/upload", data={"name": name}, files={"file": ("x.csv", b"a,b\n1,2\n", "text/csv")}
    )

    assert response.status_code == 403
    with session_scope() as session:
        assert session.scalar(select(func.count()).where(Dataset.name == name)) == 0


def test_upload_of_something_that_is_not_a_csv_says_why(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))
    form = browser.get("/admin/dataset/upload")

    response = browser.post(
        "/admin/dataset/upload", data={"csrf_token": csrf_token(form)},
        files={"file": ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00binary", "text/csv")},
    )  # fmt: skip

    assert response.status_code == 422
    assert "looks like a PNG image" in response.text


def test_download_the_original_and_a_spreadsheet_safe_copy(client: TestClient, browser: TestClient) -> None:
    owner = make_account()
    content = b"a;b\n=1+1;x\n"
    dataset = upload(client, owner.headers, content, filename="semi.csv")
    log_in(browser, make_account("operator"))

    original = browser.get(f"/admin/dataset/{dataset['id']}/original")
    safe = browser.get(f"/admin/dataset/{dataset['id']}/original", params={"safe": "1"})

    assert original.content == content and 'filename="semi.csv"' in original.headers["content-disposition"]
    assert safe.text == "a,b\n'=1+1,x\n"


# ---- configs ---------------------------------------------------------------------------------


def test_live_preview_shows_rows_before_and_after_unsaved_steps(client: TestClient, browser: TestClient) -> None:
    owner = make_account()
    dataset_id, _ = dataset_and_config(client, owner)
    log_in(browser, make_account("operator"))
    token = csrf_token(browser.get("/admin/cleaning-config/create"))

    response = browser.post(
        "/admin/cleaning-config/preview",
        data={"csrf_token": token, "dataset_id": dataset_id, "steps": json.dumps([{"op": "drop_duplicates"}])},
    )

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["before"]["columns"] == ["name", "age", "city"]
    assert (len(result["before"]["rows"]), len(result["after"]["rows"])) == (4, 3)
    assert result["report"]["steps"][0]["op"] == "drop_duplicates"


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ('[{"op": "fill_missing", "strategy": "average"}]', "step 1 (fill_missing): strategy"),
        ('[{"op": "drop_columns", "columns": ["salary"]}]', "salary"),
        ("[{broken", "not valid JSON"),
    ],
)
def test_live_preview_names_what_is_wrong(client: TestClient, browser: TestClient, steps: str, message: str) -> None:
    owner = make_account()
    dataset_id, _ = dataset_and_config(client, owner)
    log_in(browser, make_account("operator"))
    token = csrf_token(browser.get("/admin/cleaning-config/create"))

    response = browser.post(
        "/admin/cleaning-config/preview", data={"csrf_token": token, "dataset_id": dataset_id, "steps": steps}
    )

    assert response.status_code == 422
    assert any(message in error for error in response.json()["errors"])


def test_live_preview_needs_the_csrf_token(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))

    response = browser.post("/admin/cleaning-config/preview", data={"dataset_id": 1, "steps": "[]"})

    assert response.status_code == 403


def test_editor_shows_the_vocabulary_and_the_preview_panel(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))

    page = browser.get("/admin/cleaning-config/create")

    assert 'id="live-preview"' in page.text and 'data-op="fill_missing"' in page.text
    assert "strategy: constant | mean | median | mode | ffill | bfill" in page.text


def test_export_then_import_makes_the_same_steps(client: TestClient, browser: TestClient) -> None:
    owner, operator = make_account(), make_account("operator")
    steps = [{"op": "trim_whitespace"}, {"op": "fill_missing", "columns": ["age"], "strategy": "median"}]
    config = create_config(client, owner.headers, steps, unique("export-me"))
    log_in(browser, operator)

    exported = browser.get(f"/admin/cleaning-config/{config['id']}/export")
    form = browser.get("/admin/cleaning-config/import-json")
    imported = browser.post(
        "/admin/cleaning-config/import-json", data={"csrf_token": csrf_token(form), "name": ""},
        files={"file": ("config.json", exported.content, "application/json")},
    )  # fmt: skip

    assert "attachment" in exported.headers["content-disposition"]
    assert exported.json()["format"] == "data-ops-console/cleaning-config@1"
    assert imported.status_code == 303, imported.text[-1500:]
    with session_scope() as session:
        copy = session.get(CleaningConfig, int(imported.headers["location"].rsplit("/", 1)[1]))
        assert copy is not None
        assert (copy.name, copy.owner_id, copy.steps) == (config["name"], operator.user.id, config["steps"])
    assert [entry.action for entry in audit_entries(operator.user)] == ["config.import"]


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"steps": [{"op": "shout"}]}', "step 1"),
        ('[{"op": "drop_duplicates"}]', "give the imported config a name"),
    ],
)
def test_import_of_a_bad_config_shows_why_and_stores_nothing(browser: TestClient, pasted: str, message: str) -> None:
    log_in(browser, make_account("operator"))
    form = browser.get("/admin/cleaning-config/import-json")
    with session_scope() as session:
        before = session.scalar(select(func.count()).select_from(CleaningConfig))

    response = browser.post("/admin/cleaning-config/import-json", data={"csrf_token": csrf_token(form), "json": pasted})

    assert response.status_code == 400
    assert message in response.text
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(CleaningConfig)) == before


def test_import_under_a_name_the_operator_already_has_is_refused(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))
    name = unique("twice")
    pasted = json.dumps({"name": name, "steps": [{"op": "drop_duplicates"}]})
    first = browser.post(
        "/admin/cleaning-config/import-json",
        data={"csrf_token": csrf_token(browser.get("/admin/cleaning-config/import-json")), "json": pasted},
    )

    second = browser.post(
        "/admin/cleaning-config/import-json",
        data={"csrf_token": csrf_token(browser.get("/admin/cleaning-config/import-json")), "json": pasted},
    )

    assert first.status_code == 303
    assert second.status_code == 400 and "already have a config named" in second.text


# ---- audit log and roles ---------------------------------------------------------------------


def test_admin_browses_and_filters_the_audit_log(client: TestClient, browser: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    owner, operator = make_account(), make_account("operator")
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "queued")
    client.post(f"/api/jobs/{job_id}/cancel", headers=operator.headers)
    client.post(f"/api/jobs/{job_id}/requeue", headers=operator.headers)
    client.post(f"/api/jobs/{job_id}/cancel", headers=operator.headers)  # refused: already cancelled
    log_in(browser, make_account("admin"))

    by_action = browser.get("/admin/audit-entry/list", params={"action": "job.cancel", "search": operator.user.email})
    by_actor = browser.get("/admin/audit-entry/list", params={"actor_id": operator.user.id})
    future = browser.get("/admin/audit-entry/list", params={"actor_id": operator.user.id, "at_from": "2999-01-01"})
    today = browser.get(
        "/admin/audit-entry/list",
        params={"actor_id": operator.user.id, "at_until": datetime.now(UTC).date().isoformat()},
    )

    assert by_action.status_code == 200
    assert operator.user.email in rows_of(by_action) and "job.requeue" not in rows_of(by_action)
    assert "job.cancel" in rows_of(by_actor) and "job.requeue" in rows_of(by_actor)
    assert "via api: 1 done" in rows_of(by_actor) and "via api: 1 skipped" in rows_of(by_actor)
    assert operator.user.email not in rows_of(future)
    assert "job.cancel" in rows_of(today)


def rows_of(page) -> str:  # type: ignore[no-untyped-def]
    """The list's table body, without the filter sidebar."""
    return page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]


def test_operators_do_not_see_the_audit_log(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))

    index = browser.get("/admin/")
    response = browser.get("/admin/audit-entry/list")

    assert response.status_code == 403
    assert "/admin/audit-entry/list" not in index.text


def test_user_changes_made_in_the_admin_are_audited_without_the_password(browser: TestClient) -> None:
    admin = make_account("admin")
    log_in(browser, admin)
    email, password = unique("auditee") + "@example.com", "a-secret-password"
    form = browser.get("/admin/user/create")

    browser.post(
        "/admin/user/create",
        data={"email": email, "password": password, "role": "operator", "is_active": "y",
              "csrf_token": csrf_token(form), "save": "Save"},
    )  # fmt: skip

    (entry,) = audit_entries(admin.user, "user.create")
    assert entry.outcome["values"]["email"] == email and entry.outcome["values"]["role"] == "operator"
    assert password not in json.dumps(entry.outcome) and "password" not in entry.outcome["fields"]


def test_admin_issues_a_token_once_and_revokes_it(client: TestClient, browser: TestClient) -> None:
    admin, holder = make_account("admin"), make_account()
    log_in(browser, admin)
    form = browser.get("/admin/api-token/issue")

    issued = browser.post(
        "/admin/api-token/issue", data={"csrf_token": csrf_token(form), "user_id": holder.user.id, "name": "nightly"}
    )
    token = re.search(r'id="issued-token" value="([^"]+)"', issued.text).group(1)  # type: ignore[union-attr]
    works = client.get("/api/jobs", headers={"Authorization": f"Bearer {token}"})
    token_id = _token_id(token)
    details = browser.get(f"/admin/api-token/details/{token_id}")
    revoked = browser.post(f"/admin/api-token/{token_id}/revoke", data={"csrf_token": csrf_token(details)})

    assert issued.headers["cache-control"] == "no-store"
    assert works.status_code == 200
    assert revoked.status_code == 303
    assert client.get("/api/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert [entry.action for entry in audit_entries(admin.user)] == ["token.issue", "token.revoke"]


def test_operator_cannot_issue_tokens(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))

    assert browser.get("/admin/api-token/issue").status_code == 403
    assert browser.post("/admin/api-token/issue", data={"user_id": 1}).status_code == 403


def _token_id(token: str) -> int:
    with session_scope() as session:
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.prefix == token[:12]))
        assert token_id is not None
        return token_id


@pytest.mark.parametrize(
    "url",
    ["/admin/", "/admin/job/list", "/admin/audit-entry/list", "/admin/user/list", "/admin/api-token/list", "/flower/"],
)
def test_member_signed_in_to_the_workspace_sees_no_admin_page(browser: TestClient, url: str) -> None:
    sign_in_to_workspace(browser, make_account("member"))

    response = browser.get(url, headers={"Accept": "text/html"})

    assert response.status_code == 403
    assert "operators and admins only" in response.text


@pytest.mark.parametrize(
    ("url", "admin_only"),
    [
        ("/admin/audit-entry/list", True),
        ("/admin/user/list", True),
        ("/admin/api-token/list", True),
        ("/admin/job/list", False),
    ],
)
def test_operators_reach_the_work_and_only_admins_the_people_and_the_log(
    browser: TestClient, app, url: str, admin_only: bool
) -> None:  # type: ignore[no-untyped-def]
    log_in(browser, make_account("operator"))
    with TestClient(app, follow_redirects=False) as admin_browser:
        log_in(admin_browser, make_account("admin"))

        as_admin = admin_browser.get(url)

    assert browser.get(url).status_code == (403 if admin_only else 200)
    assert as_admin.status_code == 200


def test_owner_and_actor_filters_list_the_most_frequent_not_everyone(client: TestClient, browser: TestClient) -> None:
    for _ in range(TOP + 3):  # more owners than a lookup list shows
        owner = make_account()
        dataset_id, config_id = dataset_and_config(client, owner)
        make_job(owner.user, dataset_id, config_id, "failed")
    log_in(browser, make_account("admin"))

    jobs = browser.get("/admin/job/list", params={"owner_id": owner.user.id})
    audit = browser.get("/admin/audit-entry/list")

    owner_links = set(re.findall(r"owner_id=(\d+)", jobs.text.split('id="filter-sidebar"')[1]))
    actor_links = set(re.findall(r"actor_id=(\d+)", audit.text.split('id="filter-sidebar"')[1]))
    assert owner.user.email in jobs.text.split('id="filter-sidebar"')[1]  # the chosen one is always listed
    assert len(owner_links) <= TOP + 1 and len(actor_links) <= TOP
