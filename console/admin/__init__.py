"""The operator console at /admin (SQLAdmin): `mount_admin(app, settings)` wires it into the web app."""

from __future__ import annotations

from fastapi import FastAPI
from sqladmin import Admin
from sqlalchemy.orm import sessionmaker

from console.admin.auth import AdminAuth
from console.admin.views import ApiTokenAdmin, ConfigAdmin, DatasetAdmin, JobAdmin, UserAdmin
from console.core.db import get_engine
from console.core.settings import Settings
from console.templating import TEMPLATES_DIR


def mount_admin(app: FastAPI, settings: Settings) -> Admin:
    auth = AdminAuth(secret_key=settings.SECRET_KEY.get_secret_value())
    admin = Admin(
        app,
        # Its own sessionmaker: sqladmin calls `.configure(autoflush=False)` on the one it is given,
        # which would switch autoflush off for every SessionLocal session in the process.
        session_maker=sessionmaker(bind=get_engine(), expire_on_commit=False),
        authentication_backend=auth,
        title="Data ops console",
        base_url="/admin",
        templates_dir=str(TEMPLATES_DIR),
    )
    auth.use_templates(admin.templates)
    for view in (JobAdmin, DatasetAdmin, ConfigAdmin, UserAdmin, ApiTokenAdmin):
        admin.add_view(view)
    return admin
