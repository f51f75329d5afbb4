"""List filters for sqladmin's sidebar whose meaning comes from `console.core.bulk.JobFilter`.

Each filter reads one query parameter (`status`, `owner_id`, `config_id`, `created_after`,
`created_before`), the same names the bulk pages and the REST API read, so "every job matching
the current filter" means exactly the rows the list shows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from datetime import date as date_type
from typing import Any

from sqlalchemy import Select, select
from starlette.exceptions import HTTPException
from starlette.requests import Request

from console.core.bulk import STATUSES, JobFilter
from console.core.errors import Invalid
from console.core.models import CleaningConfig, Job, User

LOOKUP = "sqladmin/filters/lookup_filter.html"
DATE = "admin/filters/date_filter.html"
RunQuery = Callable[[Select[Any]], Awaitable[list[Any]]]


class JobFilterField:
    """One field of JobFilter as a sqladmin filter (title, parameter_name, lookups, get_filtered_query)."""

    has_operator = False

    def __init__(self, parameter_name: str, title: str, template: str = LOOKUP) -> None:
        self.parameter_name, self.title, self.template = parameter_name, title, template

    async def lookups(self, request: Request, model: Any, run_query: RunQuery) -> list[tuple[str, str]]:
        return []

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        try:
            job_filter = JobFilter.from_params({self.parameter_name: value})
        except Invalid as exc:
            raise HTTPException(status_code=400, detail=str(exc.detail)) from None
        return query.where(*job_filter.conditions())


class StatusFilter(JobFilterField):
    def __init__(self) -> None:
        super().__init__("status", "Status")

    async def lookups(self, request: Request, model: Any, run_query: RunQuery) -> list[tuple[str, str]]:
        return [("__all", "All"), *((status, status) for status in STATUSES)]


class OwnerFilter(JobFilterField):
    def __init__(self) -> None:
        super().__init__("owner_id", "Owner")

    async def lookups(self, request: Request, model: Any, run_query: RunQuery) -> list[tuple[str, str]]:
        owners = select(Job.owner_id).distinct().scalar_subquery()
        rows = await run_query(select(User.id, User.email).where(User.id.in_(owners)).order_by(User.email))
        return [("__all", "All"), *((str(row.id), row.email) for row in rows)]


class ConfigFilter(JobFilterField):
    def __init__(self) -> None:
        super().__init__("config_id", "Config")

    async def lookups(self, request: Request, model: Any, run_query: RunQuery) -> list[tuple[str, str]]:
        used = select(Job.config_id).distinct().scalar_subquery()
        query = select(CleaningConfig.id, CleaningConfig.name).where(CleaningConfig.id.in_(used))
        rows = await run_query(query.order_by(CleaningConfig.name, CleaningConfig.id))
        return [("__all", "All"), *((str(row.id), f"#{row.id} {row.name}") for row in rows)]


def job_filters() -> list[JobFilterField]:
    return [
        StatusFilter(),
        OwnerFilter(),
        ConfigFilter(),
        JobFilterField("created_after", "Created on or after", DATE),
        JobFilterField("created_before", "Created on or before", DATE),
    ]


class DateFilter:
    """On or after / on or before a day (UTC) for any timestamp column; used by the audit log."""

    has_operator = False
    template = DATE

    def __init__(self, column: Any, parameter_name: str, title: str, *, until: bool) -> None:
        self.column, self.parameter_name, self.title, self.until = column, parameter_name, title, until

    async def lookups(self, request: Request, model: Any, run_query: RunQuery) -> list[tuple[str, str]]:
        return []

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        try:
            day = date_type.fromisoformat(str(value).strip())
        except ValueError:
            detail = f"{self.parameter_name}: {value!r} is not a date (YYYY-MM-DD)"
            raise HTTPException(status_code=400, detail=detail) from None
        start = datetime.combine(day, time(), tzinfo=UTC)
        return query.where(self.column < start + timedelta(days=1)) if self.until else query.where(self.column >= start)
