"""The statements of the job lifecycle (console.core.jobs runs them; every state change still goes
through jobs.transition() and its kin): the lifecycle's rule (ALLOWED_FROM), the conditional UPDATE of
a transition with its event (built once per shape, its values bound: built per call, a statement's
construction and cache key cost more CPU than its round trip), the claim's conditions, and the
statements of a submission.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ARRAY, ClauseElement, ColumnElement, Insert, Integer, Interval, Select, String, Table, and_, bindparam, exists,
    func, insert, literal, literal_column, or_, select, true, update,
)  # fmt: skip
from sqlalchemy.orm import aliased

from console.core.models import Job, JobEvent, JobOutput, JobStatus

S = JobStatus
ALLOWED_FROM: dict[JobStatus, frozenset[JobStatus]] = {
    S.QUEUED: frozenset({S.PENDING}),
    # running -> running is a redelivery after the worker holding the job was lost.
    S.RUNNING: frozenset({S.PENDING, S.QUEUED, S.RUNNING}),
    S.SUCCEEDED: frozenset({S.RUNNING}),
    S.FAILED: frozenset({S.PENDING, S.QUEUED, S.RUNNING}),
    S.CANCELLED: frozenset({S.PENDING, S.QUEUED, S.RUNNING}),
}
_TIMESTAMP_OF = {S.QUEUED: "queued_at", S.RUNNING: "started_at"}
UNFINISHED = (S.PENDING.value, S.QUEUED.value, S.RUNNING.value)
# For UPDATE ... RETURNING Job: the session's copies of the jobs take the values the database now has.
REFRESH = {"synchronize_session": False, "populate_existing": True}
_JOBS: Table = Job.__table__  # type: ignore[assignment]
EVENTS: Table = JobEvent.__table__  # type: ignore[assignment]

# Conditions callers pass as `only_if` that are built once (module constants): a transition with one of
# them, or none, runs a statement built once per shape (_SHAPES) with its values as bind parameters.
# Built per call, the statement's construction and cache key cost more CPU than its round trip.
CANCEL_NOT_REQUESTED: ColumnElement[bool] = Job.cancel_requested.is_(False)
# claim(): not running, or running with a stale heartbeat (its run's worker is gone); :stale is an interval.
_STALE_FOR_CLAIM = bindparam("stale", type_=Interval())
def heartbeat_alive(job: Any) -> ColumnElement[bool]:
    """`job`'s heartbeat is within :stale (an interval): the run holding it is alive (the rule of the
    running count, of the fairness rule and of "held by a live run"). `job`: Job or an alias of it."""
    return job.heartbeat_at >= func.clock_timestamp() - _STALE_FOR_CLAIM


FREE_TO_CLAIM: ColumnElement[bool] = or_(
    Job.status != S.RUNNING.value,
    Job.heartbeat_at.is_(None),
    Job.heartbeat_at < func.clock_timestamp() - _STALE_FOR_CLAIM,
)


def _turn_condition() -> ColumnElement[bool]:
    """must_wait_turn()'s rule as a condition on the job being claimed (:limit running jobs per owner,
    a heartbeat within :stale counts as running): its owner runs fewer than :limit jobs, or no other
    user under the limit has a job queued."""

    def alive_running_of(owner_id: Any) -> Any:
        other = aliased(Job)
        return (
            select(func.count())
            .where(other.owner_id == owner_id, other.status == S.RUNNING.value, heartbeat_alive(other))
            .scalar_subquery()
        )

    waiting = aliased(Job)
    others_wait = exists().where(
        waiting.status == S.QUEUED.value,
        waiting.owner_id != Job.owner_id,
        alive_running_of(waiting.owner_id) < bindparam("limit"),
    )
    return or_(alive_running_of(Job.owner_id) < bindparam("limit"), ~others_wait)


FREE_AND_TURN_TO_CLAIM: ColumnElement[bool] = and_(FREE_TO_CLAIM, _turn_condition())
_SHARED_CONDITIONS = {
    id(condition): condition for condition in (CANCEL_NOT_REQUESTED, FREE_TO_CLAIM, FREE_AND_TURN_TO_CLAIM)
}
_SHAPES: dict[tuple[Any, ...], Insert] = {}


def transition_call(
    job_id: int,
    to: JobStatus,
    holding: str | None,
    only_if: ColumnElement[bool] | None,
    message: str,
    values: dict[str, Any],
    outputs: dict[str, int] | None,
) -> tuple[Insert, dict[str, Any]]:
    """The statement of a transition and its parameters: built once per shape when it can be (plain
    values, a shared `only_if` or none), per call otherwise."""
    shared = only_if is None or id(only_if) in _SHARED_CONDITIONS
    if not shared or any(isinstance(value, ClauseElement) for value in values.values()):
        statement = _transition_statement(job_id, to, holding, only_if, message, values, outputs)
        return statement, {}
    nulls = frozenset(key for key, value in values.items() if value is None)
    key = (to, holding is not None, None if only_if is None else id(only_if), frozenset(values), nulls, outputs is not None)
    statement = _SHAPES.get(key)
    if statement is None:
        bound = {
            name: None if name in nulls else bindparam(f"new_{name}", type_=_JOBS.c[name].type) for name in values
        }
        statement = _transition_statement(
            bindparam("job_id"), to, bindparam("held_lease") if holding is not None else None, only_if,
            bindparam("message"), bound, _BOUND_OUTPUTS if outputs is not None else None,
        )  # fmt: skip
        _SHAPES[key] = statement
    params = {"job_id": job_id, "message": message[:10_000]}
    params |= {f"new_{name}": value for name, value in values.items() if name not in nulls}
    if holding is not None:
        params["held_lease"] = holding
    if outputs is not None:
        params["output_formats"], params["output_file_ids"] = list(outputs), list(outputs.values())
    return statement, params


def _transition_statement(
    job_id: Any,
    to: JobStatus,
    holding: Any,
    only_if: ColumnElement[bool] | None,
    message: Any,
    values: dict[str, Any],
    outputs: dict[str, int] | None = None,
) -> Insert:
    """The conditional UPDATE and the "moved" event of `transition()` in one statement (one round trip):
    WITH moved AS (UPDATE jobs ... RETURNING id) INSERT INTO job_events ... SELECT ... FROM moved.
    With `outputs` (given: {} for bind parameters), the job's output rows go in with them (a CTE):
    only when the job moved. Core, on the tables: the ORM's bulk UPDATE and INSERT paths cost more CPU
    than the round trip."""
    change = (
        update(_JOBS)
        .where(_JOBS.c.id == job_id, may_move_to(to))
        .values(status=to.value, **stamps(to), **values)
        .returning(_JOBS.c.id)
    )
    if holding is not None:
        change = change.where(_JOBS.c.lease == holding)
    if only_if is not None:
        change = change.where(only_if)
    moved = change.cte("moved")
    text_of = message[:10_000] if isinstance(message, str) else message
    event = select(moved.c.id, literal("INFO"), text_of if not isinstance(text_of, str) else literal(text_of))
    statement = (
        insert(EVENTS)
        .from_select(["job_id", "level", "message"], event)
        .add_cte(moved)
        .returning(EVENTS.c.job_id)
    )
    if outputs is not None:
        statement = statement.add_cte(_outputs_insert(moved, outputs))
    return statement


_BOUND_OUTPUTS: dict[str, int] = {}  # _outputs_insert(): the outputs are bind parameters (a statement built once)


def _outputs_insert(moved: Any, outputs: dict[str, int]) -> Any:
    """INSERT INTO job_outputs (job_id, format, file_id) SELECT moved.id, format, file_id FROM moved,
    unnest(:output_formats, :output_file_ids): as a CTE of the transition's statement."""
    if outputs is _BOUND_OUTPUTS:
        formats: Any = bindparam("output_formats", type_=ARRAY(String()))
        ids: Any = bindparam("output_file_ids", type_=ARRAY(Integer()))
    else:
        formats, ids = literal(list(outputs), ARRAY(String())), literal(list(outputs.values()), ARRAY(Integer()))
    pairs = func.unnest(formats, ids).table_valued("format", "file_id").render_derived(name="made")
    rows = select(moved.c.id, pairs.c.format, pairs.c.file_id).select_from(moved).join(pairs, true())
    outputs_table: Table = JobOutput.__table__  # type: ignore[assignment]
    return insert(outputs_table).from_select(["job_id", "format", "file_id"], rows).cte("outputs")


