"""Liveness and readiness: `/healthz` answers while the process runs; `/healthz/ready` checks PostgreSQL and Redis."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from console.api.schemas import HealthPublic
from console.core.db import check_database, get_engine
from console.core.queue import check_broker
from console.core.settings import SettingsError
from console.deps import SettingsDep

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic)
def liveness() -> HealthPublic:
    return HealthPublic(status="ok")


@router.get("/healthz/ready", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
def readiness(settings: SettingsDep) -> JSONResponse:
    checks = {"database": _outcome(lambda: check_database(get_engine())), "broker": _outcome(lambda: check_broker(settings, 1.0))}
    ok = all(value == "ok" for value in checks.values())
    body = HealthPublic(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


def _outcome(check) -> str:  # type: ignore[no-untyped-def]
    try:
        check()
    except SettingsError as exc:
        return str(exc)
    return "ok"
