"""An operator's day in a real Chromium against a real uvicorn and a real worker: upload, configure, run, watch,
cancel, bulk re-run; screenshots of each main page go to tests/artifacts/."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshot
from tests.integration.admin_support import make_job, unique
from tests.integration.factories import Account, make_account
from tests.integration.helpers import create_config, submit, upload
from tests.integration.test_actions import long_csv, long_steps

pytestmark = pytest.mark.browser

STEPS = [
    {"op": "trim_whitespace"},
    {"op": "drop_duplicates"},
    {"op": "fill_missing", "columns": ["age"], "strategy": "median"},
]
PEOPLE = b"name,age,city\n Ada ,36,London\nGrace,,New York\n Ada ,36,London\nLinus,28,Helsinki\n"


def sign_in(page: Page, account: Account) -> None:
    page.goto("/admin/login")
    page.fill("input[name=email]", account.user.email)
    page.fill("input[name=password]", account.password)
    page.click("button[type=submit]")
    expect(page.locator("#fleet-health")).to_be_visible()


def choose(page: Page, select: str, text: str) -> None:
    """Pick the option of `select` whose label contains `text`."""
    value = page.locator(f"{select} option", has_text=text).first.get_attribute("value")
    assert value is not None
    page.select_option(select, value=value)


def test_operator_uploads_configures_runs_and_sees_the_result(page: Page, worker) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, make_account("operator"))
    screenshot(page, "operator-dashboard")

    page.goto("/admin/dataset/list")
    page.click("#upload-dataset")
    name = unique("people")
    page.set_input_files("#file", files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": PEOPLE}])
    page.fill("#name", name)
    page.click("#upload-submit")
    expect(page.locator("#dataset-preview table")).to_contain_text("Grace")
    expect(page.locator("#profile-status")).to_have_text("ready", timeout=30_000)
    expect(page.locator("#dataset-columns")).to_contain_text("integer")
    screenshot(page, "operator-dataset")

    page.goto("/admin/cleaning-config/create")
    config_name = unique("tidy")
    page.fill("#name", config_name)
    page.fill("#steps", json.dumps(STEPS, indent=2))
    choose(page, "#preview-dataset", name)
    expect(page.locator(".preview-after")).to_be_visible()
    expect(page.locator("#preview-tables")).to_contain_text("Linus")
    screenshot(page, "operator-config-editor")
    page.click("input[type=submit][value=Save]")
    expect(page.locator("table")).to_contain_text("trim_whitespace")

    page.locator("tr", has_text=config_name).locator("a[href*='/details/']").first.click()
    choose(page, "#start-job select", name)
    page.click("#start-job-button")
    expect(page.locator("#job-status [data-status=succeeded]")).to_be_visible(timeout=60_000)
    expect(page.locator("#job-preview table")).to_contain_text("Linus")
    expect(page.locator("#job-report")).to_contain_text("drop_duplicates")
    expect(page.locator("#download-csv")).to_be_visible()
    screenshot(page, "operator-job")

    page.goto("/admin/job/list")
    expect(page.locator(".status-badge").first).to_be_visible()
    screenshot(page, "operator-jobs")


def test_operator_cancels_a_long_running_job(page: Page, client: TestClient, worker) -> None:  # type: ignore[no-untyped-def]
    operator = make_account("operator")
    dataset = upload(client, operator.headers, long_csv(), filename="long.csv")
    config = create_config(client, operator.headers, long_steps(), unique("long"))
    job = submit(client, operator.headers, dataset["id"], config["id"])
    sign_in(page, operator)

    page.goto(f"/admin/job/details/{job['id']}")
    expect(page.locator("#job-status [data-status=running]")).to_be_visible(timeout=60_000)
    page.click("#action-cancel")
    expect(page.locator("#bulk-summary")).to_contain_text("This will cancel 1 job")
    page.click("#bulk-confirm-button")
    expect(page.locator("#result-summary")).to_contain_text("1 done")
    page.goto(f"/admin/job/details/{job['id']}")

    expect(page.locator("#job-status [data-status=cancelled]")).to_be_visible(timeout=15_000)


def test_operator_filters_failed_jobs_and_reruns_all_of_them_after_seeing_the_count(
    page: Page, client: TestClient
) -> None:
    operator = make_account("operator")
    dataset = upload(client, operator.headers, PEOPLE, filename="people.csv")
    config = create_config(client, operator.headers, STEPS, unique("nightly"))
    failed = [
        make_job(operator.user, dataset["id"], config["id"], "failed", error_message="worker lost") for _ in range(27)
    ]
    make_job(operator.user, dataset["id"], config["id"], "succeeded")
    sign_in(page, operator)

    page.goto(f"/admin/job/list?config_id={config['id']}")
    page.click("#filter-sidebar a:text-is('failed')")
    expect(page).to_have_url(re.compile("status=failed"))
    screenshot(page, "operator-jobs-failed")
    page.click("#bulk-matching > a")
    page.click("#bulk-matching-rerun")
    expect(page.locator("#touched-count")).to_have_text("27")
    screenshot(page, "operator-bulk-confirm")
    page.click("#bulk-confirm-button")

    expect(page.locator("#result-summary")).to_contain_text("27 done")
    assert page.locator("#result-rows tr[data-outcome=done]").count() == len(failed)
    screenshot(page, "operator-bulk-result")


def test_admin_reads_the_audit_log(page: Page, client: TestClient) -> None:
    admin = make_account("admin")
    dataset = upload(client, admin.headers, PEOPLE, filename="people.csv")
    config = create_config(client, admin.headers, STEPS, unique("audit"))
    job = make_job(admin.user, dataset["id"], config["id"], "queued")
    client.post(f"/api/jobs/{job}/cancel", headers=admin.headers)
    sign_in(page, admin)

    page.goto(f"/admin/audit-entry/list?actor_id={admin.user.id}")

    expect(page.locator("table")).to_contain_text("job.cancel")
    screenshot(page, "admin-audit-log")
