"""Processing: the Process button, the user's job history, a job's live page, cancel / run again, downloads.

Job state changes only through `console.core.jobs`: the Process button by the REST API's own
`create_job`, cancel and run again by `console.job_actions` (audited, like the API's and the admin's).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console import job_actions
from console.api import jobs as api_jobs
from console.api.schemas import JobCreate
from console.core import outputs
from console.core.bulk import Outcome
from console.core.errors import Invalid
from console.core.models import CleaningConfig, Dataset, Job, JobEvent, JobStatus
from console.deps import SessionDep
from console.pages import downloads
from console.pages.checking import problems_of
from console.pages.datasets import dataset_context
from console.pages.deps import PageUser, flash, get_mine, redirect, render
from console.pages.rendering import job_timings, when

router = APIRouter()
PAGE_SIZE = 50
EVENTS_SHOWN = 50
STATUS_WORDS = {
    JobStatus.PENDING: "Waiting to be sent to a worker",
    JobStatus.QUEUED: "Queued: waiting for a free worker",
    JobStatus.RUNNING: "Running",
    JobStatus.SUCCEEDED: "Done",
    JobStatus.FAILED: "Failed",
    JobStatus.CANCELLED: "Cancelled",
}


@router.post("/jobs")
def process(
    request: Request,
    session: SessionDep,
    user: PageUser,
    dataset_id: Annotated[int, Form()],
    config_id: Annotated[int | None, Form()] = None,
) -> Response:
    """The Process button: answers at once with the job's page; a worker does the rest."""
    dataset = get_mine(session, user, Dataset, dataset_id, "dataset")
    if config_id is None:
        return _dataset_again(request, session, user, dataset, None, "Choose a config to process this dataset with.")
    config = get_mine(session, user, CleaningConfig, config_id, "config")
    try:
        job = api_jobs.create_job_for(session, user.id, JobCreate(dataset_id=dataset.id, config_id=config.id))
    except Invalid as exc:
        session.rollback()
        messages = [_where(p) + p["message"] for p in problems_of(exc)]
        return _dataset_again(request, session, user, dataset, config.id, "This config does not fit this dataset.", messages)
    return redirect(f"/jobs/{job.id}")


