"""The workspace's upload and dataset pages: bad uploads explained, good ones previewed, file values escaped."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from console.core.db import session_scope
from console.core.models import Dataset
from tests.integration.test_pages import CSV, signed_in

pytestmark = pytest.mark.integration

HOSTILE = b'name,"<b>head</b>"\n<script>alert(1)</script>,"<img src=x onerror=alert(2)>"\n'


def _count(owner_id: int) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Dataset).where(Dataset.owner_id == owner_id)) or 0


def test_upload_by_form_post_redirects_to_a_preview_with_columns(app, client) -> None:
    visitor, _ = signed_in(app)

    response = visitor.post("/datasets", {"name": "People"}, files={"file": ("people.csv", CSV, "text/csv")})
    page = visitor.get(response.headers["location"])

    assert response.status_code == 303
    assert page.status_code == 200
    assert "<h1>People</h1>" in page.text
    assert "<td>Grace</td>" in page.text and "<td>45</td>" in page.text
    assert 'id="columns-table"' in page.text and "<td>age</td>" in page.text


def test_upload_by_script_answers_json_with_the_page_url(app, client) -> None:
    visitor, _ = signed_in(app)

    response = visitor.http.post(
        "/datasets",
        files={"file": ("people.csv", CSV, "text/csv")},
        headers={"Accept": "application/json", "X-CSRF-Token": visitor.csrf()},
    )

    assert response.status_code == 201
    assert response.json()["url"] == f"/datasets/{response.json()['id']}"


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"", 422, "empty.csv is empty."),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 422, "is not a CSV file"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 100, 422, "gzip-compressed"),
    ],
    ids=["empty", "png", "gzip"],
)
def test_bad_upload_shows_the_reason_on_the_form_and_stores_nothing(app, client, content, status, message) -> None:
    visitor, account = signed_in(app)

    response = visitor.post("/datasets", files={"file": ("empty.csv", content, "text/csv")})

    assert response.status_code == status
    assert message in response.text
    assert 'id="upload-error" role="alert" >' in response.text or 'id="upload-error" role="alert">' in response.text
    assert _count(account.user.id) == 0


def test_upload_without_a_file_asks_for_one(app, client) -> None:
    visitor, _ = signed_in(app)

    response = visitor.post("/datasets", {"name": "nothing"})

    assert response.status_code == 422
    assert "choose a CSV file to upload" in response.text


def test_upload_just_over_the_limit_is_413_with_a_readable_page(app, client, settings) -> None:
    visitor, account = signed_in(app)
    content = b"a,b\n" + b"1,2\n" * (settings.MAX_UPLOAD_BYTES // 4 + 10)

    response = visitor.post("/datasets", files={"file": ("big.csv", content, "text/csv")})

    assert response.status_code == 413
    assert "The file is too large: uploads are limited to 5.0 MB." in response.text
    assert _count(account.user.id) == 0


def test_upload_far_over_the_limit_is_refused_before_it_is_read(app, client, settings) -> None:
    visitor, account = signed_in(app)
    content = b"a\n" + b"1\n" * (settings.MAX_UPLOAD_BYTES // 2 + 100_000)

    response = visitor.http.post(
        "/datasets", files={"file": ("big.csv", content, "text/csv")},
        headers={"Accept": "application/json", "X-CSRF-Token": visitor.csrf()},
    )

    assert response.status_code == 413
    assert "upload limit" in response.json()["detail"]
    assert _count(account.user.id) == 0


def test_values_from_the_file_are_escaped_on_the_dataset_page(app, client) -> None:
    visitor, _ = signed_in(app)
    dataset_id = visitor.upload(HOSTILE, filename="<i>x.csv")

    page = visitor.get(f"/datasets/{dataset_id}").text

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert "&lt;b&gt;head&lt;/b&gt;" in page and "&lt;i&gt;x.csv" in page
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>head" not in page


def test_pages_forbid_inline_script_by_content_security_policy(app, client) -> None:
    visitor, _ = signed_in(app)

    response = visitor.get("/datasets")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "<script>" not in response.text  # scripts come only from /static files


def test_dataset_status_reports_the_profile(app, client, worker) -> None:
    import time

    visitor, _ = signed_in(app)
    dataset_id = visitor.upload()
    deadline = time.monotonic() + 60
    status = visitor.http.get(f"/datasets/{dataset_id}/status", headers={"Accept": "application/json"}).json()
    while not status["profile_ready"] and time.monotonic() < deadline:
        time.sleep(0.2)
        status = visitor.http.get(f"/datasets/{dataset_id}/status", headers={"Accept": "application/json"}).json()

    page = visitor.get(f"/datasets/{dataset_id}").text

    assert status["profile_status"] == "ready" and status["row_count"] == 2
    assert {"name": "age", "type": "integer"} in status["columns"]
    assert '<span class="type">integer</span>' in page
