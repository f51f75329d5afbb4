"""The operator console at /admin: sign-in, who sees what, the list pages, and the forms that change rows."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from urllib.parse import unquote_plus

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select, update
from starlette.middleware.sessions import SessionMiddleware

from console.core import jobs
from console.core.db import session_scope
from console.core.models import ApiToken, CleaningConfig, Job, User
from console.web_session import add_session_middleware
from tests.integration.factories import Account, make_account, make_raw_dataset, make_unsent_job
from tests.integration.helpers import create_config

pytestmark = pytest.mark.integration

BAD_STEPS = '[{"op": "drop_duplicates"}, {"op": "fill_missing", "strategy": "average"}]'


@pytest.fixture
def browser(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """A client of its own, so one test's admin session never leaks into another."""
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def log_in(browser: TestClient, account: Account, password: str | None = None) -> Response:
    return browser.post("/admin/login", data={"email": account.user.email, "password": password or account.password})


def csrf_token(page: Response) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
    assert match, "the form carries no CSRF token"
    return match.group(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_anonymous_admin_redirects_to_login(browser: TestClient) -> None:
    response = browser.get("/admin/")

    assert response.status_code == 302
    assert response.headers["location"].endswith("/admin/login")


def test_login_with_wrong_password_fails(browser: TestClient) -> None:
    operator = make_account("operator")

    response = log_in(browser, operator, password="not-the-password")

    assert response.status_code == 400
    assert "Invalid credentials" in response.text
    assert browser.get("/admin/job/list").status_code == 302


def test_member_cannot_log_in(browser: TestClient) -> None:
    member = make_account("member")

    response = log_in(browser, member)

    assert response.status_code == 403
    assert "operators and admins only" in response.text
    assert 'name="password"' in response.text
    assert browser.get("/admin/").status_code == 302


def test_session_cookie_is_httponly_and_samesite_lax(browser: TestClient) -> None:
    response = log_in(browser, make_account("operator"))

    assert response.status_code == 302
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("console_session=")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


def test_session_cookie_is_secure_only_in_production(settings) -> None:
    def session_options(environment: str) -> dict:
        app = FastAPI()
        add_session_middleware(app, settings.model_copy(update={"ENVIRONMENT": environment}))
        return next(m.kwargs for m in app.user_middleware if m.cls is SessionMiddleware)

    local, production = session_options("local"), session_options("production")

    assert local["https_only"] is False
    assert production["https_only"] is True
    assert production["same_site"] == "lax"


def test_operator_sees_jobs_datasets_and_configs(client: TestClient, browser: TestClient) -> None:
    operator, member = make_account("operator"), make_account()
    dataset_name = unique("sales")
    dataset_id = make_raw_dataset(member.user, b"a,b\n1,2\n", name=dataset_name, columns=["a", "b"])
    config = create_config(client, member.headers, [{"op": "drop_duplicates"}], unique("dedupe"))
    job_id = make_unsent_job(member.user, dataset_id)
    log_in(browser, operator)

    jobs_page = browser.get("/admin/job/list", params={"search": dataset_name})
    datasets_page = browser.get("/admin/dataset/list")
    configs_page = browser.get("/admin/cleaning-config/list")

    assert jobs_page.status_code == datasets_page.status_code == configs_page.status_code == 200
    assert f"/admin/job/details/{job_id}" in jobs_page.text
    assert member.user.email in jobs_page.text
    assert dataset_name in datasets_page.text and "8 bytes" in datasets_page.text
    assert config["name"] in configs_page.text


def test_list_search_keeps_only_matching_rows(browser: TestClient) -> None:
    owner = make_account()
    wanted, other = unique("orders"), unique("orders")
    wanted_id = make_raw_dataset(owner.user, b"a\n1\n", name=wanted)
    other_id = make_raw_dataset(owner.user, b"a\n1\n", name=other)
    log_in(browser, make_account("operator"))

    page = browser.get("/admin/dataset/list", params={"search": wanted})

    assert page.status_code == 200
    # The search box echoes the term, so look for the rows' own links.
    assert f"/admin/dataset/details/{wanted_id}" in page.text
    assert f"/admin/dataset/details/{other_id}" not in page.text


def test_list_sorts_by_the_chosen_column(client: TestClient, browser: TestClient) -> None:
    owner = make_account()
    tag = uuid.uuid4().hex[:10]
    for name in (f"b-{tag}", f"c-{tag}", f"a-{tag}"):
        create_config(client, owner.headers, [{"op": "drop_duplicates"}], name)
    log_in(browser, make_account("operator"))

    descending = browser.get("/admin/cleaning-config/list", params={"search": tag, "sortBy": "name", "sort": "desc"})
    ascending = browser.get("/admin/cleaning-config/list", params={"search": tag, "sortBy": "name", "sort": "asc"})

    def order(page: Response) -> list[str]:
        return re.findall(rf"\b([abc])-{tag}\b", page.text)

    assert order(descending) == ["c", "b", "a"]
    assert order(ascending) == ["a", "b", "c"]


def test_list_sort_by_unknown_column_is_400(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))

    response = browser.get("/admin/job/list", params={"sortBy": "lease", "sort": "desc"})

    assert response.status_code == 400


