"""Thin tasks: each takes an id and calls one service. Which queue each goes to is chosen where it is queued
(sync.services, sync.dispatch; see calsync.queue)."""

from __future__ import annotations

import logging

from celery import shared_task

from . import dispatch, liveness, previews, retention, services

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def run_sync(run_id: int) -> None:
    """A sync whose run row was written when it was asked for (a user is watching, or a retry)."""
    from .models import SyncRun

    try:
        services.sync_execute(run_id=run_id)
    except SyncRun.DoesNotExist:
        # The integration was disconnected (its runs with it) after this sync was queued: nothing is left to do.
        log.info("sync skipped: its run is gone", extra={"run": run_id})


@shared_task(acks_late=True)
def sync_scheduled(integration_id: int, trigger: str) -> None:
    """A polled or pushed sync: only the integration's id, and a run row only if it has something to say."""
    services.sync_scheduled(integration_id=integration_id, trigger=trigger)


@shared_task(acks_late=True)
def sync_scheduled_many(integration_ids: list[int], trigger: str) -> None:
    """Polled syncs, several to a message (SYNC_DISPATCH_PER_MESSAGE): queueing costs the dispatcher per message,
    so a batch of 10,000 is a few hundred messages. One failing sync does not keep the others from running."""
    for integration_id in integration_ids:
        try:
            services.sync_scheduled(integration_id=integration_id, trigger=trigger)
        except Exception:
            log.exception("scheduled sync failed", extra={"integration": integration_id})


@shared_task(acks_late=True)
def preview_run(preview_id: int) -> None:
    """Work out a preview (sync.previews): what a sync would do, with nothing written."""
    previews.preview_execute(preview_id=preview_id)


@shared_task
def dispatch_due() -> int:
    return dispatch.dispatch_due()


@shared_task
def sweep() -> int:
    return liveness.sweep()


@shared_task
def prune() -> int:
    return retention.prune().total
