"""Job actions as the web does them, for the REST API and the admin alike: plan, perform, audit.

The rules live in `console.core.bulk` and `console.core.jobs`; this adds the two things only
the web knows: the steps a re-run takes (the config as it is now, checked against the
dataset) and the audit entry each performed action leaves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from console.core import audit, bulk
from console.core.errors import ConsoleError, InvalidTransition
from console.core.models import AuditEntry, Job, User
from console.validation import check_steps_for_dataset, validated_steps

# Threads a bulk action shares its jobs among (each holds a database connection while it runs).
BULK_WORKERS = 4


class RerunSteps:
    """The validated steps a re-run of a job takes; remembered per config version and dataset within one action."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, int, int], list[dict[str, Any]] | ConsoleError] = {}

    def __call__(self, job: Job) -> list[dict[str, Any]]:
        if job.config is None:
            raise InvalidTransition(f"the config of job {job.id} was deleted; requeue it to run its snapshot again")
        key = (job.config.id, job.config.version, job.dataset_id)
        if key not in self._known:
            try:
                steps = validated_steps(job.config.steps)
                check_steps_for_dataset(steps, job.dataset)
                self._known[key] = steps
            except ConsoleError as exc:
                self._known[key] = exc
        known = self._known[key]
        if isinstance(known, ConsoleError):
            raise known
        return known

    def problem(self, job: Job) -> str | None:
        """Why the job cannot be re-run, or None."""
        try:
            self(job)
        except ConsoleError as exc:
            return f"its config no longer fits its dataset: {bulk.describe_error(exc)}"
        return None


def plan(
    *,
    session: Session,
    actor: User,
    action: str,
    ids: Sequence[int] | None = None,
    job_filter: bulk.JobFilter | None = None,
) -> bulk.Plan:
    """What the action would do (reads only)."""
    check = RerunSteps().problem if action == "rerun" else None
    return bulk.plan(session=session, action=action, actor=actor, job_ids=ids, job_filter=job_filter, check=check)


def perform(
    *,
    session: Session,
    actor: User,
    action: str,
    ids: Sequence[int] | None = None,
    job_filter: bulk.JobFilter | None = None,
    via: str,
    detail: str = "",
) -> tuple[list[bulk.Outcome], AuditEntry]:
    """Do the action on the jobs, record it in the audit log and COMMIT; per job what happened.

    Raises Invalid only for a request that names no jobs properly (unknown action, too many jobs).
    """
    steps = RerunSteps()
    check = steps.problem if action == "rerun" else None
    the_plan = bulk.plan(session=session, action=action, actor=actor, job_ids=ids, job_filter=job_filter, check=check)
    outcomes = bulk.execute(session=session, plan=the_plan, actor=actor, rerun_steps=steps, workers=BULK_WORKERS)
    entry = audit.record(
        session=session,
        actor=actor,
        action=f"job.{action}",
        target_type="job",
        ids=[outcome.job_id for outcome in outcomes],
        outcome=summary(outcomes, via=via),
        detail=detail or describe_selection(action, ids, job_filter),
    )
    session.commit()
    return outcomes, entry


def summary(outcomes: Sequence[bulk.Outcome], *, via: str) -> dict[str, Any]:
    counts = Counter(outcome.outcome for outcome in outcomes)
    return {
        "via": via,
        "done": counts["done"],
        "skipped": counts["skipped"],
        "not_found": counts["not_found"],
        "results": [outcome.as_dict() for outcome in outcomes],
    }


def describe_selection(action: str, ids: Sequence[int] | None, job_filter: bulk.JobFilter | None) -> str:
    verb = bulk.VERB.get(action, action)
    if job_filter is not None:
        return f"{verb} every job matching: {job_filter.describe()}"
    named = list(dict.fromkeys(ids or []))
    shown = ", ".join(f"#{job_id}" for job_id in named[:20]) + (
        f" and {len(named) - 20} more" if len(named) > 20 else ""
    )
    return f"{verb} job{'s' if len(named) != 1 else ''} {shown}"
