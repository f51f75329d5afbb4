"""API latency under load: 50 clients on job status and job submission, worker busy and idle.

    .venv/bin/python -m benchmarks api [--workers 2] [--mode all|both|wrk|paced|realistic] [--connections 50]
                                       [--seconds 15] [--rows 5m] [--users 50] [--think 0.5,1.5]
                                       [--submit-share 0.1] [--realistic-seconds 30] [--states busy,idle]

A real uvicorn (`python -m console serve --workers N`, N = WEB_WORKERS, 2 by default) on a bench_*
schema, one web for every phase (the pool bug that once called for a fresh one per phase is fixed;
"pool timeouts" counts "QueuePool limit" lines in the web's logs). Three kinds of load, run on this
machine against 127.0.0.1 (`all`, the default, runs them all; `both` is wrk and realistic):

  wrk         closed loop, saturation: wrk (2 threads, --connections, --seconds per endpoint,
              --latency), every connection one admin's token, sending the next request the moment
              the answer comes: throughput and its latency. wrk is not a Python package: on Debian
              `apt-get install -y wrk` (elsewhere build it from github.com/wg/wrk); without it the
              wrk and paced modes are skipped with that message and `--mode realistic` still runs.
  paced       the realistic load from wrk, a client that does not pause (C, no garbage collector):
              --users connections, each a member's (token, dataset, config, job); --submit-share of
              them submit jobs, the others read their job's status; each waits --think seconds
              (uniform, wrk's `delay()`) after every answer. Two wrk processes side by side (status,
              submit), --realistic-seconds; latency from the request's write to its answer.
  realistic   --users clients, each a member with its own token, dataset, config and job, on a
              keep-alive connection of its own (httpx, no extra dependency): think --think seconds
              (uniform), then submit a job with probability --submit-share, else read its latest
              job's status; --realistic-seconds per phase, after 5 s of the same load unrecorded.
              Latency per request as the client saw it (the client's own event loop is part of it),
              beside the server's own time for it (its `Server-Timing` header) and the client's own
              garbage collections.

Worker states: *busy*: a worker (`console worker --concurrency 1`) is cleaning a --rows file
(uploaded through the API; --busy-jobs such jobs queued back to back); *idle*: no worker holds a
job (it is stopped and the queue emptied). Each phase also reports the web processes' CPU time
per request (all workers, from /proc: how many requests a second one fully used core would serve,
whatever else shares the machine), the web processes' garbage collections of 20 ms or more (the
warnings they log) and the 1-minute load average before and after it.
Targets (issue 7): p99 < 150 ms busy, < 50 ms idle. Everything it started is stopped; the
schema and the queue are removed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks import data
from benchmarks.engine import machine
from benchmarks.stack import REDIS, Stack, wait_for

SMALL = "id,name,city\n" + "".join(f"{i},name {i % 50} , City{i % 7}\n" for i in range(1000))
SMALL_STEPS = [{"op": "drop_duplicates"}, {"op": "trim_whitespace"}]
WRK_MISSING = (
    "wrk is not installed, so the closed-loop (wrk) phases are skipped: on Debian `apt-get install -y wrk`, "
    "elsewhere build it from github.com/wg/wrk; `--mode realistic` needs nothing more"
)


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
    return {"p50": ms("50"), "p99": ms("99"), "rps": float(rate[1]) if rate else 0.0, **_parse_counts(output)}


def _parse_counts(output: str) -> dict[str, float]:
    total = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests": int(total[1]) if total else 0,
        "errors": (int(errors[1]) if errors else 0) + (sum(map(int, sockets.groups())) if sockets else 0),
    }


# ---- paced wrk: the realistic load from a client that does not pause ----------------------------

PACED_LUA = """\
-- {kind}: each connection sends one request, waits {low}-{high} ms (uniform) after its answer, and so on.
local members = {{
{members}
}}
local low, high, kind = {low}, {high}, "{kind}"
local next_member = 0
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("first", counter)
end
function init(args)
  math.randomseed(os.time() * 1000 + (first or 0))
  next_member = (first or 0) - 1
end
function delay()
  return math.random(low, high)
end
function request()
  next_member = next_member % #members + 1
  local m = members[next_member]
  local headers = {{["Authorization"] = "Bearer " .. m[1]}}
  if kind == "submit" then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/api/jobs", headers, string.format('{{"dataset_id": %d, "config_id": %d}}', m[3], m[4]))
  end
  return wrk.format("GET", "/api/jobs/" .. m[2], headers)
