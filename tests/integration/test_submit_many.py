"""Jobs made, sent and cancelled many at a time (`jobs.submit_many`, `jobs.cancel_many`), and the bulk
actions built on them: each job as if submitted or cancelled on its own, in a few statements.

The core tests run on a schema and a queue of their own (`private`), so what Redis holds and
what a worker runs are theirs alone.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from console.core import bulk, jobs
from console.core.db import session_scope
from console.core.errors import InvalidTransition
from console.core.models import CleaningConfig, Dataset, Job, User
from console.core.settings import Settings
from console.embedded import free_port
from console.job_actions import RerunSteps
from tests.integration.admin_support import dataset_and_config, make_job
from tests.integration.factories import make_account
from tests.integration.faultkit import (
    assert_succeeded_once,
    console_for,
    events,
    job_row,
    people_csv,
    private,  # noqa: F401  (fixture)
    queue_lists,
    spawn,  # noqa: F401  (fixture)
    store_dataset,
    tuned,
    wait_final,
)
from worker.reconciler import reconcile

pytestmark = pytest.mark.integration
STEPS = [{"op": "drop_duplicates"}]
NEW_JOB = re.compile(r"new job (\d+) is (queued|running|succeeded)")  # a worker may have it already


def submit_many(owners: list[User], dataset_ids: dict[int, int]) -> list[Job]:
    """One job per entry of `owners` (in that order), on that owner's dataset, with one `submit_many`."""
    with session_scope() as session:
        items = [jobs.NewJob(*rows(session, owner, dataset_ids), STEPS) for owner in owners]
        return jobs.submit_many(session=session, items=items)


def submit_one_by_one(owners: list[User], dataset_ids: dict[int, int]) -> list[Job]:
    made = []
    for owner in owners:
        with session_scope() as session:
            user, dataset = rows(session, owner, dataset_ids)
            made.append(jobs.submit(session=session, owner=user, dataset=dataset, steps=STEPS))
    return made


def rows(session: Session, owner: User, dataset_ids: dict[int, int]) -> tuple[User, Dataset]:
    user, dataset = session.get(User, owner.id), session.get(Dataset, dataset_ids[owner.id])
    assert user is not None and dataset is not None
    return user, dataset


def priorities_in(settings: Settings) -> dict[str, int]:
    """Task id -> the priority list Redis keeps its message in."""
    with redis.Redis.from_url(settings.REDIS_URL or "") as client:
        return {
            json.loads(raw)["headers"]["id"]: priority
            for priority, name in enumerate(queue_lists(settings.CELERY_QUEUE))
            for raw in client.lrange(name, 0, -1)
        }


