"""Database engine and sessions. `init_engine(settings)` binds `SessionLocal` once per process."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from console.core.settings import Settings, SettingsError, mask_url

NAMING_CONVENTION = {
    "ix": "%(column_0_label)s_idx",
    "uq": "%(table_name)s_%(column_0_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


SessionLocal = sessionmaker(expire_on_commit=False)
_engine: Engine | None = None

# Connections per process: POOL_SIZE kept open, up to MAX_OVERFLOW more under load. A web process
# admits at most REQUEST_SESSIONS request sessions at once (console.deps), fewer than the pool holds,
# so a request never waits in a thread for a connection; the rest serve streamed downloads, the
# admin and bulk actions' helper threads.
POOL_SIZE = 10
MAX_OVERFLOW = 10
REQUEST_SESSIONS = 10


def init_engine(settings: Settings) -> Engine:
    """Create this process's engine for `settings.DATABASE_URL` and bind `SessionLocal` to it."""
    global _engine
    settings.require_services("DATABASE_URL")
    if _engine is not None and _engine.url.render_as_string(hide_password=False) == settings.DATABASE_URL:
        return _engine
    if _engine is not None:
        _engine.dispose()
    # Another driver than psycopg2 (whose connections have a socket to poll): a ping at every checkout.
    polled = make_url(settings.DATABASE_URL).get_driver_name() == "psycopg2"
    _engine = create_engine(
        settings.DATABASE_URL, pool_pre_ping=not polled, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW
    )
    if polled:
        event.listen(_engine, "connect", _note_checkin)  # a new connection needs no ping either
        event.listen(_engine, "checkin", _note_checkin)
        event.listen(_engine, "checkout", _check_on_checkout)
    SessionLocal.configure(bind=_engine)
    return _engine


# A pooled connection is pinged (SELECT 1) before use only when it may be dead: when its socket has
# something to read (a server that ended the connection, by restart or by a terminate, says so and
# closes it: an idle connection in the pool is otherwise sent nothing), or when it sat idle for
# longer than PING_IDLE_SECONDS (a peer gone without a word). pool_pre_ping's ping at every checkout
# cost a round trip per job and per request; a poll of the socket costs a system call.
PING_IDLE_SECONDS = 10.0


def _note_checkin(dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _check_on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    idle_since = record.info.get("checked_in_at")
    if idle_since is not None and time.monotonic() - idle_since <= PING_IDLE_SECONDS and not _may_be_dead(dbapi_connection):
        return
    try:
        alive = get_engine().dialect.do_ping(dbapi_connection)  # SQLAlchemy's pre-ping (autocommit: one round trip)
    except Exception as exc:
        raise DisconnectionError(f"pooled connection is dead: {exc}") from exc  # the pool retries with a new one
    if not alive:
        raise DisconnectionError("pooled connection is dead")


def _may_be_dead(dbapi_connection: Any) -> bool:
    if dbapi_connection.closed:
        return True
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


def get_engine() -> Engine:
    if _engine is None:
        raise RuntimeError("init_engine(settings) was not called in this process")
    return _engine


def check_database(engine: Engine) -> None:
    """Raise SettingsError naming the URL (password hidden) when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        url = mask_url(engine.url.render_as_string(hide_password=False))
        raise SettingsError(f"cannot reach the database at {url}: {reason}") from None


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception."""
    session = SessionLocal()
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def pinned_session_scope() -> Iterator[Session]:
    """session_scope() on one pooled connection kept across its commits (a plain session hands the
    connection back, and checks one out again, at every commit)."""
    with get_engine().connect() as connection, SessionLocal(bind=connection) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise
