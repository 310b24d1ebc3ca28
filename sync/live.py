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

from django.conf import settings
from django.db.models import F, OuterRef, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from integrations.models import Integration

from .models import SyncRun
from .selectors import RECENT_RUNS, is_running, run_json, split_runs

_FIELDS = (
    "pk", "provider", "status", "sync_enabled", "automatic", "push_state", "next_sync_at", "last_synced_at",
    "quiet_syncs", "lock_token", "lock_expires_at", "lock_taken_at", "lock_trigger", "push_expires_at",
)  # fmt: skip
# Which providers' push is configured: without its webhook address nothing arrives, whatever push_state says.
_PUSH_SETTING = {"microsoft": "MICROSOFT_WEBHOOK_BASE_URL", "google": "GOOGLE_WEBHOOK_BASE_URL"}


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
    # Not the lock's expiry itself, which a running sync's heartbeat pushes on every few seconds, nor the push
    # subscription's, which each renewal moves: whether each is still ahead.
    ends = {_FIELDS.index("lock_expires_at"), _FIELDS.index("push_expires_at")}
    seen = [tuple(_ahead(v, moment) if i in ends else v for i, v in enumerate(row)) for row in rows]
    configured = sorted(provider for provider in _PUSH_SETTING if _push_configured(provider))
    digest = hashlib.sha256(repr((seen, configured)).encode()).hexdigest()[:32]
    return Fingerprint(etag=f'"{digest}"', integration_ids=[row[0] for row in rows])


def _push_configured(provider: str) -> bool:
    setting = _PUSH_SETTING.get(provider)
    return bool(setting and getattr(settings, setting, ""))


def _ahead(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment > now


def push_arrives(integration: Integration, now: datetime) -> bool:
    """Whether a change at the provider reaches calsync at once: a push subscription or channel that stands
    (active, not yet ended), for a provider whose webhook address is configured, on an integration that syncs."""
    return (
        integration.push_state == Integration.PushState.ACTIVE
        and _ahead(integration.push_expires_at, now)
        and _push_configured(integration.provider)
        and integration.sync_enabled
        and integration.status not in (Integration.Status.NEEDS_REAUTH, Integration.Status.STOPPED)
    )


def _push_label(integration: Integration, now: datetime) -> str:
    if not integration.sync_enabled:
        return "Not checked while paused"
    if integration.status == Integration.Status.NEEDS_REAUTH:
        return "Not checked until reconnected"
    if integration.status == Integration.Status.STOPPED:
        return "Not checked until resumed"
    if push_arrives(integration, now):
        return Integration.PushState.ACTIVE.label
    if integration.push_state == Integration.PushState.FAILED:
        return Integration.PushState.FAILED.label
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


def integration_live(integration: Integration, runs: list[SyncRun], now: datetime) -> dict[str, Any]:
    """One integration's live state, from its recent runs (newest first)."""
    current, last = split_runs(runs)
    return {
        "id": integration.pk,
        "status": integration.status,
        "status_label": integration.status_label,
        "paused": not integration.sync_enabled,
        "running": _running(integration, current) if is_running(integration, current) else None,
        "last_run": run_json(last) if last else None,
        "last_checked": _iso(integration.last_synced_at),
        "next_check": _iso(integration.next_sync_at) if integration.sync_enabled and integration.automatic else None,
        "push_state": integration.push_state,
        "push_label": _push_label(integration, now),
    }


def _recent_runs(ids: list[int]) -> dict[int, list[SyncRun]]:
    """Each integration's RECENT_RUNS newest runs, newest first: one query for all of them."""
    newest = Window(RowNumber(), partition_by=[F("integration_id")], order_by=[F("created_at").desc(), F("id").desc()])
    rows = (
        SyncRun.objects.filter(integration_id__in=ids)
        .annotate(rank=newest)
        .filter(rank__lte=RECENT_RUNS)
        .order_by("integration_id", "rank")
    )
    by_integration: dict[int, list[SyncRun]] = {pk: [] for pk in ids}
    for run in rows:
        by_integration[run.integration_id].append(run)
    return by_integration


def live_state(integrations: QuerySet[Integration], ids: list[int]) -> dict[str, Any]:
    """Every integration's live state, in the order of the fingerprint: two queries however many there are."""
    by_id = {i.pk: i for i in integrations.filter(pk__in=ids)}
    runs, now = _recent_runs(list(by_id)), timezone.now()
    return {"integrations": [integration_live(by_id[pk], runs[pk], now) for pk in ids if pk in by_id]}
