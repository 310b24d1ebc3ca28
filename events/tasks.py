from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def run_import(job_id: int) -> None:
    try:
        services.import_job_run(job_id=job_id)
    except Exception:
        services.import_job_fail(job_id=job_id)
        raise  # Celery logs it with the traceback
