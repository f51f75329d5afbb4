"""Celery tasks: thin shells that pass ids to the runner and retry on infrastructure failures."""

from __future__ import annotations

from celery import Task
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from console.core import queue
from console.core.queue import celery_app
from console.core.settings import get_settings
from worker import on_request, profiling, reconciler, runner
from worker.claiming import Busy, WaitYourTurn

reconciler.install(celery_app)


@celery_app.task(name=queue.PROCESS_JOB, bind=True, max_retries=None)
def process_job(self: Task, job_id: int) -> str:
    settings = get_settings()
    try:
        return runner.run_job(job_id, settings=settings)
    except Busy as exc:
        # A live run holds the job; come back when it would look dead if its worker had died.
        raise self.retry(exc=exc, countdown=exc.retry_in) from exc
    except WaitYourTurn as exc:
        # Back of the line, no attempt used: the free worker takes the next message meanwhile.
        raise self.retry(exc=exc, countdown=settings.JOB_HANDBACK_SECONDS) from exc
    except (OperationalError, InterfaceError) as exc:
        # The database is away; the job's row still says what is true, so trying again is safe.
        # No retry limit: while it is away nothing could record a failure anyway.
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc


@celery_app.task(name=queue.PROFILE_DATASET, bind=True, max_retries=5)
def profile_dataset(self: Task, dataset_id: int) -> str:
    try:
        return profiling.profile_dataset(dataset_id)
    except DBAPIError as exc:
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30)) from exc


# Acknowledged when taken, unlike a job: a making that kills its pool process (out of memory) is not
# redelivered over and over; the next download asks again (console.core.outputs.ASK_AGAIN_AFTER).
@celery_app.task(name=queue.MAKE_OUTPUT, bind=True, max_retries=8, acks_late=False, reject_on_worker_lost=False)
def make_output(self: Task, job_id: int, fmt: str) -> str:
    """A finished job's output made on request (on_request.make_output): the web sends it when a download
    asks for a format the job's report lists under `on_request`, and answers "being made" until it is."""
    try:
        return on_request.make_output(job_id, fmt, settings=get_settings())
    except (OperationalError, InterfaceError) as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc


@celery_app.task(name=queue.RECONCILE)
def reconcile() -> dict[str, int]:
    """One reconciler pass on demand (workers started with `--beat` run it every few seconds themselves)."""
    return reconciler.reconcile(settings=get_settings())


def backoff(retries: int) -> float:
    """Seconds before retry number `retries + 1`: 1, 2, 4, ... capped at 30."""
    return float(min(2 ** min(retries, 5), 30))