@pytest.fixture
def dead_broker(private: Settings) -> Iterator[Settings]:
    """This process pointed at a Redis nobody listens on (same schema and queue)."""
    dead = tuned(private, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    with console_for(dead, restore=private):
        yield dead


def test_submit_many_commits_and_sends_every_job_and_each_runs(private: Settings, spawn) -> None:
    owner = make_account().user
    dataset = store_dataset(owner, people_csv(50))

    made = submit_many([owner] * 6, {owner.id: dataset})

    assert [job.status for job in made] == ["queued"] * 6
    task_ids = [job.task_id for job in made]
    assert len(set(task_ids)) == 6 and all(uuid.UUID(task_id) for task_id in task_ids)
    assert all(events(job.id) == [f"created by {owner.email}", "queued"] for job in made)
    assert all(row.sent_at is not None and row.queued_at is not None for row in map(job_row, [job.id for job in made]))
    assert set(priorities_in(private)) == set(task_ids)  # really in Redis, before any worker reads the queue
    spawn(private)
    wait_final([job.id for job in made])
    for job in made:
        assert_succeeded_once(job.id)


def test_submit_many_gives_the_priorities_one_by_one_submits_give(private: Settings) -> None:
    # Each owner's unfinished jobs before the new ones count (up to 9); finished ones do not.
    pairs = [(make_account().user, make_account().user) for _ in range(2)]
    datasets = {owner.id: store_dataset(owner, b"a\n1\n") for pair in pairs for owner in pair}
    for busy, _ in pairs:
        for status in ("running", "queued", "pending", "succeeded", "failed", "cancelled"):
            make_job(busy, datasets[busy.id], None, status)
    (a, b), (c, d) = pairs
    order = [a, b, a, a, b, a, a, a, a, a, b, a, a]

    batch = submit_many(order, datasets)
    single = submit_one_by_one([{a: c, b: d}[owner] for owner in order], datasets)

    held = priorities_in(private)
    assert [held[job.task_id] for job in batch] == [3, 0, 4, 5, 1, 6, 7, 8, 9, 9, 2, 9, 9]
    assert [held[job.task_id] for job in single] == [held[job.task_id] for job in batch]


def test_with_the_broker_down_every_job_is_committed_pending_and_sent_later(
    private: Settings, dead_broker: Settings
) -> None:
    owner = make_account().user
    dataset = store_dataset(owner, b"a\n1\n")

    started = time.monotonic()
    made = submit_many([owner] * 5, {owner.id: dataset})
    took = time.monotonic() - started

    assert [job.status for job in made] == ["pending"] * 5
    assert [job_row(job.id).status for job in made] == ["pending"] * 5
    for job in made:
        created, not_sent = events(job.id)
        assert created == f"created by {owner.email}"
        assert not_sent.startswith("not sent yet, broker unavailable")
    assert took < 20, took  # one failed connection for the lot, not one per job
    with console_for(private, restore=private):
        time.sleep(private.JOB_RESEND_AFTER_SECONDS)
        assert reconcile(settings=private)["pending"] == 5
    assert [job_row(job.id).status for job in made] == ["queued"] * 5
    assert set(priorities_in(private)) == {job.task_id for job in made}


def test_cancel_many_ends_jobs_not_started_flags_running_ones_and_refuses_finished_ones(private: Settings) -> None:
    owner = make_account().user
    dataset = store_dataset(owner, b"a\n1\n")
    ids = {status: make_job(owner, dataset, None, status) for status in ("pending", "queued", "running", "succeeded")}

    with session_scope() as session:
        done = jobs.cancel_many(session=session, job_ids=list(ids.values()))
        seen = {job_id: result if isinstance(result, Exception) else result.status for job_id, result in done.items()}

    assert [seen[ids[status]] for status in ("pending", "queued", "running")] == ["cancelled", "cancelled", "running"]
    refused = seen[ids["succeeded"]]
    assert isinstance(refused, InvalidTransition)
    assert str(refused.detail) == f"job {ids['succeeded']} is already succeeded; only unfinished jobs can be cancelled"
    assert [events(ids[status]) for status in ("pending", "queued")] == [["cancelled: cancelled before it started"]] * 2
    assert events(ids["running"]) == ["cancel requested; the worker stops it"]
    assert [job_row(job_id).cancel_requested for job_id in ids.values()] == [True, True, True, False]


def test_bulk_requeue_of_a_mix_reports_per_job_and_makes_the_new_jobs_together(client: TestClient) -> None:
    owner, other = make_account(), make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    statuses = ("failed", "succeeded", "cancelled", "pending", "running")
    ids = {status: make_job(owner.user, dataset_id, config_id, status) for status in statuses}
    theirs = make_job(other.user, *dataset_and_config(client, other), "failed")
    named = [*ids.values(), theirs, 2_000_000_000]

    body = client.post("/api/jobs/bulk", headers=owner.headers, json={"action": "requeue", "ids": named}).json()

    by_id = {row["id"]: row for row in body["results"]}
    assert [row["id"] for row in body["results"]] == named
    assert (body["acted"], body["skipped"], body["not_found"]) == (3, 2, 2)
    for status in ("pending", "running"):
        assert (by_id[ids[status]]["outcome"], by_id[ids[status]]["detail"]) == (
            "skipped", f"still {status}; only finished jobs can be requeued"
        )  # fmt: skip
    assert [by_id[job_id]["outcome"] for job_id in (theirs, 2_000_000_000)] == ["not_found", "not_found"]
    made = []
    for status in ("failed", "succeeded", "cancelled"):
        row = by_id[ids[status]]
        found = NEW_JOB.fullmatch(row["detail"])
        assert row["outcome"] == "done" and found and int(found.group(1)) == row["new_job_id"], row
        new = job_row(row["new_job_id"])
        assert (new.retry_of_id, new.status != "pending") == (ids[status], True)
        made.append(new)
    assert len({job.task_id for job in made} | {job_row(job_id).task_id for job_id in ids.values()}) == 3 + len(ids)
    assert len({job.created_at for job in made}) == 1  # one INSERT, one transaction
    assert [job_row(job_id).status for job_id in ids.values()] == list(ids)  # the old jobs are history


def test_bulk_rerun_whose_batch_fails_goes_job_by_job_with_each_reason(client: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    _, doomed_config = dataset_and_config(client, owner)
    kept = [make_job(owner.user, dataset_id, config_id, "failed") for _ in range(2)]
    doomed = make_job(owner.user, dataset_id, doomed_config, "failed")

    with session_scope() as session:
        actor = session.get(User, owner.user.id)
        assert actor is not None
        steps = RerunSteps()
        the_plan = bulk.plan(session=session, action="rerun", actor=actor, job_ids=[*kept, doomed], check=steps.problem)
        with session_scope() as meanwhile:  # deleted after the plan: the INSERT of the three fails on its id
            meanwhile.execute(delete(CleaningConfig).where(CleaningConfig.id == doomed_config))
        outcomes = {outcome.job_id: outcome for outcome in bulk.execute(
            session=session, plan=the_plan, actor=actor, rerun_steps=steps, workers=4
        )}  # fmt: skip

    assert [outcomes[job_id].outcome for job_id in kept] == ["done", "done"]
    assert (outcomes[doomed].outcome, outcomes[doomed].detail) == (
        "skipped", f"the config of job {doomed} was deleted; requeue it to run its snapshot again"
    )  # fmt: skip
    with session_scope() as session:
        made = session.scalars(select(Job).where(Job.rerun_of_id.in_([*kept, doomed]))).all()
    assert sorted(job.rerun_of_id for job in made) == kept
    assert {outcomes[job_id].new_job_id for job_id in kept} == {job.id for job in made}


def test_bulk_cancel_of_a_mix_reports_per_job(client: TestClient) -> None:
    owner = make_account()
    dataset_id, config_id = dataset_and_config(client, owner)
    ids = {status: make_job(owner.user, dataset_id, config_id, status) for status in ("pending", "queued", "running")}
    done = make_job(owner.user, dataset_id, config_id, "failed")

    body = client.post(
        "/api/jobs/bulk", headers=owner.headers, json={"action": "cancel", "ids": [*ids.values(), done, 2_000_000_000]}
    ).json()

    details = {row["id"]: (row["outcome"], row["detail"]) for row in body["results"]}
    assert details == {
        ids["pending"]: ("done", "job is cancelled"),
        ids["queued"]: ("done", "job is cancelled"),
        ids["running"]: ("done", "job is running (its worker stops it within seconds)"),
        done: ("skipped", "already failed; only unfinished jobs can be cancelled"),
        2_000_000_000: ("not_found", "not found"),
    }
    assert [job_row(job_id).status for job_id in ids.values()] == ["cancelled", "cancelled", "running"]
    assert job_row(ids["running"]).cancel_requested is True
