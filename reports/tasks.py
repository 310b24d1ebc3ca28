from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from . import selectors, services


@shared_task
def send_monthly_reports() -> int:
    """Beat runs this hourly on the 1st and 2nd (UTC): each organisation's month turns at its own midnight."""
    due = selectors.monthly_due(timezone.now())
    for saved_id in due:
        send_monthly_report.delay(saved_id)
    return len(due)


@shared_task(acks_late=True)
def send_monthly_report(saved_id: int) -> int:
    return services.monthly_report_send(saved_id=saved_id, now=timezone.now())
