"""The command line: up | serve | worker | flower | migrate | create-user."""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from console.core.settings import Settings, SettingsError, get_settings

ROOT = Path(__file__).resolve().parent.parent


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
        return int(args.handler(args, settings) or 0)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except ValueError as exc:  # pydantic's ValidationError: a setting has a bad value
        print(f"error: invalid settings: {exc}", file=sys.stderr)  # noqa: T201
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="console", description="The data ops console.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    workers_help = "web processes (uvicorn workers, each with its own database pool); default: WEB_WORKERS"

    up = commands.add_parser("up", help="everything for a local run: migrations, web, worker, Flower")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--workers", type=_positive, default=None, help=workers_help)
    up.set_defaults(handler=cmd_up)

    serve = commands.add_parser("serve", help="the web console (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=_positive, default=None, help=workers_help)
    serve.set_defaults(handler=cmd_serve)

    worker = commands.add_parser("worker", help="a Celery worker")
    worker.add_argument("--concurrency", type=int, default=None)
    worker.add_argument("--beat", action="store_true", help="also run the periodic reconciler (one worker only)")
    worker.set_defaults(handler=cmd_worker)

    flower = commands.add_parser("flower", help="Flower, for the console's /flower proxy")
    flower.add_argument("--address", default="127.0.0.1")
    flower.add_argument("--port", type=int, default=5555)
    flower.set_defaults(handler=cmd_flower)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(handler=cmd_migrate)

    create_user = commands.add_parser("create-user", help="add a user and print an API token for them")
    create_user.add_argument("email")
    create_user.add_argument("--role", required=True, choices=["admin", "operator", "member"])
    create_user.add_argument("--password", default=None, help="lets the user sign in to the web console")
    create_user.set_defaults(handler=cmd_create_user)
    return parser


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from console.core.db import check_database, init_engine
    from console.core.logging import setup_logging
    from console.core.migrate import upgrade

    setup_logging("cli", settings)
    check_database(init_engine(settings))
    upgrade(settings.DATABASE_URL or "")
    print(f"database {settings.masked_database_url()} is up to date")  # noqa: T201
    return 0


def cmd_create_user(args: argparse.Namespace, settings: Settings) -> int:
    from console.core.db import check_database, init_engine, session_scope
    from console.core.errors import ConsoleError
    from console.core.users import create_user, issue_token

    check_database(init_engine(settings))
    try:
        with session_scope() as session:
            user = create_user(session=session, email=args.email, role=args.role, password=args.password)
            token = issue_token(session=session, user=user, name="created on the command line")
    except ConsoleError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"created {user.role} {user.email}; API token: {token}")  # noqa: T201
    return 0


def _positive(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 64:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 64")
    return number


# loguru's levels as uvicorn names them (uvicorn has no SUCCESS).
UVICORN_LOG_LEVELS = {"TRACE": "trace", "DEBUG": "debug", "INFO": "info", "SUCCESS": "info",
                      "WARNING": "warning", "ERROR": "error", "CRITICAL": "critical"}  # fmt: skip


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """uvicorn with `--workers` (default WEB_WORKERS) processes. With more than one, this process only
    supervises: it binds the socket, spawns the workers (each builds its own app, engine and logging:
    console.app) and restarts one that dies; SIGTERM or Ctrl-C stops them all."""
    import uvicorn

    from console.core.db import check_database, init_engine
    from console.core.logging import setup_logging

    setup_logging("web", settings)
    engine = init_engine(settings)
    check_database(engine)
    engine.dispose()  # the supervisor keeps no connections; workers open their own
    uvicorn.run(
        "console.app:app",
        host=args.host,
        port=args.port,
        workers=args.workers or settings.WEB_WORKERS,
        log_config=None,
        # An explicit level: left unset, stdlib's level 0 (loguru takes it all) makes uvicorn wrap the
        # app in its TRACE message logger, several log records per request that loguru then drops.
        log_level=UVICORN_LOG_LEVELS[settings.LOG_LEVEL],
        proxy_headers=True,
    )
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from console.core.queue import check_broker

    check_broker(settings)
    from worker.celery_app import app

    argv = [
        "worker",
        f"--queues={settings.CELERY_QUEUE}",
        f"--concurrency={args.concurrency or settings.WORKER_CONCURRENCY}",
        f"--loglevel={settings.LOG_LEVEL if settings.LOG_LEVEL in ('DEBUG', 'INFO', 'WARNING', 'ERROR') else 'INFO'}",
        "--hostname=worker-%h-" + str(os.getpid()),
    ]
    if args.beat:
        settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", f"--schedule={settings.DATA_DIR / 'beat-schedule'}"]
    app.worker_main(argv=argv)
    return 0


def cmd_flower(args: argparse.Namespace, settings: Settings) -> int:
    from console.core.queue import check_broker

    check_broker(settings)
    secret = hashlib.sha256(b"flower:" + settings.SECRET_KEY.get_secret_value().encode()).hexdigest()
    env = {
        **os.environ,
        # Only the console's proxy reaches Flower (it listens on loopback or the internal network).
        "FLOWER_UNAUTHENTICATED_API": "true",
        "FLOWER_COOKIE_SECRET": secret,
    }
    command = [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "flower",
        "--url_prefix=flower", f"--address={args.address}", f"--port={args.port}", "--purge_offline_workers=60",
    ]  # fmt: skip
    os.execvpe(command[0], command, env)
    return 0  # not reached


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from console.launcher import Launcher

    return Launcher(settings, host=args.host, port=args.port, workers=args.workers or settings.WEB_WORKERS).run()


def stop_processes(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    """Ask each child to stop (SIGTERM), then kill the ones still running after `timeout`."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
