"""Celery tasks: thin shells that pass ids to the runner and retry on infrastructure failures."""

from __future__ import annotations

from celery import Task
from sqlalchemy.exc import DBAPIError

from console.core import queue
from console.core.queue import celery_app
from console.core.settings import get_settings
from worker import profiling, reconciler, runner


@celery_app.task(name=queue.PROCESS_JOB, bind=True, max_retries=8)
def process_job(self: Task, job_id: int) -> str:
    try:
        return runner.run_job(job_id, settings=get_settings())
    except DBAPIError as exc:
        # The database blinked; the job's row still says what is true, so trying again is safe.
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30)) from exc


@celery_app.task(name=queue.PROFILE_DATASET, bind=True, max_retries=5)
def profile_dataset(self: Task, dataset_id: int) -> str:
    try:
        return profiling.profile_dataset(dataset_id)
    except DBAPIError as exc:
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 30)) from exc


@celery_app.task(name=queue.RECONCILE)
def reconcile() -> int:
    return reconciler.reconcile(settings=get_settings())
