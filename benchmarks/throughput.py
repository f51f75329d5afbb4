"""Throughput of small jobs end to end: N jobs of 1,000 rows submitted at once, two worker processes.

    .venv/bin/python -m benchmarks throughput [--jobs 1000] [--concurrency 2] [--clients 16]
                                              [--queued-first] [--xlsx-max-rows N] [--xlsx-with-job]
                                              [--in-process N]

A real uvicorn and one `console worker --concurrency 2` (two prefork pool processes) on a
bench_* schema and queue. One 1,000-row dataset and the benchmark config (data.STEPS) are
made first and the dataset profiled; then --clients threads POST /api/jobs --jobs times
as fast as the API answers, and the clock runs until every job is finished (succeeded,
failed or cancelled), read from the jobs table. Target (issue 7): 50 jobs/s or more.

Besides jobs/s it prints what each job cost: the run (started -> finished, from the jobs
table) and the CPU time per job of the worker's processes (main + pool), of the web process
and of the PostgreSQL backends serving both (stack.BackendCpu: read from /proc, nothing
signalled), and this load generator's own CPU while it submits, with the load average,
since the machine is shared.

--queued-first  submits every job while the worker is paused (Stack.pause: SIGSTOP to its
                process group), then lets it go on: jobs/s of the workers alone, from the
                first job started to the last finished.
--xlsx-max-rows the worker's XLSX_MAX_ROWS (0: no xlsx), to see what xlsx costs.
--xlsx-with-job the worker's XLSX_ON_REQUEST=false: every job writes its xlsx too (by default
                it is made when first asked for, and none is asked for here).
--in-process N  also runs N jobs through worker.runner.run_job in this process (no Celery):
                the runner's own wall and CPU time per job.

Everything it started is stopped; the schema and the queue are removed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psutil

from benchmarks import data
from benchmarks.engine import machine
from benchmarks.stack import REDIS, BackendCpu, Stack, wait_for

FINISHED = "('succeeded', 'failed', 'cancelled')"


def small_csv(rows: int = 1000) -> bytes:
    """1,000 messy rows of the benchmark's columns (the first rows of its seeded file)."""
    with data.dataset(100_000).open("rb") as handle:
        return b"".join(handle.readline() for _ in range(rows + 1))


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system CPU seconds of a process, and of its children (a worker's pool) together."""
    root = psutil.Process(pid)
    own, children = 0.0, 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        if process.pid == pid:
            own = times.user + times.system
        else:
            children += times.user + times.system
    return own, children


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument("--clients", type=int, default=16, help="threads submitting")
    parser.add_argument("--queued-first", action="store_true", help="submit all jobs with the worker paused")
    parser.add_argument("--xlsx-max-rows", type=int, default=None, help="the worker's XLSX_MAX_ROWS (0: no xlsx)")
    parser.add_argument("--xlsx-with-job", action="store_true", help="XLSX_ON_REQUEST=false: every job writes its xlsx")
    parser.add_argument("--in-process", type=int, default=0, metavar="N", help="also time N runs of run_job here")
    args = parser.parse_args(argv)
    print(machine())  # noqa: T201
    extra = {} if args.xlsx_max_rows is None else {"XLSX_MAX_ROWS": str(args.xlsx_max_rows)}
    if args.xlsx_with_job:
        extra["XLSX_ON_REQUEST"] = "false"
    with Stack(**extra) as stack:
        base = stack.serve()
        client = httpx.Client(base_url=base, headers=stack.headers(), timeout=120)
        upload = {"file": ("small.csv", small_csv(), "text/csv")}
        dataset = client.post("/api/datasets", files=upload).raise_for_status().json()
        config = client.post("/api/configs", json={"name": "bench", "steps": data.STEPS}).raise_for_status().json()
        worker = stack.worker(concurrency=args.concurrency)
        wait_for(stack, f"SELECT profile_status FROM datasets WHERE id = {dataset['id']}", "ready", timeout=120)
        if args.queued_first:
            stack.pause(worker)
        body = {"dataset_id": dataset["id"], "config_id": config["id"]}

        # One keep-alive client per submitting thread: a client built per request cost this process
        # ~29 ms of CPU a job (more than a job's run), on the same two cores as what is measured.
        clients: dict[int, httpx.Client] = {}

        def submit(_: int) -> float:
            own = clients.get(threading.get_ident())
            if own is None:
                own = clients[threading.get_ident()] = httpx.Client(base_url=base, headers=stack.headers(), timeout=120)
            started = time.perf_counter()
            own.post("/api/jobs", json=body).raise_for_status()
            return time.perf_counter() - started

        with BackendCpu(stack) as database:
            web_before, worker_before = cpu_seconds(stack.web.pid), cpu_seconds(worker.pid)
            started, client_before = time.perf_counter(), time.process_time()
            with ThreadPoolExecutor(max_workers=args.clients) as pool:
                latencies = list(pool.map(submit, range(args.jobs)))
            submitted, client_cpu = time.perf_counter() - started, time.process_time() - client_before
            for own in clients.values():
                own.close()
            web_cpu = sum(cpu_seconds(stack.web.pid)) - sum(web_before)
            if args.queued_first:
                stack.resume(worker)
            wait_for(stack, f"SELECT count(*) FROM jobs WHERE status IN {FINISHED}", args.jobs, timeout=3600, every=0.2)
            elapsed = time.perf_counter() - started
        worker_after = cpu_seconds(worker.pid)
        main_cpu, pool_cpu = (after - before for after, before in zip(worker_after, worker_before, strict=True))
        load_end = os.getloadavg()[0]
        outcome = dict(stack.sql("SELECT status, count(*) FROM jobs GROUP BY status"))
        run_p50, wait_p50, span = stack.sql(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)),"
            " extract(epoch FROM max(finished_at) - min(started_at)) FROM jobs"
        )[0]
        in_process = _in_process(stack, dataset["id"], args.in_process, extra) if args.in_process else None
    took = float(span) if args.queued_first else elapsed
    rate = args.jobs / took
    spent = {"main": main_cpu, "pool": pool_cpu, "web": web_cpu, "database": database.seconds, "client": client_cpu,
             "database_system": database.system}
    per_job = {name: seconds / args.jobs * 1000 for name, seconds in spent.items()}
    formats = "CSV, Parquet" + ("" if args.xlsx_max_rows == 0 else " and xlsx" if args.xlsx_with_job else " (xlsx on request)")
    queued = "; all queued before the worker went on" if args.queued_first else ""
    print(  # noqa: T201
        f"\n{args.jobs:,} jobs of 1,000 rows ({len(data.STEPS)} steps; {formats} outputs), {args.concurrency} worker "
        f"processes, {args.clients} submitting clients{queued}\n"
        "| jobs | submitted in s | submit p50 ms | all finished in s | jobs/s | run p50 s | submit→finish p50 s "
        "| worker CPU ms/job (main + pool) | web CPU ms/job | PostgreSQL CPU ms/job (of it system) | client CPU ms/job | load at end | outcome | target |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|\n"
        f"| {args.jobs:,} | {submitted:.1f} | {statistics.median(latencies) * 1000:.0f} | {took:.1f} | {rate:.1f} "
        f"| {float(run_p50):.3f} | {float(wait_p50):.1f} "
        f"| {per_job['main'] + per_job['pool']:.0f} ({per_job['main']:.1f} + {per_job['pool']:.1f}) "
        f"| {per_job['web']:.1f} | {per_job['database']:.1f} ({per_job['database_system']:.1f}; {database.backends} backends) | {per_job['client']:.1f} "
        f"| {load_end:.1f} | {', '.join(f'{k} {v}' for k, v in sorted(outcome.items()))} "
        f"| 50 jobs/s ({'met' if rate >= 50 else 'MISSED'}) |"
    )
    if in_process:
        print(  # noqa: T201
            f"\nrun_job in this process, {args.in_process} jobs (after 5 warm-up runs): "
            f"wall p50 {in_process['wall']:.1f} ms, CPU p50 {in_process['cpu']:.1f} ms per job"
        )
    return 0


