"""Soak: many small jobs from many clients while worker processes keep getting killed.

    .venv/bin/python -m benchmarks.soak [--jobs 2000] [--clients 20] [--kill-every 4]

Starts, all of its own: a schema in TEST_DATABASE_URL's database, an embedded Redis, a real
uvicorn and two workers (`python -m console worker --concurrency 1`, the first with the
reconciler). Twenty clients (one user each) push the jobs through `POST /api/jobs` while,
every few seconds, a random worker is SIGKILLed (either its pool process, which Celery
replaces, or the whole worker, which this script starts again). Then it waits until every
job is final and checks, from the database:

- every job is in a final state;
- none finished twice: exactly one final event per job, and no output for a job that did
  not succeed;
- the count of outputs equals the count of succeeded jobs.

It prints the figures and exits 1 if a check fails. Everything it started is stopped and
removed at the end, Ctrl-C or SIGTERM included.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg2
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from console.core.db import init_engine, session_scope
from console.core.migrate import upgrade
from console.core.models import Job, JobEvent, JobOutput, StoredFile
from console.core.settings import Settings
from console.core.users import create_user, issue_token
from console.embedded import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent
BASE_DB = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
FINAL = ("succeeded", "failed", "cancelled")
CSV = "id,name,city,score\n" + "".join(f"{i}, Name {i % 37} ,city{i % 7},{i % 11}\n" for i in range(200)) + "1, Name 1 ,city1,1\n"
STEPS = [
    {"op": "trim_whitespace"},
    {"op": "drop_duplicates"},
    {"op": "change_case", "columns": ["name"], "case": "upper"},
]
# Short enough that a killed worker's job comes back within seconds; the hard limit stays
# below the visibility timeout, which stays short so a dead worker's messages return soon.
TIMINGS = {
    "JOB_HEARTBEAT_SECONDS": "1",
    "JOB_STALE_SECONDS": "5",
    "RECONCILE_EVERY_SECONDS": "2",
    "JOB_RESEND_AFTER_SECONDS": "5",
    "JOB_SOFT_TIME_LIMIT": "20",
    "JOB_TIME_LIMIT": "25",
    "BROKER_VISIBILITY_TIMEOUT": "30",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between kills")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the logs and the schema, for a look afterwards")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup below on SIGTERM too
    with ExitStack() as stack:
        env = stack.enter_context(_services(keep=args.keep))
        settings = Settings(**{key: value for key, value in env.items() if key in Settings.model_fields}, _env_file=None)
        init_engine(settings)
        tokens = _users(args.clients)
        web = stack.enter_context(_process(["serve", "--port", str(port := free_port())], env, "web"))
        _wait_for_web(f"http://127.0.0.1:{port}", web)
        fleet = stack.enter_context(_fleet(env, args.seed))
        print(f"soak: {args.jobs} jobs, {args.clients} clients, a worker killed every {args.kill_every} s", flush=True)
        report = _run(f"http://127.0.0.1:{port}", tokens, args, fleet)
        return _check(report, fleet)
    return 1


@contextmanager
def _services(keep: bool = False) -> Iterator[dict[str, str]]:
    """A schema of its own (migrated) and an embedded Redis; the environment for the processes."""
    root = Path(tempfile.mkdtemp(prefix="console-soak-"))
    schema = f"soak_{uuid.uuid4().hex[:10]}"
    admin = make_url(BASE_DB).set(drivername="postgresql").render_as_string(hide_password=False)
    url = make_url(BASE_DB).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    redis_server = EmbeddedRedis(root / "redis")
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE SCHEMA "{schema}"')
    try:
        upgrade(url)
        env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields}
        env.update(TIMINGS, DATABASE_URL=url, REDIS_URL=redis_server.start(), CELERY_QUEUE="soak", LOG_LEVEL="WARNING",
                   LOG_DIR=str(root / "logs"), DATA_DIR=str(root / "data"), PYTHONPATH=str(ROOT))  # fmt: skip
        yield env
    finally:
        redis_server.stop()
        if keep:
            print(f"soak: kept schema {schema} and logs in {root}")
        else:
            conn.cursor().execute(f'DROP SCHEMA "{schema}" CASCADE')
            shutil.rmtree(root, ignore_errors=True)
        conn.close()


def _users(count: int) -> list[str]:
    with session_scope() as session:
        users = [create_user(session=session, email=f"soak-{n}@example.com", role="member", password=None) for n in range(count)]
        session.flush()
        return [issue_token(session=session, user=user) for user in users]


@contextmanager
def _process(args: list[str], env: dict[str, str], name: str) -> Iterator[subprocess.Popen[bytes]]:
    log = Path(env["LOG_DIR"]) / f"{name}.out"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        process = subprocess.Popen([sys.executable, "-m", "console", *args], env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        _kill_family(process)


def _kill_family(process: subprocess.Popen[bytes]) -> None:
    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if process.poll() is None:
        process.kill()
    process.wait()
    for child in family:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


def _wait_for_web(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the web server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the web server did not answer within 60 s")


@dataclass
class Fleet:
    """Two workers; `kill_random()` SIGKILLs a pool process or a whole worker (then starts it again)."""

    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: Counter[str] = field(default_factory=Counter)
    rng: random.Random = field(default_factory=random.Random)

    def start(self, slot: int) -> None:
        command = ["worker", "--concurrency=1"] + (["--beat"] if slot == 0 else [])
        log = (Path(self.env["LOG_DIR"]) / f"worker-{slot}.out").open("ab")
        process = subprocess.Popen([sys.executable, "-m", "console", *command], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        if slot < len(self.workers):
            self.workers[slot] = process
        else:
            self.workers.append(process)

    def kill_random(self) -> None:
        slot = self.rng.randrange(len(self.workers))
        worker = self.workers[slot]
        pool = [child for child in psutil.Process(worker.pid).children() if child.is_running()]
        if pool and self.rng.random() < 0.5:
            pool[0].kill()  # Celery notices, replaces the process and hands its message back
            self.kills["pool process"] += 1
        else:
            _kill_family(worker)
            self.start(slot)
            self.kills["whole worker"] += 1

    def stop(self) -> None:
        for worker in self.workers:
            _kill_family(worker)


@contextmanager
def _fleet(env: dict[str, str], seed: int) -> Iterator[Fleet]:
    fleet = Fleet(env, rng=random.Random(seed))
    try:
        fleet.start(0)
        fleet.start(1)
        yield fleet
    finally:
        fleet.stop()


@dataclass
class Report:
    job_ids: list[int]
    latencies: list[float]
    refused: list[str]
    submit_seconds: float
    finish_seconds: float


def _run(url: str, tokens: list[str], args: argparse.Namespace, fleet: Fleet) -> Report:
    per_client = [args.jobs // len(tokens) + (1 if n < args.jobs % len(tokens) else 0) for n in range(len(tokens))]
    job_ids: list[int] = []
    latencies: list[float] = []
    refused: list[str] = []
    lock = threading.Lock()
    stop_killing = threading.Event()

    def client(token: str, count: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            dataset = http.post("/api/datasets", files={"file": ("soak.csv", CSV.encode(), "text/csv")}).json()["id"]
            config = http.post("/api/configs", json={"name": "soak", "steps": STEPS}).json()["id"]
            for _ in range(count):
                started = time.monotonic()
                answer = http.post("/api/jobs", json={"dataset_id": dataset, "config_id": config})
                with lock:
                    latencies.append(time.monotonic() - started)
                    if answer.status_code == 202:
                        job_ids.append(answer.json()["id"])
                    else:
                        refused.append(f"{answer.status_code} {answer.text[:200]}")

    def killer() -> None:
        while not stop_killing.wait(args.kill_every):
            fleet.kill_random()

    began = time.monotonic()
    chaos = threading.Thread(target=killer, daemon=True)
    chaos.start()
    clients = [threading.Thread(target=client, args=(token, count)) for token, count in zip(tokens, per_client, strict=True)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    submitted = time.monotonic()
    print(f"soak: {len(job_ids)} jobs accepted in {submitted - began:.1f} s; waiting for them to finish", flush=True)
    try:
        _wait_all_final(job_ids, timeout=1800)
    finally:
        stop_killing.set()
        chaos.join()
    return Report(job_ids, latencies, refused, submitted - began, time.monotonic() - began)


def _wait_all_final(job_ids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope() as session:
            left = session.execute(select(func.count()).where(Job.id.in_(job_ids), Job.status.notin_(FINAL))).scalar_one()
        if left == 0:
            return
        time.sleep(1)
    print(f"soak: {left} jobs still unfinished after {timeout} s", flush=True)


def _check(report: Report, fleet: Fleet) -> int:
    ids = report.job_ids
    with session_scope() as session:
        statuses = Counter(dict(session.execute(select(Job.status, func.count()).where(Job.id.in_(ids)).group_by(Job.status)).all()))
        attempts = Counter(dict(session.execute(select(Job.attempts, func.count()).where(Job.id.in_(ids)).group_by(Job.attempts)).all()))
        finals = dict(session.execute(
            select(JobEvent.job_id, func.count()).where(JobEvent.job_id.in_(ids), _final_event()).group_by(JobEvent.job_id)
        ).all())  # fmt: skip
        with_output = set(session.scalars(select(Job.id).where(Job.id.in_(ids), Job.output_file_id.is_not(None))))
        output_jobs = set(session.scalars(select(JobOutput.job_id).where(JobOutput.job_id.in_(ids)).distinct()))
        succeeded = set(session.scalars(select(Job.id).where(Job.id.in_(ids), Job.status == "succeeded")))
        files = session.execute(select(func.count()).select_from(StoredFile).where(StoredFile.filename.like("job-%-output.%"))).scalar_one()
        outputs = session.execute(select(func.count()).select_from(JobOutput).where(JobOutput.job_id.in_(ids))).scalar_one()
        errors = Counter(
            (message or "")[:60] for message in session.scalars(select(Job.error_message).where(Job.id.in_(ids), Job.status == "failed"))
        )
    problems = []
    if report.refused:
        problems.append(f"{len(report.refused)} submissions refused, e.g. {report.refused[0]}")
    if sum(statuses[s] for s in FINAL) != len(ids):
        problems.append(f"not every job is final: {dict(statuses)}")
    twice = [job for job in ids if finals.get(job, 0) != 1]
    if twice:
        problems.append(f"{len(twice)} jobs without exactly one final event, e.g. {twice[:5]}")
    if with_output != succeeded or output_jobs != succeeded:
        problems.append(f"outputs do not match succeeded jobs: {len(with_output)} / {len(output_jobs)} vs {len(succeeded)}")
    if files != outputs:
        problems.append(f"{files} output files stored for {outputs} outputs (an orphan or a double)")
    latencies = sorted(report.latencies)
    print(f"jobs: {len(ids)} accepted, {dict(statuses)}; attempts {dict(sorted(attempts.items()))}")
    if errors:
        print(f"failed because: {dict(errors)}")
    print(f"kills: {dict(fleet.kills)}")
    print(f"outputs: {len(output_jobs)} jobs with outputs ({outputs} files) for {len(succeeded)} succeeded jobs")
    print(f"submit latency: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")  # fmt: skip
    print(f"time: all submitted after {report.submit_seconds:.1f} s, all final after {report.finish_seconds:.1f} s "
          f"({len(ids) / report.finish_seconds:.1f} jobs/s)")  # fmt: skip
    print("checks: " + ("all passed" if not problems else "FAILED\n  " + "\n  ".join(problems)))
    return 0 if not problems else 1


def _final_event():  # type: ignore[no-untyped-def]
    return func.split_part(JobEvent.message, ":", 1).in_(FINAL)


if __name__ == "__main__":
    sys.exit(main())
