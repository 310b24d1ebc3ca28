"""Reads for the live sync state the pages poll: each of a user's integrations, running or not, and how it stands.

A page polls every few seconds for as long as it is open, so an unchanged state must cost one small query: the
fingerprint reads, in one row per integration, everything the state shows (the lock, the latest run's id and
status, the schedule, push), and the full state (the runs) is read only when that fingerprint changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from integrations.models import Integration

from .models import SyncRun
from .selectors import current_and_last, run_json

_FIELDS = (
    "pk", "status", "sync_enabled", "automatic", "push_state", "next_sync_at", "last_synced_at", "quiet_syncs",
    "lock_token", "lock_expires_at", "lock_taken_at", "lock_trigger",
)  # fmt: skip


@dataclass(frozen=True)
class Fingerprint:
    etag: str
    integration_ids: list[int]


def _latest(field: str) -> Subquery:
    runs = SyncRun.objects.filter(integration=OuterRef("pk")).order_by("-created_at", "-id")
    return Subquery(runs.values(field)[:1])


def fingerprint(integrations: QuerySet[Integration], *, now: datetime | None = None) -> Fingerprint:
    """One query: an ETag that changes whenever anything the live state shows changes (a lock that goes stale
    changes it too, since whether it is alive is part of it)."""
    moment = now or timezone.now()
    rows = list(
        integrations.order_by("created_at", "pk")
        .annotate(latest_run=_latest("id"), latest_status=_latest("status"))
        .values_list(*_FIELDS, "latest_run", "latest_status")
    )
    # Not the lock's expiry itself, which a running sync's heartbeat pushes on every few seconds: whether it is alive.
    lock_at = _FIELDS.index("lock_expires_at")
    seen = [(*row[:lock_at], *row[lock_at + 1 :], row[lock_at] is not None and row[lock_at] > moment) for row in rows]
    digest = hashlib.sha256(repr(seen).encode()).hexdigest()[:32]
    return Fingerprint(etag=f'"{digest}"', integration_ids=[row[0] for row in rows])


def _push_label(integration: Integration) -> str:
    if integration.push_state:
        return integration.get_push_state_display()
    return Integration.PushState.POLLING.label if integration.automatic else "Only when you press Synchronize now"


def _running(integration: Integration, current: SyncRun | None) -> dict[str, Any] | None:
    """The sync going on now: since when and what started it; a scheduled or pushed one has no run row yet and is
    read from the lock it holds."""
    if current is not None:
        since = current.started_at or current.created_at
        return {
            "queued": current.started_at is None,
            "since": since.isoformat(),
            "trigger": current.trigger,
            "trigger_label": current.get_trigger_display(),
        }
    if not integration.is_running:
        return None
    trigger = integration.lock_trigger or SyncRun.Trigger.AUTOMATIC
    return {
        "queued": False,
        "since": integration.lock_taken_at.isoformat() if integration.lock_taken_at else None,
        "trigger": trigger,
        "trigger_label": SyncRun.Trigger(trigger).label if trigger in SyncRun.Trigger.values else trigger,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def integration_live(integration: Integration) -> dict[str, Any]:
    """One integration's live state (one query: its recent runs)."""
    current, last = current_and_last(integration)
    return {
        "id": integration.pk,
        "status": integration.status,
        "status_label": integration.get_status_display(),
        "paused": not integration.sync_enabled,
        "running": _running(integration, current),
        "last_run": run_json(last) if last else None,
        "last_checked": _iso(integration.last_synced_at),
        "next_check": _iso(integration.next_sync_at) if integration.sync_enabled and integration.automatic else None,
        "push_state": integration.push_state,
        "push_label": _push_label(integration),
    }


def live_state(integrations: QuerySet[Integration], ids: list[int]) -> dict[str, Any]:
    """Every integration's live state, in the order of the fingerprint."""
    by_id = {i.pk: i for i in integrations.filter(pk__in=ids)}
    return {"integrations": [integration_live(by_id[pk]) for pk in ids if pk in by_id]}
