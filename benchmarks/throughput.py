"""Throughput of small jobs end to end: N jobs of 1,000 rows submitted at once, two worker processes.

    .venv/bin/python -m benchmarks throughput [--jobs 1000] [--concurrency 2] [--clients 16]

A real uvicorn and one `console worker --concurrency 2` (two prefork pool processes) on a
bench_* schema and queue. One 1,000-row dataset and the benchmark config (data.STEPS) are
made first and the dataset profiled; then --clients threads POST /api/jobs --jobs times
as fast as the API answers, and the clock runs until every job is finished (succeeded,
failed or cancelled), read from the jobs table. Target (issue 7): 50 jobs/s or more.
Everything it started is stopped; the schema and the queue are removed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from benchmarks import data
from benchmarks.engine import machine
from benchmarks.stack import Stack, wait_for

FINISHED = "('succeeded', 'failed', 'cancelled')"


def small_csv(rows: int = 1000) -> bytes:
    """1,000 messy rows of the benchmark's columns (the first rows of its seeded file)."""
    with data.dataset(100_000).open("rb") as handle:
        return b"".join(handle.readline() for _ in range(rows + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    parser.add_argument("--clients", type=int, default=16, help="threads submitting")
    args = parser.parse_args(argv)
    print(machine())  # noqa: T201
    with Stack() as stack:
        base = stack.serve()
        client = httpx.Client(base_url=base, headers=stack.headers(), timeout=120)
        dataset = client.post("/api/datasets", files={"file": ("small.csv", small_csv(), "text/csv")}).raise_for_status().json()
        config = client.post("/api/configs", json={"name": "bench", "steps": data.STEPS}).raise_for_status().json()
        stack.worker(concurrency=args.concurrency)
        wait_for(stack, f"SELECT profile_status FROM datasets WHERE id = {dataset['id']}", "ready", timeout=120)
        body = {"dataset_id": dataset["id"], "config_id": config["id"]}

        def submit(_: int) -> float:
            with httpx.Client(base_url=base, headers=stack.headers(), timeout=120) as own:
                started = time.perf_counter()
                own.post("/api/jobs", json=body).raise_for_status()
                return time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            latencies = list(pool.map(submit, range(args.jobs)))
        submitted = time.perf_counter() - started
        wait_for(stack, f"SELECT count(*) FROM jobs WHERE status IN {FINISHED}", args.jobs, timeout=3600, every=0.2)
        elapsed = time.perf_counter() - started
        outcome = dict(stack.sql("SELECT status, count(*) FROM jobs GROUP BY status"))
        (run_p50,) = stack.sql(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)) FROM jobs"
        )[0]
        (wait_p50,) = stack.sql(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - created_at)) FROM jobs"
        )[0]
    rate = args.jobs / elapsed
    print(  # noqa: T201
        f"\n{args.jobs:,} jobs of 1,000 rows ({len(data.STEPS)} steps; CSV, Parquet and xlsx outputs), "
        f"{args.concurrency} worker processes, {args.clients} submitting clients\n"
        "| jobs | submitted in s | submit p50 ms | all finished in s | jobs/s | run p50 s | submit→finish p50 s | outcome | target |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---|---|\n"
        f"| {args.jobs:,} | {submitted:.1f} | {statistics.median(latencies) * 1000:.0f} | {elapsed:.1f} | {rate:.1f} | "
        f"{float(run_p50):.3f} | {float(wait_p50):.1f} | {', '.join(f'{k} {v}' for k, v in sorted(outcome.items()))} | "
        f"50 jobs/s ({'met' if rate >= 50 else 'MISSED'}) |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
