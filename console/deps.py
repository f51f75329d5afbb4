"""Request dependencies: the session, the caller, and things the caller may see (404 otherwise).

A request's database session is admitted, created and closed on the event loop: at most
`REQUEST_SESSIONS` exist at once in a process, fewer than its connection pool holds, and the
admission is an async wait, not a thread. Without that, the anyio threadpool (40 threads) could fill
with requests blocked in the pool's checkout while the requests holding every connection waited
for a thread to run their next step (a sync dependency, the endpoint, the final commit): nothing
moved until the 30 s pool timeout, and dropped clients (uvicorn does not cancel their requests)
kept the backlog growing: "QueuePool limit ... reached" on every request (issue 7;
fastapi/fastapi#3205). The session is function-scoped: it is closed once the endpoint and its
response model are done, before the response is sent, so a slow client holds no connection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from console.core.db import REQUEST_SESSIONS, SessionLocal
from console.core.errors import NotAuthenticated, NotFound
from console.core.models import CleaningConfig, Dataset, Job, User
from console.core.settings import Settings
from console.core.users import TokenHolder, cached_holder, holder_for_token

bearer = HTTPBearer(auto_error=False, description="An API token from `python -m console create-user`")

# Per event loop (TestClient runs its own): admission of request sessions, and threads for their
# final commit that never wait behind new requests in the default threadpool.
_admission: RunVar[anyio.Semaphore] = RunVar("console_request_sessions")
_finishers: RunVar[anyio.CapacityLimiter] = RunVar("console_session_finishers")


Made = TypeVar("Made")


def _per_loop(var: RunVar[Made], make: Callable[[], Made]) -> Made:
    """The event loop's own value of `var`, made on first use."""
    try:
        return var.get()
    except LookupError:
        value = make()
        var.set(value)
        return value


def _admission_semaphore() -> anyio.Semaphore:
    return _per_loop(_admission, lambda: anyio.Semaphore(REQUEST_SESSIONS))


def _finisher_limiter() -> anyio.CapacityLimiter:
    return _per_loop(_finishers, lambda: anyio.CapacityLimiter(REQUEST_SESSIONS))


async def in_thread(function: Callable[..., Any], *args: Any) -> Any:
    """Run blocking database work in the threadpool (for async endpoints that hop once)."""
    return await anyio.to_thread.run_sync(function, *args)


async def get_session() -> AsyncIterator[Session]:
    """The request's session: committed when the endpoint succeeds, rolled back otherwise, always closed."""
    async with _admission_semaphore():
        session = SessionLocal()
        try:
            yield session
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_discard, session, limiter=_finisher_limiter())
            raise
        with anyio.CancelScope(shield=True):
            if session.in_transaction() or session.new or session.dirty or session.deleted:
                await anyio.to_thread.run_sync(_commit, session, limiter=_finisher_limiter())
            else:
                session.close()  # nothing begun: no connection held, nothing to send


def _commit(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _discard(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def token_holder(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> TokenHolder:
    """Who sent the request: from this process's token cache, or one lookup in the request's session."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("missing bearer token: send `Authorization: Bearer <token>`")
    holder = cached_holder(credentials.credentials)
    if holder is None:
        holder = await anyio.to_thread.run_sync(_look_up, session, credentials.credentials)
    return holder


def _look_up(session: Session, token: str) -> TokenHolder:
    holder = holder_for_token(session=session, token=token)
    session.commit()  # a last_used_at write (at most once a minute) must not hold its row lock for the whole request
    return holder


Caller = Annotated[TokenHolder, Depends(token_holder)]


def current_user(session: SessionDep, holder: Caller) -> User:
    """The caller's User row (read fresh: a deactivated user is refused at once)."""
    user = session.get(User, holder.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("the API token is not valid")
    return user


CurrentUser = Annotated[User, Depends(current_user)]

# Ids are PostgreSQL integers: anything outside that range can name nothing.
DatasetId = Annotated[int, Path(ge=1, le=2_147_483_647, description="dataset id")]
ConfigId = Annotated[int, Path(ge=1, le=2_147_483_647, description="config id")]
JobId = Annotated[int, Path(ge=1, le=2_147_483_647, description="job id")]

Owned = TypeVar("Owned", Dataset, CleaningConfig, Job)


def may_see(caller: User | TokenHolder, owner_id: int) -> bool:
    """Members see their own things; operators and admins see everything."""
    user_id = caller.user_id if isinstance(caller, TokenHolder) else caller.id
    return caller.sees_everything or owner_id == user_id


def get_owned(session: Session, user: User, model: type[Owned], item_id: int, label: str) -> Owned:
    """The row if it exists and the user may see it; NotFound otherwise (never 403: no leak of existence)."""
    item = session.get(model, item_id)
    if item is None or not may_see(user, item.owner_id):
        raise NotFound(f"{label} {item_id} not found")
    return item


def owned_dataset(dataset_id: DatasetId, session: SessionDep, user: CurrentUser) -> Dataset:
    return get_owned(session, user, Dataset, dataset_id, "dataset")


def owned_config(config_id: ConfigId, session: SessionDep, user: CurrentUser) -> CleaningConfig:
    return get_owned(session, user, CleaningConfig, config_id, "config")


def owned_job(job_id: JobId, session: SessionDep, user: CurrentUser) -> Job:
    return get_owned(session, user, Job, job_id, "job")


OwnedDataset = Annotated[Dataset, Depends(owned_dataset)]
OwnedConfig = Annotated[CleaningConfig, Depends(owned_config)]
OwnedJob = Annotated[Job, Depends(owned_job)]
