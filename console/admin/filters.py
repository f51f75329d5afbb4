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

from sqlalchemy import Select, desc, func, select
from starlette.exceptions import HTTPException
from starlette.requests import Request

from console.core.bulk import STATUSES, JobFilter
from console.core.errors import Invalid
from console.core.models import AuditEntry, CleaningConfig, Job, User

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


TOP = 15  # entries a lookup list shows: the most frequent, plus the one chosen


async def top_lookups(
    request: Request, run_query: RunQuery, parameter_name: str, counted: Any, label: Any, key: Any
) -> list[tuple[str, str]]:
    """The TOP most frequent values of `counted` (a foreign key), labelled by `label` of the row `key` names."""
    counts = select(counted.label("ref"), func.count().label("n")).group_by(counted).order_by(desc("n")).limit(TOP)
    ranked = counts.subquery()
    rows = await run_query(select(key, label).join(ranked, ranked.c.ref == key).order_by(ranked.c.n.desc(), key))
    found = [(str(row[0]), str(row[1])) for row in rows]
    chosen = request.query_params.get(parameter_name, "")
    if chosen.isdigit() and chosen not in {value for value, _ in found}:
        found += [(str(row[0]), str(row[1])) for row in await run_query(select(key, label).where(key == int(chosen)))]
    return [("__all", "All"), *found]


class OwnerFilter(JobFilterField):
    def __init__(self) -> None:
        super().__init__("owner_id", "Owner (most jobs)")

    async def lookups(self, request: Request, model: Any, run_query: RunQuery) -> list[tuple[str, str]]:
        return await top_lookups(request, run_query, self.parameter_name, Job.owner_id, User.email, User.id)


class ConfigFilter(JobFilterField):
    def __init__(self) -> None:
        super().__init__("config_id", "Config (most jobs)")

    async def lookups(self, request: Request, model: Any, run_query: RunQuery) -> list[tuple[str, str]]:
        label = func.concat("#", CleaningConfig.id, " ", CleaningConfig.name)
        return await top_lookups(request, run_query, self.parameter_name, Job.config_id, label, CleaningConfig.id)


class ActorFilter:
    """Who did it, for the audit log: the most active actors, by their email."""

    has_operator = False
    template = LOOKUP
    parameter_name = "actor_id"
    title = "Actor (most entries)"

    async def lookups(self, request: Request, model: Any, run_query: RunQuery) -> list[tuple[str, str]]:
        return await top_lookups(request, run_query, self.parameter_name, AuditEntry.actor_id, User.email, User.id)

    async def get_filtered_query(self, query: Select[Any], value: Any, model: Any) -> Select[Any]:
        if str(value) == "__all":
            return query
        if not str(value).isdigit():
            raise HTTPException(status_code=400, detail=f"actor_id: {str(value)[:20]!r} is not a user id")
        return query.where(AuditEntry.actor_id == int(value))


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
