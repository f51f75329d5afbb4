"""The operator console under load: 10,000 jobs in the table.

    .venv/bin/python -m benchmarks.admin [--jobs 10000] [--loads 15] [--bulk 500]

Makes a schema of its own in TEST_DATABASE_URL's database, fills it with jobs (every status,
finished ones spread over the last two days, succeeded ones with a 50-row preview and a
report), starts a real uvicorn, signs in as an admin and reports:

- the median (and worst) time of GET /admin/job/list, of the list filtered to failed jobs, and of
  GET /admin/ (the dashboard), over --loads loads after two warm-up loads;
- the request time of a bulk re-run of --bulk jobs matching a filter, through the REST API
  (`POST /api/jobs/bulk` with a filter) and through the admin's confirmation + POST;
- the request time of a bulk cancel of the --bulk jobs that re-run made (queued: no worker
  consumes the benchmark's queue), by ids through the REST API.

Targets (issue 4): list and dashboard < 300 ms, the bulk re-run request < 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg2
import redis
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BASE_DB = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "benchmark-password"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=15)
    parser.add_argument("--bulk", type=int, default=500)
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    dsn = make_url(BASE_DB).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE SCHEMA "{schema}"')
    url = (
        make_url(BASE_DB)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    queue = f"bench-{schema}"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS, "CELERY_QUEUE": queue, "LOG_LEVEL": "WARNING",
           "LOG_DIR": tempfile.mkdtemp()}  # fmt: skip
    try:
        subprocess.run([sys.executable, "-m", "console", "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
        command = [sys.executable, "-m", "console", "create-user", "bench@example.com", "--role", "admin"]
        token = subprocess.run(
            [*command, "--password", PASSWORD], env=env, check=True, cwd=ROOT, capture_output=True, text=True
        ).stdout.split()[-1]
        started = time.perf_counter()
        config_id = _fill(psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql")), args.jobs, args.bulk)
        print(f"{args.jobs:,} jobs inserted in {time.perf_counter() - started:.1f} s")  # noqa: T201
        _measure(env, token, config_id, args)
    finally:
        conn.cursor().execute(f'DROP SCHEMA "{schema}" CASCADE')
        client = redis.Redis.from_url(REDIS)
        client.delete(queue, *(queue + suffix for suffix in ("\x06\x163", "\x06\x166", "\x06\x169")))


def _fill(conn, jobs: int, bulk: int) -> int:  # type: ignore[no-untyped-def]
    """Jobs of every status; `bulk` failed ones use a config of their own (the bulk re-run's filter)."""
    rows = [[f"name {i}", str(20 + i), "London", f"p{i}@example.com", f"{i * 1.5}"] for i in range(50)]
    preview = {"columns": ["name", "age", "city", "email", "score"], "rows": rows}
    report = {"rows_in": 1000, "rows_out": 990, "steps": [
        {"step": 1, "op": "drop_duplicates", "rows_before": 1000, "rows_after": 990, "cells_changed": {},
         "details": {}, "summary": "drop_duplicates on all columns: 10 rows removed"}]}  # fmt: skip
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM users WHERE email = 'bench@example.com'")
        (owner,) = cur.fetchone()
        cur.execute(
            "INSERT INTO stored_files (filename, content_type, size, stored_size, sha256, chunk_count, complete) "
            "VALUES ('people.csv', 'text/csv', 24, 24, 'x', 1, true) RETURNING id"
        )
        (file_id,) = cur.fetchone()
        cur.execute("INSERT INTO file_chunks (file_id, seq, compressed, data) VALUES (%s, 0, false, %s)",
                    (file_id, b"name,age,city\nAda,36,Lon\n"))  # fmt: skip
        cur.execute(
            "INSERT INTO datasets (owner_id, name, original_filename, size, sha256, encoding, delimiter, columns, "
            "row_count, profile_status, file_id) VALUES (%s, 'people', 'people.csv', 24, 'x', 'utf-8', ',', %s, 1, "
            "'ready', %s) RETURNING id",
            (owner, json.dumps([{"name": c, "type": "text"} for c in ("name", "age", "city")]), file_id),
        )
        (dataset,) = cur.fetchone()
        steps = json.dumps([{"op": "drop_duplicates", "subset": None, "keep": "first"}])
        config_ids = []
        for name in ("nightly", "bulk-target"):
            cur.execute(
                "INSERT INTO cleaning_configs (owner_id, name, description, steps, version) "
                "VALUES (%s, %s, '', %s, 1) RETURNING id",
                (owner, name, steps),
            )
            config_ids.append(cur.fetchone()[0])
        cur.execute(
            """
            INSERT INTO jobs (owner_id, dataset_id, config_id, config_version, steps, status, task_id, progress,
                              attempts, cancel_requested, created_at, queued_at, started_at, finished_at,
                              rows_in, rows_out, report, preview, error_message, error_traceback)
            SELECT %(owner)s, %(dataset)s,
                   CASE WHEN g <= %(bulk)s THEN %(target)s ELSE %(nightly)s END, 1, %(steps)s::jsonb, s.status,
                   md5(random()::text || g), CASE WHEN s.status = 'running' THEN 40 ELSE 0 END, 1, false,
                   t.created, t.created + interval '1 second',
                   CASE WHEN s.status IN ('running', 'succeeded', 'failed') THEN t.created + interval '2 seconds' END,
                   CASE WHEN s.status IN ('succeeded', 'failed', 'cancelled')
                        THEN t.created + interval '30 seconds' END,
                   CASE WHEN s.status = 'succeeded' THEN 1000 END, CASE WHEN s.status = 'succeeded' THEN 990 END,
                   CASE WHEN s.status = 'succeeded' THEN %(report)s::jsonb END,
                   CASE WHEN s.status = 'succeeded' THEN %(preview)s::jsonb END,
                   CASE WHEN s.status = 'failed' THEN 'step 1 (cast): age: 3 values are not integers' END,
                   CASE WHEN s.status = 'failed' THEN 'Traceback (most recent call last): ...' END
            FROM generate_series(1, %(jobs)s) AS g
            CROSS JOIN LATERAL (SELECT CASE
                WHEN g <= %(bulk)s THEN 'failed'
                WHEN g %% 20 = 0 THEN 'failed' WHEN g %% 50 = 1 THEN 'running' WHEN g %% 50 = 2 THEN 'queued'
                WHEN g %% 50 = 3 THEN 'pending' WHEN g %% 25 = 4 THEN 'cancelled' ELSE 'succeeded' END AS status) AS s
            CROSS JOIN LATERAL (SELECT now() - (random() * interval '48 hours') AS created) AS t
            """,
            {"owner": owner, "dataset": dataset, "bulk": bulk, "target": config_ids[1], "nightly": config_ids[0],
             "steps": steps, "report": json.dumps(report), "preview": json.dumps(preview), "jobs": jobs},
        )  # fmt: skip
        cur.execute("ANALYZE")
    return config_ids[1]


def _measure(env: dict[str, str], token: str, config_id: int, args: argparse.Namespace) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "console", "serve", "--port", str(port)], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base)
        with httpx.Client(base_url=base, timeout=60, follow_redirects=False) as web:
            signed_in = web.post("/admin/login", data={"email": "bench@example.com", "password": PASSWORD})
            assert signed_in.status_code == 302, signed_in.text[-500:]
            for label, path in (
                ("job list", "/admin/job/list"),
                ("job list, failed only", "/admin/job/list?status=failed"),
                ("job list, searched", "/admin/job/list?search=cast"),
                ("dashboard", "/admin/"),
            ):
                _report(label, _loads(web, path, args.loads))
            made = _bulk_through_the_api(web, token, config_id, args.bulk)
            _bulk_through_the_admin(web, config_id, args.bulk)
            _bulk_cancel_through_the_api(web, token, made)
    finally:
        server.terminate()
        server.wait(20)


