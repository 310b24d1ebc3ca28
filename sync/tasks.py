from __future__ import annotations

from celery import shared_task

from . import liveness, retention, services


@shared_task(acks_late=True)
def run_sync(run_id: int) -> None:
    services.sync_execute(run_id=run_id)


@shared_task
def dispatch_due() -> int:
    return services.dispatch_due()


@shared_task
def sweep() -> int:
    return liveness.sweep()


@shared_task
def prune() -> int:
    return retention.prune().total
