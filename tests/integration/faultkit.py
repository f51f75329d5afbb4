"""Tools for the fault-injection tests: workers on a queue of their own with short timings, ways to
kill them, slow jobs made of real data, and the checks that a job finished exactly once.

Every process a test starts here is stopped by the fixture that started it; nothing is ever
signalled that a test did not start itself.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg2
import pytest
import redis
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from console.core import jobs, queue, storage
from console.core.db import init_engine, session_scope
from console.core.migrate import upgrade
from console.core.models import Dataset, Job, JobEvent, JobOutput, ProfileStatus, StoredFile, User
from console.core.settings import Settings
from tests.conftest import ROOT
from tests.services import settings_env

FINAL = {"succeeded", "failed", "cancelled"}

# Short enough that a lost job comes back within seconds, still inside the settings' own rules
# (soft < hard < visibility; stale >= 3 heartbeats).
FAST: dict[str, Any] = {
    "JOB_HEARTBEAT_SECONDS": 0.5,
    "JOB_STALE_SECONDS": 2,
    "RECONCILE_EVERY_SECONDS": 1,
    "JOB_RESEND_AFTER_SECONDS": 1,
    "JOB_HANDBACK_SECONDS": 0.5,
    "JOB_SOFT_TIME_LIMIT": 40,
    "JOB_TIME_LIMIT": 45,
    "BROKER_VISIBILITY_TIMEOUT": 50,
}

# One step that rewrites every character of a text column with itself: real work, no change.
SLOW_STEP: dict[str, Any] = {"op": "regex_replace", "columns": ["name"], "pattern": r"(\w)", "replacement": r"\1"}


def fast_settings(base: Settings, **overrides: Any) -> Settings:
    """`base` with FAST timings, a queue of its own and `overrides`, validated like any settings."""
    return tuned(base, **{**FAST, "CELERY_QUEUE": f"faults-{uuid.uuid4().hex[:10]}", **overrides})


def tuned(base: Settings, **overrides: Any) -> Settings:
    """`base` with `overrides` (same database and queue unless overridden), validated like any settings."""
    return Settings(**{**base.model_dump(), **overrides}, _env_file=None)


@contextmanager
def private_schema(base_url: str) -> Iterator[str]:
    """A new schema in the test database, migrated to head; its URL. Dropped afterwards.

    Rows other tests left behind (a job pending forever, a queued one with no message) would
    otherwise be found, sent and run by the reconcilers and fairness checks of these tests."""
    name = f"faults_{uuid.uuid4().hex[:12]}"
    admin = make_url(base_url).set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    with psycopg2.connect(admin) as conn, conn.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{name}"')
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={name}"}).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        conn = psycopg2.connect(admin)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP SCHEMA "{name}" CASCADE')
        conn.close()


@pytest.fixture
def private(settings: Settings, client) -> Iterator[Settings]:  # type: ignore[no-untyped-def]
    """FAST settings on a schema and a queue of the test's own; this process points at them meanwhile.

    (Depends on `client` so the session's app is built first: building it points the process
    at the session's settings.) Request it before `spawn`, so workers stop before the schema goes."""
    with private_schema(settings.DATABASE_URL or "") as url:
        own = fast_settings(settings, DATABASE_URL=url)
        with console_for(own, restore=settings):
            yield own


def subprocess_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a process that must run with every one of these settings."""
    env = settings_env(settings)
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        env[name] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    env.update(extra)
    return env


@contextmanager
def console_for(settings: Settings, restore: Settings) -> Iterator[None]:
    """Point this test process (database engine, Celery client: factories, API client, reconciler
    calls) at `settings` for the block, and back at `restore` after it.

    Have the `client` fixture built before: building the app points the process at the session's
    settings again."""
    _pointed_at.append(settings)
    init_engine(settings)
    queue.configure_celery(settings)
    try:
        yield
    finally:
        _pointed_at.pop()
        previous = _pointed_at[-1] if _pointed_at else restore  # blocks nest: back to the one outside
        init_engine(previous)
        queue.configure_celery(previous)


_pointed_at: list[Settings] = []


class Worker:
    """`python -m console worker` as a subprocess with exactly the given settings."""

    def __init__(self, settings: Settings, log: Path, *, concurrency: int = 1, beat: bool = False, **env: str) -> None:
        self.settings, self.log = settings, log
        command = [sys.executable, "-m", "console", "worker", f"--concurrency={concurrency}"] + (["--beat"] if beat else [])
        with log.open("ab") as handle:
            self.process = subprocess.Popen(
                command, env=subprocess_env(settings, **env), cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT
            )
        self._wait_ready()

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def children(self) -> list[psutil.Process]:
        """The worker's child processes (its pool, and the beat process when it runs one)."""
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def kill(self) -> None:
        """SIGKILL the main process and every child, as a lost machine or a cgroup OOM kill would."""
        family = self.children()
        if self.alive():
            self.process.kill()
        self.process.wait()
        for child in family:
            _kill_quietly(child.pid)
        psutil.wait_procs(family, timeout=10)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM (Celery's warm shutdown: running tasks finish first); SIGKILL past `timeout`."""
        family = self.children()
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for child in psutil.wait_procs(family, timeout=10)[1]:
            _kill_quietly(child.pid)
        return self.process.returncode

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.output()[-5000:]}")
            if " ready." in self.output():
                return
            time.sleep(0.1)
        self.terminate(timeout=5)
        raise RuntimeError(f"worker did not become ready in 60 s:\n{self.output()[-5000:]}")


class WebServer:
    """`python -m console serve` as a subprocess on `port`, with exactly the given settings."""

    def __init__(self, settings: Settings, log: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        command = [sys.executable, "-m", "console", "serve", "--port", str(port)]
        with log.open("ab") as handle:
            self.process = subprocess.Popen(command, env=subprocess_env(settings), cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{log.read_text(errors='replace')[-5000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer in 60 s:\n{log.read_text(errors='replace')[-5000:]}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (uvicorn finishes the requests in flight, then exits); SIGKILL past `timeout`."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start workers (`spawn(settings, concurrency=1, beat=False, **env)`); all are stopped at the end."""
    started: list[Worker] = []

    def start(settings: Settings, *, concurrency: int = 1, beat: bool = False, **env: str) -> Worker:
        worker = Worker(settings, tmp_path / f"worker-{len(started)}.log", concurrency=concurrency, beat=beat, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        # Idle by now (tests wait for their jobs): nothing is lost, and a warm shutdown takes seconds.
        worker.kill()


# --- data and jobs ------------------------------------------------------------------------


def store_dataset(owner: User, content: bytes | Iterator[bytes], name: str = "data.csv") -> int:
    """A dataset stored directly (bytes, or chunks for files too big to hold), bypassing upload checks."""
    chunks = [content] if isinstance(content, bytes) else content
    with session_scope() as session:
        stored = storage.store_stream(session=session, filename=name, chunks=chunks)
        dataset = Dataset(
            owner_id=owner.id,
            name=name,
            original_filename=name,
            size=stored.size,
            sha256=stored.sha256 or "",
            columns=[],
            profile_status=ProfileStatus.PENDING.value,
            file_id=stored.id,
        )
        session.add(dataset)
        session.flush()
        return dataset.id


def people_csv(rows: int) -> bytes:
    """`id,name,city` with `rows` rows: the names make a regex step do real work per row."""
    lines = [f"{i},name {i % 977} x{i % 31},city{i % 13}\n" for i in range(rows)]
    return ("id,name,city\n" + "".join(lines)).encode()


def submit(owner: User, dataset_id: int, steps: list[dict[str, Any]]) -> int:
    """Submit through the lifecycle (commit, then send to the configured queue); returns the job id."""
    with session_scope() as session:
        user = session.get(User, owner.id)
        dataset = session.get(Dataset, dataset_id)
        assert user is not None and dataset is not None
        return jobs.submit(session=session, owner=user, dataset=dataset, steps=steps).id


def job_row(job_id: int) -> Job:
    with session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def events(job_id: int) -> list[str]:
    with session_scope() as session:
        query = select(JobEvent.message).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
        return list(session.scalars(query))


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll `check` until it returns something true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_final(job_ids: list[int], timeout: float = 90) -> dict[int, Job]:
    """Every job in a final state; fails naming the ones that are not."""
    def all_final() -> dict[int, Job] | None:
        with session_scope() as session:
            rows = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(job_ids)))}
        return rows if all(job.status in FINAL for job in rows.values()) and len(rows) == len(job_ids) else None

    try:
        return wait_until(all_final, timeout, f"jobs {job_ids} to finish", every=0.2)
    except AssertionError:
        with session_scope() as session:
            late = session.execute(select(Job.id, Job.status).where(Job.id.in_(job_ids), Job.status.notin_(FINAL))).all()
        raise AssertionError(f"jobs not finished after {timeout} s: {late}") from None


def running_pid(job_id: int) -> int | None:
    """The process running the job's current attempt, from its "running: attempt N on HOST pid P" event."""
    for message in reversed(events(job_id)):
        found = re.match(r"running: attempt \d+ on .* pid (\d+)$", message)
        if found:
            return int(found.group(1))
    return None


def wait_running(job_id: int, attempt: int = 1, past_progress: int = 20, timeout: float = 60) -> int:
    """Wait until the job's `attempt` is under way (its steps started); return the pid running it."""
    def under_way() -> bool:
        job = job_row(job_id)
        if job.status in FINAL:
            raise AssertionError(f"job {job_id} finished ({job.status}) before it could be caught running")
        return job.status == "running" and job.attempts == attempt and job.progress > past_progress

    wait_until(under_way, timeout, f"job {job_id} attempt {attempt} to be under way")
    pid = running_pid(job_id)
    assert pid is not None, events(job_id)
    return pid


@dataclass(frozen=True)
class Outcome:
    """What a job left behind: everything that must exist exactly once, or not at all."""

    status: str
    attempts: int
    error: str | None
    output_file_id: int | None
    output_files: int  # stored files named after the job (its outputs in every format)
    job_outputs: int  # rows in job_outputs
    finals: dict[str, int]  # how many "succeeded" / "failed" / "cancelled" events
    has_report: bool


def outcome(job_id: int) -> Outcome:
    job = job_row(job_id)
    with session_scope() as session:
        files = session.execute(
            select(func.count()).select_from(StoredFile).where(StoredFile.filename.like(f"job-{job_id}-%"))
        ).scalar_one()
        outputs = session.execute(select(func.count()).select_from(JobOutput).where(JobOutput.job_id == job_id)).scalar_one()
    lines = events(job_id)
    finals = {state: sum(1 for line in lines if line == state or line.startswith(f"{state}:")) for state in sorted(FINAL)}
    return Outcome(
        status=job.status,
        attempts=job.attempts,
        error=job.error_message,
        output_file_id=job.output_file_id,
        output_files=files,
        job_outputs=outputs,
        finals=finals,
        has_report=job.report is not None,
    )


def assert_succeeded_once(job_id: int) -> Outcome:
    """Succeeded, with one output, one report and one final event, and nothing of any other end."""
    seen = outcome(job_id)
    assert seen.status == "succeeded", (seen, events(job_id))
    assert seen.output_file_id is not None and seen.has_report, seen
    assert seen.finals == {"cancelled": 0, "failed": 0, "succeeded": 1}, (seen, events(job_id))
    # One output per format the runner writes, each once: the CSV always; job_outputs, when
    # written, holds one row per format and names those same files.
    assert seen.output_files == max(1, seen.job_outputs), seen
    return seen


def assert_ended_without_output(job_id: int, status: str) -> Outcome:
    seen = outcome(job_id)
    assert seen.status == status, (seen, events(job_id))
    assert (seen.output_file_id, seen.output_files, seen.job_outputs) == (None, 0, 0), seen
    expected = {state: int(state == status) for state in sorted(FINAL)}
    assert seen.finals == expected, (seen, events(job_id))
    return seen


def output_text(job_id: int) -> str:
    job = job_row(job_id)
    assert job.output_file_id is not None
    with session_scope() as session:
        return b"".join(storage.iter_chunks(session=session, file_id=job.output_file_id)).decode()


def queue_lists(queue_name: str) -> list[str]:
    """The Redis lists of a queue, highest priority first (kombu keeps priority p in "<queue>\\x06\\x16<p>")."""
    return [queue_name, *(f"{queue_name}\x06\x16{priority}" for priority in range(1, 10))]


def queue_task_ids(redis_url: str, queue_name: str) -> list[str]:
    """The task ids waiting in a queue, in the order workers will take them (duplicates kept)."""
    with redis.Redis.from_url(redis_url) as client:
        raw = [item for name in queue_lists(queue_name) for item in reversed(client.lrange(name, 0, -1))]
    return [json.loads(item)["headers"]["id"] for item in raw]


def clear_queue(redis_url: str, queue_name: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.delete(*queue_lists(queue_name))