@router.get("/jobs")
def list_jobs(request: Request, session: SessionDep, user: PageUser, page: int = 1) -> Response:
    page = min(max(page, 1), 1_000_000)
    total = session.scalar(select(func.count()).select_from(Job).where(Job.owner_id == user.id)) or 0
    jobs = session.scalars(
        select(Job).where(Job.owner_id == user.id).order_by(Job.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    context = {"jobs": jobs, "page": page, "more": page * PAGE_SIZE < total, "total": total}
    return render(request, "pages/jobs.html", context, user=user)


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: int, session: SessionDep, user: PageUser) -> Response:
    job = get_mine(session, user, Job, job_id, "job")
    return render(request, "pages/job.html", {"job": job, "state": job_state(session, job)}, user=user)


@router.get("/jobs/{job_id}/status")
def job_status(job_id: int, session: SessionDep, user: PageUser) -> dict[str, Any]:
    """What the job page polls until the job is finished."""
    return job_state(session, get_mine(session, user, Job, job_id, "job"))


@router.post("/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: int, session: SessionDep, user: PageUser) -> Response:
    job = get_mine(session, user, Job, job_id, "job")
    outcome = _act(session, user, "cancel", job)
    if outcome.outcome != "done":
        flash(request, outcome.detail, "error")
    else:
        session.refresh(job)
        flash(request, f"Job {job.id} is cancelled." if job.status == JobStatus.CANCELLED else f"Stopping job {job.id}…")
    return redirect(_back(request, f"/jobs/{job.id}"))


@router.post("/jobs/{job_id}/again")
def run_again(request: Request, job_id: int, session: SessionDep, user: PageUser) -> Response:
    """A new job: with the config as it is now when it still exists, else with the same steps as before."""
    job = get_mine(session, user, Job, job_id, "job")
    outcome = _act(session, user, "rerun" if job.config_id else "requeue", job)
    if outcome.outcome != "done" or outcome.new_job_id is None:
        flash(request, f"Could not run job {job.id} again: {outcome.detail}", "error")
        return redirect(_back(request, f"/jobs/{job.id}"))
    flash(request, f"Job {outcome.new_job_id} runs job {job.id} again.")
    return redirect(f"/jobs/{outcome.new_job_id}")


@router.get("/jobs/{job_id}/download/{fmt}")
def download(request: Request, job_id: int, fmt: str, session: SessionDep, user: PageUser) -> Response:
    job = get_mine(session, user, Job, job_id, "job")
    try:
        found = downloads.download_for(session, job, fmt)
    except outputs.BeingMade:
        context = {"job_id": job.id, "label": outputs.FORMATS[fmt][0], "retry_after": outputs.RETRY_AFTER}
        response = render(request, "pages/being_made.html", context, user=user, status_code=202)
        response.headers["Retry-After"] = str(outputs.RETRY_AFTER)
        return response
    headers = {"Content-Disposition": f'attachment; filename="{found.filename(job.id)}"', "Cache-Control": "no-store"}
    return StreamingResponse(downloads.stream(found), media_type=found.media_type, headers=headers)


def job_state(session: Session, job: Job) -> dict[str, Any]:
    """The job as its page shows it (also the JSON the page polls): status, timings, report, preview, downloads."""
    report = job.report or {}
    events = session.scalars(
        select(JobEvent).where(JobEvent.job_id == job.id).order_by(JobEvent.id.desc()).limit(EVENTS_SHOWN)
    ).all()
    succeeded = job.status == JobStatus.SUCCEEDED
    available = downloads.downloads_of(session, job)
    return {
        "id": job.id,
        "status": job.status,
        "status_text": STATUS_WORDS.get(JobStatus(job.status), job.status),
        "finished": job.is_finished,
        "cancel_requested": job.cancel_requested,
        "progress": 100 if succeeded else job.progress,
        "times": {
            "created": when(job.created_at),
            "queued": when(job.queued_at),
            "started": when(job.started_at),
            "finished": when(job.finished_at),
            **job_timings(job),
        },
        "rows_in": job.rows_in,
        "rows_out": job.rows_out,
        "error": job.error_message,
        "report": [
            {"step": step.get("step"), "op": step.get("op"), "summary": step.get("summary") or ""}
            for step in report.get("steps", [])
        ],
        "preview": (job.preview or {"columns": [], "rows": []}) if succeeded else None,
        "downloads": [{"format": d.format, "label": d.label, "url": d.url(job.id)} for d in available],
        "unavailable": downloads.unavailable(job, available),
        "events": [{"at": when(e.at), "level": e.level, "message": e.message} for e in reversed(events)],
    }


def _act(session: SessionDep, user: PageUser, action: str, job: Job) -> Outcome:
    """The action through the same audited path as the API and the admin; commits."""
    (outcome,), _ = job_actions.perform(session=session, actor=user, action=action, ids=[job.id], via="web")
    return outcome


def _dataset_again(
    request: Request,
    session: SessionDep,
    user: PageUser,
    dataset: Dataset,
    config_id: int | None,
    error: str,
    problems: list[str] | None = None,
) -> Response:
    context = {**dataset_context(session, user, dataset, config_id), "process_error": error, "process_problems": problems or []}
    return render(request, "pages/dataset.html", context, user=user, status_code=422)


def _where(problem: dict[str, Any]) -> str:
    """`Step 2: columns: ` before a problem's message, as the builder lists them."""
    step = f"Step {problem['step']}: " if problem["step"] else ""
    return step + (f"{problem['field']}: " if problem["field"] else "")


def _back(request: Request, fallback: str) -> str:
    """Where a cancel / run-again button was pressed (the job list or the job page), if it was on this site."""
    target = request.headers.get("referer", "")
    base = str(request.base_url)
    if target.startswith(base):
        path = "/" + target[len(base) :]
        if path.split("?")[0] in ("/jobs", "/"):
            return path
    return fallback
