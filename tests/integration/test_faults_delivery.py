"""At-least-once delivery, exactly-once finish: duplicate messages, a redelivery forced by a frozen
worker and a short visibility timeout, and cancel racing finish."""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from console.core import queue
from console.core.settings import Settings
from tests.integration.factories import make_account
from tests.integration.faultkit import (
    FINAL,
    SLOW_STEP,
    Worker,
    assert_ended_without_output,
    assert_succeeded_once,
    console_for,
    events,
    fast_settings,
    job_row,
    people_csv,
    private,  # noqa: F401  (fixture)
    private_schema,
    spawn,  # noqa: F401  (fixture)
    store_dataset,
    submit,
    tuned,
    wait_final,
    wait_running,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def delivery(settings: Settings, client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Worker]]:  # type: ignore[no-untyped-def]
    """One two-process worker for this module's tests that kill nothing."""
    with private_schema(settings.DATABASE_URL or "") as url:
        own = fast_settings(settings, DATABASE_URL=url)
        with console_for(own, restore=settings):
            worker = Worker(own, tmp_path_factory.mktemp("delivery") / "worker.log", concurrency=2)
            try:
                yield own, worker
            finally:
                worker.kill()  # idle by now; a warm shutdown takes seconds


def said(worker: Worker, job_id: int, text: str) -> bool:
    return any(f"job={job_id} " in line and text in line for line in worker.output().splitlines())


def drained(settings: Settings) -> bool:
    return queue.queued_task_ids(settings.CELERY_QUEUE) == set()


def test_duplicate_messages_finish_the_job_once(delivery: tuple[Settings, Worker]) -> None:
    settings, worker = delivery
    account = make_account()
    job = submit(account.user, store_dataset(account.user, people_csv(20_000)), [SLOW_STEP] * 40)
    task_id = job_row(job).task_id
    for _ in range(3):
        queue.send(queue.PROCESS_JOB, args=[job], task_id=task_id)
    wait_final([job])
    queue.send(queue.PROCESS_JOB, args=[job], task_id=task_id)  # and one after it finished
    wait_until(lambda: drained(settings), 60, "every copy of the message to be consumed")

    seen = assert_succeeded_once(job)
    assert seen.attempts == 1
    log = [line for line in worker.output().splitlines() if f"job={job} " in line]
    assert any("is running elsewhere" in line for line in log)  # a copy arrived while it ran
    assert any("already succeeded; nothing to do" in line for line in log)


def test_cancel_racing_finish_ends_each_job_in_one_consistent_state(client: TestClient, delivery: tuple[Settings, Worker]) -> None:
    account = make_account()
    dataset = store_dataset(account.user, people_csv(10_000))  # a job takes about half a second
    rng = random.Random(6)
    answers: dict[int, int] = {}

    for number in range(30):
        job = submit(account.user, dataset, [SLOW_STEP] * 16)
        if number % 3 == 1:  # in the middle of its steps
            # Short jobs write no progress before their end: "running" is what shows they started.
            wait_until(lambda: job_row(job).status in FINAL | {"running"}, 60, f"job {job} to run")
            time.sleep(rng.uniform(0, 0.4))
        elif number % 3 == 2:  # at any moment: waiting, running, writing its result, or done
            time.sleep(rng.uniform(0, 1.2))
        answers[job] = client.post(f"/api/jobs/{job}/cancel", headers=account.headers).status_code
    wait_final(list(answers))

    for job, answer in answers.items():
        assert answer in (202, 409), answer
        # 202: the cancel landed before the job's final write, so it must end cancelled, with no
        # output; 409: it had already succeeded, and nothing of the cancel shows.
        if answer == 202:
            assert_ended_without_output(job, "cancelled")
        else:
            assert_succeeded_once(job)
            assert not any(line.startswith("cancel") for line in events(job)), events(job)
    assert any(answer == 202 and "cancel requested; the worker stops it" in events(job) for job, answer in answers.items())


def test_redelivery_to_a_second_worker_while_the_first_is_frozen_finishes_once(
    private: Settings, spawn: Callable[..., Worker]
) -> None:
    # A worker frozen mid-job (a paused VM, a machine swapping): its heartbeat stops, the job is
    # sent again and run by another worker, and past the visibility timeout Redis delivers the
    # frozen worker's message a second time as well. When it thaws, its run must change nothing.
    fast = tuned(private, JOB_SOFT_TIME_LIMIT=8, JOB_TIME_LIMIT=9, BROKER_VISIBILITY_TIMEOUT=10)
    account = make_account()
    job = submit(account.user, store_dataset(account.user, people_csv(20_000)), [SLOW_STEP] * 60)
    frozen = spawn(fast)
    wait_running(job)
    family = [frozen.pid, *(child.pid for child in frozen.children())]
    for pid in family:
        os.kill(pid, signal.SIGSTOP)
    # The frozen worker's message waits among this queue's own unacknowledged messages, and another
    # console sharing the Redis whose worker died holding kombu's default restore lock (held for 5
    # minutes) must not keep it from coming back.
    broker = redis.Redis.from_url(fast.REDIS_URL)
    task_id = job_row(job).task_id
    holds = queue.broker_holds(fast.CELERY_QUEUE)
    assert holds is not None and task_id in holds.unacked
    assert not [entry for entry in broker.hvals("unacked") if task_id.encode() in entry]  # kombu's shared hash
    token = f"held by another console {os.getpid()}"
    broker.set("unacked_mutex", token, ex=120)
    try:
        second = spawn(fast, beat=True)
        wait_final([job])
        wait_until(lambda: said(second, job, "already succeeded; nothing to do"), 60,
                   "the frozen worker's message to come back after the visibility timeout")
    finally:
        for pid in family:
            os.kill(pid, signal.SIGCONT)
        if broker.get("unacked_mutex") == token.encode():
            broker.delete("unacked_mutex")
    after = submit(account.user, store_dataset(account.user, people_csv(50)), [{"op": "drop_duplicates"}])
    wait_final([after])
    wait_until(lambda: drained(fast), 60, "every copy of the message to be consumed")

    seen = assert_succeeded_once(job)
    assert seen.attempts == 2
    assert "sent again: its worker stopped heart-beating" in events(job)
    assert_succeeded_once(after)
    assert frozen.alive() and second.alive()