def may_move_to(to: JobStatus) -> ColumnElement[bool]:
    return Job.status.in_([status.value for status in ALLOWED_FROM[to]])


def stamps(to: JobStatus) -> dict[str, Any]:
    now = func.clock_timestamp()
    stamps: dict[str, Any] = {}
    if to in _TIMESTAMP_OF:
        stamps[_TIMESTAMP_OF[to]] = now
    if to == S.RUNNING:
        stamps["heartbeat_at"] = now
    if to in (S.SUCCEEDED, S.FAILED, S.CANCELLED):
        stamps["finished_at"] = now
    return stamps


def moved_message(to: JobStatus, reason: str | None) -> str:
    return f"{to.value}" + (f": {reason}" if reason else "")


def _create_jobs_statement() -> Insert:
    """INSERT INTO jobs ... RETURNING jobs.*, (the owner's unfinished jobs): the count runs in the
    INSERT's snapshot, which holds none of the new rows. Built once: built per call, its aliased
    subquery cost more CPU than the query it saves.

    (SQLAlchemy does not correlate a subquery in RETURNING: the inserted row's owner is named as
    text; the statuses are plain binds, since an expanding IN cannot go into an executemany.)"""
    earlier = aliased(Job)
    new_row_owner = literal_column(f"{_JOBS.name}.owner_id")
    unfinished = or_(*(earlier.status == status for status in UNFINISHED))
    before = select(func.count()).where(earlier.owner_id == new_row_owner, unfinished).scalar_subquery()
    return insert(Job).returning(Job, before, sort_by_parameter_order=True)


