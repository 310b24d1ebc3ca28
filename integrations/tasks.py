"""Periodic work for integrations (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="integrations.google_renew_channels")
def google_renew_channels() -> int:
    """Google push channels live at most a week: open a successor for each that ends within a day."""
    from .google.services import channels_renew

    return channels_renew()
