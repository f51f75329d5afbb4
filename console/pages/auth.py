"""Signing in and out of the workspace (the same session as /admin), signing up, and the first page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from console.core.errors import Conflict, Invalid, NotFound
from console.core.models import CleaningConfig, Dataset, Job, Role
from console.core.users import create_user, user_for_password
from console.deps import SessionDep, SettingsDep
from console.pages.deps import page_user, redirect, render, safe_next
from console.web_session import session_user_id, sign_in, sign_out

router = APIRouter()
RECENT = 10
BAD_SIGN_IN = "That email and password do not match an active account."


@router.get("/")
def home(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    if session_user_id(request) is None:
        return _sign_in_page(request, settings.ALLOW_SIGNUP)
    return _dashboard(request, session, settings)


def _dashboard(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    user = page_user(request, session)
    context = {
        "max_upload_bytes": settings.MAX_UPLOAD_BYTES,
        "datasets": session.scalars(
            select(Dataset).where(Dataset.owner_id == user.id).order_by(Dataset.id.desc()).limit(RECENT)
        ).all(),
        "configs": session.scalars(
            select(CleaningConfig).where(CleaningConfig.owner_id == user.id).order_by(CleaningConfig.id.desc()).limit(RECENT)
        ).all(),
        "jobs": session.scalars(select(Job).where(Job.owner_id == user.id).order_by(Job.id.desc()).limit(RECENT)).all(),
    }
    return render(request, "pages/home.html", context, user=user)


@router.get("/signin")
def sign_in_form(request: Request, settings: SettingsDep, next: str = "/") -> Response:
    if session_user_id(request) is not None:
        return redirect(safe_next(next))
    return _sign_in_page(request, settings.ALLOW_SIGNUP, next_path=next)


@router.post("/signin")
def sign_in_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    user = user_for_password(session=session, email=email, password=password) if email and password else None
    if user is None:
        return _sign_in_page(request, settings.ALLOW_SIGNUP, next_path=next, email=email, error=BAD_SIGN_IN, status=401)
    sign_in(request, user)
    return redirect(safe_next(next))


@router.post("/signout")
def sign_out_submit(request: Request) -> Response:
    sign_out(request)
    return redirect("/")


@router.get("/signup")
def sign_up_form(request: Request, settings: SettingsDep) -> Response:
    _require_signup(settings.ALLOW_SIGNUP)
    return render(request, "pages/signup.html", {}, user=None)


@router.post("/signup")
def sign_up_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    _require_signup(settings.ALLOW_SIGNUP)
    try:
        user = create_user(session=session, email=email, role=Role.MEMBER.value, password=password or "")
    except (Invalid, Conflict) as exc:
        session.rollback()
        return render(request, "pages/signup.html", {"email": email, "error": exc.detail}, user=None, status_code=422)
    session.commit()
    sign_in(request, user)
    return redirect("/")


def _require_signup(allowed: bool) -> None:
    if not allowed:
        raise NotFound("sign-up is switched off here; ask an admin for an account")


def _sign_in_page(
    request: Request, allow_signup: bool, *, next_path: str = "/", email: str = "", error: str | None = None, status: int = 200
) -> Response:
    context = {"next": safe_next(next_path), "email": email, "error": error, "allow_signup": allow_signup}
    return render(request, "pages/signin.html", context, user=None, status_code=status)
