"""Background work for the lists: events following a renamed entry."""

from __future__ import annotations

from celery import shared_task

from calsync.queue import publish

from . import services
from .kinds import KINDS


@shared_task(acks_late=True)
def propagate_names(kind_slug: str, entry_id: int) -> None:
    """One batch of the entry's events re-spelled, then the next batch queued: a worker is never held for long,
    and a lost task loses only what the entry's page offers to start again."""
    if services.entry_names_propagate(kind=KINDS[kind_slug], entry_id=entry_id):
        publish(propagate_names, kind_slug, entry_id)
