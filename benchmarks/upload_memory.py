"""Upload and download a large CSV through the API: rates and the web process's peak RSS.

    .venv/bin/python -m benchmarks upload [--mb 200]      (also: python -m benchmarks.upload_memory)

Starts a real uvicorn with one web process (`serve --workers 1`: the RSS measured is the process
that serves; its own schema bench_* in TEST_DATABASE_URL's database, dropped at the end), uploads
a generated CSV of the given size with a streaming client, and reports the upload rate, the web
process's peak RSS (VmHWM) before and after, then downloads the stored file
(GET /api/datasets/{id}/file, streamed) and reports its rate. Then (unless --no-output) a real worker
(`console worker --concurrency 1`) cleans the uploaded file with one step (trim_whitespace on a
text column: the output is about as large as the input; a file over the worker's memory budget
takes the low-memory path) and the job's output is downloaded as a client would
(GET /api/jobs/{id}/output, streamed), with its rate. The schema is migrated to head, where
`file_chunks.data` is STORAGE EXTERNAL (migration 62a9eb2152a8); `--extended` sets it back to
PostgreSQL's default first, to compare with the schema before that migration.
Targets (issue 7): 1 GB stored at >= 100 MB/s with the web RSS growing < 100 MB; downloading a 1 GB
output streams at the same rate.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks upload")
    parser.add_argument("--mb", type=int, default=200, help="file size in MiB")
    parser.add_argument("--no-output", action="store_true", help="skip cleaning the file and downloading the job's output")
    parser.add_argument(
        "--extended", action="store_true",
        help="first set file_chunks.data back to STORAGE EXTENDED (pglz on top of zlib: the schema before 62a9eb2152a8)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    dsn = make_url(BASE_DB).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(BASE_DB).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS, "CELERY_QUEUE": f"bench-{schema}", "LOG_LEVEL": "WARNING",
           "LOG_DIR": tempfile.mkdtemp(), "MAX_UPLOAD_BYTES": str(4 * 1024**3)}  # fmt: skip
    try:
        subprocess.run([sys.executable, "-m", "console", "migrate"], env=env, check=True, cwd=ROOT, capture_output=True)
        token = subprocess.run(
            [sys.executable, "-m", "console", "create-user", "bench@example.com", "--role", "member"],
            env=env, check=True, cwd=ROOT, capture_output=True, text=True,
        ).stdout.split()[-1]  # fmt: skip
        if args.extended:
            conn.cursor().execute(f'ALTER TABLE "{schema}".file_chunks ALTER COLUMN data SET STORAGE EXTENDED')
        cursor = conn.cursor()
        cursor.execute(
            "SELECT a.attstorage FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = 'file_chunks' AND a.attname = 'data'",
            (schema,),
        )
        storage = {"e": "EXTERNAL", "x": "EXTENDED", "m": "MAIN", "p": "PLAIN"}[cursor.fetchone()[0]]
        print(f"file_chunks.data storage: {storage}; load average {os.getloadavg()[0]:.1f}")  # noqa: T201
        with tempfile.TemporaryDirectory() as folder:
            csv_path = Path(folder) / "big.csv"
            _generate(csv_path, args.mb * 1024 * 1024)
            _measure(env, token, csv_path, output=not args.no_output)
    finally:
        conn.cursor().execute(f'DROP SCHEMA "{schema}" CASCADE')
        client = redis.Redis.from_url(REDIS)
        client.delete(env["CELERY_QUEUE"], *client.scan_iter(match=f"{env['CELERY_QUEUE']}*", count=1000))
    return 0


def _measure(env: dict[str, str], token: str, csv_path: Path, *, output: bool) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "console", "serve", "--port", str(port), "--workers", "1"], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base)
        before = _peak_rss_mb(server.pid)
        size = csv_path.stat().st_size
        started = time.perf_counter()
        with csv_path.open("rb") as handle:
            response = httpx.post(
                f"{base}/api/datasets", headers={"Authorization": f"Bearer {token}"},
                files={"file": ("big.csv", handle, "text/csv")}, timeout=600,
            )  # fmt: skip
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        after = _peak_rss_mb(server.pid)
        print(f"file: {size / 1024**2:.0f} MiB, upload {elapsed:.1f} s = {size / 1024**2 / elapsed:.0f} MiB/s = {size / 1e6 / elapsed:.0f} MB/s")  # noqa: T201
        print(f"web peak RSS: {before:.0f} MiB before, {after:.0f} MiB after, growth {after - before:.0f} MiB")  # noqa: T201
        dataset_id = response.json()["id"]
        started, received = time.perf_counter(), 0
        with httpx.stream("GET", f"{base}/api/datasets/{dataset_id}/file", headers={"Authorization": f"Bearer {token}"}, timeout=600) as download:
            for block in download.iter_bytes():
                received += len(block)
        elapsed = time.perf_counter() - started
        final = _peak_rss_mb(server.pid)
        print(f"download {received / 1024**2:.0f} MiB in {elapsed:.1f} s = {received / 1024**2 / elapsed:.0f} MiB/s = {received / 1e6 / elapsed:.0f} MB/s; web peak RSS {final:.0f} MiB (growth {final - before:.0f} MiB)")  # noqa: T201
        if received != size:
            raise RuntimeError(f"downloaded {received:,} bytes of {size:,}")
        if output:
            _clean_and_download(env, base, token, dataset_id, server.pid, before)
    finally:
        server.terminate()
        server.wait(20)


def _clean_and_download(env: dict[str, str], base: str, token: str, dataset_id: int, web_pid: int, rss_before: float) -> None:
    """A real worker cleans the uploaded file; the job's output is downloaded through the API and timed."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "console", "worker", "--concurrency", "1"], env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            steps = [{"op": "trim_whitespace", "columns": ["name"]}]
            config = client.post("/api/configs", json={"name": "trim", "steps": steps}).raise_for_status().json()
            job = client.post("/api/jobs", json={"dataset_id": dataset_id, "config_id": config["id"]}).raise_for_status().json()
            started = time.perf_counter()
            while job["status"] not in ("succeeded", "failed", "cancelled"):
                if time.perf_counter() - started > 1800:
                    raise RuntimeError(f"job {job['id']} still {job['status']} after 30 minutes")
                time.sleep(1)
                job = client.get(f"/api/jobs/{job['id']}").raise_for_status().json()
            if job["status"] != "succeeded":
                raise RuntimeError(f"job {job['id']} {job['status']}: {job.get('error')}")
            cleaned_in = time.perf_counter() - started
            path = (job.get("report") or {}).get("path", "")
            print(f"job {job['id']}: {job['rows_in']:,} rows cleaned in {cleaned_in:.0f} s ({path or 'path not reported'})")  # noqa: T201
            started, received = time.perf_counter(), 0
            with client.stream("GET", f"/api/jobs/{job['id']}/output", timeout=600) as download:
                download.raise_for_status()
                for block in download.iter_bytes():
                    received += len(block)
            elapsed = time.perf_counter() - started
        final = _peak_rss_mb(web_pid)
        print(  # noqa: T201
            f"output download {received / 1024**2:.0f} MiB in {elapsed:.1f} s = {received / 1024**2 / elapsed:.0f} MiB/s "
            f"= {received / 1e6 / elapsed:.0f} MB/s; web peak RSS {final:.0f} MiB (growth {final - rss_before:.0f} MiB)"
        )
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)  # the group started above, by its own pid
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)


def _generate(path: Path, size: int) -> None:
    row = 0
    with path.open("w") as handle:
        handle.write("id,name,email,amount,city,created\n")
        while handle.tell() < size:
            lines = [
                f"{i},name {i % 977},user{i % 50_000}@example.com,{(i * 37) % 10_000 / 100},city {i % 311},2026-01-{i % 28 + 1:02d}\n"
                for i in range(row, row + 10_000)
            ]
            handle.write("".join(lines))
            row += 10_000


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _wait(base: str) -> None:
    for _ in range(100):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not start")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
