"""Find jobs the machinery dropped and put them back on their way.

- `pending` jobs older than a grace period: their send failed (broker down); send again.
"""

from __future__ import annotations

from datetime import timedelta

from loguru import logger
from sqlalchemy import func, select

from console.core import jobs
from console.core.db import session_scope
from console.core.models import Job, JobStatus
from console.core.settings import Settings

PENDING_GRACE = timedelta(seconds=30)


def reconcile(*, settings: Settings) -> int:
    """Send pending jobs that waited past the grace period; return how many were sent."""
    sent = 0
    with session_scope() as session:
        stale = session.scalars(
            select(Job)
            .where(Job.status == JobStatus.PENDING.value, Job.created_at < func.now() - PENDING_GRACE)
            .order_by(Job.id)
            .limit(500)
        ).all()
        for job in stale:
            sent += jobs.send(session=session, job=job)
    if sent:
        logger.info("reconciler sent {} pending job(s)", sent)
    return sent
