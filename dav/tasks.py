from __future__ import annotations

from celery import shared_task

from . import push


@shared_task(acks_late=True)
def push_calendar(calendar_id: int) -> int:
    """The calendar's WebDAV-Push message to its registrations (queued by push.push_soon after a change)."""
    return push.push_send(calendar_id=calendar_id)


@shared_task(acks_late=True)
def prune_push_registrations() -> int:
    return push.registrations_prune()
