"""Jobs in the admin: the list (badges, progress, filters, search), the job page, downloads and the actions.

No GET changes a job. sqladmin's `@action` links (ticked rows), the job page's buttons and the
list's "every matching job" menu all lead to a confirmation page that only reads: how many jobs
the action touches, which it skips and why. Its form POSTs with the CSRF token; the action runs
through `console.job_actions` (core.bulk + core.jobs, audited) and the result page reads back
the audit entry it left, job by job.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlencode

from sqladmin import action, expose
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from console import job_actions
from console.admin import downloads
from console.admin import formatting as fmt
from console.admin.common import csrf_token, in_thread, parse_ids, posted_form, require_role, signed_in
from console.admin.filters import job_filters
from console.admin.views import ConsoleView
from console.core import audit, bulk, jobs, outputs
from console.core.errors import Invalid
from console.core.models import AuditEntry, CleaningConfig, Dataset, Job, JobStatus, Role
from console.validation import check_steps_for_dataset, validated_steps
from console.web_session import session_role, session_user_id

SHOWN = 200  # rows listed on a confirmation page; the rest are counted


class JobAdmin(ConsoleView, model=Job):
    icon = "fa-solid fa-gears"
    can_create = can_edit = can_delete = False
    show_compact_lists = False
    list_template = "admin/job_list.html"
    details_template = "admin/job_details.html"

    # The status column also holds the progress bar (running) or the error (failed), so a list fits 1280 px.
    column_list = [Job.id, Job.status, "duration", Job.owner, Job.dataset, Job.config, Job.created_at]
    column_details_list = [Job.id]  # the job page is its own template; see details_context
    column_filters = job_filters()
    # Shown as the search box's hint; the search itself is bulk.search_condition (see search_query).
    column_searchable_list = [Job.id, Job.status, Job.task_id, Job.error_message, "owner.email", "dataset.name"]
    column_sortable_list = [Job.id, Job.status, Job.created_at, Job.finished_at]
    column_default_sort = [(Job.created_at, True), (Job.id, True)]
    column_labels = {
        Job.id: "Id", Job.status: "Status", "duration": "Duration", Job.owner: "Owner",
        Job.dataset: "Dataset", Job.config: "Config", Job.created_at: "Created", Job.finished_at: "Finished",
        Job.rows_out: "Rows out", Job.error_message: "Error", Job.task_id: "Task id", "owner.email": "owner email",
        "dataset.name": "dataset name",
    }  # fmt: skip
    column_formatters = {
        Job.status: lambda job, _: fmt.status_cell(job),
        "duration": lambda job, _: fmt.duration(job),
        Job.owner: lambda job, _: fmt.truncated(job.owner.email, 18),
        Job.dataset: lambda job, _: fmt.truncated(str(job.dataset), 18),
        Job.config: lambda job, _: (
            fmt.truncated(f"#{job.config.id} {job.config.name}", 16) + f" v{job.config_version}" if job.config else ""
        ),
        Job.created_at: fmt.show(fmt.short_when),
    }

    def search_query(self, stmt: Any, term: str) -> Any:
        return stmt.where(bulk.search_condition(term))

    async def list_context(self, request: Request) -> dict[str, Any]:
        try:
            job_filter = bulk.JobFilter.from_params(request.query_params)
        except Invalid:
            job_filter = None  # the list itself answers 400 for a bad filter value
        return {
            "can_act": session_role(request) in self.writers,
            "bulk_query": urlencode(job_filter.params()) if job_filter else "",
            "filter_summary": job_filter.describe() if job_filter else "",
        }

    async def details_context(self, request: Request) -> dict[str, Any]:
        pk = str(request.path_params.get("pk", ""))
        if not pk.isdigit():
            return {}
        page = await in_thread(lambda session: job_page(session, int(pk)))
        return {"page": page, "can_act": session_role(request) in self.writers, "title": f"Job #{pk}"} if page else {}

    # ---- the ticked rows of the list: sqladmin's action links only lead to the confirmation page

    @action("cancel", label="Cancel selected jobs", add_in_detail=False)
    async def cancel_selected(self, request: Request) -> Response:
        return _to_confirmation(request, "cancel")

    @action("requeue", label="Requeue selected jobs", add_in_detail=False)
    async def requeue_selected(self, request: Request) -> Response:
        return _to_confirmation(request, "requeue")

    @action("rerun", label="Re-run selected jobs", add_in_detail=False)
    async def rerun_selected(self, request: Request) -> Response:
        return _to_confirmation(request, "rerun")

    # ---- confirmation (GET, reads only), the action (POST + CSRF), its result

    @expose("/bulk", methods=["GET"])
    async def bulk_confirm(self, request: Request) -> Response:
        require_role(request, self.writers, "act on jobs")
        params = request.query_params
        action_name = params.get("action", "")
        if action_name not in bulk.ACTIONS:
            raise HTTPException(status_code=400, detail=f"action: must be one of {', '.join(bulk.ACTIONS)}")
        by_ids = "ids" in params
        ids = parse_ids(params.get("ids")) if by_ids else None
        job_filter = None if by_ids else filter_of(params)
        selection = job_actions.describe_selection(action_name, ids, job_filter)

        def read(session: Session) -> dict[str, Any]:
            actor = signed_in(session, request)
            the_plan = job_actions.plan(
                session=session, actor=actor, action=action_name, ids=ids, job_filter=job_filter
            )
            return _plan_page(the_plan)

        context = await in_thread(read)
        back = request.url_for("admin:list", identity=self.identity)
        context.update(
            action=action_name, verb=bulk.VERB[action_name], past=bulk.PAST[action_name], selection=selection,
            csrf_token=csrf_token(request), title="Confirm: " + bulk.VERB[action_name],
            back_url=str(back) + ("" if by_ids or job_filter is None else "?" + urlencode(job_filter.params())),
        )  # fmt: skip
        return await self.templates.TemplateResponse(request, "admin/bulk_confirm.html", context)

    @expose("/bulk", methods=["POST"])
    async def bulk_run(self, request: Request) -> Response:
        form = await posted_form(request)
        require_role(request, self.writers, "act on jobs")
        action_name = str(form.get("action", ""))
        ids = parse_ids(str(form.get("ids", "")))
        if not ids:
            raise HTTPException(status_code=400, detail="No jobs to act on: nothing was confirmed.")
        selection = str(form.get("selection", ""))[:500] or job_actions.describe_selection(action_name, ids, None)

        def run(session: Session) -> int:
            actor = signed_in(session, request)
            detail = f"{selection} ({len(ids)} confirmed in the admin)"
            _, entry = job_actions.perform(
                session=session, actor=actor, action=action_name, ids=ids, via="admin", detail=detail
            )
            return entry.id

        entry_id = await in_thread(run)
        return RedirectResponse(request.url_for("admin:view-job-bulk_result", entry_id=entry_id), status_code=303)

    @expose("/bulk/result/{entry_id:int}", methods=["GET"])
    async def bulk_result(self, request: Request) -> Response:
        entry_id = int(request.path_params["entry_id"])
        entry = await in_thread(lambda session: session.get(AuditEntry, entry_id))
        mine = entry is not None and (entry.actor_id == session_user_id(request) or session_role(request) == Role.ADMIN)
        if entry is None or not mine or not entry.action.startswith("job."):
            raise HTTPException(status_code=404, detail=f"No result {entry_id} of yours to show.")
        verb = bulk.VERB.get(entry.action.removeprefix("job."), entry.action)
        context = {
            "entry": entry,
            "verb": verb,
            "results": entry.outcome.get("results", []),
            "title": f"Result: {verb}",
        }
        return await self.templates.TemplateResponse(request, "admin/bulk_result.html", context)

    # ---- files and new jobs

    @expose("/{pk:int}/download", methods=["GET"])
    async def download(self, request: Request) -> Response:
        job_id, kind = int(request.path_params["pk"]), request.query_params.get("format", "csv")
        try:
            file_id = await in_thread(lambda session: output_file_id(session, job_id, kind))
        except outputs.BeingMade:
            context = {"job_id": job_id, "format": kind, "retry_after": outputs.RETRY_AFTER, "title": "Being made"}
            response = await self.templates.TemplateResponse(request, "admin/being_made.html", context, status_code=202)
            response.headers["Retry-After"] = str(outputs.RETRY_AFTER)
            return response
        body = downloads.file_chunks(file_id)
        if kind == "csv":
            body = downloads.neutralized_csv(body)
        headers = {"Content-Disposition": f'attachment; filename="job-{job_id}-cleaned.{kind}"'}
        return StreamingResponse(body, media_type=outputs.MEDIA_TYPES[kind], headers=headers)

    @expose("/start", methods=["POST"])
    async def start(self, request: Request) -> Response:
        """Start a job from a config and a dataset (the forms on their pages)."""
        form = await posted_form(request)
        require_role(request, self.writers, "start jobs")
        dataset_id, config_id = parse_ids(str(form.get("dataset_id"))), parse_ids(str(form.get("config_id")))
        if len(dataset_id) != 1 or len(config_id) != 1:
            raise HTTPException(status_code=400, detail="Choose one dataset and one config.")
        job_id = await in_thread(lambda session: start_job(session, request, dataset_id[0], config_id[0]))
        return RedirectResponse(request.url_for("admin:details", identity=self.identity, pk=job_id), status_code=303)


def _to_confirmation(request: Request, action_name: str) -> Response:
    url = request.url_for("admin:view-job-bulk_confirm").include_query_params(
        action=action_name, ids=request.query_params.get("pks", "")
    )
    return RedirectResponse(url, status_code=302)


def filter_of(params: Any) -> bulk.JobFilter:
    try:
        return bulk.JobFilter.from_params(params)
    except Invalid as exc:
        raise HTTPException(status_code=422, detail=str(exc.detail)) from None


def _plan_page(the_plan: bulk.Plan) -> dict[str, Any]:
    def row(item: bulk.Planned) -> dict[str, Any]:
        job = item.job
        return {
            "id": item.job_id,
            "status": item.status,
            "owner": job.owner.email if job else "",
            "dataset": str(job.dataset) if job else "",
            "config": f"#{job.config.id} {job.config.name}" if job and job.config else "",
            "created": fmt.when(job.created_at) if job else "",
            "reason": item.reason,
        }

    touched, skipped = the_plan.touched, the_plan.skipped
    return {
        "touched": [row(item) for item in touched[:SHOWN]],
        "touched_count": len(touched),
        "touched_ids": ",".join(str(item.job_id) for item in touched),
        "skipped": [row(item) for item in skipped[:SHOWN]],
        "skipped_count": len(skipped),
        "skip_reasons": Counter(item.reason for item in skipped).most_common(),
        "matched": len(the_plan.items),
    }


def job_page(session: Session, job_id: int) -> dict[str, Any] | None:
    """Everything the job page shows: the job, its lineage both ways, its output files."""
    job = session.scalar(
        select(Job)
        .where(Job.id == job_id)
        .options(*(selectinload(rel) for rel in (Job.owner, Job.dataset, Job.config, Job.events, Job.output_file)))
    )
    if job is None:
        return None
    parent_ids = [i for i in (job.retry_of_id, job.rerun_of_id) if i is not None]
    parents = {parent.id: parent for parent in session.scalars(select(Job).where(Job.id.in_(parent_ids)))}
    children = list(
        session.scalars(select(Job).where(or_(Job.retry_of_id == job.id, Job.rerun_of_id == job.id)).order_by(Job.id))
    )
    return {
        "job": job,
        "retry_of": parents.get(job.retry_of_id or 0),
        "rerun_of": parents.get(job.rerun_of_id or 0),
        "children": children,
        "outputs": output_formats(session, job),
        "duration": fmt.duration(job),
    }


def output_formats(session: Session, job: Job) -> list[str]:
    return outputs.offered(session, job)


def output_file_id(session: Session, job_id: int, kind: str) -> int:
    if kind not in outputs.MEDIA_TYPES:
        raise HTTPException(status_code=400, detail=f"format: must be one of {', '.join(outputs.MEDIA_TYPES)}")
    job = session.get(Job, job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"Job {job_id} does not exist.")
    if job.status != JobStatus.SUCCEEDED:
        raise HTTPException(
            status_code=409, detail=f"Job {job_id} is {job.status}; only a succeeded job has an output."
        )
    if kind not in outputs.offered(session, job):
        raise HTTPException(status_code=404, detail=f"Job {job_id} has no {kind} output.")
    return outputs.file_for(session, job, kind)  # BeingMade for a file made on request, until it is


def start_job(session: Session, request: Request, dataset_id: int, config_id: int) -> int:
    """Validate the config against the dataset, submit the job (commits, then sends) and audit it."""
    actor = signed_in(session, request)
    dataset, config = session.get(Dataset, dataset_id), session.get(CleaningConfig, config_id)
    if dataset is None or config is None:
        raise HTTPException(status_code=404, detail=f"{'Dataset' if dataset is None else 'Config'} not found.")
    steps = validated_steps(config.steps)
    check_steps_for_dataset(steps, dataset)
    job = jobs.submit(session=session, owner=actor, dataset=dataset, steps=steps, config=config)
    audit.record(
        session=session, actor=actor, action="job.start", target_type="job", ids=[job.id],
        outcome={"via": "admin", "status": job.status, "dataset_id": dataset.id, "config_id": config.id,
                 "config_version": config.version},
        detail=f"started job #{job.id}: config {config} on dataset {dataset}",
    )  # fmt: skip
    return job.id
