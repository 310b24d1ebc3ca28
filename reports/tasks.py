"""Periodic work of the reports: the time index's horizon and day sums, the monthly emails (scheduled in
settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from . import index, selectors, services


@shared_task(name="reports.extend_horizon")
def extend_horizon() -> int:
    """Series without an end get their next day of occurrences in the index; returns the rows added."""
    extended = index.horizon_extend()
    return extended.rows if extended is not None else 0


@shared_task(name="reports.rebuild_day_sums")
def rebuild_day_sums(tenant_id: int) -> int:
    """A tenant's day sums again, in its zone now (after it changed); reports read the index meanwhile."""
    from . import summary

    return summary.rebuild(tenant_id)


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
