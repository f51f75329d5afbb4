"""The user's own API tokens: list, create (shown this once; only a hash is stored), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from console.core.models import ApiToken
from console.core.users import issue_token, revoke_token
from console.deps import SessionDep
from console.pages.deps import PageUser, flash, get_mine, redirect, render

router = APIRouter()


@router.get("/tokens")
def list_tokens(request: Request, session: SessionDep, user: PageUser) -> Response:
    return _tokens_page(request, session, user)


@router.post("/tokens")
def create_token(
    request: Request, session: SessionDep, user: PageUser, name: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    token = issue_token(session=session, user=user, name=name.strip() or "workspace")
    session.commit()
    # Rendered, not redirected: the token must never sit in a URL, and this page is its only showing.
    return _tokens_page(request, session, user, new_token=token, status_code=201)


@router.post("/tokens/{token_id}/revoke")
def revoke(request: Request, token_id: int, session: SessionDep, user: PageUser) -> Response:
    token = get_mine(session, user, ApiToken, token_id, "token")
    revoke_token(session=session, token_id=token.id, user=user)
    session.commit()
    flash(request, f"Revoked the token {token.prefix}… ({token.name}); it no longer works.")
    return redirect("/tokens")


def _tokens_page(
    request: Request, session: SessionDep, user: PageUser, new_token: str | None = None, status_code: int = 200
) -> Response:
    tokens = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())).all()
    return render(request, "pages/tokens.html", {"tokens": tokens, "new_token": new_token}, user=user, status_code=status_code)