end
function done(summary, latency, requests)
  for _, p in ipairs({{50, 90, 99, 99.9}}) do
    io.write(string.format("PACED p%s %d\\n", p, latency:percentile(p)))
  end
  io.write(string.format("PACED max %d\\n", latency.max))
end
"""


def paced_script(kind: str, members: list[Member], think: tuple[float, float]) -> str:
    """wrk's Lua for `kind` (status or submit) requests by `members` in turn, with think time."""
    rows = ",\n".join(f'  {{"{m.token}", {m.job_id}, {m.dataset_id}, {m.config_id}}}' for m in members)
    return PACED_LUA.format(kind=kind, members=rows, low=int(think[0] * 1000), high=int(think[1] * 1000))


def wrk_paced(
    base: str, members: list[Member], seconds: int, think: tuple[float, float], share: float
) -> dict[str, dict[str, float]]:
    """The realistic load (len(members) clients, think time, `share` of them submitting) from wrk:
    two wrk processes side by side, one connection per client, `share` of the connections
    submitting and the rest reading their job's status; each waits `think` after every answer."""
    submitters = max(1, round(len(members) * share))
    plan = {"status": members[submitters:], "submit": members[:submitters]}
    with tempfile.TemporaryDirectory() as folder:
        running = {}
        for kind, group in plan.items():
            script = Path(folder) / f"{kind}.lua"
            script.write_text(paced_script(kind, group, think))
            running[kind] = subprocess.Popen(
                ["wrk", f"-t{min(2, len(group))}", f"-c{len(group)}", f"-d{seconds}s", "--timeout", "10s",
                 "-s", str(script), base],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
        results = {}
        for kind, process in running.items():
            out, err = process.communicate(timeout=seconds + 60)
            if process.returncode:
                raise RuntimeError(f"wrk ({kind}) failed: {err or out}")
            results[kind] = _parse_paced(out)
    return results


def _parse_paced(output: str) -> dict[str, float]:
    """p50/p99 (ms) from the script's own lines (wrk's --latency rounds them), with the usual counts."""
    result = _parse_counts(output)
    for label in ("50", "99"):
        found = re.search(rf"^PACED p{label} (\d+)$", output, re.M)
        if not found:
            raise RuntimeError(f"no PACED p{label} line in wrk's output:\n{output}")
        result[f"p{label}"] = int(found[1]) / 1000
    result["rps"] = result["requests"] / max(1.0, _duration(output))
    return result


def _duration(output: str) -> float:
    found = re.search(r"requests in ([\d.]+)(ms|s|m)", output)
    return float(found[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0}[found[2]] if found else 0.0


# ---- realistic clients --------------------------------------------------------------------------


@dataclass
class Member:
    token: str
    dataset_id: int
    config_id: int
    job_id: int


@dataclass
class Latencies:
    status: list[float] = field(default_factory=list)
    submit: list[float] = field(default_factory=list)
    errors: int = 0
    # The server's own time for the same requests (its Server-Timing header: request in to response
    # headers out, in the application), and this client's own garbage collection pauses.
    server_status: list[float] = field(default_factory=list)
    server_submit: list[float] = field(default_factory=list)
    client_gc_ms: list[float] = field(default_factory=list)


def server_ms(response: httpx.Response) -> float | None:
    """The `app;dur=` of a Server-Timing header, in ms (None when the server sent none)."""
    found = re.search(r"(?:^|,)\s*app;dur=([\d.]+)", response.headers.get("server-timing", ""))
    return float(found[1]) if found else None


def make_members(stack: Stack, base: str, count: int) -> list[Member]:
    """`count` members, each with a token, a small dataset, a config and one job (made through the API)."""
    from console.core.db import init_engine, session_scope
    from console.core.settings import Settings
    from console.core.users import create_user, issue_token

    init_engine(Settings(DATABASE_URL=stack.url, REDIS_URL=REDIS, _env_file=None))  # type: ignore[call-arg]
    tokens = []
    with session_scope() as session:
        for number in range(count):
            user = create_user(session=session, email=f"member{number}@example.com", role="member", password=None)
            tokens.append(issue_token(session=session, user=user, name="bench"))
    members = []
    for token in tokens:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            dataset = client.post("/api/datasets", files={"file": ("s.csv", SMALL.encode(), "text/csv")}).raise_for_status()
            config = client.post("/api/configs", json={"name": "s", "steps": SMALL_STEPS}).raise_for_status()
            body = {"dataset_id": dataset.json()["id"], "config_id": config.json()["id"]}
            job = client.post("/api/jobs", json=body).raise_for_status()
            members.append(Member(token, body["dataset_id"], body["config_id"], job.json()["id"]))
    return members


async def _member_loop(client: httpx.AsyncClient, member: Member, record_from: float, until: float,
                       think: tuple[float, float], share: float, seed: int, into: Latencies) -> None:  # fmt: skip
    rng = random.Random(seed)
    body = {"dataset_id": member.dataset_id, "config_id": member.config_id}
    await asyncio.sleep(rng.uniform(0, think[1]))  # clients do not start in step
    while time.monotonic() < until:
        submitting = rng.random() < share
        recording = time.monotonic() >= record_from
        started = time.perf_counter()
        try:
            if submitting:
                response = await client.post("/api/jobs", json=body)
            else:
                response = await client.get(f"/api/jobs/{member.job_id}")
            elapsed = (time.perf_counter() - started) * 1000
            server = server_ms(response)
            if response.status_code >= 400:
                into.errors += recording
            elif submitting:
                member.job_id = response.json()["id"]
                if recording:
                    into.submit.append(elapsed)
                    if server is not None:
                        into.server_submit.append(server)
            elif recording:
                into.status.append(elapsed)
                if server is not None:
                    into.server_status.append(server)
        except httpx.HTTPError:
            into.errors += recording
        await asyncio.sleep(rng.uniform(*think))


def realistic(
    base: str, members: list[Member], seconds: float, think: tuple[float, float], share: float, warmup: float = 5.0
) -> Latencies:
    """Run every member's loop for `warmup` + `seconds`; record the last `seconds` only.

    The clients (one keep-alive connection each) are made before the clock starts: making 50 httpx
    clients blocks this event loop for about a second, which would count as the server's latency.
    This process's own objects are frozen first (`gc.freeze()`) and its collections timed: a full
    collection of this client stalls every pending request's clock as a server's would.
    """
    into = Latencies()
    gc.collect()
    gc.freeze()
    started: list[float] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            into.client_gc_ms.append((time.perf_counter() - started[0]) * 1000)

    gc.callbacks.append(watch)

    async def run() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        clients = [
            httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {m.token}"}, timeout=30, limits=limits)
            for m in members
        ]
        record_from = time.monotonic() + warmup
        until = record_from + seconds
        try:
            await asyncio.gather(
                *(_member_loop(client, member, record_from, until, think, share, number, into)
                  for number, (client, member) in enumerate(zip(clients, members, strict=True)))
            )  # fmt: skip
        finally:
            for client in clients:
                await client.aclose()

    try:
        asyncio.run(run())
    finally:
        gc.callbacks.remove(watch)
        gc.unfreeze()
    return into


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


# ---- measuring around a phase -------------------------------------------------------------------


def _web_cpu_seconds(stack: Stack) -> float:
    """CPU time (user + system) of the web supervisor and all its worker processes so far."""
    root = psutil.Process(stack.web.pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def _pool_errors(stack: Stack) -> int:
    return sum(path.read_text(errors="replace").count("QueuePool limit") for path in stack.logs.glob("web*.log"))


SLOW_GC = re.compile(r"slow garbage collection: (\d+) over \d+ ms, longest ([\d.]+) ms")


def _slow_collections(stack: Stack) -> list[tuple[int, float]]:
    """(how many, longest ms) of each "slow garbage collection" warning in the web processes' logs so far."""
    found = []
    for path in sorted(stack.logs.glob("web*.log")):
        found += [(int(m[1]), float(m[2])) for m in SLOW_GC.finditer(path.read_text(errors="replace"))]
    return found


@dataclass
class Phase:
    state: str
    load: str
    endpoint: str
    p50: float
    p99: float
    rate: float
    requests: int
    errors: int
    cpu_ms: float
    pool_errors: int
    load_before: float
    load_after: float
    slow_gcs: int = 0
    slow_gc_longest: float = 0.0
    server: str = "-"
    client_gc: str = "-"


MODES = {"all": ("wrk", "paced", "realistic"), "both": ("wrk", "realistic"), "wrk": ("wrk",), "paced": ("paced",),
         "realistic": ("realistic",)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks api", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="web processes (default: the WEB_WORKERS setting, 2)")
    parser.add_argument("--mode", choices=list(MODES), default="all", help="both = wrk and realistic")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument("--seconds", type=int, default=15, help="wrk seconds per endpoint")
    parser.add_argument("--users", type=int, default=50, help="realistic and paced clients")
    parser.add_argument("--think", default="0.5,1.5", help="realistic and paced think time, min,max seconds")
    parser.add_argument("--submit-share", type=float, default=0.1, help="realistic and paced: share of requests that submit")
    parser.add_argument("--realistic-seconds", type=int, default=30, help="seconds of each realistic and paced phase")
    parser.add_argument("--rows", default="5m", help="size of the file the busy worker cleans")
    parser.add_argument("--busy-jobs", type=int, default=6, help="big jobs queued so the worker stays busy")
    parser.add_argument("--states", default="busy,idle", help="worker states to measure, in order")
    args = parser.parse_args(argv)
    think = tuple(float(part) for part in args.think.split(","))
    loads = list(MODES[args.mode])
    if {"wrk", "paced"} & set(loads) and shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)  # noqa: T201
        loads = [load for load in loads if load == "realistic"]
        if not loads:
            return 2
    states = [state.strip() for state in args.states.split(",") if state.strip()]
    print(machine())  # noqa: T201
    phases: list[Phase] = []
    settings = {"WEB_WORKERS": str(args.workers)} if args.workers else {}
    busy_note = "no busy phase"
    with Stack(**settings) as stack:
        base = stack.serve()
        workers = len([p for p in psutil.Process(stack.web.pid).children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]) or 1
        client = httpx.Client(base_url=base, headers=stack.headers(), timeout=600)
        small = client.post("/api/datasets", files={"file": ("small.csv", SMALL.encode(), "text/csv")}).raise_for_status().json()
        config = client.post("/api/configs", json={"name": "small", "steps": SMALL_STEPS}).raise_for_status().json()
        body = json.dumps({"dataset_id": small["id"], "config_id": config["id"]})
        job = client.post("/api/jobs", content=body, headers={"Content-Type": "application/json"}).raise_for_status().json()
        status_url, submit_url = f"{base}/api/jobs/{job['id']}", f"{base}/api/jobs"
        members = make_members(stack, base, args.users) if {"realistic", "paced"} & set(loads) else []

        def measure(state: str, load: str, run: Any) -> None:
            pool_before, cpu_before, load_before = _pool_errors(stack), _web_cpu_seconds(stack), os.getloadavg()[0]
            slow_before = len(_slow_collections(stack))
            results = run()
            time.sleep(1.5)  # the web logs its slow collections once a second
            cpu = _web_cpu_seconds(stack) - cpu_before
            pool, load_after = _pool_errors(stack) - pool_before, os.getloadavg()[0]
            slow = _slow_collections(stack)[slow_before:]
            total = sum(r["requests"] for r in results.values()) or 1
            for endpoint, r in results.items():
                phases.append(Phase(state, load, endpoint, r["p50"], r["p99"], r["rps"], r["requests"], r["errors"],
                                    1000 * cpu / total, pool, load_before, load_after,
                                    sum(n for n, _ in slow), max((ms for _, ms in slow), default=0.0),
                                    r.get("server", "-"), r.get("client_gc", "-")))  # fmt: skip

        def wrk_phase(state: str, endpoint: str) -> None:
            url, payload = (status_url, None) if endpoint == "status" else (submit_url, body)
            measure(state, "wrk", lambda: {endpoint: wrk(url, stack.token, args.connections, args.seconds, payload)})

        def paced_phase(state: str) -> None:
            measure(state, f"{args.users} users, wrk", lambda: wrk_paced(base, members, args.realistic_seconds, think, args.submit_share))  # type: ignore[arg-type]

        def realistic_phase(state: str) -> None:
            def run() -> dict[str, dict[str, Any]]:
                got = realistic(base, members, args.realistic_seconds, think, args.submit_share)  # type: ignore[arg-type]
                pauses = got.client_gc_ms
                client_gc = f"{len(pauses)}, longest {max(pauses, default=0):.1f}, {sum(p >= 5 for p in pauses)} ≥ 5 ms"
                out = {}
                for endpoint, values, server in (("status", got.status, got.server_status), ("submit", got.submit, got.server_submit)):
                    out[endpoint] = {
                        "p50": _percentile(values, 0.50), "p99": _percentile(values, 0.99),
                        "rps": len(values) / args.realistic_seconds, "requests": len(values),
                        "errors": got.errors if endpoint == "status" else 0,
                        "server": f"{_percentile(server, 0.50):.1f} / {_percentile(server, 0.99):.1f}" if server else "-",
                        "client_gc": client_gc,
                    }  # fmt: skip
                return out

            measure(state, f"{args.users} users, httpx", run)

        def phases_for(state: str) -> None:
            for load in loads:
                if load == "wrk":
                    wrk_phase(state, "status")
                    wrk_phase(state, "submit")
                elif load == "paced":
                    paced_phase(state)
                else:
                    realistic_phase(state)

        httpx.get(status_url, headers=stack.headers(), timeout=30)
        for state in states:
            if state == "busy":
                worker = stack.worker(concurrency=1)
                bigs = _big_jobs(client, data.dataset(data.parse_size(args.rows)), count=args.busy_jobs)  # back to back
                wait_for(stack, f"SELECT status FROM jobs WHERE id = {bigs[0]}", "running", timeout=900)
                started = time.perf_counter()
                phases_for("busy")
                ids = ", ".join(map(str, bigs))
                running = stack.sql(f"SELECT count(*) FROM jobs WHERE id IN ({ids}) AND status = 'running'")[0][0]
                busy_note = (
                    f"the worker was {'still' if running else 'NO LONGER'} cleaning a {args.rows}-row file when the busy "
                    f"phases ended, {time.perf_counter() - started:.0f} s after they began"
                )
                stack.kill(worker)
                stack.purge_queue()
                time.sleep(2)
            else:
                phases_for(state)
        submitted = stack.sql("SELECT count(*) FROM jobs")[0][0]
    print(  # noqa: T201
        f"\n{workers} web process{'es' if workers != 1 else ''}; wrk: {args.connections} connections, {args.seconds} s each; "
        f"realistic and paced: {args.users} users, think {args.think} s, {args.submit_share:.0%} submissions, "
        f"{args.realistic_seconds} s; {busy_note}; {submitted:,} jobs submitted"
    )
    print("| worker | load | endpoint | p50 ms | p99 ms | server p50 / p99 ms | requests/s | errors | pool timeouts | "  # noqa: T201
          "web CPU ms/request | web GCs ≥ 20 ms (longest) | client GCs | load avg before → after | target p99 |")  # fmt: skip
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|")  # noqa: T201
    for p in phases:
        target = 150 if p.state == "busy" else 50
        endpoint = "GET /api/jobs/{id}" if p.endpoint == "status" else "POST /api/jobs"
        mark = "met" if p.p99 < target and p.requests > 0 else "MISSED"
        print(  # noqa: T201
            f"| {p.state} | {p.load} | {endpoint} | {p.p50:.1f} | {p.p99:.1f} | {p.server} | {p.rate:.0f} | {p.errors} | "
            f"{p.pool_errors} | {p.cpu_ms:.2f} | {p.slow_gcs} ({p.slow_gc_longest:.0f} ms) | {p.client_gc} | "
            f"{p.load_before:.1f} → {p.load_after:.1f} | < {target} ({mark}) |"
        )
    print("(realistic and paced rows: web CPU ms/request is over both endpoints together; server p50 / p99: the app's "  # noqa: T201
          "Server-Timing; client GCs: the httpx client's own collections over the phase with warm-up)")
    return 0


def _big_jobs(client: httpx.Client, path: Path, count: int) -> list[int]:
    with path.open("rb") as handle:
        dataset = client.post("/api/datasets", files={"file": (path.name, handle, "text/csv")}).raise_for_status().json()
    config = client.post("/api/configs", json={"name": "big", "steps": data.STEPS}).raise_for_status().json()
    body = {"dataset_id": dataset["id"], "config_id": config["id"]}
    return [int(client.post("/api/jobs", json=body).raise_for_status().json()["id"]) for _ in range(count)]


if __name__ == "__main__":
    sys.exit(main())
