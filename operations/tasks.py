"""Thin tasks; beat's schedule is in settings.CELERY_BEAT_SCHEDULE."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import alerts


@shared_task
def radar_notify() -> int:
    """Daily: the Microsoft 365 apps' credential dates re-read from Graph, the admins' warning emails, and a bounded
    batch of year-old warning records forgotten (the next day takes the next batch)."""
    alerts.radar_refresh()
    sent = alerts.radar_notify()
    alerts.alerts_prune(now=timezone.now(), limit=settings.RETENTION_PRUNE_BATCH)
    return sent
