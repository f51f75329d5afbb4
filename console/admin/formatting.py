"""How values look in the admin: times, sizes, JSON, status badges, progress bars, durations, tables.

Everything that came from a user or a file goes through `Markup.format`, so it is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from markupsafe import Markup

from console.core.models import Job, JobStatus

BADGE_COLOUR = {
    JobStatus.PENDING: "secondary",
    JobStatus.QUEUED: "azure",
    JobStatus.RUNNING: "yellow",
    JobStatus.SUCCEEDED: "green",
    JobStatus.FAILED: "red",
    JobStatus.CANCELLED: "dark",
}


def when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""


def short_when(value: datetime | None) -> Markup:
    """Minutes in the list (UTC); the full time on hover."""
    if value is None:
        return Markup("")
    return Markup('<span title="{}">{}</span>').format(when(value), value.astimezone(UTC).strftime("%Y-%m-%d %H:%M"))


def size(value: int | None) -> str:
    if value is None:
        return ""
    if value < 1024:
        return f"{value:,} bytes"
    amount = float(value)
    for unit in ("KB", "MB", "GB", "TB"):  # noqa: B007 - the unit the loop stops at is the answer
        amount /= 1024
        if amount < 1024:
            break
    return f"{amount:,.1f} {unit}"


def pretty_json(value: Any) -> Markup:
    if value is None:
        return Markup("")
    return Markup('<pre class="mb-0">{}</pre>').format(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def text_block(value: str | None) -> Markup:
    return Markup('<pre class="mb-0">{}</pre>').format(value) if value else Markup("")


def column_types(value: list[dict[str, Any]] | None) -> str:
    return ", ".join(f"{column.get('name')} ({column.get('type', 'unknown')})" for column in value or [])


def table(columns: list[Any], rows: list[list[Any]]) -> Markup:
    """An HTML table of cells from a file: every cell is escaped, missing cells are shown as such."""
    head = Markup("").join(Markup("<th>{}</th>").format(name) for name in columns)
    body = Markup("").join(
        Markup("<tr>{}</tr>").format(
            Markup("").join(
                Markup('<td class="text-muted fst-italic">missing</td>')
                if cell is None
                else Markup("<td>{}</td>").format(cell)
                for cell in row
            )
        )
        for row in rows
    )
    return Markup(
        '<div class="table-responsive"><table class="table table-sm table-bordered mb-0 preview-table">'
        "<thead><tr>{}</tr></thead><tbody>{}</tbody></table></div>"
    ).format(head, body)


def preview(value: dict[str, Any] | None) -> Markup:
    if not value or "columns" not in value:
        return pretty_json(value)
    return table(value["columns"], value.get("rows", []))


def badge(status: str) -> Markup:
    colour = BADGE_COLOUR.get(status, "secondary")  # type: ignore[call-overload]
    return Markup('<span class="badge bg-{}-lt status-badge" data-status="{}">{}</span>').format(colour, status, status)


def progress(job: Job) -> Markup:
    """The percentage done: a bar while the job runs, 100% once it succeeded, a dash otherwise."""
    if job.status != JobStatus.RUNNING:
        return Markup('<span class="text-muted">{}</span>').format("100%" if job.status == JobStatus.SUCCEEDED else "—")
    return Markup(
        '<div class="d-flex align-items-center gap-2"><div class="progress progress-sm" style="width: 5rem">'
        '<div class="progress-bar bg-yellow" style="width: {0}%" role="progressbar" aria-valuenow="{0}" '
        'aria-valuemin="0" aria-valuemax="100" aria-label="{0}% done"></div></div><span>{0}%</span></div>'
    ).format(int(job.progress))


def status_cell(job: Job) -> Markup:
    """The status badge, with the progress bar under it while the job runs, or the error when it failed."""
    below = Markup("")
    if job.status == JobStatus.RUNNING:
        below = progress(job)
    elif job.error_message:
        below = Markup('<div class="small text-red">{}</div>').format(truncated(job.error_message, 28))
    return Markup('<div class="status-cell">{}{}</div>').format(badge(job.status), below)


def duration(job: Job, now: datetime | None = None) -> str:
    """How long it ran (or has been running, or has waited)."""
    now = now or datetime.now(UTC)
    if job.started_at is not None:
        end = job.finished_at or now
        return span(end - job.started_at) + ("" if job.finished_at else " so far")
    if job.finished_at is None:
        return f"waiting {span(now - job.created_at)}"
    return "—"


def span(delta: timedelta) -> str:
    seconds = max(0.0, delta.total_seconds())
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"
    if whole < 86400:
        return f"{whole // 3600} h {(whole % 3600) // 60:02d} min"
    return f"{whole // 86400} d {(whole % 86400) // 3600} h"


def truncated(value: str | None, limit: int = 60) -> Markup:
    if not value:
        return Markup("")
    if len(value) <= limit:
        return Markup("<span>{}</span>").format(value)
    return Markup('<span title="{}">{}…</span>').format(value, value[:limit])


def show(render: Callable[[Any], Any]) -> Callable[[Any, str], Any]:
    """A column formatter that renders the attribute's value with `render`."""
    return lambda model, attribute: render(getattr(model, attribute))
