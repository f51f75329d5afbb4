"""The workspace pages: signing in and out, sign-up, CSRF refusal, API tokens, and isolation between users.

Each test drives the app through its own cookie-keeping client (`Visitor`), as a browser would.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from console.core.db import session_scope
from console.core.models import ApiToken, CleaningConfig, Dataset, Job, User
from console.pages import pages_router
from tests.integration.factories import Account, make_account, make_raw_dataset, make_unsent_job

pytestmark = pytest.mark.integration

CSV = b"name,age\nAda,36\nGrace,45\n"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


class Visitor:
    """One browser: its own cookies, asks for HTML, and fills in the CSRF token of the page it last saw."""

    def __init__(self, app: Any) -> None:
        self.http = TestClient(app, headers={"Accept": "text/html"}, follow_redirects=False)

    def get(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.http.get(path, **kwargs)

    def csrf(self) -> str:
        match = CSRF_INPUT.search(self.http.get("/").text)
        assert match, "no CSRF field on the home page"
        return match.group(1)

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kwargs: Any):  # type: ignore[no-untyped-def]
        data = dict(data or {})
        if csrf:
            data["csrf_token"] = self.csrf()
        return self.http.post(path, data=data, **kwargs)

    def post_json(self, path: str, body: Any, *, csrf: bool = True):  # type: ignore[no-untyped-def]
        headers = {"Accept": "application/json", **({"X-CSRF-Token": self.csrf()} if csrf else {})}
        return self.http.post(path, json=body, headers=headers)

    def sign_in(self, account: Account) -> Visitor:
        response = self.post("/signin", {"email": account.user.email, "password": account.password})
        assert response.status_code == 303, response.text
        return self

    def upload(self, content: bytes = CSV, filename: str = "people.csv") -> int:
        response = self.post("/datasets", files={"file": (filename, content, "text/csv")})
        assert response.status_code == 303, response.text
        return int(response.headers["location"].rsplit("/", 1)[1])

    def save_config(self, dataset_id: int, steps: list[dict[str, Any]], name: str = "tidy") -> int:
        import json

        data = {"name": name, "steps_json": json.dumps(steps), "dataset_id": str(dataset_id)}
        response = self.post("/configs/new", data)
        assert response.status_code == 303, response.text
        return int(re.search(r"config=(\d+)", response.headers["location"]).group(1))  # type: ignore[union-attr]


def signed_in(app: Any, role: str = "member") -> tuple[Visitor, Account]:
    account = make_account(role)
    return Visitor(app).sign_in(account), account


# ---- signing in and out ----------------------------------------------------------------------


def test_home_signed_out_is_the_sign_in_form_with_a_csrf_token(app, client) -> None:
    response = Visitor(app).get("/")

    assert response.status_code == 200
    assert 'action="/signin"' in response.text
    assert CSRF_INPUT.search(response.text)


def test_sign_in_then_home_lists_own_things_and_sign_out_ends_it(app, client) -> None:
    visitor, account = signed_in(app)
    dataset_id = visitor.upload(filename="mine-<b>.csv")

    home = visitor.get("/")
    out = visitor.post("/signout")
    after = visitor.get("/")

    assert home.status_code == 200 and account.user.email in home.text
    assert f'href="/datasets/{dataset_id}"' in home.text and "mine-&lt;b&gt;.csv" in home.text
    assert out.status_code == 303
    assert 'action="/signin"' in after.text and account.user.email not in after.text


def test_member_opening_the_admin_stays_signed_in_to_the_workspace(app, client) -> None:
    visitor, account = signed_in(app)

    admin = visitor.get("/admin/")
    home = visitor.get("/")

    assert admin.status_code in (302, 303, 403)
    assert account.user.email in home.text and "Your workspace" in home.text


def test_sign_in_page_when_signed_in_goes_on_to_next(app, client) -> None:
    visitor, _ = signed_in(app)

    response = visitor.get("/signin?next=/tokens")

    assert response.status_code == 303 and response.headers["location"] == "/tokens"


def test_wrong_password_is_refused_and_signs_nobody_in(app, client) -> None:
    account = make_account()
    visitor = Visitor(app)

    response = visitor.post("/signin", {"email": account.user.email, "password": "not the password"})

    assert response.status_code == 401
    assert "do not match" in response.text
    assert visitor.get("/jobs").status_code == 303


def test_session_cookie_is_httponly_and_samesite_lax(app, client) -> None:
    account = make_account()

    response = Visitor(app).post("/signin", {"email": account.user.email, "password": account.password})

    cookie = response.headers["set-cookie"].lower()
    assert "console_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie


def test_page_signed_out_redirects_to_sign_in_and_back(app, client) -> None:
    account = make_account()
    visitor = Visitor(app)

    response = visitor.get("/jobs?page=1")
    signed = visitor.post("/signin", {"email": account.user.email, "password": account.password, "next": "/jobs?page=1"})

    assert response.status_code == 303 and response.headers["location"] == "/signin?next=/jobs%3Fpage%3D1"
    assert signed.headers["location"] == "/jobs?page=1"


def test_sign_in_never_redirects_off_site(app, client) -> None:
    account = make_account()

    response = Visitor(app).post("/signin", {"email": account.user.email, "password": account.password, "next": "//evil.example/x"})

    assert response.headers["location"] == "/"


def test_deactivated_user_is_signed_out_at_the_next_click(app, client) -> None:
    visitor, account = signed_in(app)
    with session_scope() as session:
        session.get(User, account.user.id).is_active = False  # type: ignore[union-attr]

    response = visitor.get("/datasets")

    assert response.status_code == 303 and response.headers["location"].startswith("/signin")


def test_status_json_signed_out_is_401_not_a_redirect(app, client) -> None:
    response = Visitor(app).http.get("/jobs/1/status", headers={"Accept": "application/json"})

    assert response.status_code == 401
    assert "sign in" in response.json()["detail"]


def test_sign_up_is_404_when_switched_off(app, client, settings) -> None:
    assert settings.ALLOW_SIGNUP is False

    visitor = Visitor(app)

    assert visitor.get("/signup").status_code == 404
    assert visitor.post("/signup", {"email": "x@example.com", "password": "long enough"}).status_code == 404
    assert 'href="/signup"' not in visitor.get("/").text


def test_sign_up_when_switched_on_makes_a_member_and_signs_in(app, client, settings, monkeypatch) -> None:
    monkeypatch.setattr(settings, "ALLOW_SIGNUP", True)
    visitor = Visitor(app)
    email = f"new-{id(visitor)}@example.com"

    short = visitor.post("/signup", {"email": email, "password": "short"})
    made = visitor.post("/signup", {"email": email, "password": "long enough pw"})

    assert short.status_code == 422 and "at least 8 characters" in short.text
    assert made.status_code == 303 and email in visitor.get("/").text
    with session_scope() as session:
        assert session.scalar(select(User.role).where(User.email == email)) == "member"


# ---- CSRF ------------------------------------------------------------------------------------


def _post_routes(router: Any = pages_router) -> list[str]:
    found: set[str] = set()
    for route in router.routes:
        inner = getattr(route, "original_router", None)  # FastAPI keeps included routers as they are
        if inner is not None:
            found.update(_post_routes(inner))
        elif "POST" in getattr(route, "methods", ()):
            found.add(route.path)
    return sorted(found)


def test_every_post_route_of_the_workspace_is_in_the_csrf_table() -> None:
    assert _post_routes() == sorted(CSRF_CASES)


CSRF_CASES = {
    "/signin": {},
    "/signout": {},
    "/signup": {},
    "/datasets": {},
    "/configs/check": {},
    "/configs/new": {"name": "x", "steps_json": "[]"},
    "/configs/{config_id}": {"name": "x", "steps_json": "[]"},
    "/configs/{config_id}/delete": {},
    "/jobs": {"dataset_id": "1"},
    "/jobs/{job_id}/cancel": {},
    "/jobs/{job_id}/again": {},
    "/tokens": {"name": "x"},
    "/tokens/{token_id}/revoke": {},
}


@pytest.mark.parametrize(
    ("route", "token"),
    [(route, None) for route in sorted(CSRF_CASES)]
    + [(route, "forged-token") for route in ("/datasets", "/jobs/{job_id}/cancel", "/tokens", "/signout")],
)
def test_post_without_the_session_csrf_token_is_403_with_a_clear_message(app, client, route, token) -> None:
    visitor, account = signed_in(app)
    dataset_id = make_raw_dataset(account.user, CSV, columns=["name", "age"])
    job_id = make_unsent_job(account.user, dataset_id)
    path = route.format(config_id=1, job_id=job_id, token_id=1)
    data = {**CSRF_CASES[route], **({"csrf_token": token} if token else {})}

    response = visitor.post(path, data, csrf=False)

    assert response.status_code == 403
    assert "expired or was sent from another site" in response.text
    with session_scope() as session:
        assert session.get(Job, job_id).status == "pending"  # type: ignore[union-attr]
        assert session.scalar(select(ApiToken.id).where(ApiToken.user_id == account.user.id, ApiToken.name == "x")) is None


def test_csrf_refusal_keeps_the_user_signed_in(app, client) -> None:
    visitor, account = signed_in(app)

    visitor.post("/signout", csrf=False)

    assert account.user.email in visitor.get("/").text


# ---- API tokens ------------------------------------------------------------------------------


def test_token_is_shown_once_stored_hashed_and_works_until_revoked(app, client) -> None:
    visitor, account = signed_in(app)

    created = visitor.post("/tokens", {"name": "laptop"})
    token = re.search(r'id="new-token">([^<]+)<', created.text).group(1)  # type: ignore[union-attr]
    listed = visitor.get("/tokens")
    works = client.get("/api/datasets", headers={"Authorization": f"Bearer {token}"})
    with session_scope() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.user_id == account.user.id, ApiToken.name == "laptop")).one()
        row_id, row_hash = row.id, row.token_hash
    revoked = visitor.post(f"/tokens/{row_id}/revoke")
    after = client.get("/api/datasets", headers={"Authorization": f"Bearer {token}"})

    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    assert token not in listed.text and token[:12] in listed.text
    assert row_hash == hashlib.sha256(token.encode()).hexdigest()
    assert works.status_code == 200
    assert revoked.status_code == 303 and after.status_code == 401


def test_revoking_another_users_token_is_404_and_leaves_it_working(app, client) -> None:
    owner, other = make_account(), make_account()
    visitor = Visitor(app).sign_in(other)
    with session_scope() as session:
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.user_id == owner.user.id))

    response = visitor.post(f"/tokens/{token_id}/revoke")

    assert response.status_code == 404
    assert client.get("/api/datasets", headers=owner.headers).status_code == 200


# ---- isolation -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["member", "admin"])
def test_another_users_things_are_404_by_every_page_and_action(app, client, role) -> None:
    owner, _ = signed_in(app)
    dataset_id = owner.upload()
    config_id = owner.save_config(dataset_id, [{"op": "drop_duplicates"}])
    with session_scope() as session:
        owner_id = session.get(Dataset, dataset_id).owner_id  # type: ignore[union-attr]
        owner_user = session.get(User, owner_id)
    job_id = make_unsent_job(owner_user, dataset_id, [{"op": "drop_duplicates"}])  # type: ignore[arg-type]
    intruder, _ = signed_in(app, role)

    pages = [f"/datasets/{dataset_id}", f"/datasets/{dataset_id}/status", f"/configs/{config_id}",
             f"/configs/new?dataset={dataset_id}", f"/jobs/{job_id}", f"/jobs/{job_id}/status", f"/jobs/{job_id}/download/csv"]
    actions = [(f"/configs/{config_id}", {"name": "stolen", "steps_json": "[]"}), (f"/configs/{config_id}/delete", {}),
               (f"/jobs/{job_id}/cancel", {}), (f"/jobs/{job_id}/again", {}),
               ("/jobs", {"dataset_id": str(dataset_id), "config_id": str(config_id)})]

    for path in pages:
        assert intruder.get(path).status_code == 404, path
    for path, data in actions:
        assert intruder.post(path, data).status_code == 404, path
    assert intruder.post_json("/configs/check", {"dataset_id": dataset_id, "steps": []}).status_code == 404
    listings = " ".join(intruder.get(path).text for path in ("/", "/datasets", "/configs", "/jobs"))
    assert f"/datasets/{dataset_id}\"" not in listings and f"/jobs/{job_id}\"" not in listings
    with session_scope() as session:
        assert session.get(CleaningConfig, config_id).name == "tidy"  # type: ignore[union-attr]
        assert session.get(Job, job_id).status == "pending"  # type: ignore[union-attr]


def test_not_found_page_is_html_and_says_so(app, client) -> None:
    visitor, _ = signed_in(app)

    response = visitor.get("/jobs/2147483647")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "job 2147483647 not found" in response.text
