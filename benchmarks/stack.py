"""A throwaway console stack for benchmarks: schema bench_*, its own Celery queue, real uvicorn and workers.

    with Stack() as stack:
        base = stack.serve()
        stack.worker(concurrency=2)
        token = stack.token
        ...

On exit every process it started is stopped (by its own pid, then killed if it lingers),
the schema is dropped and the queue's Redis keys are deleted. Uses TEST_DATABASE_URL's
database and TEST_REDIS_URL, as the test suite does.

The stack's processes connect with `application_name` set to the schema's name (the
benchmark's own queries, `Stack.sql`, with another), so `BackendCpu` can tell the PostgreSQL
backends serving them from everyone else's on a shared server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg2
import redis
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BASE_DB = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Stack:
    def __init__(self, **settings: str) -> None:
        self.schema = f"bench_{uuid.uuid4().hex[:10]}"
        self.queue = f"bench-{self.schema}"
        self.url = self._url(application_name=self.schema)
        self._admin_dsn = self._url(application_name=f"{self.schema}-admin").replace("postgresql+psycopg2", "postgresql")
        self.logs = Path(tempfile.mkdtemp(prefix="bench-logs-"))
        self.env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "REDIS_URL": REDIS,
            "CELERY_QUEUE": self.queue,
            "LOG_LEVEL": "WARNING",
            "LOG_DIR": str(self.logs),
            "DATA_DIR": str(self.logs / "data"),
            "MAX_UPLOAD_BYTES": str(4 * 1024**3),
            **settings,
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self.token = ""

    def _url(self, **query: str) -> str:
        options = {"options": f"-csearch_path={self.schema}", **query}
        return make_url(BASE_DB).update_query_dict(options).render_as_string(hide_password=False)

    def __enter__(self) -> Stack:
        dsn = make_url(BASE_DB).set(drivername="postgresql").render_as_string(hide_password=False)
        self._admin = psycopg2.connect(dsn)
        self._admin.autocommit = True
        self._admin.cursor().execute(f'CREATE SCHEMA "{self.schema}"')
        try:
            self.cli("migrate")
            self.token = self.cli("create-user", "bench@example.com", "--role", "admin").split()[-1]
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        for process in reversed(self.processes):
            _stop(process)
        self.processes.clear()
        self._admin.cursor().execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        self._admin.close()
        self.purge_queue()

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "console", *args], env=self.env, cwd=ROOT, capture_output=True, text=True, check=True
        )
        return done.stdout

    def serve(self) -> str:
        port = free_port()
        self.web = self._start("serve", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return base
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the web process did not start")

    def worker(self, concurrency: int = 1) -> subprocess.Popen[bytes]:
        return self._start("worker", "--concurrency", str(concurrency))

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """Stop a process this stack started at once (SIGKILL to its group: a worker would finish its job first)."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        self.processes.remove(process)

    def pause(self, process: subprocess.Popen[bytes]) -> None:
        """Freeze a process this stack started, with its children (SIGSTOP to its group): a paused worker
        takes no message."""
        os.killpg(process.pid, signal.SIGSTOP)

    def resume(self, process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGCONT)

    def purge_queue(self) -> None:
        from console.core.queue import unacked_keys

        client = redis.Redis.from_url(REDIS)
        keys = [*client.scan_iter(match=f"{self.queue}*", count=1000), *unacked_keys(self.queue).values()]
        client.delete(self.queue, *keys)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg2.connect(self._admin_dsn) as conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _start(self, *args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "console", *args],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(self.logs / f"{args[0]}-{len(self.processes)}.err").open("wb"),
            start_new_session=True,  # its own process group: its pool children stop with it
        )
        self.processes.append(process)
        return process


class BackendCpu:
    """CPU seconds of the PostgreSQL backends serving the stack's processes (read-only: their
    `application_name` in pg_stat_activity, then psutil's cpu_times of those pids; no signal sent).

    A thread samples every `every` seconds while the block runs, so a backend that starts and
    ends inside it is counted up to its last sample (its last fraction of a period is missed);
    one that was there at the start counts from its first sample.
    """

    def __init__(self, stack: Stack, every: float = 0.25) -> None:
        self.stack, self.every = stack, every
        self._first: dict[int, tuple[float, float]] = {}
        self._last: dict[int, tuple[float, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="backend-cpu", daemon=True)

    def __enter__(self) -> BackendCpu:
        self._conn = psycopg2.connect(self.stack._admin_dsn)
        self._conn.autocommit = True
        self._sample(at_start=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._conn.close()

    @property
    def seconds(self) -> float:
        return self.user + self.system

    @property
    def user(self) -> float:
        return sum(self._last[pid][0] - self._first.get(pid, (0.0, 0.0))[0] for pid in self._last)

    @property
    def system(self) -> float:
        """The kernel's share (network round trips, WAL writes and their fdatasync at commits)."""
        return sum(self._last[pid][1] - self._first.get(pid, (0.0, 0.0))[1] for pid in self._last)

    @property
    def backends(self) -> int:
        return len(self._last)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def _sample(self, at_start: bool = False) -> None:
        with self._conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (self.stack.schema,))
            pids = [row[0] for row in cur.fetchall()]
        for pid in pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            used = (times.user, times.system)
            if at_start:
                self._first[pid] = used
            self._last[pid] = used


def wait_for(stack: Stack, query: str, done: Any, timeout: float, every: float = 0.5) -> float:
    """Poll until ``query``'s first value equals ``done``; return the seconds it took."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if stack.sql(query)[0][0] == done:
            return time.perf_counter() - start
        time.sleep(every)
    raise TimeoutError(f"{query} did not reach {done!r} in {timeout} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)  # the group we started (start_new_session), by its own pid
        process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    except ProcessLookupError:
        pass