CREATE_JOBS = _create_jobs_statement()


def _mark_queued_statement() -> Select[Any]:
    """`transition_many(to=QUEUED, sent_at=now)` as one statement built once, for send_many():

        WITH moved AS (UPDATE jobs ... WHERE id IN :ids AND status = 'pending' RETURNING the stamps),
             logged AS (INSERT INTO job_events ... SELECT ... FROM moved)
        SELECT moved.*, set_config('synchronous_commit', 'off', true) FROM moved

    Its commit need not wait for the disk: a queued mark lost in a crash leaves the job pending, and
    the reconciler sends a pending job again (a message delivered twice is harmless); the only other
    writes in that transaction are "not sent yet" warnings, lines of the job's log. Only when a job
    moved is the setting made, and only for this transaction (set_config's is_local).
    """
    stamp = func.clock_timestamp()
    change = (
        update(_JOBS)
        .where(_JOBS.c.id.in_(bindparam("ids", expanding=True)), _JOBS.c.status.in_(_ALLOWED_VALUES[S.QUEUED]))
        .values(status=S.QUEUED.value, **{_TIMESTAMP_OF[S.QUEUED]: stamp}, sent_at=stamp)
        .returning(_JOBS.c.id, _JOBS.c.status, _JOBS.c.queued_at, _JOBS.c.sent_at)
    )
    moved = change.cte("moved")
    event = select(moved.c.id, literal("INFO"), literal(moved_message(S.QUEUED, None)))
    logged = insert(EVENTS).from_select(["job_id", "level", "message"], event).cte("logged")
    relaxed = func.set_config("synchronous_commit", "off", True).label("relaxed")
    return select(moved.c.id, moved.c.status, moved.c.queued_at, moved.c.sent_at, relaxed).add_cte(logged)


_ALLOWED_VALUES = {to: sorted(status.value for status in allowed) for to, allowed in ALLOWED_FROM.items()}
MARK_QUEUED = _mark_queued_statement()

