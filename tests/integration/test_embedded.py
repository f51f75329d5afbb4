"""The embedded PostgreSQL and Redis servers: real processes, real data, restarts and crashes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg2
import pytest
import redis

from console.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedServerError, free_port, port_is_free

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Stands in for a launcher that dies without cleaning up.
HOLDER = """
import sys, time
from pathlib import Path
from console.embedded import EmbeddedPostgres, EmbeddedRedis
root = Path(sys.argv[1])
print(EmbeddedPostgres(root / "pg").start(), flush=True)
print(EmbeddedRedis(root / "redis").start(), flush=True)
time.sleep(600)
"""

Server = EmbeddedPostgres | EmbeddedRedis


@pytest.fixture
def data_root() -> Iterator[Path]:
    # Not pytest's tmp_path: the PostgreSQL account must reach it, and /root must stay closed.
    root = Path(tempfile.mkdtemp(prefix="console-embedded-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def started() -> Iterator[list[Server]]:
    """Servers a test starts; whatever happens, each is stopped at the end."""
    servers: list[Server] = []
    yield servers
    for server in reversed(servers):
        server.stop()


def start(server: Server, started: list[Server]) -> str:
    started.append(server)
    return server.start()


def pg_connect(url: str) -> psycopg2.extensions.connection:
    return psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"), connect_timeout=5)


def pg_execute(url: str, sql: str) -> list[tuple[object, ...]]:
    conn = pg_connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split()[0])


def wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} still running after {timeout}s")


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def test_data_survives_stop_and_start(data_root: Path, started: list[Server]) -> None:
    pg, cache = EmbeddedPostgres(data_root / "pg"), EmbeddedRedis(data_root / "redis")
    pg_url, redis_url = start(pg, started), start(cache, started)
    assert pg_url.startswith("postgresql+psycopg2://console@127.0.0.1:") and pg_url.endswith("/console")
    assert pg_execute(pg_url, "SELECT 1") == [(1,)]
    pg_execute(pg_url, "CREATE TABLE kept (id int PRIMARY KEY, name text)")
    pg_execute(pg_url, "INSERT INTO kept VALUES (1, 'ada')")
    with redis.Redis.from_url(redis_url) as client:
        assert client.set("kept", "yes")

    pg.stop()
    cache.stop()
    assert port_is_free(port_of(pg_url)) and port_is_free(port_of(redis_url))

    pg_url = start(EmbeddedPostgres(data_root / "pg"), started)
    redis_url = start(EmbeddedRedis(data_root / "redis"), started)
    assert pg_execute(pg_url, "SELECT id, name FROM kept") == [(1, "ada")]
    with redis.Redis.from_url(redis_url) as client:
        assert client.get("kept") == b"yes"


def test_ports_are_free_after_stop(data_root: Path) -> None:
    pg_port, redis_port = free_port(), free_port()
    pg, cache = EmbeddedPostgres(data_root / "pg", port=pg_port), EmbeddedRedis(data_root / "redis", redis_port)
    with pg, cache:
        assert pg.url.endswith(f":{pg_port}/console") and cache.url == f"redis://127.0.0.1:{redis_port}/0"
        assert not port_is_free(pg_port) and not port_is_free(redis_port)
    assert port_is_free(pg_port) and port_is_free(redis_port)


def test_postgres_starts_after_its_server_was_sigkilled(data_root: Path, started: list[Server]) -> None:
    data_dir = data_root / "pg"
    url = start(EmbeddedPostgres(data_dir), started)
    pg_execute(url, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)")
    killed = postmaster_pid(data_dir)
    os.kill(killed, signal.SIGKILL)
    wait_gone(killed)

    url = start(EmbeddedPostgres(data_dir), started)

    assert postmaster_pid(data_dir) != killed
    assert pg_execute(url, "SELECT id FROM kept") == [(7,)]


def test_redis_starts_after_its_server_was_sigkilled(data_root: Path, started: list[Server]) -> None:
    data_dir = data_root / "redis"
    url = start(EmbeddedRedis(data_dir), started)
    with redis.Redis.from_url(url) as client:
        client.rpush("queue", "job-1", "job-2")
    killed = int((data_dir / "redis.pid").read_text())
    os.kill(killed, signal.SIGKILL)
    wait_gone(killed)

    url = start(EmbeddedRedis(data_dir), started)

    with redis.Redis.from_url(url) as client:
        assert client.lrange("queue", 0, -1) == [b"job-1", b"job-2"]


def test_servers_left_by_a_killed_owner_are_taken_over(data_root: Path, started: list[Server]) -> None:
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(data_root)], cwd=PROJECT_ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as holder:
        try:
            assert holder.stdout is not None
            old_pg_url, old_redis_url = holder.stdout.readline().strip(), holder.stdout.readline().strip()
            assert old_redis_url.startswith("redis://"), "the holder process failed to start both servers"
            pg_execute(old_pg_url, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
            with redis.Redis.from_url(old_redis_url) as client:
                client.set("kept", "yes")
            old_postmaster = postmaster_pid(data_root / "pg")
            old_redis = int((data_root / "redis" / "redis.pid").read_text())
        finally:
            holder.kill()

    pg_url = start(EmbeddedPostgres(data_root / "pg"), started)
    redis_url = start(EmbeddedRedis(data_root / "redis"), started)

    assert pg_url == old_pg_url and postmaster_pid(data_root / "pg") == old_postmaster
    assert pg_execute(pg_url, "SELECT id FROM kept") == [(1,)]
    wait_gone(old_redis, timeout=1)
    with redis.Redis.from_url(redis_url) as client:
        assert client.get("kept") == b"yes"
    for server in started:
        server.stop()
    wait_gone(old_postmaster)


@pytest.mark.parametrize("server_class", [EmbeddedPostgres, EmbeddedRedis])
def test_taken_port_fails_with_the_server_log(server_class: type[Server], data_root: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        server = server_class(data_root / "data", port, timeout=10)

        with pytest.raises(EmbeddedServerError, match="(?i)address already in use"):
            server.start()

    assert server.port is None
    assert not [p for p in psutil.process_iter(["cwd"]) if p.info["cwd"] == str(data_root / "data")]
