"""Periodic work of the time index (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from . import index


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