def _in_process(stack: Stack, dataset_id: int, jobs: int, extra: dict[str, str]) -> dict[str, float]:
    """Wall and CPU time of worker.runner.run_job per job, run here on the stack's schema (no Celery)."""
    from sqlalchemy import select

    from console.core.db import init_engine, session_scope
    from console.core.logging import setup_logging
    from console.core.models import Dataset, Job, User
    from console.core.queue import configure_celery
    from console.core.settings import Settings
    from worker import runner

    settings = Settings(
        DATABASE_URL=stack.url, REDIS_URL=REDIS, CELERY_QUEUE=stack.queue, LOG_LEVEL="WARNING", LOG_DIR=stack.logs,
        _env_file=None, **extra,  # type: ignore[arg-type]
    )
    init_engine(settings)
    configure_celery(settings)
    setup_logging("worker", settings)
    with session_scope() as session:
        owner = session.scalars(select(User.id)).first()
        dataset = session.get_one(Dataset, dataset_id)
        ids = []
        for _ in range(jobs + 5):
            job = Job(owner_id=owner, dataset_id=dataset.id, steps=data.STEPS, task_id=os.urandom(16).hex())
            job.status = "queued"
            session.add(job)
            session.flush()
            ids.append(job.id)
    walls, cpus = [], []
    for number, job_id in enumerate(ids):
        wall, cpu = time.perf_counter(), time.process_time()
        outcome: Any = runner.run_job(job_id, settings=settings)
        if number >= 5:
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        assert outcome == "succeeded", outcome
    return {"wall": statistics.median(walls) * 1000, "cpu": statistics.median(cpus) * 1000}


if __name__ == "__main__":
    sys.exit(main())