def _loads(web: httpx.Client, path: str, loads: int) -> list[float]:
    for _ in range(2):
        web.get(path).raise_for_status()
    times = []
    for _ in range(loads):
        started = time.perf_counter()
        response = web.get(path)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return times


def _report(label: str, times: list[float]) -> None:
    print(f"{label:<24} median {statistics.median(times) * 1000:6.0f} ms, worst {max(times) * 1000:6.0f} ms "  # noqa: T201
          f"({len(times)} loads)")  # fmt: skip


def _bulk_through_the_api(web: httpx.Client, token: str, config_id: int, expected: int) -> list[int]:
    """The re-run; returns the ids of the jobs it made."""
    body = {"action": "rerun", "filter": {"status": "failed", "config_id": config_id}}
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    dry = web.post("/api/jobs/bulk", json={**body, "dry_run": True}, headers=headers)
    dry_time = time.perf_counter() - started
    started = time.perf_counter()
    response = web.post("/api/jobs/bulk", json=body, headers=headers)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    result = response.json()
    assert (dry.json()["acted"], result["acted"]) == (expected, expected), (dry.json()["acted"], result["acted"])
    print(f"REST bulk re-run of {result['acted']} jobs matching a filter: dry run {dry_time * 1000:.0f} ms, "  # noqa: T201
          f"the re-run {elapsed:.2f} s")  # fmt: skip
    return [row["new_job_id"] for row in result["results"]]


def _bulk_through_the_admin(web: httpx.Client, config_id: int, expected: int) -> None:
    """The admin's path: the confirmation page (GET) for the same failed jobs, then its POST (a requeue this time)."""
    started = time.perf_counter()
    page = web.get("/admin/job/bulk", params={"action": "requeue", "status": "failed", "config_id": config_id})
    confirm_time = time.perf_counter() - started
    page.raise_for_status()
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', page.text))
    count = len(fields["ids"].split(","))
    started = time.perf_counter()
    done = web.post("/admin/job/bulk", data=fields)
    elapsed = time.perf_counter() - started
    assert done.status_code == 303, done.text[-500:]
    print(f"admin bulk requeue of {count} jobs: confirmation page {confirm_time * 1000:.0f} ms, "  # noqa: T201
          f"the POST {elapsed:.2f} s")  # fmt: skip
    assert count == expected


def _bulk_cancel_through_the_api(web: httpx.Client, token: str, ids: list[int]) -> None:
    started = time.perf_counter()
    response = web.post(
        "/api/jobs/bulk", json={"action": "cancel", "ids": ids}, headers={"Authorization": f"Bearer {token}"}
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    result = response.json()
    assert result["acted"] == len(ids), {key: result[key] for key in ("acted", "skipped", "not_found")}
    print(f"REST bulk cancel of {result['acted']} queued jobs by ids: {elapsed:.2f} s")  # noqa: T201


def _wait(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
