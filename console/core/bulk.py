"""Bulk actions on jobs: pick jobs by id or by a filter, plan what an action would do, then do it.

    JobFilter.from_params(query)  ──>  plan(action, ids | filter)  ──>  execute(plan)
                                        which jobs it touches,          per job: done / skipped
                                        which it skips and why          (why) / not found

`plan` only reads. `execute` changes jobs through `console.core.jobs`, all the plan's jobs
together: a requeue or re-run makes its new jobs with one `jobs.submit_many` (one INSERT, one
commit, one pipelined send), a cancel is one `jobs.cancel_many`. A job whose state moved since
the plan is skipped with the reason, never forced.
The same filter drives the admin's job list, its bulk pages and the REST API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, Literal

from loguru import logger
from sqlalchemy import ColumnElement, String, cast, func, or_, select
from sqlalchemy.orm import Session, defer, selectinload

from console.core import jobs
from console.core.db import session_scope
from console.core.errors import ConsoleError, Invalid
from console.core.models import CleaningConfig, Dataset, Job, JobStatus, User

Action = Literal["cancel", "requeue", "rerun"]
ACTIONS: tuple[Action, ...] = ("cancel", "requeue", "rerun")
VERB = {"cancel": "cancel", "requeue": "requeue", "rerun": "re-run"}
PAST = {"cancel": "cancelled", "requeue": "requeued", "rerun": "re-run"}
# One request runs every action of a bulk; past this, narrowing the filter is the answer.
MAX_JOBS = 5000
STATUSES = tuple(status.value for status in JobStatus)
# What an action reads of a job: the config and dataset for a re-run, the owner for the new job; never
# its result (report, preview, traceback), which can be large.
_RELATIONS = (
    selectinload(Job.config), selectinload(Job.dataset), selectinload(Job.owner),
    defer(Job.report), defer(Job.preview), defer(Job.error_traceback),
)  # fmt: skip


@dataclass(frozen=True)
class JobFilter:
    """Conditions on jobs, all of which must hold. Empty fields add no condition."""

    status: str | None = None
    owner_id: int | None = None
    config_id: int | None = None
    dataset_id: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    search: str | None = None

    FIELDS: ClassVar[tuple[str, ...]] = (
        "status", "owner_id", "config_id", "dataset_id", "created_after", "created_before", "search",
    )  # fmt: skip

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> JobFilter:
        """Read a filter from query parameters or JSON; Invalid names the first bad field.

        A bare date in `created_before` means "before the end of that day"; times without a zone are UTC.
        """
        values: dict[str, Any] = {}
        for name in cls.FIELDS:
            raw = params.get(name)
            if raw is None or (isinstance(raw, str) and raw.strip() in ("", "__all")):
                continue
            values[name] = _parse(name, raw)
        return cls(**values)

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in self.FIELDS)

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.status is not None:
            found.append(Job.status == self.status)
        if self.owner_id is not None:
            found.append(Job.owner_id == self.owner_id)
        if self.config_id is not None:
            found.append(Job.config_id == self.config_id)
        if self.dataset_id is not None:
            found.append(Job.dataset_id == self.dataset_id)
        if self.created_after is not None:
            found.append(Job.created_at >= self.created_after)
        if self.created_before is not None:
            found.append(Job.created_at < self.created_before)
        if self.search:
            found.append(search_condition(self.search))
        return found

    def params(self) -> dict[str, str]:
        """The filter as query parameters (what `from_params` reads back)."""
        return {name: _unparse(value) for name in self.FIELDS if (value := getattr(self, name)) is not None}

    def describe(self) -> str:
        if self.is_empty:
            return "all jobs"
        return ", ".join(f"{name.replace('_', ' ')} {_unparse(getattr(self, name))}" for name in self.params())


def search_condition(term: str) -> ColumnElement[bool]:
    """A job matches when the term is its id or is in its status, task id, error, owner, dataset or config name."""
    like = "%" + term.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

    def has(column: Any) -> ColumnElement[bool]:
        return column.ilike(like, escape="\\")

    return or_(
        cast(Job.id, String) == term.strip(),
        has(Job.status),
        has(Job.task_id),
        has(Job.error_message),
        Job.owner_id.in_(select(User.id).where(has(User.email))),
        Job.dataset_id.in_(select(Dataset.id).where(has(Dataset.name))),
        Job.config_id.in_(select(CleaningConfig.id).where(has(CleaningConfig.name))),
    )


def visible_to(user: User) -> ColumnElement[bool] | None:
    """None for operators and admins (they see every job); members see their own."""
    return None if user.sees_everything else Job.owner_id == user.id


@dataclass
class Planned:
    """One job of a plan. `reason` is None when the action will touch it, else why it is skipped."""

    job_id: int
    job: Job | None
    reason: str | None

    @property
    def acts(self) -> bool:
        return self.reason is None

    @property
    def status(self) -> str | None:
        return self.job.status if self.job is not None else None


@dataclass
class Plan:
    action: Action
    items: list[Planned] = field(default_factory=list)

    @property
    def touched(self) -> list[Planned]:
        return [item for item in self.items if item.acts]

    @property
    def skipped(self) -> list[Planned]:
        return [item for item in self.items if not item.acts]


@dataclass(frozen=True)
class Outcome:
    job_id: int
    outcome: Literal["done", "would_do", "skipped", "not_found"]
    detail: str
    new_job_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.job_id, "outcome": self.outcome, "detail": self.detail, "new_job_id": self.new_job_id}


def plan(
    *,
    session: Session,
    action: str,
    actor: User,
    job_ids: Sequence[int] | None = None,
    job_filter: JobFilter | None = None,
    check: Callable[[Job], str | None] | None = None,
) -> Plan:
    """What `action` would do to the jobs named by `job_ids` or matching `job_filter` (one of them).

    Jobs the actor may not see count as not found. `check(job)` may add a reason to skip a job
    (e.g. its config no longer fits its dataset). Raises Invalid for an unknown action or more
    than MAX_JOBS jobs.
    """
    if action not in ACTIONS:
        raise Invalid(f"action: must be one of {', '.join(ACTIONS)}, got {action!r}")
    if (job_ids is None) == (job_filter is None):
        raise Invalid("give either ids or a filter")
    query = select(Job).options(*_RELATIONS)
    if (mine := visible_to(actor)) is not None:
        query = query.where(mine)
    if job_ids is not None:
        wanted = list(dict.fromkeys(int(i) for i in job_ids))
        if len(wanted) > MAX_JOBS:
            raise Invalid(f"ids: {len(wanted):,} jobs named; a bulk action takes at most {MAX_JOBS:,}")
        found = {job.id: job for job in session.scalars(query.where(Job.id.in_(wanted)))}
        selected: list[tuple[int, Job | None]] = [(job_id, found.get(job_id)) for job_id in wanted]
    else:
        assert job_filter is not None
        query = query.where(*job_filter.conditions()).order_by(Job.created_at.desc(), Job.id.desc())
        matched = list(session.scalars(query.limit(MAX_JOBS + 1)))
        if len(matched) > MAX_JOBS:
            total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
            raise Invalid(
                f"filter: {total:,} jobs match ({job_filter.describe()}); a bulk action takes at most "
                f"{MAX_JOBS:,}, so narrow the filter"
            )
        selected = [(job.id, job) for job in matched]
    return Plan(action=action, items=[Planned(job_id, job, _reason(action, job, check)) for job_id, job in selected])


def preview(result: Plan) -> list[Outcome]:
    """The plan as the outcomes a dry run reports."""
    return [
        Outcome(item.job_id, "not_found", item.reason or "")
        if item.job is None
        else Outcome(item.job_id, "would_do", f"would {VERB[result.action]} job {item.job_id}")
        if item.acts
        else Outcome(item.job_id, "skipped", item.reason or "")
        for item in result.items
    ]


def execute(
    *, session: Session, plan: Plan, actor: User, rerun_steps: Callable[[Job], list[dict[str, Any]]], workers: int = 1
) -> list[Outcome]:
    """Do the plan through `console.core.jobs`; report what happened to each job.

    `rerun_steps(job)` gives a re-run its validated steps (the config as it is now). A job that
    can no longer take the action is skipped with the reason; nothing here raises for one job.
    The plan's jobs are acted on together (`jobs.submit_many` / `jobs.cancel_many`: a few
    statements, one commit before any message); should that fail before it commits, they are
    done job by job instead, each with its own outcome, shared among `workers` threads with a
    session each so that the waits on PostgreSQL and Redis overlap.
    """
    outcomes: dict[int, Outcome] = {}
    for item in plan.items:
        if item.job is None:
            outcomes[item.job_id] = Outcome(item.job_id, "not_found", item.reason or "not found")
        elif not item.acts:
            outcomes[item.job_id] = Outcome(item.job_id, "skipped", item.reason or "")
    todo = plan.touched
    if plan.action == "cancel":
        todo = _cancel_together(session, todo, outcomes)
    else:
        todo = _submit_together(session, plan.action, todo, rerun_steps, outcomes)
    outcomes.update(_one_by_one(session, plan.action, todo, actor, rerun_steps, workers))
    return [outcomes[item.job_id] for item in plan.items]


def _cancel_together(session: Session, todo: list[Planned], outcomes: dict[int, Outcome]) -> list[Planned]:
    """Cancel the jobs with one `jobs.cancel_many`, recording each outcome; returns the jobs left to do
    one by one (all of them when it failed: it commits last, so nothing was changed then)."""
    if not todo:
        return []
    try:
        done = jobs.cancel_many(session=session, job_ids=[item.job_id for item in todo])
    except Exception as exc:
        session.rollback()
        logger.opt(exception=exc).warning("bulk cancel of {} jobs failed together; acting job by job", len(todo))
        return todo
    for job_id, result in done.items():
        outcomes[job_id] = _refused("cancel", job_id, result) if isinstance(result, Exception) else _cancelled(result)
    return []


def _cancelled(job: Job) -> Outcome:
    stopping = " (its worker stops it within seconds)" if job.status == JobStatus.RUNNING else ""
    return Outcome(job.id, "done", f"job is {job.status}{stopping}")


def _submit_together(
    session: Session,
    action: str,
    todo: list[Planned],
    rerun_steps: Callable[[Job], list[dict[str, Any]]],
    outcomes: dict[int, Outcome],
) -> list[Planned]:
    """Requeue or re-run the jobs with one `jobs.submit_many`, recording each outcome; returns the jobs
    left to do one by one (all of them when the batch could not be created: nothing was committed then)."""
    sources: list[Planned] = []
    items: list[jobs.NewJob] = []
    for item in todo:
        job = item.job
        assert job is not None
        try:
            items.append(jobs.requeue_of(job) if action == "requeue" else jobs.rerun_of(job, steps=rerun_steps(job)))
            sources.append(item)
        except Exception as exc:
            outcomes[item.job_id] = _refused(action, item.job_id, exc)
    if not items:
        return []
    try:
        created = jobs.submit_many(session=session, items=items)
    except Exception as exc:  # nothing was committed: job by job, each failure is reported on its own job
        session.rollback()
        logger.opt(exception=exc).warning("bulk {} of {} jobs failed together; acting job by job", action, len(items))
        return sources
    for item, new in zip(sources, created, strict=True):
        outcomes[item.job_id] = Outcome(item.job_id, "done", f"new job {new.id} is {new.status}", new_job_id=new.id)
    return []


def _one_by_one(
    session: Session,
    action: str,
    todo: list[Planned],
    actor: User,
    rerun_steps: Callable[[Job], list[dict[str, Any]]],
    workers: int,
) -> dict[int, Outcome]:
    if workers <= 1 or len(todo) < 2 * workers:
        acting = [item.job for item in todo if item.job is not None]
        return {job.id: _act(session, action, job, actor, rerun_steps) for job in acting}
    ids = [item.job_id for item in todo]
    shares = [ids[i::workers] for i in range(workers)]
    done: dict[int, Outcome] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bulk") as pool:
        for share in pool.map(lambda share: _act_in_own_session(action, share, actor.id, rerun_steps), shares):
            done.update(share)
    return done


def _act_in_own_session(
    action: str, job_ids: list[int], actor_id: int, rerun_steps: Callable[[Job], list[dict[str, Any]]]
) -> dict[int, Outcome]:
    with session_scope() as session:
        actor = session.get(User, actor_id)
        assert actor is not None
        query = select(Job).where(Job.id.in_(job_ids)).options(*_RELATIONS)
        found = {job.id: job for job in session.scalars(query)}
        return {
            job_id: _act(session, action, found[job_id], actor, rerun_steps)
            if job_id in found
            else Outcome(job_id, "not_found", "not found")
            for job_id in job_ids
        }


def _act(
    session: Session, action: str, job: Job, actor: User, rerun_steps: Callable[[Job], list[dict[str, Any]]]
) -> Outcome:
    try:
        if action == "cancel":
            return _cancelled(jobs.cancel(session=session, job=job))
        if action == "requeue":
            new = jobs.requeue(session=session, job=job, by=actor)
        else:
            new = jobs.rerun(session=session, job=job, by=actor, steps=rerun_steps(job))
    except Exception as exc:
        session.rollback()
        return _refused(action, job.id, exc)
    return Outcome(job.id, "done", f"new job {new.id} is {new.status}", new_job_id=new.id)


def _refused(action: str, job_id: int, exc: Exception) -> Outcome:
    if isinstance(exc, ConsoleError):
        return Outcome(job_id, "skipped", describe_error(exc))
    # One job's infrastructure failure must not lose the report on the others.
    logger.bind(job_id=job_id).opt(exception=exc).error("bulk {} failed", action)
    return Outcome(job_id, "skipped", f"not {PAST[action]}: {type(exc).__name__}; see the log")


def describe_error(exc: ConsoleError) -> str:
    """One sentence for an error whose detail may be a list of problems (config validation)."""
    detail = exc.detail
    if isinstance(detail, list):
        return "; ".join(
            str(problem.get("msg", problem)) if isinstance(problem, dict) else str(problem) for problem in detail
        )
    return str(detail)


def _reason(action: str, job: Job | None, check: Callable[[Job], str | None] | None) -> str | None:
    if job is None:
        return "not found"
    if action == "cancel":
        return f"already {job.status}; only unfinished jobs can be cancelled" if job.is_finished else None
    if not job.is_finished:
        return f"still {job.status}; only finished jobs can be {PAST[action]}"
    if action == "rerun" and job.config_id is None:
        return "its config was deleted; requeue it to run its snapshot again"
    return check(job) if check is not None else None


def _parse(name: str, raw: Any) -> Any:
    try:
        if name == "status":
            value = str(raw).strip().lower()
            if value not in STATUSES:
                raise ValueError(f"must be one of {', '.join(STATUSES)}")
            return value
        if name in ("owner_id", "config_id", "dataset_id"):
            if isinstance(raw, bool):
                raise ValueError("must be a whole number")
            number = int(str(raw).strip()) if not isinstance(raw, int) else raw
            if not 1 <= number <= 2_147_483_647:
                raise ValueError("must be a positive id")
            return number
        if name in ("created_after", "created_before"):
            return _instant(raw, end_of_day=name == "created_before")
        term = str(raw).strip()
        if len(term) > 200:
            raise ValueError("must be at most 200 characters")
        return term or None
    except ValueError as exc:
        message = str(exc) if "must" in str(exc) else "must be a whole number"
        raise Invalid(f"filter: {name}: {message}, got {str(raw)[:50]!r}") from None


def _instant(raw: Any, *, end_of_day: bool) -> datetime:
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, date):
        moment = datetime.combine(raw + timedelta(days=1 if end_of_day else 0), time())
    else:
        text = str(raw).strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                moment = datetime.combine(day + timedelta(days=1 if end_of_day else 0), time())
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be a date (YYYY-MM-DD) or an ISO 8601 date and time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _unparse(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)
