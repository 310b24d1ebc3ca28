from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def apply_rules(run_id: int) -> None:
    services.rule_run_execute(run_id=run_id)
