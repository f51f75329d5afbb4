"""API latency under load: 50 concurrent clients on job status and job submission, worker busy and idle.

    .venv/bin/python -m benchmarks api [--connections 50] [--seconds 15] [--rows 5m]

A real uvicorn (`python -m console serve`, one process) on a bench_* schema; the load comes
from wrk (Debian's `wrk`; `apt-get install -y wrk`), run on this machine against 127.0.0.1:

  busy   a worker (`console worker --concurrency 1`) is cleaning a --rows file (uploaded
         through the API, then a job with the benchmark config); the submissions queue behind it
  idle   no worker holds any job (the worker is stopped and the queue emptied)

For each: GET /api/jobs/{id} and POST /api/jobs (a small dataset and config), --seconds each,
p50 / p99 latency from wrk --latency. Targets (issue 7): p99 < 150 ms busy, < 50 ms idle.
Everything it started is stopped; the schema and the queue are removed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks import data
from benchmarks.engine import machine
from benchmarks.stack import Stack, wait_for

SMALL = "id,name,city\n" + "".join(f"{i},name {i % 50} , City{i % 7}\n" for i in range(1000))
SMALL_STEPS = [{"op": "drop_duplicates"}, {"op": "trim_whitespace"}]


def wrk(url: str, token: str, connections: int, seconds: int, body: str | None = None) -> dict[str, float]:
    """p50/p99 (ms), requests/s and errors of one wrk run."""
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        lines = [f'wrk.headers["Authorization"] = "Bearer {token}"']
        if body is not None:
            lines += ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}", 'wrk.headers["Content-Type"] = "application/json"']
        script.write_text("\n".join(lines) + "\n")
        done = subprocess.run(
            ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "--latency",
             "-s", str(script), url],
            capture_output=True, text=True, check=True, timeout=seconds + 60,
        )  # fmt: skip
    return _parse(done.stdout)


def _parse(output: str) -> dict[str, float]:
    def ms(label: str) -> float:
        found = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not found:
            raise RuntimeError(f"no {label}% line in wrk's output:\n{output}")
        return float(found[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found[2]]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "p50": ms("50"),
        "p99": ms("99"),
        "rps": float(rate[1]) if rate else 0.0,
        "errors": int(errors[1]) if errors else 0,
        "socket_errors": sum(map(int, sockets.groups())) if sockets else 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks api", description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rows", default="5m", help="size of the file the busy worker cleans")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)  # noqa: T201
        return 2
    print(machine())  # noqa: T201
    results: dict[str, dict[str, float]] = {}
    with Stack() as stack:
        base = stack.serve()
        client = httpx.Client(base_url=base, headers=stack.headers(), timeout=600)
        small = client.post("/api/datasets", files={"file": ("small.csv", SMALL.encode(), "text/csv")}).raise_for_status().json()
        config = client.post("/api/configs", json={"name": "small", "steps": SMALL_STEPS}).raise_for_status().json()
        body = json.dumps({"dataset_id": small["id"], "config_id": config["id"]})
        job = client.post("/api/jobs", content=body, headers={"Content-Type": "application/json"}).raise_for_status().json()
        status_url, submit_url = f"{base}/api/jobs/{job['id']}", f"{base}/api/jobs"

        worker = stack.worker(concurrency=1)
        bigs = _big_jobs(client, data.dataset(data.parse_size(args.rows)), count=3)  # queued back to back
        wait_for(stack, f"SELECT status FROM jobs WHERE id = {bigs[0]}", "running", timeout=900)
        started = time.perf_counter()

        def phase(name: str, url: str, payload: str | None) -> None:
            # A fresh web process per phase: one phase's leftovers (see the README) must not skew the next.
            nonlocal base
            stack.kill(stack.web)
            base = stack.serve()
            url = url.replace(url.split("/api/")[0], base)
            httpx.get(url, headers=stack.headers(), timeout=30)
            errors_before = _pool_errors(stack)
            results[name] = wrk(url, stack.token, args.connections, args.seconds, payload)
            results[name]["pool_errors"] = _pool_errors(stack) - errors_before

        phase("busy status", status_url, None)
        phase("busy submit", submit_url, body)
        ids = ", ".join(map(str, bigs))
        running = stack.sql(f"SELECT count(*) FROM jobs WHERE id IN ({ids}) AND status = 'running'")[0][0]
        busy_note = (
            f"the worker was {'still' if running else 'no longer'} cleaning a {args.rows}-row file when the busy phases "
            f"ended, {time.perf_counter() - started:.0f} s after they began"
        )
        stack.kill(worker)
        stack.purge_queue()
        time.sleep(2)
        phase("idle status", status_url, None)
        phase("idle submit", submit_url, body)
        submitted = stack.sql("SELECT count(*) FROM jobs")[0][0]
    print(f"\n{args.connections} connections, {args.seconds} s each, one uvicorn process; {busy_note}; {submitted:,} jobs submitted")  # noqa: T201
    print("| worker | endpoint | p50 ms | p99 ms | requests/s | errors | pool timeouts | target p99 |")  # noqa: T201
    print("|---|---|---:|---:|---:|---:|---:|---:|")  # noqa: T201
    for name, r in results.items():
        state, endpoint = name.split()
        target = 150 if state == "busy" else 50
        endpoint = "GET /api/jobs/{id}" if endpoint == "status" else "POST /api/jobs"
        mark = "met" if r["p99"] < target and r["rps"] > 0 else "MISSED"
        print(  # noqa: T201
            f"| {state} | {endpoint} | {r['p50']:.1f} | {r['p99']:.1f} | {r['rps']:.0f} | {r['errors'] + r['socket_errors']} | "
            f"{r['pool_errors']} | < {target} ({mark}) |"
        )
    return 0


def _pool_errors(stack: Stack) -> int:
    log = stack.logs / "web.log"
    return log.read_text(errors="replace").count("QueuePool limit") if log.exists() else 0


def _big_jobs(client: httpx.Client, path: Path, count: int) -> list[int]:
    with path.open("rb") as handle:
        dataset = client.post("/api/datasets", files={"file": (path.name, handle, "text/csv")}).raise_for_status().json()
    config = client.post("/api/configs", json={"name": "big", "steps": data.STEPS}).raise_for_status().json()
    body = {"dataset_id": dataset["id"], "config_id": config["id"]}
    return [int(client.post("/api/jobs", json=body).raise_for_status().json()["id"]) for _ in range(count)]


if __name__ == "__main__":
    sys.exit(main())
