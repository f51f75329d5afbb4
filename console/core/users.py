"""Users and their API tokens: creating them and telling who holds a credential."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from console.core.errors import Conflict, Invalid, NotAuthenticated
from console.core.models import ApiToken, Role, User
from console.core.security import hash_password, hash_token, new_token, verify_password


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


def user_for_token(*, session: Session, token: str) -> User:
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).first()
    if row is None or not row.User.is_active:
        raise NotAuthenticated("the API token is not valid")
    session.execute(update(ApiToken).where(ApiToken.id == row.ApiToken.id).values(last_used_at=func.now()))
    return row.User


def user_for_password(*, session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        verify_password(password, _dummy_hash())  # same work as for a real user: timing does not tell who exists
        return None
    if not user.is_active or not verify_password(password, user.password_hash):
        return None
    return user


def revoke_token(*, session: Session, token_id: int, user: User) -> None:
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
