"""The admin's home page: is the fleet healthy?

Jobs by status now, the last 24 hours (finished, failed) with a chart per hour drawn here as
SVG, queue depth read from Redis (the queue list plus kombu's priority sub-queues, which
Flower does not count), the age of the oldest queued job, and the workers consuming the queue.
Workers are asked over Celery's control channel in the background, so a page load never waits.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.admin.formatting import span
from console.core.models import Job, JobStatus
from console.core.queue import celery_app, unacked_keys

# kombu's Redis transport keeps priorities 3, 6 and 9 in lists named <queue>\x06\x16<priority>.
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
HOURS = 24
STALE_QUEUED = timedelta(minutes=5)


@dataclass
class Health:
    level: str  # "ok" | "warning" | "danger"
    problems: list[str] = field(default_factory=list)


def job_figures(session: Session) -> dict[str, Any]:
    now = session.scalar(select(func.now()))
    assert now is not None
    by_status = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
    since = now - timedelta(hours=HOURS)
    hour = func.date_trunc("hour", Job.finished_at).label("hour")
    hourly = session.execute(
        select(hour, Job.status, func.count()).where(Job.finished_at >= since).group_by(hour, Job.status)
    ).all()
    oldest_queued = session.scalar(select(func.min(Job.queued_at)).where(Job.status == JobStatus.QUEUED.value))
    oldest_pending = session.scalar(select(func.min(Job.created_at)).where(Job.status == JobStatus.PENDING.value))
    buckets = _buckets(now, hourly)
    return {
        "now": now,
        "by_status": {status.value: by_status.get(status.value, 0) for status in JobStatus},
        "last_day": {status: sum(b[status] for b in buckets) for status in ("succeeded", "failed", "cancelled")},
        "buckets": buckets,
        "oldest_queued": now - oldest_queued if oldest_queued else None,
        "oldest_pending": now - oldest_pending if oldest_pending else None,
    }


def _buckets(now: datetime, rows: list[Any]) -> list[dict[str, Any]]:
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    buckets = [{"hour": start + timedelta(hours=i), "succeeded": 0, "failed": 0, "cancelled": 0} for i in range(HOURS)]
    for hour, status, count in rows:
        index = int((hour - start).total_seconds() // 3600)
        if 0 <= index < HOURS and status in buckets[index]:
            buckets[index][status] += count
    return buckets


_clients: dict[str, redis.Redis] = {}


def queue_depth(broker_url: str, queue: str) -> dict[str, int] | None:
    """Messages waiting per priority list, plus those delivered and not yet acknowledged; None if Redis is down."""
    client = _clients.get(broker_url)
    if client is None:
        client = _clients[broker_url] = redis.Redis.from_url(broker_url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        pipe = client.pipeline(transaction=False)
        for suffix in PRIORITY_SUFFIXES:
            pipe.llen(queue + suffix)
        pipe.hlen(unacked_keys(queue)["unacked_key"])
        *lengths, unacked = pipe.execute()
    except redis.RedisError:
        return None
    names = ["default", "priority 3", "priority 6", "priority 9"]
    return {"waiting": sum(lengths), **dict(zip(names, lengths, strict=True)), "unacked": unacked}


class WorkerWatch:
    """Which workers consume the queue, asked at most every `ttl` seconds in a background thread.

    Only the very first look waits for the answer (up to `timeout`); after that the page shows
    the last answer and its age while a fresh one is fetched.
    """

    def __init__(self, ttl: float = 15.0, timeout: float = 1.0) -> None:
        self.ttl, self.timeout = ttl, timeout
        self._lock = threading.Lock()
        self._answer: list[str] | None = None
        self._checked = 0.0
        self._refreshing = False

    def current(self, queue: str) -> tuple[list[str] | None, float]:
        """(worker names or None if the broker could not be asked, seconds since they were asked)."""
        with self._lock:
            first = self._checked == 0.0
            stale = time.monotonic() - self._checked > self.ttl
            start = stale and not self._refreshing
            if start:
                self._refreshing = True
        if first and start:
            self._refresh(queue)
        elif start:
            threading.Thread(target=self._refresh, args=(queue,), daemon=True).start()
        return self._answer, time.monotonic() - self._checked

    def _refresh(self, queue: str) -> None:
        try:
            replies = celery_app.control.inspect(timeout=self.timeout).active_queues() or {}
            answer: list[str] | None = sorted(
                name for name, queues in replies.items() if any(q.get("name") == queue for q in queues or [])
            )
        except Exception:  # the broker client raises many kinds; all mean "could not ask"
            answer = None
        with self._lock:
            self._answer, self._checked, self._refreshing = answer, time.monotonic(), False


def health(figures: dict[str, Any], depth: dict[str, int] | None, workers: list[str] | None) -> Health:
    problems, danger = [], False
    waiting = figures["by_status"]["queued"] + (depth or {}).get("waiting", 0)
    if depth is None:
        problems.append("Redis cannot be reached: new jobs wait as pending until it is back.")
        danger = True
    if workers == [] and waiting:
        problems.append(f"{waiting} job(s) wait and no worker consumes the queue.")
        danger = True
    if figures["oldest_queued"] is not None and figures["oldest_queued"] > STALE_QUEUED:
        problems.append(f"The oldest queued job has waited {span(figures['oldest_queued'])}.")
    if figures["oldest_pending"] is not None and figures["oldest_pending"] > STALE_QUEUED:
        problems.append(f"A job has been pending (not sent) for {span(figures['oldest_pending'])}.")
    finished = figures["last_day"]["succeeded"] + figures["last_day"]["failed"]
    if finished >= 5 and figures["last_day"]["failed"] / finished >= 0.2:
        problems.append(f"{figures['last_day']['failed']} of {finished} jobs failed in the last 24 hours.")
    return Health("danger" if danger else "warning" if problems else "ok", problems)


def chart(buckets: list[dict[str, Any]], width: int = 760, height: int = 200) -> Markup:
    """Stacked bars per hour (succeeded green, failed red, cancelled grey) as inline SVG; no script, no CDN."""
    left, bottom, top = 36, 22, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max([b["succeeded"] + b["failed"] + b["cancelled"] for b in buckets] + [1])
    scale = _nice(peak)
    slot = plot_w / len(buckets)
    parts = [
        Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"/>').format(
            left, top + plot_h, width - 8, top + plot_h
        )
    ]
    for tick in (0, scale // 2, scale):
        y = top + plot_h - plot_h * tick / scale
        parts.append(
            Markup('<text x="{}" y="{:.1f}" class="tick" text-anchor="end">{}</text>').format(left - 4, y + 4, tick)
        )
        parts.append(
            Markup('<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" class="grid"/>').format(left, y, width - 8, y)
        )
    for i, bucket in enumerate(buckets):
        x, base = left + i * slot + 2, top + plot_h
        for status in ("succeeded", "failed", "cancelled"):
            count = bucket[status]
            if not count:
                continue
            h = plot_h * count / scale
            base -= h
            bar = Markup('<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" class="bar {}">')
            tip = Markup("<title>{:%H}:00 {}: {}</title></rect>")
            parts.append(bar.format(x, base, slot - 4, h, status) + tip.format(bucket["hour"], status, count))
        if i % 3 == 0:
            parts.append(
                Markup('<text x="{:.1f}" y="{}" class="tick" text-anchor="middle">{:%H}:00</text>').format(
                    x + slot / 2 - 2, height - 6, bucket["hour"]
                )
            )
    return Markup(
        '<svg viewBox="0 0 {} {}" width="100%" role="img" class="throughput-chart" '
        'aria-label="Jobs finished per hour over the last 24 hours">{}</svg>'
    ).format(width, height, Markup("").join(parts))


def _nice(peak: int) -> int:
    for step in (2, 4, 6, 10, 20, 40, 60, 100, 200, 400, 600, 1000, 2000, 4000, 6000, 10_000):
        if peak <= step:
            return step
    return int(peak * 1.1) + 1
