"""Job actions through the REST API: every action in every state, the refusals and why, bulk by ids or by filter,
dry runs, the audit log, and a GET that never changes anything."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from console.core.db import session_scope
from console.core.models import CleaningConfig
from tests.integration.admin_support import (
    FINAL,
    UNFINISHED,
    all_statuses,
    audit_entries,
    dataset_and_config,
    job_row,
    make_job,
    status_of,
)
from tests.integration.factories import make_account
from tests.integration.helpers import create_config, submit, upload, wait_for_job

pytestmark = pytest.mark.integration

EXPECTED = {
    # (action, status) -> (HTTP status, what the answer says)
    **{("cancel", status): (202, "cancelled") for status in ("pending", "queued")},
    ("cancel", "running"): (202, "running"),
    **{("cancel", status): (409, f"already {status}; only unfinished jobs can be cancelled") for status in FINAL},
    **{("requeue", status): (409, f"still {status}; only finished jobs can be requeued") for status in UNFINISHED},
    **{("requeue", status): (202, "new job") for status in FINAL},
    **{("rerun", status): (409, f"still {status}; only finished jobs can be re-run") for status in UNFINISHED},
    **{("rerun", status): (202, "new job") for status in FINAL},
}


@pytest.mark.parametrize(("action", "status"), sorted(EXPECTED))
def test_every_action_in_every_state(client: TestClient, action: str, status: str) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, status)
    code, said = EXPECTED[(action, status)]

    response = client.post(f"/api/jobs/{job_id}/{action}", headers=owner.headers)

    assert response.status_code == code, response.text
    body = response.json()
    if code == 409:
        assert said in body["detail"]
        assert status_of(job_id) == status
    elif said == "new job":
        assert body["id"] != job_id and body["status"] != "pending"  # sent; a worker may have it already
        assert body[{"requeue": "retry_of_id", "rerun": "rerun_of_id"}[action]] == job_id
        assert body["task_id"] != job_row(job_id).task_id
        assert status_of(job_id) == status  # the old job is history
    else:
        assert (body["id"], body["status"]) == (job_id, said)
        assert job_row(job_id).cancel_requested is True


def test_requeue_runs_the_snapshot_and_rerun_the_config_as_it_is_now(client: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner, [{"op": "drop_duplicates"}])
    job_id = make_job(owner.user, dataset_id, config_id, "failed")
    client.put(f"/api/configs/{config_id}", headers=owner.headers, json={"steps": [{"op": "trim_whitespace"}]})

    requeued = client.post(f"/api/jobs/{job_id}/requeue", headers=owner.headers).json()
    rerun = client.post(f"/api/jobs/{job_id}/rerun", headers=owner.headers).json()

    assert [step["op"] for step in requeued["steps"]] == ["drop_duplicates"]
    assert [step["op"] for step in rerun["steps"]] == ["trim_whitespace"]
    assert rerun["config_version"] == 2
    assert len({requeued["task_id"], rerun["task_id"], job_row(job_id).task_id}) == 3


def test_requeued_job_records_the_config_version_of_its_snapshot(client: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner, [{"op": "drop_duplicates"}])
    job_id = make_job(owner.user, dataset_id, config_id, "failed")
    client.put(f"/api/configs/{config_id}", headers=owner.headers, json={"steps": [{"op": "trim_whitespace"}]})

    requeued = client.post(f"/api/jobs/{job_id}/requeue", headers=owner.headers).json()

    assert requeued["config_version"] == 1


def test_rerun_of_a_job_whose_config_was_deleted_is_refused_with_the_reason(client: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "succeeded")
    client.delete(f"/api/configs/{config_id}", headers=owner.headers)

    refused = client.post(f"/api/jobs/{job_id}/rerun", headers=owner.headers)
    requeued = client.post(f"/api/jobs/{job_id}/requeue", headers=owner.headers)

    assert refused.status_code == 409
    assert "config was deleted; requeue it" in refused.json()["detail"]
    assert requeued.status_code == 202


def test_rerun_when_the_config_no_longer_fits_the_dataset_names_the_step(client: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "failed")
    with session_scope() as session:
        session.execute(
            update(CleaningConfig).where(CleaningConfig.id == config_id)
            .values(steps=[{"op": "drop_columns", "columns": ["salary"]}])
        )  # fmt: skip

    response = client.post(f"/api/jobs/{job_id}/rerun", headers=owner.headers)

    assert response.status_code == 409
    assert "no longer fits its dataset" in response.json()["detail"]
    assert "salary" in response.json()["detail"]


def test_member_cannot_act_on_another_members_job(client: TestClient) -> None:
    owner, other = make_account(), make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "queued")

    responses = [
        client.post(f"/api/jobs/{job_id}/{action}", headers=other.headers) for action in ("cancel", "requeue", "rerun")
    ]
    bulk = client.post("/api/jobs/bulk", headers=other.headers, json={"action": "cancel", "ids": [job_id]})

    assert [response.status_code for response in responses] == [404, 404, 404]
    assert bulk.json()["results"][0]["outcome"] == "not_found"
    assert status_of(job_id) == "queued"


def test_operator_acts_on_any_members_job(client: TestClient) -> None:
    owner, operator = make_account(), make_account("operator")
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "queued")

    response = client.post(f"/api/jobs/{job_id}/cancel", headers=operator.headers)

    assert response.status_code == 202
    assert status_of(job_id) == "cancelled"


def test_bulk_dry_run_counts_what_would_happen_and_changes_nothing(client: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    ids = {status: make_job(owner.user, dataset_id, config_id, status) for status in all_statuses()}

    response = client.post(
        "/api/jobs/bulk", headers=owner.headers,
        json={"action": "cancel", "ids": [*ids.values(), 2_000_000_000], "dry_run": True},
    )  # fmt: skip

    assert response.status_code == 200
    body = response.json()
    assert (body["matched"], body["acted"], body["skipped"], body["not_found"]) == (7, 3, 3, 1)
    outcomes = {row["id"]: row["outcome"] for row in body["results"]}
    assert [outcomes[ids[status]] for status in all_statuses()] == ["would_do"] * 3 + ["skipped"] * 3
    assert [status_of(job_id) for job_id in ids.values()] == list(all_statuses())
    assert audit_entries(owner.user) == []


def test_bulk_by_filter_reruns_every_matching_job_not_just_a_page(client: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    failed = [make_job(owner.user, dataset_id, config_id, "failed") for _ in range(30)]
    other = make_job(owner.user, dataset_id, config_id, "succeeded")

    response = client.post(
        "/api/jobs/bulk", headers=owner.headers,
        json={"action": "rerun", "filter": {"status": "failed", "config_id": config_id}},
    )  # fmt: skip

    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["matched"], body["acted"], body["skipped"]) == (30, 30, 0)
    assert sorted(row["id"] for row in body["results"]) == sorted(failed)
    assert all(row["new_job_id"] for row in body["results"])
    assert other not in {row["id"] for row in body["results"]}


def test_bulk_filter_of_a_member_reaches_only_their_own_jobs(client: TestClient) -> None:
    owner, other = make_account(), make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    theirs = make_job(owner.user, dataset_id, config_id, "queued")
    other_dataset, other_config = dataset_and_config(client, other)
    mine = make_job(other.user, other_dataset, other_config, "queued")

    body = client.post(
        "/api/jobs/bulk", headers=other.headers, json={"action": "cancel", "filter": {"status": "queued"}}
    ).json()

    assert [row["id"] for row in body["results"]] == [mine]
    assert (status_of(mine), status_of(theirs)) == ("cancelled", "queued")


def test_bulk_reports_per_job_what_happened(client: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    queued, running, done = (make_job(owner.user, dataset_id, config_id, s) for s in ("queued", "running", "succeeded"))

    body = client.post(
        "/api/jobs/bulk", headers=owner.headers, json={"action": "cancel", "ids": [queued, running, done]}
    ).json()

    by_id = {row["id"]: row for row in body["results"]}
    assert (by_id[queued]["outcome"], by_id[queued]["detail"]) == ("done", "job is cancelled")
    assert by_id[running]["outcome"] == "done" and "stops it" in by_id[running]["detail"]
    assert (by_id[done]["outcome"], by_id[done]["detail"]) == (
        "skipped",
        "already succeeded; only unfinished jobs can be cancelled",
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"action": "cancel"}, "give either `ids` or `filter`"),
        ({"action": "cancel", "ids": [1], "filter": {"status": "failed"}}, "give either `ids` or `filter`"),
        ({"action": "explode", "ids": [1]}, "action"),
        ({"action": "cancel", "filter": {"created_after": "yesterday"}}, "created_after: must be a date"),
        ({"action": "cancel", "filter": {"status": "lost"}}, "status"),
        ({"action": "cancel", "filter": {"owner": 3}}, "owner"),
    ],
)
def test_bad_bulk_request_is_422_and_says_why(client: TestClient, body: dict, message: str) -> None:
    owner = make_account()

    response = client.post("/api/jobs/bulk", headers=owner.headers, json=body)

    assert response.status_code == 422
    assert message in str(response.json()["detail"])


def test_bulk_filter_by_creation_date(client: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    old = make_job(owner.user, dataset_id, config_id, "queued", created_at=datetime(2020, 1, 15, 12, tzinfo=UTC))
    new = make_job(owner.user, dataset_id, config_id, "queued")

    body = client.post(
        "/api/jobs/bulk", headers=owner.headers,
        json={"action": "cancel", "dry_run": True,
              "filter": {"created_after": "2020-01-15", "created_before": "2020-01-15"}},
    ).json()  # fmt: skip

    assert [row["id"] for row in body["results"]] == [old]
    assert new not in [row["id"] for row in body["results"]]


def test_every_action_leaves_an_audit_entry_with_who_what_and_outcome(client: TestClient) -> None:
    operator = make_account("operator")
    dataset_id, config_id = dataset_and_config(client, operator)
    cancelled, refused = (
        make_job(operator.user, dataset_id, config_id, "queued"),
        make_job(operator.user, dataset_id, config_id, "running"),
    )

    client.post(f"/api/jobs/{cancelled}/cancel", headers=operator.headers)
    client.post(f"/api/jobs/{refused}/rerun", headers=operator.headers)

    cancel, rerun = audit_entries(operator.user)
    assert (cancel.action, cancel.actor_email, cancel.target_ids) == ("job.cancel", operator.user.email, [cancelled])
    assert (cancel.outcome["done"], cancel.outcome["via"]) == (1, "api")
    assert (rerun.action, rerun.outcome["done"], rerun.outcome["skipped"]) == ("job.rerun", 0, 1)
    assert "still running" in rerun.outcome["results"][0]["detail"]


def test_get_on_an_action_changes_nothing(client: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    job_id = make_job(owner.user, dataset_id, config_id, "queued")

    responses = [
        client.get(f"/api/jobs/{job_id}/{action}", headers=owner.headers) for action in ("cancel", "requeue", "rerun")
    ]

    assert [response.status_code for response in responses] == [405, 405, 405]
    assert status_of(job_id) == "queued"


def test_cancelling_a_running_job_stops_it_within_seconds(client: TestClient, worker) -> None:  # type: ignore[no-untyped-def]
    owner = make_account()
    dataset = upload(client, owner.headers, long_csv(), filename="long.csv")
    config = create_config(client, owner.headers, long_steps(), "long")
    job = submit(client, owner.headers, dataset["id"], config["id"])
    wait_for_status(client, owner.headers, job["id"], "running")

    started = time.monotonic()
    response = client.post(f"/api/jobs/{job['id']}/cancel", headers=owner.headers)
    final = wait_for_job(client, owner.headers, job["id"], timeout=30)

    assert response.status_code == 202
    assert final["status"] == "cancelled"
    assert time.monotonic() - started < 10
    assert final["finished_at"] is not None


def long_csv(rows: int = 100_000) -> bytes:
    lines = ["id,name,score"] + [f"{i},name {i % 977},{(i * 7919) % 1000}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def long_steps(rounds: int = 200) -> list[dict]:
    """Steps that keep a worker busy for about 20 s on long_csv(): each round is two passes over every name."""
    steps: list[dict] = []
    for _ in range(rounds):
        steps += [
            {"op": "regex_replace", "columns": ["name"], "pattern": "(\\w+) (\\d+)", "replacement": "\\2 \\1"},
            {"op": "change_case", "columns": ["name"], "case": "title"},
        ]
    return steps


def wait_for_status(client: TestClient, headers: dict[str, str], job_id: int, status: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}", headers=headers).json()
        if job["status"] == status:
            return job
        assert job["status"] not in FINAL, f"job {job_id} ended {job['status']} before it was seen {status}"
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never became {status}")
