"""The REST API's contract: auth, ownership, validation and errors, with the real database and worker."""

from __future__ import annotations

import gzip

import pytest

from tests.integration.factories import make_account, make_raw_dataset, make_unsent_job
from tests.integration.helpers import create_config, submit, upload, wait_for_job, wait_for_profile

pytestmark = pytest.mark.integration

SMALL = b"a,b\n1,x\n2,\n2,\n"


def test_request_without_token_is_401(client) -> None:
    response = client.get("/api/jobs")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "bearer token" in response.json()["detail"]


def test_request_with_unknown_token_is_401(client) -> None:
    response = client.get("/api/datasets", headers={"Authorization": "Bearer doc_not-a-real-token"})

    assert response.status_code == 401
    assert response.json() == {"detail": "the API token is not valid"}


def test_job_of_other_member_is_404(client, worker) -> None:
    owner, other = make_account(), make_account()
    dataset = upload(client, owner.headers, SMALL)
    config = create_config(client, owner.headers, [{"op": "drop_duplicates"}], "mine")
    job = submit(client, owner.headers, dataset["id"], config["id"])

    for path in (f"/api/jobs/{job['id']}", f"/api/jobs/{job['id']}/output", f"/api/datasets/{dataset['id']}", f"/api/configs/{config['id']}"):
        response = client.get(path, headers=other.headers)
        assert response.status_code == 404, path
        assert "not found" in response.json()["detail"]
    assert job["id"] not in [item["id"] for item in client.get("/api/jobs", headers=other.headers).json()]


def test_operator_sees_members_jobs(client, worker) -> None:
    member, operator = make_account(), make_account("operator")
    dataset = upload(client, member.headers, SMALL)

    response = client.get(f"/api/datasets/{dataset['id']}", headers=operator.headers)

    assert response.status_code == 200
    assert response.json()["owner_id"] == member.user.id


def test_config_with_bad_step_is_422_naming_the_step(client) -> None:
    account = make_account()
    steps = [{"op": "drop_duplicates"}, {"op": "fill_missing", "strategy": "average"}]

    response = client.post("/api/configs", headers=account.headers, json={"name": "bad", "steps": steps})

    assert response.status_code == 422
    problems = response.json()["detail"]
    assert problems[0]["step"] == 2
    assert problems[0]["field"] == "strategy"
    assert problems[0]["msg"].startswith("step 2 (fill_missing): strategy:")


def test_config_with_unknown_op_is_422(client) -> None:
    account = make_account()

    response = client.post("/api/configs", headers=account.headers, json={"name": "x", "steps": [{"op": "explode"}]})

    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"].startswith("step 1")


def test_config_update_raises_version_and_keeps_name_unique(client) -> None:
    account = make_account()
    first = create_config(client, account.headers, [{"op": "drop_duplicates"}], "one")
    create_config(client, account.headers, [{"op": "drop_duplicates"}], "two")

    updated = client.put(f"/api/configs/{first['id']}", headers=account.headers, json={"steps": [{"op": "drop_duplicates", "keep": "last"}]})
    clash = client.put(f"/api/configs/{first['id']}", headers=account.headers, json={"name": "two"})

    assert updated.status_code == 200
    assert updated.json()["version"] == 2
    assert updated.json()["steps"][0]["keep"] == "last"
    assert clash.status_code == 409


def test_config_delete_then_404(client) -> None:
    account = make_account()
    config = create_config(client, account.headers, [{"op": "drop_duplicates"}], "gone")

    deleted = client.delete(f"/api/configs/{config['id']}", headers=account.headers)

    assert deleted.status_code == 204
    assert client.get(f"/api/configs/{config['id']}", headers=account.headers).status_code == 404


def test_job_naming_missing_column_is_422_at_submit(client) -> None:
    account = make_account()
    dataset = upload(client, account.headers, SMALL)
    config = create_config(client, account.headers, [{"op": "drop_duplicates", "subset": ["nope"]}], "missing col")

    response = client.post("/api/jobs", headers=account.headers, json={"dataset_id": dataset["id"], "config_id": config["id"]})

    assert response.status_code == 422
    assert "nope" in response.json()["detail"][0]["msg"]