def test_password_and_token_hashes_never_appear(browser: TestClient) -> None:
    admin, someone = make_account("admin"), make_account("operator")
    with session_scope() as session:
        password_hash = session.scalar(select(User.password_hash).where(User.id == someone.user.id))
        token = session.scalars(select(ApiToken).where(ApiToken.user_id == someone.user.id)).one()
    log_in(browser, admin)

    pages = [
        browser.get("/admin/user/list"),
        browser.get(f"/admin/user/details/{someone.user.id}"),
        browser.get(f"/admin/user/edit/{someone.user.id}"),
        browser.get("/admin/user/create"),
        browser.get("/admin/api-token/list"),
        browser.get(f"/admin/api-token/details/{token.id}"),
    ]

    assert [page.status_code for page in pages] == [200] * len(pages)
    assert token.prefix in pages[4].text
    for page in pages:
        assert password_hash not in page.text and token.token_hash not in page.text
        assert "password_hash" not in page.text and "token_hash" not in page.text
        assert "$argon2" not in page.text


def test_operator_is_refused_the_user_and_token_views(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))

    index = browser.get("/admin/")
    refused = [
        browser.get("/admin/user/list"),
        browser.get("/admin/user/create"),
        browser.post("/admin/user/create", data={"email": unique("x") + "@example.com", "role": "admin"}),
        browser.get("/admin/api-token/list"),
    ]

    assert index.status_code == 200
    assert "/admin/job/list" in index.text
    assert "/admin/user/list" not in index.text and "/admin/api-token/list" not in index.text
    assert [response.status_code for response in refused] == [403, 403, 403, 403]


def test_admin_creates_a_user_who_can_then_log_in(app, browser: TestClient) -> None:  # type: ignore[no-untyped-def]
    log_in(browser, make_account("admin"))
    email, password = unique("new-operator") + "@example.com", "a-long-password"
    form = browser.get("/admin/user/create")

    response = browser.post(
        "/admin/user/create",
        data={"email": email, "password": password, "role": "operator", "is_active": "y",
              "csrf_token": csrf_token(form), "save": "Save"},
    )

    assert response.status_code == 302, response.text
    with session_scope() as session:
        user = session.scalars(select(User).where(User.email == email)).one()
    assert user.role == "operator"
    assert user.password_hash is not None and user.password_hash.startswith("$argon2")
    with TestClient(app, follow_redirects=False) as newcomer:
        assert newcomer.post("/admin/login", data={"email": email, "password": password}).status_code == 302
        assert newcomer.get("/admin/job/list").status_code == 200


def test_editing_a_user_with_blank_password_keeps_the_hash(browser: TestClient) -> None:
    log_in(browser, make_account("admin"))
    someone = make_account("operator")
    with session_scope() as session:
        before = session.scalar(select(User.password_hash).where(User.id == someone.user.id))
    form = browser.get(f"/admin/user/edit/{someone.user.id}")

    response = browser.post(
        f"/admin/user/edit/{someone.user.id}",
        data={"email": someone.user.email, "password": "", "role": "member", "is_active": "y",
              "csrf_token": csrf_token(form), "save": "Save"},
    )

    assert response.status_code == 302, response.text
    with session_scope() as session:
        user = session.get(User, someone.user.id)
        assert user is not None
        assert (user.role, user.password_hash) == ("member", before)


def test_admin_cannot_take_away_their_own_admin_role(browser: TestClient) -> None:
    admin = make_account("admin")
    log_in(browser, admin)
    form = browser.get(f"/admin/user/edit/{admin.user.id}")

    response = browser.post(
        f"/admin/user/edit/{admin.user.id}",
        data={"email": admin.user.email, "password": "", "role": "operator", "is_active": "y",
              "csrf_token": csrf_token(form), "save": "Save"},
    )

    assert response.status_code == 400
    assert "you cannot take away your own admin role" in response.text
    with session_scope() as session:
        assert session.scalar(select(User.role).where(User.id == admin.user.id)) == "admin"


def test_user_who_owns_data_is_not_deleted(browser: TestClient) -> None:
    owner = make_account()
    make_raw_dataset(owner.user, b"a\n1\n")
    log_in(browser, make_account("admin"))

    response = browser.delete("/admin/user/delete", params={"pks": str(owner.user.id)})

    assert response.status_code == 200
    assert "still owns 1 dataset(s)" in unquote_plus(response.text)
    with session_scope() as session:
        assert session.get(User, owner.user.id) is not None


def test_admin_deletes_a_user_with_nothing_and_their_tokens(browser: TestClient) -> None:
    leaving = make_account("operator")
    log_in(browser, make_account("admin"))

    response = browser.delete("/admin/user/delete", params={"pks": str(leaving.user.id)})

    assert response.status_code == 200 and "error=" not in response.text
    with session_scope() as session:
        assert session.get(User, leaving.user.id) is None
        assert session.scalar(select(ApiToken.id).where(ApiToken.user_id == leaving.user.id)) is None


