"""Jobs: submit, list, get, output download, preview, and the lifecycle actions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from console.api.schemas import BulkAction, BulkOutcome, JobCreate, JobError, JobPublic, Preview
from console.core import jobs, storage
from console.core.db import session_scope
from console.core.errors import ConsoleError, InvalidTransition
from console.core.models import CleaningConfig, Dataset, Job, JobStatus, User
from console.deps import CurrentUser, OwnedJob, SessionDep, get_owned
from console.validation import check_steps_for_dataset, validated_steps

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", status_code=202, response_model=JobPublic)
def create_job(body: JobCreate, session: SessionDep, user: CurrentUser) -> JobPublic:
    dataset = get_owned(session, user, Dataset, body.dataset_id, "dataset")
    config = get_owned(session, user, CleaningConfig, body.config_id, "config")
    steps = validated_steps(config.steps)
    check_steps_for_dataset(steps, dataset)
    return job_public(jobs.submit(session=session, owner=user, dataset=dataset, steps=steps, config=config))


@router.get("", response_model=list[JobPublic])
def list_jobs(
    session: SessionDep,
    user: CurrentUser,
    status: Annotated[JobStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[JobPublic]:
    query = select(Job).order_by(Job.id.desc()).limit(limit).offset(offset)
    if status is not None:
        query = query.where(Job.status == status.value)
    if not user.sees_everything:
        query = query.where(Job.owner_id == user.id)
    return [job_public(job) for job in session.scalars(query)]


@router.get("/{job_id}", response_model=JobPublic)
def get_job(job: OwnedJob) -> JobPublic:
    return job_public(job)


@router.get("/{job_id}/output", response_class=StreamingResponse, responses={200: {"content": {"text/csv": {}}}})
def download_output(job: OwnedJob) -> StreamingResponse:
    file_id = _output_of(job)
    headers = {"Content-Disposition": f'attachment; filename="job-{job.id}-cleaned.csv"'}
    return StreamingResponse(_stream_file(file_id), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/{job_id}/preview", response_model=Preview)
def preview_output(job: OwnedJob, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> Preview:
    _output_of(job)
    preview = job.preview or {"columns": [], "rows": []}
    return Preview(columns=preview["columns"], rows=preview["rows"][:limit])


@router.post("/{job_id}/cancel", status_code=202, response_model=JobPublic)
def cancel_job(job: OwnedJob, session: SessionDep) -> JobPublic:
    return job_public(jobs.cancel(session=session, job=job))


@router.post("/{job_id}/requeue", status_code=202, response_model=JobPublic)
def requeue_job(job: OwnedJob, session: SessionDep, user: CurrentUser) -> JobPublic:
    return job_public(jobs.requeue(session=session, job=job, by=user))


@router.post("/{job_id}/rerun", status_code=202, response_model=JobPublic)
def rerun_job(job: OwnedJob, session: SessionDep, user: CurrentUser) -> JobPublic:
    return job_public(_rerun(session, job, user))


@router.post("/bulk", status_code=202, response_model=list[BulkOutcome])
def bulk_action(body: BulkAction, session: SessionDep, user: CurrentUser) -> list[BulkOutcome]:
    return [_bulk_one(session, user, body, job_id) for job_id in dict.fromkeys(body.ids)]


def _bulk_one(session: SessionDep, user: User, body: BulkAction, job_id: int) -> BulkOutcome:
    try:
        job = get_owned(session, user, Job, job_id, "job")
    except ConsoleError as exc:
        return BulkOutcome(id=job_id, outcome="not_found", detail=str(exc.detail))
    finished = job.is_finished
    if (body.action == "cancel") == finished:
        need = "unfinished" if body.action == "cancel" else "finished"
        return BulkOutcome(id=job_id, outcome="skipped", detail=f"job is {job.status}; {body.action} needs an {need} job")
    if body.dry_run:
        return BulkOutcome(id=job_id, outcome="would_do", detail=f"would {body.action} job {job_id}")
    try:
        if body.action == "cancel":
            done = jobs.cancel(session=session, job=job)
            return BulkOutcome(id=job_id, outcome="done", detail=f"job is {done.status}")
        new = jobs.requeue(session=session, job=job, by=user) if body.action == "requeue" else _rerun(session, job, user)
    except ConsoleError as exc:
        session.rollback()
        return BulkOutcome(id=job_id, outcome="skipped", detail=str(exc.detail))
    return BulkOutcome(id=job_id, outcome="done", detail=f"new job {new.id} is {new.status}", new_job_id=new.id)


def _rerun(session: SessionDep, job: Job, user: User) -> Job:
    if job.config is None:
        raise InvalidTransition(f"the config of job {job.id} was deleted; requeue it to run its snapshot again")
    steps = validated_steps(job.config.steps)
    check_steps_for_dataset(steps, job.dataset)
    return jobs.rerun(session=session, job=job, by=user, steps=steps)


def _output_of(job: Job) -> int:
    if job.status != JobStatus.SUCCEEDED or job.output_file_id is None:
        raise InvalidTransition(f"job {job.id} is {job.status}; only a succeeded job has an output")
    return job.output_file_id


def _stream_file(file_id: int) -> Iterator[bytes]:
    # The request's session is closed once the response starts; the stream needs its own.
    with session_scope() as session:
        yield from storage.iter_chunks(session=session, file_id=file_id)


def job_public(job: Job) -> JobPublic:
    error = JobError(message=job.error_message, traceback=job.error_traceback) if job.error_message else None
    return JobPublic(
        id=job.id,
        owner_id=job.owner_id,
        dataset_id=job.dataset_id,
        config_id=job.config_id,
        config_version=job.config_version,
        steps=job.steps,
        status=job.status,
        progress=job.progress,
        task_id=job.task_id,
        attempts=job.attempts,
        rows_in=job.rows_in,
        rows_out=job.rows_out,
        report=job.report,
        error=error,
        output_available=job.status == JobStatus.SUCCEEDED and job.output_file_id is not None,
        created_at=job.created_at,
        queued_at=job.queued_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        retry_of_id=job.retry_of_id,
        rerun_of_id=job.rerun_of_id,
    )
