from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import services


@shared_task(acks_late=True)
def run_import(job_id: int) -> None:
    try:
        services.import_job_run(job_id=job_id)
    except Exception:
        services.import_job_fail(job_id=job_id)
        raise  # Celery logs it with the traceback


@shared_task(acks_late=True)
def prune_tombstones() -> int:
    """A bounded number of batches per run (beat runs it hourly), each in its own short transaction."""
    from .tombstones import tombstones_prune

    total = 0
    for _ in range(50):
        pruned = tombstones_prune()
        total += pruned
        if pruned < settings.TOMBSTONE_PRUNE_BATCH:
            break
    return total
