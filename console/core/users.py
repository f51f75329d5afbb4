"""Users and their API tokens: creating them and telling who holds a credential.

Who holds a token is remembered in this process for `TOKEN_CACHE_SECONDS` (see `TokenCache`),
so a revoked token, or a user deactivated or given another role, is refused or seen as changed
at the latest that long after the change in every web process (at once in the process that
revoked it). A token's `last_used_at` is written at most once per `LAST_USED_EVERY_SECONDS`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from console.core.errors import Conflict, Invalid, NotAuthenticated
from console.core.models import ApiToken, Role, User
from console.core.security import hash_password, hash_token, new_token, verify_password

TOKEN_CACHE_SECONDS = 5.0
LAST_USED_EVERY_SECONDS = 60.0


@cache
def _dummy_hash() -> str:
    return hash_password("not a real password")


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or " " in email or len(email) > 320:
        raise Invalid(f"email: {email!r} is not an email address")
    return email


def create_user(*, session: Session, email: str, role: str, password: str | None) -> User:
    """Add a user (flush only). A user without a password can use API tokens but cannot sign in."""
    email = normalize_email(email)
    if role not in {r.value for r in Role}:
        raise Invalid(f"role: {role!r} is not one of {', '.join(r.value for r in Role)}")
    if password is not None and len(password) < 8:
        raise Invalid("password: must be at least 8 characters")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with email {email} already exists")
    user = User(email=email, role=role, password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user


def issue_token(*, session: Session, user: User, name: str = "default") -> str:
    """Create an API token for `user` and return it; only its hash is stored, so this is the one chance to show it."""
    token = new_token()
    session.add(ApiToken(user_id=user.id, name=name[:100], token_hash=hash_token(token), prefix=token[:12]))
    session.flush()
    return token


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """Who a valid API token belongs to, as of when it was looked up (no ORM object: safe to share)."""

    token_id: int
    user_id: int
    email: str
    role: str

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.ADMIN, Role.OPERATOR)


class TokenCache:
    """token -> TokenHolder for `ttl` seconds, per process; keyed by the token's hash, never the token.

    Only valid tokens are remembered. `forget_token(id)` drops a revoked token at once in this
    process; other processes notice within `ttl`. Bounded: past `max_entries` the oldest go.
    """

    def __init__(
        self, ttl: float = TOKEN_CACHE_SECONDS, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: dict[str, tuple[float, TokenHolder]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> TokenHolder | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            self._entries.pop(token_hash, None)
            return None
        return entry[1]

    def put(self, token_hash: str, holder: TokenHolder) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                now = self.clock()
                for key in [key for key, (expires, _) in self._entries.items() if expires <= now]:
                    del self._entries[key]
                while len(self._entries) >= self.max_entries:  # dicts keep insertion order: oldest first
                    del self._entries[next(iter(self._entries))]
            self._entries[token_hash] = (self.clock() + self.ttl, holder)

    def forget_token(self, token_id: int) -> None:
        with self._lock:
            for key in [key for key, (_, holder) in self._entries.items() if holder.token_id == token_id]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


token_cache = TokenCache()


def cached_holder(token: str, cache: TokenCache | None = None) -> TokenHolder | None:
    """The token's holder if this process looked it up less than the cache's TTL ago; no database access."""
    return (cache or token_cache).get(hash_token(token))


def holder_for_token(*, session: Session, token: str, cache: TokenCache | None = None) -> TokenHolder:
    """Who holds `token` (NotAuthenticated if nobody: unknown, revoked, or the user is inactive).

    From the cache when fresh; otherwise one SELECT, plus an UPDATE of `last_used_at` when it is
    older than LAST_USED_EVERY_SECONDS. That write is in the caller's transaction, which it makes
    `synchronous_commit = off`: call this first in a transaction of its own and commit it at once
    (console.deps does), so nothing else rides on that and the token's row is not kept locked.
    """
    cache = cache or token_cache
    token_hash = hash_token(token)
    holder = cache.get(token_hash)
    if holder is not None:
        return holder
    row = session.execute(
        select(ApiToken.id, ApiToken.last_used_at, User.id.label("user_id"), User.email, User.role, User.is_active)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or not row.is_active:
        raise NotAuthenticated("the API token is not valid")
    every = timedelta(seconds=LAST_USED_EVERY_SECONDS)
    if row.last_used_at is None or row.last_used_at <= datetime.now(UTC) - every:
        # A hint, not a record: its commit need not wait for the WAL flush (a busy disk made that
        # wait the slowest part of a request). Conditional on the database's clock too, so
        # processes racing here write it once.
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == row.id, or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= func.now() - every))
            .values(last_used_at=func.now())
        )
    holder = TokenHolder(token_id=row.id, user_id=row.user_id, email=row.email, role=row.role)
    cache.put(token_hash, holder)
    return holder


def user_for_token(*, session: Session, token: str) -> User:
    """The token holder's User row in `session` (fresh: an inactive user is refused at once)."""
    holder = holder_for_token(session=session, token=token)
    user = session.get(User, holder.user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("the API token is not valid")
    return user


def user_for_password(*, session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        verify_password(password, _dummy_hash())  # same work as for a real user: timing does not tell who exists
        return None
    if not user.is_active or not verify_password(password, user.password_hash):
        return None
    return user


def revoke_token(*, session: Session, token_id: int, user: User) -> None:
    """Revoke the token (flush only). This process forgets it at once; other web processes within
    TOKEN_CACHE_SECONDS."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    token_cache.forget_token(token_id)