def test_job_on_a_file_that_is_not_a_csv_fails_readably_and_the_worker_goes_on(client, worker) -> None:
    account = make_account()
    bad = make_raw_dataset(account.user, gzip.compress(b"a,b\n1,2\n" * 100), "archive.csv")
    good = upload(client, account.headers, SMALL)
    config = create_config(client, account.headers, [{"op": "drop_duplicates"}], "dedup")

    failed = wait_for_job(client, account.headers, submit(client, account.headers, bad, config["id"])["id"])
    succeeded = wait_for_job(client, account.headers, submit(client, account.headers, good["id"], config["id"])["id"])

    assert failed["status"] == "failed"
    assert "gzip" in failed["error"]["message"]
    assert "Traceback" not in failed["error"]["message"]
    assert succeeded["status"] == "succeeded"
    assert succeeded["rows_out"] == 2


def test_upload_empty_file_is_422(client) -> None:
    account = make_account()

    response = client.post("/api/datasets", headers=account.headers, files={"file": ("empty.csv", b"", "text/csv")})

    assert response.status_code == 422
    assert "empty" in response.json()["detail"]


def test_upload_binary_file_is_422(client) -> None:
    account = make_account()

    response = client.post("/api/datasets", headers=account.headers, files={"file": ("x.csv", gzip.compress(b"a,b\n"), "text/csv")})

    assert response.status_code == 422
    assert "not a CSV" in response.json()["detail"]


