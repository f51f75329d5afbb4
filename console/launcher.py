"""`console up`: embedded servers when none are configured, migrations, then web, worker and Flower.

Children get the resolved URLs through their environment. Ctrl-C or SIGTERM stops the
children first, then the embedded servers; a child that dies stops everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from sqlalchemy import func, select

from console.cli import stop_processes
from console.core.settings import Settings


class Launcher:
    def __init__(self, settings: Settings, *, host: str, port: int, workers: int = 1) -> None:
        self.settings, self.host, self.port, self.workers = settings, host, port, workers
        self.servers: list[object] = []
        self.children: list[subprocess.Popen[bytes]] = []
        self.stopping = False

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            env = self._start_services()
            settings = Settings(DATABASE_URL=env["DATABASE_URL"], REDIS_URL=env["REDIS_URL"])
            self._migrate_and_greet(settings)
            self._spawn(env)
            return self._supervise()
        finally:
            stop_processes(self.children)
            for server in reversed(self.servers):
                server.stop()  # type: ignore[attr-defined]

    def _start_services(self) -> dict[str, str]:
        from console.embedded import EmbeddedPostgres, EmbeddedRedis

        env = dict(os.environ)
        data = self.settings.DATA_DIR.resolve()
        if self.settings.DATABASE_URL is None:
            postgres = EmbeddedPostgres(data / "postgres")
            self.servers.append(postgres)
            env["DATABASE_URL"] = postgres.start()
            _say(f"embedded PostgreSQL: {env['DATABASE_URL']} (data in {data / 'postgres'})")
        else:
            env["DATABASE_URL"] = self.settings.DATABASE_URL
        if self.settings.REDIS_URL is None:
            redis = EmbeddedRedis(data / "redis")
            self.servers.append(redis)
            env["REDIS_URL"] = redis.start()
            _say(f"embedded Redis: {env['REDIS_URL']} (data in {data / 'redis'})")
        else:
            env["REDIS_URL"] = self.settings.REDIS_URL
        return env

    def _migrate_and_greet(self, settings: Settings) -> None:
        from console.core.db import check_database, init_engine, session_scope
        from console.core.migrate import upgrade
        from console.core.models import User
        from console.core.security import new_password
        from console.core.users import create_user

        check_database(init_engine(settings))
        upgrade(settings.DATABASE_URL or "")
        with session_scope() as session:
            if session.scalar(select(func.count(User.id))) == 0:
                password = new_password()
                create_user(session=session, email="admin@example.com", role="admin", password=password)
                _say(f"first run: created admin@example.com with password {password} (change it in /admin)")

    def _spawn(self, env: dict[str, str]) -> None:
        console = [sys.executable, "-m", "console"]
        flower_port = _free_port()
        env = {**env, "FLOWER_URL": f"http://127.0.0.1:{flower_port}"}
        self.children = [
            subprocess.Popen(
                [*console, "serve", "--host", self.host, "--port", str(self.port), "--workers", str(self.workers)], env=env
            ),
            subprocess.Popen([*console, "worker", "--beat"], env=env),
            subprocess.Popen([*console, "flower", "--port", str(flower_port)], env=env),
        ]
        url = f"http://{self.host}:{self.port}"
        _say(f"console: {url}/  operators: {url}/admin/  API docs: {url}/docs  Flower: {url}/flower/")
        _say(f"web: {self.workers} process{'es' if self.workers != 1 else ''} (--workers / WEB_WORKERS)")
        _say("sign in with an admin's email and password; make more users with `python -m console create-user`")

    def _supervise(self) -> int:
        while not self.stopping:
            for child in self.children:
                if child.poll() is not None:
                    _say(f"{' '.join(map(str, child.args[2:4]))} exited with code {child.returncode}; stopping")
                    return 1
            time.sleep(0.5)
        return 0

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        self.stopping = True


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _say(message: str) -> None:
    print(f"[console] {message}", flush=True)  # noqa: T201
