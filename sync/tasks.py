"""Thin tasks: each takes an id and calls one service. Which queue each goes to is chosen where it is queued
(sync.services, sync.dispatch; see calsync.queue)."""

from __future__ import annotations

from celery import shared_task

from . import dispatch, liveness, retention, services


@shared_task(acks_late=True)
def run_sync(run_id: int) -> None:
    """A sync whose run row was written when it was asked for (a user is watching, or a retry)."""
    services.sync_execute(run_id=run_id)


@shared_task(acks_late=True)
def sync_scheduled(integration_id: int, trigger: str) -> None:
    """A polled or pushed sync: only the integration's id, and a run row only if it has something to say."""
    services.sync_scheduled(integration_id=integration_id, trigger=trigger)


@shared_task
def dispatch_due() -> int:
    return dispatch.dispatch_due()


@shared_task
def sweep() -> int:
    return liveness.sweep()


@shared_task
def prune() -> int:
    return retention.prune().total
