"""The operator console at /admin (SQLAdmin): `mount_admin(app, settings)` wires it into the web app.

/admin/ itself is the fleet dashboard (`ConsoleAdmin.index`); the views live in this package's
modules, one per kind of thing; Flower is linked from the menu and served by `console.flower_proxy`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqladmin import Admin, BaseView, expose
from sqladmin.authentication import login_required
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from console.admin import dashboard
from console.admin import formatting as fmt
from console.admin.audit import AuditAdmin, ConsoleAuditBackend
from console.admin.auth import STAFF, AdminAuth
from console.admin.common import in_thread
from console.admin.configs import ConfigAdmin
from console.admin.datasets import DatasetAdmin
from console.admin.jobs import JobAdmin
from console.admin.views import ApiTokenAdmin, UserAdmin
from console.core.db import get_engine
from console.core.settings import Settings
from console.templating import TEMPLATES_DIR
from console.web_session import session_role


class ConsoleAdmin(Admin):
    """sqladmin's Admin whose home page is the dashboard."""

    settings: Settings
    workers: dashboard.WorkerWatch

    @login_required
    async def index(self, request: Request) -> Response:
        queue = self.settings.CELERY_QUEUE

        def read(session: Session) -> tuple[dict[str, Any], dict[str, int] | None, list[str] | None, float]:
            depth = dashboard.queue_depth(self.settings.REDIS_URL or "", queue)
            return dashboard.job_figures(session), depth, *self.workers.current(queue)

        figures, depth, workers, asked = await in_thread(read)
        context = {
            "figures": figures,
            "depth": depth,
            "workers": workers,
            "workers_asked": asked,
            "queue": queue,
            "health": dashboard.health(figures, depth, workers),
            "chart": dashboard.chart(figures["buckets"]),
            "is_admin": session_role(request) == "admin",
            "title": "Dashboard",
        }
        return await self.templates.TemplateResponse(request, "sqladmin/index.html", context)


class FlowerView(BaseView):
    """A menu entry for Flower, which `console.flower_proxy` serves at /flower/ behind the same sign-in."""

    name = "Flower"
    icon = "fa-solid fa-seedling"

    def is_accessible(self, request: Request) -> bool:
        return session_role(request) in STAFF

    @expose("/flower", identity="flower")
    async def flower(self, request: Request) -> Response:
        return RedirectResponse("/flower/", status_code=302)


def mount_admin(app: FastAPI, settings: Settings) -> Admin:
    auth = AdminAuth(secret_key=settings.SECRET_KEY.get_secret_value())
    admin = ConsoleAdmin(
        app,
        # Its own sessionmaker: sqladmin calls `.configure(autoflush=False)` on the one it is given,
        # which would switch autoflush off for every SessionLocal session in the process.
        session_maker=sessionmaker(bind=get_engine(), expire_on_commit=False),
        authentication_backend=auth,
        audit_backend=ConsoleAuditBackend(),
        title="Data ops console",
        base_url="/admin",
        templates_dir=str(TEMPLATES_DIR),
    )
    admin.settings, admin.workers = settings, dashboard.WorkerWatch()
    admin.admin.state.settings = settings
    auth.use_templates(admin.templates)
    admin.templates.env.globals.update(
        when=fmt.when,
        span=fmt.span,
        badge=fmt.badge,
        size=fmt.size,
        preview_table=fmt.preview,
        pretty_json=fmt.pretty_json,
    )
    for view in (JobAdmin, DatasetAdmin, ConfigAdmin, AuditAdmin, UserAdmin, ApiTokenAdmin, FlowerView):
        admin.add_view(view)
    return admin
