"""Runs that will never finish are ended, not left to block the integration.

A running sync's heartbeat renews its lock every SYNC_HEARTBEAT_SECONDS from a thread of its own, so a sync
that is slow (a large first sync, a provider making it wait) stays alive however long one call takes, while a
sync whose worker was killed falls silent. The sweep, every SYNC_SWEEP_SECONDS, ends a running run whose lock
went SYNC_STALE_SECONDS without a beat, and a queued run whose task no worker started, and says so in its log.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from events.services import import_jobs_end_lost
from integrations.models import Integration

from .models import SyncLogEntry, SyncRun

log = logging.getLogger(__name__)

WORKER_STOPPED = "The worker stopped while syncing (it no longer answered); the next sync carries on from here."
NEVER_STARTED = "No worker started this sync (its task was lost); the next sync does what it would have done."


def lock_renew(*, integration_id: int, token: str) -> bool:
    """One UPDATE of one row: the lock stays ours for SYNC_STALE_SECONDS more. False if another run took it."""
    expires = timezone.now() + timedelta(seconds=settings.SYNC_STALE_SECONDS)
    return bool(Integration.objects.filter(pk=integration_id, lock_token=token).update(lock_expires_at=expires))


class Heartbeat:
    """`with Heartbeat(integration_id, token):` around a sync keeps its lock alive while the process lives."""

    def __init__(self, integration_id: int, token: str) -> None:
        self.integration_id, self.token = integration_id, token
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"sync-heartbeat-{integration_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.SYNC_HEARTBEAT_SECONDS):
                try:
                    if not lock_renew(integration_id=self.integration_id, token=self.token):
                        return  # taken over: the sync notices at its next write (DbStatusStore)
                except DatabaseError:
                    log.warning("sync heartbeat: database unavailable", extra={"integration": self.integration_id})
        finally:
            connection.close()  # this thread's own connection


def dead_runs(*, now: datetime, integration: Integration | None = None) -> QuerySet[SyncRun]:
    """Running runs whose integration's lock is gone or silent, and queued runs no worker started in time."""
    lock_dead = Q(integration__lock_token="") | Q(integration__lock_expires_at__lt=now)
    started_by = now - timedelta(seconds=settings.SYNC_QUEUED_TIMEOUT_SECONDS)
    never_started = Q(status=SyncRun.Status.QUEUED, due_at__lt=started_by)
    runs = SyncRun.objects.filter((Q(status=SyncRun.Status.RUNNING) & lock_dead) | never_started)
    return runs.filter(integration=integration) if integration is not None else runs


def runs_end(runs: QuerySet[SyncRun], *, now: datetime) -> int:
    """Mark each run failed with why, in its error and its log; a run that finished meanwhile is left alone."""
    ended = 0
    for pk, status in runs.values_list("pk", "status"):
        message = WORKER_STOPPED if status == SyncRun.Status.RUNNING else NEVER_STARTED
        if SyncRun.objects.filter(pk=pk, status=status).update(
            status=SyncRun.Status.FAILED, finished_at=now, error=message
        ):
            SyncLogEntry.objects.create(run_id=pk, level=SyncLogEntry.Level.ERROR, action="stopped", message=message)
            log.warning("sync run ended: it would never finish", extra={"sync_run": pk, "run_status": status})
            ended += 1
    return ended


def sweep(*, now: datetime | None = None) -> int:
    """End the runs that will never finish and free the locks their dead workers held, and end imports and
    previews whose task was lost. Returns how many runs."""
    moment = now or timezone.now()
    ended = runs_end(dead_runs(now=moment), now=moment)
    import_jobs_end_lost(started_by=moment - timedelta(seconds=settings.SYNC_QUEUED_TIMEOUT_SECONDS))
    from .previews import previews_end_lost  # (it imports the sync services, which import this module)

    previews_end_lost(now=moment)
    Integration.objects.filter(lock_expires_at__lt=moment).exclude(lock_token="").update(
        lock_token="", lock_expires_at=None
    )
    return ended
