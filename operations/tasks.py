"""Thin tasks; beat's schedule is in settings.CELERY_BEAT_SCHEDULE."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import services


@shared_task
def radar_notify() -> int:
    """Daily: the Microsoft 365 apps' credential dates re-read from Graph, the admins' warning emails, and a bounded
    batch of year-old warning records forgotten (the next day takes the next batch)."""
    services.radar_refresh()
    sent = services.radar_notify()
    services.alerts_prune(now=timezone.now(), limit=settings.RETENTION_PRUNE_BATCH)
    return sent