def test_form_post_without_csrf_token_is_refused(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))
    name = unique("no-token")

    response = browser.post(
        "/admin/cleaning-config/create", data={"name": name, "steps": "[]", "save": "Save"}
    )

    assert response.status_code == 403
    with session_scope() as session:
        assert session.scalar(select(CleaningConfig.id).where(CleaningConfig.name == name)) is None


def test_config_created_in_admin_belongs_to_the_operator(browser: TestClient) -> None:
    operator = make_account("operator")
    log_in(browser, operator)
    name = unique("trim")
    form = browser.get("/admin/cleaning-config/create")

    response = browser.post(
        "/admin/cleaning-config/create",
        data={"name": f"  {name} ", "description": "", "steps": '[{"op": "trim_whitespace"}]',
              "csrf_token": csrf_token(form), "save": "Save"},
    )

    assert response.status_code == 302, response.text
    with session_scope() as session:
        config = session.scalars(select(CleaningConfig).where(CleaningConfig.name == name)).one()
    assert (config.owner_id, config.version) == (operator.user.id, 1)
    assert config.steps[0]["op"] == "trim_whitespace"


def test_config_with_bad_step_shows_the_error_and_stores_nothing(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))
    name = unique("bad")
    form = browser.get("/admin/cleaning-config/create")

    response = browser.post(
        "/admin/cleaning-config/create",
        data={"name": name, "description": "", "steps": BAD_STEPS, "csrf_token": csrf_token(form), "save": "Save"},
    )

    assert response.status_code == 400
    assert "step 2 (fill_missing): strategy:" in html.unescape(response.text)
    with session_scope() as session:
        assert session.scalar(select(CleaningConfig.id).where(CleaningConfig.name == name)) is None


def test_editing_a_config_bumps_its_version(client: TestClient, browser: TestClient) -> None:
    owner = make_account()
    config = create_config(client, owner.headers, [{"op": "drop_duplicates"}], unique("versioned"))
    log_in(browser, make_account("operator"))
    form = browser.get(f"/admin/cleaning-config/edit/{config['id']}")

    response = browser.post(
        f"/admin/cleaning-config/edit/{config['id']}",
        data={"name": config["name"], "description": "now trims too",
              "steps": '[{"op": "drop_duplicates"}, {"op": "trim_whitespace"}]',
              "csrf_token": csrf_token(form), "save": "Save"},
    )

    assert response.status_code == 302, response.text
    with session_scope() as session:
        stored = session.get(CleaningConfig, config["id"])
        assert stored is not None
        assert (stored.version, stored.description, stored.owner_id) == (2, "now trims too", owner.user.id)
        assert [step["op"] for step in stored.steps] == ["drop_duplicates", "trim_whitespace"]


def test_jobs_are_read_only(browser: TestClient) -> None:
    owner = make_account()
    job_id = make_unsent_job(owner.user, make_raw_dataset(owner.user, b"a\n1\n"))
    log_in(browser, make_account("admin"))

    listing = browser.get("/admin/job/list")
    refused = [browser.get("/admin/job/create"), browser.get(f"/admin/job/edit/{job_id}")]
    deleted = browser.delete("/admin/job/delete", params={"pks": str(job_id)})

    assert listing.status_code == 200 and "/admin/job/edit/" not in listing.text
    assert [response.status_code for response in refused] == [403, 403]
    assert deleted.status_code == 403
    with session_scope() as session:
        assert session.get(Job, job_id) is not None


def test_job_details_show_traceback_events_and_escaped_preview(browser: TestClient) -> None:
    owner = make_account()
    job_id = make_unsent_job(owner.user, make_raw_dataset(owner.user, b"a\n1\n"))
    with session_scope() as session:
        jobs.record_event(session=session, job_id=job_id, message="picked up by the test")
        session.execute(
            update(Job).where(Job.id == job_id).values(
                error_message="it broke",
                error_traceback="Traceback (most recent call last):\n  boom",
                report={"rows_in": 1, "rows_out": 1, "steps": []},
                preview={"columns": ["<b>name</b>"], "rows": [["<script>alert(1)</script>"]]},
            )
        )
    log_in(browser, make_account("operator"))

    page = browser.get(f"/admin/job/details/{job_id}")

    assert page.status_code == 200
    assert "Traceback (most recent call last):" in page.text
    assert "picked up by the test" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert(1)" not in page.text
    assert "1 rows in → 1 rows out" in page.text


def test_deactivated_user_is_signed_out_at_the_next_request(browser: TestClient) -> None:
    operator = make_account("operator")
    log_in(browser, operator)
    assert browser.get("/admin/job/list").status_code == 200
    with session_scope() as session:
        session.execute(update(User).where(User.id == operator.user.id).values(is_active=False))

    response = browser.get("/admin/job/list")

    assert response.status_code == 302
    assert response.headers["location"].endswith("/admin/login")


def test_logout_ends_the_session(browser: TestClient) -> None:
    log_in(browser, make_account("operator"))

    response = browser.get("/admin/logout")

    assert response.status_code == 302
    assert browser.get("/admin/job/list").status_code == 302
