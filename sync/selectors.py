"""Reads of sync state for pages: an integration's status, and the tenant-wide run log."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from accounts.tenancy import Scope
from integrations.models import Integration

from .history import hidden
from .models import SyncLogEntry, SyncRun
from .undo import undo_offer

RUN_STATUSES = SyncRun.Status.choices


RECENT_RUNS = 10  # the current run and the last finished one are looked for among an integration's newest runs


def current_and_last(integration: Integration) -> tuple[SyncRun | None, SyncRun | None]:
    """The run queued or going on now, and the last one that finished (skipped ones aside)."""
    return split_runs(list(integration.runs.all()[:RECENT_RUNS]))


def split_runs(runs: list[SyncRun]) -> tuple[SyncRun | None, SyncRun | None]:
    """Of an integration's recent runs, newest first: the current one and the last finished one."""
    current = next((r for r in runs if r.status in (SyncRun.Status.RUNNING, SyncRun.Status.QUEUED)), None)
    last = next((r for r in runs if r.finished and r.status != SyncRun.Status.SKIPPED), None)
    return current, last


def is_running(integration: Integration, current: SyncRun | None) -> bool:
    """The one rule for "a sync is going on": a queued or running run row, or (a scheduled or pushed sync writes
    none unless it has something to say) the lock it holds."""
    return current is not None or integration.is_running


def queue_refused(integration: Integration) -> bool:
    """Whether the sync just asked for could not be handed to the task queue (its run failed at once)."""
    from .services import QUEUE_UNREACHABLE

    last = integration.runs.only("status", "error").first()
    return last is not None and last.status == SyncRun.Status.FAILED and last.error == QUEUE_UNREACHABLE


def integration_status(integration: Integration) -> dict[str, Any]:
    current, last = current_and_last(integration)
    return {
        "current_run": current,
        "last_run": last,
        "unsynced_items": list(integration.unsynced_items.all()[:100]),
        "undo_offer": undo_offer(integration, last),
    }


def status_json(integration: Integration) -> dict[str, Any]:
    """What the integration page polls every second while a sync runs: no list of unsynced items."""
    current, last = current_and_last(integration)
    return {
        "running": is_running(integration, current),
        "run_status": current.get_status_display() if current else "",
        "started_at": current.started_at.isoformat() if current and current.started_at else None,
        "last_run": run_json(last) if last else None,
        "integration_status": integration.status,
        "integration_status_label": integration.status_label,
    }


def run_json(run: SyncRun) -> dict[str, Any]:
    """A finished run as the pages' polls show it: how it ended and what it changed each way."""
    return {
        "id": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "to_calsync": run.to_calsync,
        "to_remote": run.to_remote,
        "conflicts": run.conflicts,
        "unsynced": run.unsynced,
        "changes": run.changes_text,
        "error": run.error,
    }


def _day(text: str, end: bool = False) -> datetime | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime.combine(day, time.max if end else time.min, tzinfo=timezone.get_current_timezone())


def tenant_runs(*, scope: Scope, user: str = "", integration: str = "", status: str = "", since: str = "",
                until: str = "") -> QuerySet[SyncRun]:  # fmt: skip
    """Every run in the admin's tenant, newest first, with the filters of the log viewer."""
    scope.require_admin()
    runs = scope.tenant_runs().select_related("integration__user", "integration__calendar")
    if user.isdigit():
        runs = runs.filter(integration__user_id=int(user))
    if integration.isdigit():
        runs = runs.filter(integration_id=int(integration))
    if status in SyncRun.Status.values:
        runs = runs.filter(status=status)
    if (start := _day(since)) is not None:
        runs = runs.filter(created_at__gte=start)
    if (end := _day(until, end=True)) is not None:
        runs = runs.filter(created_at__lte=end)
    return runs


def run_entries(*, run: SyncRun, viewer: User, level: str = "", q: str = "") -> QuerySet[SyncLogEntry]:
    """A run's log entries in order, filtered by level and by words in the title, event id or message; without the
    losing versions of conflicts (`has_lost` says which have one: they are read only when opened). `hidden` marks
    the entries whose titles the viewer may not see (another user's private items: sync.history.hidden); words
    find those by their event id only."""
    entries = run.entries.defer("detail", "before").annotate(
        has_lost=ExpressionWrapper(~Q(detail=""), output_field=BooleanField()),
        hidden=hidden(viewer=viewer, owner=run.integration.user_id),
    )
    if level in SyncLogEntry.Level.values:
        entries = entries.filter(level=level)
    if q := q.strip():
        worded = Q(hidden=False) & (Q(title__icontains=q) | Q(message__icontains=q))
        entries = entries.filter(worded | Q(uid__icontains=q))
    return entries