def test_upload_over_the_limit_is_413_and_stores_nothing(client, settings) -> None:
    account = make_account()
    big = b"a,b\n" + b"1,2\n" * (settings.MAX_UPLOAD_BYTES // 4 + 10)

    response = client.post("/api/datasets", headers=account.headers, files={"file": ("big.csv", big, "text/csv")})

    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert client.get("/api/datasets", headers=account.headers).json() == []


def test_upload_is_profiled_by_the_worker(client, worker) -> None:
    account = make_account()
    dataset = upload(client, account.headers, b"id,score,name\n1,2.5,x\n2,,y\n3,4.0,\n")

    profiled = wait_for_profile(client, account.headers, dataset["id"])

    assert profiled["profile_status"] == "ready"
    assert profiled["row_count"] == 3
    assert [(c["name"], c["type"]) for c in profiled["columns"]] == [("id", "integer"), ("score", "float"), ("name", "text")]
    assert profiled["profile"]["score"]["missing"] == 1


def test_dataset_preview_returns_first_rows(client) -> None:
    account = make_account()
    dataset = upload(client, account.headers, "name,city\n\"Zoë\",\"Köln\nNord\"\nAl,\n".encode())

    response = client.get(f"/api/datasets/{dataset['id']}/preview?limit=5", headers=account.headers)

    assert response.status_code == 200
    assert response.json() == {"columns": ["name", "city"], "rows": [["Zoë", "Köln\nNord"], ["Al", None]]}


def test_preview_limit_out_of_range_is_422(client) -> None:
    account = make_account()
    dataset = upload(client, account.headers, SMALL)

    response = client.get(f"/api/datasets/{dataset['id']}/preview?limit=0", headers=account.headers)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_id_out_of_range_is_422_not_500(client) -> None:
    account = make_account()

    response = client.get("/api/jobs/99999999999", headers=account.headers)

    assert response.status_code == 422


def test_list_jobs_filters_by_status(client, worker) -> None:
    account = make_account()
    dataset = upload(client, account.headers, SMALL)
    config = create_config(client, account.headers, [{"op": "drop_duplicates"}], "dedup")
    job = wait_for_job(client, account.headers, submit(client, account.headers, dataset["id"], config["id"])["id"])

    succeeded = client.get("/api/jobs?status=succeeded", headers=account.headers).json()
    failed = client.get("/api/jobs?status=failed", headers=account.headers).json()
    bad = client.get("/api/jobs?status=done", headers=account.headers)

    assert [item["id"] for item in succeeded] == [job["id"]]
    assert failed == []
    assert bad.status_code == 422


def test_output_of_unfinished_job_is_409(client) -> None:
    account = make_account()
    dataset = upload(client, account.headers, SMALL)
    job_id = make_unsent_job(account.user, dataset["id"])

    response = client.get(f"/api/jobs/{job_id}/output", headers=account.headers)

    assert response.status_code == 409
    assert "only a succeeded job has an output" in response.json()["detail"]


def test_healthz(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = client.get("/healthz/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_original_file_downloads_byte_for_byte(client) -> None:
    account = make_account()
    content = "name,city\nZoë,Köln\n".encode("latin-1")
    dataset = upload(client, account.headers, content, "Städte.csv")

    response = client.get(f"/api/datasets/{dataset['id']}/file", headers=account.headers)

    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-disposition"] == 'attachment; filename="St_dte.csv"'


def test_body_over_the_limit_gets_a_page_in_a_browser_and_json_from_the_api(client, settings) -> None:
    too_big = {"content-length": str(settings.MAX_UPLOAD_BYTES * 2)}

    page = client.post("/datasets", content=b"x", headers={**too_big, "accept": "text/html"})
    api = client.post("/api/datasets", content=b"x", headers=too_big)

    assert page.status_code == api.status_code == 413
    assert page.headers["content-type"].startswith("text/html")
    assert "upload limit" in page.text
    assert "upload limit" in api.json()["detail"]


# ---- the token cache and the lean job status (issue 7) ----------------------------------------


@pytest.fixture
def cache_clock(monkeypatch):  # type: ignore[no-untyped-def]
    """The token cache's clock, moved by hand: `cache_clock["now"] += seconds`."""
    from console.core.users import token_cache

    clock = {"now": 1_000_000.0}
    monkeypatch.setattr(token_cache, "clock", lambda: clock["now"])
    token_cache.clear()
    yield clock
    token_cache.clear()


def _job_of(account) -> int:  # type: ignore[no-untyped-def]
    dataset_id = make_raw_dataset(account.user, b"a,b\n1,x\n", columns=["a", "b"])
    return make_unsent_job(account.user, dataset_id, [{"op": "drop_duplicates", "keep": "first", "subset": None}])


def test_token_revoked_elsewhere_is_refused_once_the_cache_expires(client, cache_clock) -> None:
    """Another web process revoking a token (here: the row, directly) takes effect within TOKEN_CACHE_SECONDS."""
    from sqlalchemy import func, update

    from console.core.db import session_scope
    from console.core.models import ApiToken
    from console.core.users import TOKEN_CACHE_SECONDS

    account = make_account()
    job_id = _job_of(account)
    assert client.get(f"/api/jobs/{job_id}", headers=account.headers).status_code == 200
    with session_scope() as session:
        session.execute(update(ApiToken).where(ApiToken.user_id == account.user.id).values(revoked_at=func.now()))

    cached = client.get(f"/api/jobs/{job_id}", headers=account.headers)
    cache_clock["now"] += TOKEN_CACHE_SECONDS
    expired = client.get(f"/api/jobs/{job_id}", headers=account.headers)

    assert cached.status_code == 200  # documented: up to TOKEN_CACHE_SECONDS after the revocation
    assert expired.status_code == 401
    assert expired.json() == {"detail": "the API token is not valid"}


def test_token_revoked_in_this_process_is_refused_at_once(client, cache_clock) -> None:
    from console.core.db import session_scope
    from console.core.models import ApiToken
    from console.core.users import revoke_token

    account = make_account()
    job_id = _job_of(account)
    assert client.get(f"/api/jobs/{job_id}", headers=account.headers).status_code == 200
    with session_scope() as session:
        token = session.query(ApiToken).filter_by(user_id=account.user.id).one()
        revoke_token(session=session, token_id=token.id, user=token.user)

    assert client.get(f"/api/jobs/{job_id}", headers=account.headers).status_code == 401
    assert client.post("/api/jobs", headers=account.headers, json={"dataset_id": 1, "config_id": 1}).status_code == 401


def test_last_used_at_is_written_at_most_once_a_minute(client, cache_clock) -> None:
    from datetime import timedelta

    from sqlalchemy import select, update

    from console.core.db import session_scope
    from console.core.models import ApiToken
    from console.core.users import LAST_USED_EVERY_SECONDS, token_cache

    def last_used():  # type: ignore[no-untyped-def]
        with session_scope() as session:
            return session.scalar(select(ApiToken.last_used_at).where(ApiToken.user_id == account.user.id))

    account = make_account()
    job_id = _job_of(account)
    assert last_used() is None
    client.get(f"/api/jobs/{job_id}", headers=account.headers)
    first = last_used()
    token_cache.clear()  # a new lookup in the database, well within the minute
    client.get("/api/jobs", headers=account.headers)
    within_the_minute = last_used()
    with session_scope() as session:  # as if the first use had been longer ago
        session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == account.user.id)
            .values(last_used_at=first - timedelta(seconds=LAST_USED_EVERY_SECONDS + 1))
        )
    token_cache.clear()
    client.get(f"/api/jobs/{job_id}", headers=account.headers)

    assert first is not None
    assert within_the_minute == first
    assert last_used() > first


def test_job_status_is_byte_for_byte_the_job_schema(client) -> None:
    """GET /api/jobs/{id} reads with one Core SELECT; its body equals the ORM job through JobPublic."""
    from pydantic import TypeAdapter
    from sqlalchemy import update

    from console.api.jobs import job_public
    from console.api.schemas import JobPublic
    from console.core.db import session_scope
    from console.core.models import Job

    account = make_account()
    job_id = _job_of(account)
    with session_scope() as session:
        session.execute(
            update(Job).where(Job.id == job_id).values(
                status="failed", progress=42, rows_in=7, report={"steps": [{"op": "x", "rows": [1, 2.5, None]}], "é": "ü"},
                error_message="boom", error_traceback="Traceback ...", attempts=2,
            )
        )  # fmt: skip
    response = client.get(f"/api/jobs/{job_id}", headers=account.headers)
    with session_scope() as session:
        expected = TypeAdapter(JobPublic).dump_json(job_public(session.get_one(Job, job_id)))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == expected
    assert response.json()["error"] == {"message": "boom", "traceback": "Traceback ..."}


def test_submit_with_another_members_dataset_or_config_is_404(client) -> None:
    owner, other = make_account(), make_account()
    dataset = upload(client, owner.headers, SMALL)
    config = create_config(client, owner.headers, [{"op": "drop_duplicates"}], "owners")
    own_dataset = upload(client, other.headers, SMALL)
    own_config = create_config(client, other.headers, [{"op": "drop_duplicates"}], "others")

    theirs = client.post("/api/jobs", headers=other.headers, json={"dataset_id": dataset["id"], "config_id": own_config["id"]})
    their_config = client.post("/api/jobs", headers=other.headers, json={"dataset_id": own_dataset["id"], "config_id": config["id"]})
    missing = client.post("/api/jobs", headers=other.headers, json={"dataset_id": 2_000_000_000, "config_id": own_config["id"]})
    mine = client.post("/api/jobs", headers=other.headers, json={"dataset_id": own_dataset["id"], "config_id": own_config["id"]})

    assert (theirs.status_code, theirs.json()) == (404, {"detail": f"dataset {dataset['id']} not found"})
    assert (their_config.status_code, their_config.json()) == (404, {"detail": f"config {config['id']} not found"})
    assert (missing.status_code, missing.json()) == (404, {"detail": "dataset 2000000000 not found"})
    assert mine.status_code == 202 and mine.json()["owner_id"] == other.user.id
