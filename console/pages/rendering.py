"""Small formatting helpers the workspace templates use as Jinja filters (plain text out; Jinja escapes it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment

from console.core.models import Job
from console.pages.vocabulary import describe_step, op_label


def when(moment: datetime | None) -> str:
    """`2026-12-01 14:03:05 UTC`, or an em dash when there is no such moment."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None:
        return None
    return max(((end or datetime.now(UTC)) - start).total_seconds(), 0.0)


def duration(seconds: float | None) -> str:
    """`0.4 s`, `12 s`, `3 min 05 s`, `2 h 01 min`; an em dash for none."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def filesize(size: int | None) -> str:
    if size is None:
        return "—"
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"  # pragma: no cover - the loop always returns


def number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def job_timings(job: Job) -> dict[str, str]:
    """Waited (created → started) and ran (started → finished, or until now while running), as text."""
    waited = seconds_between(job.created_at, job.started_at or (job.finished_at if job.is_finished else None))
    ran = seconds_between(job.started_at, job.finished_at) if job.started_at else None
    return {"waited": duration(waited), "ran": duration(ran)}


def install_filters(env: Environment) -> None:
    env.filters.update(when=when, duration=duration, filesize=filesize, number=number)
    env.globals.update(job_timings=job_timings, describe_step=describe_step, op_label=op_label)
