"""Job actions in /admin: a GET only ever shows a confirmation page; the POST needs the CSRF token and the role;
bulk works on ticked rows or on every job matching the filter; the result says per job what happened."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from console.core import bulk
from console.core.db import session_scope
from console.core.models import User
from tests.integration.admin_support import (
    audit_entries,
    csrf_token,
    dataset_and_config,
    log_in,
    make_job,
    sign_in_to_workspace,
    status_of,
)
from tests.integration.factories import Account, make_account

pytestmark = pytest.mark.integration


@pytest.fixture
def browser(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def confirm(browser: TestClient, **params: object) -> Response:
    return browser.get("/admin/job/bulk", params=params)


def confirmed_ids(page: Response) -> str:
    match = re.search(r'name="ids" value="([^"]*)"', page.text)
    assert match, page.text[-2000:]
    return match.group(1)


def post_confirmation(browser: TestClient, page: Response, action: str) -> Response:
    """Submit the confirmation form as a browser would (all its hidden fields)."""
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', page.text))
    assert fields["action"] == action
    return browser.post("/admin/job/bulk", data={name: html.unescape(value) for name, value in fields.items()})


def test_ticked_rows_lead_to_a_confirmation_that_counts_touched_and_skipped(
    client: TestClient, browser: TestClient
) -> None:
    owner, operator = make_account(), make_account("operator")
    dataset_id, config_id = dataset_and_config(client, owner)
    queued, finished = (
        make_job(owner.user, dataset_id, config_id, "queued"),
        make_job(owner.user, dataset_id, config_id, "succeeded"),
    )
    log_in(browser, operator)

    link = browser.get("/admin/job/action/cancel", params={"pks": f"{queued},{finished}"})
    page = browser.get(link.headers["location"])

    assert link.status_code == 302 and "/admin/job/bulk?action=cancel" in link.headers["location"]
    assert page.status_code == 200
    assert 'data-touched="1" data-skipped="1"' in page.text
    assert "already succeeded; only unfinished jobs can be cancelled" in page.text
    assert confirmed_ids(page) == str(queued)
    assert (status_of(queued), status_of(finished)) == ("queued", "succeeded")
    assert audit_entries(operator.user) == []


def test_every_matching_job_means_all_pages_not_the_visible_one(client: TestClient, browser: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    failed = [make_job(owner.user, dataset_id, config_id, "failed") for _ in range(30)]
    make_job(owner.user, dataset_id, config_id, "running")
    log_in(browser, make_account("operator"))

    listing = browser.get("/admin/job/list", params={"status": "failed", "config_id": config_id})
    menu = re.search(r'id="bulk-matching-rerun"\s+href="([^"]+)"', listing.text)
    assert menu, "the list offers no bulk action on every matching job"
    page = browser.get(menu.group(1).replace("&amp;", "&"))

    assert listing.text.count('data-status="failed"') == 25  # one page of the 30
    assert 'data-touched="30" data-skipped="0"' in page.text
    assert sorted(map(int, confirmed_ids(page).split(","))) == sorted(failed)


def test_confirmed_rerun_reports_per_job_and_is_audited(client: TestClient, browser: TestClient) -> None:
    owner, operator = make_account(), make_account("operator")
    dataset_id, config_id = dataset_and_config(client, owner)
    failed = [make_job(owner.user, dataset_id, config_id, "failed") for _ in range(3)]
    log_in(browser, operator)
    page = confirm(browser, action="rerun", status="failed", config_id=config_id)

    done = post_confirmation(browser, page, "rerun")
    result = browser.get(done.headers["location"])

    assert done.status_code == 303 and "/admin/job/bulk/result/" in done.headers["location"]
    assert 'data-done="3" data-skipped="0"' in result.text
    assert all(f'data-job="{job_id}" data-outcome="done"' in result.text for job_id in failed)
    (entry,) = audit_entries(operator.user, "job.rerun")
    assert sorted(entry.target_ids) == sorted(failed)
    assert (entry.outcome["via"], entry.outcome["done"]) == ("admin", 3)
    assert "status failed" in entry.detail and "3 confirmed" in entry.detail


def test_a_job_that_changed_after_the_confirmation_is_skipped_with_the_reason(
    client: TestClient, browser: TestClient
) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "queued")
    log_in(browser, make_account("operator"))
    page = confirm(browser, action="cancel", ids=str(job_id))
    client.post(f"/api/jobs/{job_id}/cancel", headers=owner.headers)

    result = browser.get(post_confirmation(browser, page, "cancel").headers["location"])

    assert f'data-job="{job_id}" data-outcome="skipped"' in result.text
    assert "already cancelled" in result.text


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_post_without_the_sessions_csrf_token_is_refused(
    client: TestClient, browser: TestClient, token: str | None
) -> None:
    owner, operator = make_account(), make_account("operator")
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "queued")
    log_in(browser, operator)
    data = {"action": "cancel", "ids": str(job_id), **({"csrf_token": token} if token else {})}

    response = browser.post("/admin/job/bulk", data=data, headers={"Origin": "https://evil.example"})

    assert response.status_code == 403
    assert "came from another site" in response.text
    assert status_of(job_id) == "queued"
    assert audit_entries(operator.user) == []


def test_gets_never_change_a_job(client: TestClient, browser: TestClient) -> None:
    owner, operator = make_account(), make_account("operator")
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "queued")
    log_in(browser, operator)

    pages = [
        browser.get("/admin/job/action/cancel", params={"pks": str(job_id)}),
        confirm(browser, action="cancel", ids=str(job_id)),
        confirm(browser, action="cancel", status="queued"),
        browser.get(f"/admin/job/details/{job_id}"),
        browser.get("/admin/job/start"),
    ]

    assert [page.status_code for page in pages] == [302, 200, 200, 200, 405]
    assert status_of(job_id) == "queued"
    assert audit_entries(operator.user) == []


def test_cancel_from_the_job_page(client: TestClient, browser: TestClient) -> None:
    owner, operator = make_account(), make_account("operator")
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "pending")
    log_in(browser, operator)
    job_page = browser.get(f"/admin/job/details/{job_id}")
    link = re.search(r'id="action-cancel" href="([^"]+)"', job_page.text)
    assert link

    page = browser.get(link.group(1).replace("&amp;", "&"))
    result = post_confirmation(browser, page, "cancel")

    assert result.status_code == 303
    assert status_of(job_id) == "cancelled"


def test_member_signed_in_to_the_workspace_never_reaches_admin_actions(client: TestClient, browser: TestClient) -> None:
    member = make_account("member")
    dataset_id, config_id = dataset_and_config(client, member)
    job_id = make_job(member.user, dataset_id, config_id, "queued")
    sign_in_to_workspace(browser, member)
    token = csrf_token(browser.get("/", headers={"Accept": "text/html"}))  # the workspace's sign-out form

    page = confirm(browser, action="cancel", ids=str(job_id))
    post = browser.post("/admin/job/bulk", data={"csrf_token": token, "action": "cancel", "ids": str(job_id)})

    assert page.status_code == post.status_code == 403
    assert "operators and admins only" in post.text
    assert status_of(job_id) == "queued"
    assert browser.get("/").status_code == 200  # still signed in to the workspace


def test_operator_demoted_after_the_confirmation_cannot_act(client: TestClient, browser: TestClient) -> None:
    owner, operator = make_account(), make_account("operator")
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "queued")
    log_in(browser, operator)
    page = confirm(browser, action="cancel", ids=str(job_id))
    demote(operator)

    response = post_confirmation(browser, page, "cancel")

    assert response.status_code == 403
    assert status_of(job_id) == "queued"


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"action": "explode", "ids": "1"}, 400, "action: must be one of cancel, requeue, rerun"),
        ({"action": "cancel", "ids": "1,abc"}, 400, "is not a job id"),
        ({"action": "cancel", "created_after": "someday"}, 422, "created_after: must be a date"),
    ],
)
def test_bad_requests_say_why_and_are_never_a_500(browser: TestClient, params: dict, status: int, message: str) -> None:
    log_in(browser, make_account("operator"))

    response = confirm(browser, **params)

    assert response.status_code == status
    assert message in response.text


def test_too_many_matching_jobs_is_refused_with_the_count(
    client: TestClient, browser: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    for _ in range(4):
        make_job(owner.user, dataset_id, config_id, "failed")
    monkeypatch.setattr(bulk, "MAX_JOBS", 3)
    log_in(browser, make_account("operator"))

    response = confirm(browser, action="rerun", config_id=config_id)

    assert response.status_code == 422
    assert "4 jobs match" in response.text and "narrow the filter" in response.text


def test_empty_selection_says_there_is_nothing_to_do(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))

    page = confirm(browser, action="requeue", ids="")

    assert page.status_code == 200
    assert "no jobs are selected" in page.text and 'id="bulk-confirm-button"' not in page.text


def test_result_page_of_another_operator_is_not_shown(client: TestClient, browser: TestClient, app) -> None:  # type: ignore[no-untyped-def]
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "queued")
    log_in(browser, make_account("operator"))
    result_url = post_confirmation(browser, confirm(browser, action="cancel", ids=str(job_id)), "cancel").headers[
        "location"
    ]

    with TestClient(app, follow_redirects=False) as other:
        log_in(other, make_account("operator"))
        response = other.get(result_url)

    assert response.status_code == 404


def demote(account: Account) -> None:
    with session_scope() as session:
        session.execute(update(User).where(User.id == account.user.id).values(role="member"))
