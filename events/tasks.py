from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def run_import(job_id: int) -> None:
    services.import_job_run(job_id=job_id)
