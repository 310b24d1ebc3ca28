"""Retention: history older than each organisation's period (Tenant.retention_days) is deleted in bounded batches.

What goes: finished sync runs with their log entries (which hold the losing versions of conflicts), finished ICS
imports (which hold the uploaded file), finished rule runs and finished previews. What stays: a run still queued or
running, and the run an integration's page shows as its last result (the newest finished one that was not skipped),
however old, and the stop that logged what a stopped integration holds back.
Event tombstones are pruned on the same period by events.tombstones (beat's prune-tombstones), which raises each
calendar's sync-token floor as it goes.

Every statement touches at most RETENTION_PRUNE_BATCH rows and a call at most RETENTION_PRUNE_BUDGET; a call that
runs out of budget remembers the tenant it stopped at, and the next one (beat, every RETENTION_PRUNE_SECONDS) goes on
from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import Tenant
from business.models import RuleRun
from events.models import ImportJob
from integrations.models import Integration

from .models import SyncLogEntry, SyncPreview, SyncRun
from .undo import logged_stop

RESUME_KEY = "retention:next-tenant"
_UNFINISHED = (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)


@dataclass
class Pruned:
    """Rows deleted (or, in a dry run, that would be) by kind; `complete` once every tenant was gone through."""

    counts: dict[str, int] = field(
        default_factory=lambda: {"runs": 0, "entries": 0, "imports": 0, "rule_runs": 0, "previews": 0}
    )
    statements: int = 0
    largest_statement: int = 0
    complete: bool = True

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class _Budget:
    def __init__(self, rows: int, batch: int) -> None:
        self.left, self.batch = rows, batch

    def size(self) -> int:
        return min(self.batch, self.left)


def prune(*, now: datetime | None = None, tenant: Tenant | None = None, dry_run: bool = False) -> Pruned:
    """Delete what each tenant keeps no longer (one tenant only when given), within the budget per call."""
    now = now or timezone.now()
    budget = _Budget(settings.RETENTION_PRUNE_BUDGET, settings.RETENTION_PRUNE_BATCH)
    result = Pruned()
    for each in _tenants(tenant, resume=not dry_run):
        cutoff = now - timedelta(days=each.retention_days)
        if dry_run:
            _count(each, cutoff, result)
            continue
        _prune_tenant(each, cutoff, budget, result)
        if budget.left <= 0:
            result.complete = False
            if tenant is None:
                cache.set(RESUME_KEY, each.pk, None)
            return result
    if tenant is None and not dry_run:
        cache.delete(RESUME_KEY)
    return result


def _tenants(only: Tenant | None, resume: bool) -> Iterator[Tenant]:
    if only is not None:
        yield only
        return
    start = (cache.get(RESUME_KEY) or 0) if resume else 0
    tenants = Tenant.objects.only("pk", "log_retention_days").order_by("pk")
    yield from tenants.filter(pk__gte=start).iterator(chunk_size=500)
    if start:  # the ones before the point the last call stopped at, last
        yield from tenants.filter(pk__lt=start).iterator(chunk_size=500)


def old_runs(tenant: Tenant, cutoff: datetime) -> QuerySet[SyncRun]:
    """The tenant's finished runs created before `cutoff`, oldest first, except each integration's last result
    (a run with no newer finished, not skipped run of its integration) and, while an integration is stopped, the
    stop that logged what it holds back (the offer to put them back undoes that run: sync.undo.logged_stop)."""
    newer_result = SyncRun.objects.filter(integration=OuterRef("integration_id")).exclude(
        status__in=(*_UNFINISHED, SyncRun.Status.SKIPPED)
    )
    newer_result = newer_result.filter(
        Q(created_at__gt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), pk__gt=OuterRef("pk"))
    )
    return (
        SyncRun.objects.filter(tenant=tenant, created_at__lt=cutoff)
        .exclude(status__in=_UNFINISHED)
        .filter(Exists(newer_result))
        .exclude(pk__in=_logged_stops(tenant))
        .order_by("created_at", "pk")
    )


def _logged_stops(tenant: Tenant) -> list[int]:
    stopped = Integration.objects.filter(tenant=tenant, status=Integration.Status.STOPPED)
    return [stop.pk for integration in stopped.iterator() if (stop := logged_stop(integration)) is not None]


def _history(tenant: Tenant, cutoff: datetime) -> list[tuple[str, QuerySet]]:  # type: ignore[type-arg]
    imports = ImportJob.objects.filter(tenant=tenant, created_at__lt=cutoff).exclude(
        status__in=(ImportJob.Status.PENDING, ImportJob.Status.RUNNING)
    )
    rule_runs = RuleRun.objects.filter(tenant=tenant, created_at__lt=cutoff).exclude(
        status__in=(RuleRun.Status.PENDING, RuleRun.Status.RUNNING)
    )
    previews = SyncPreview.objects.filter(tenant=tenant, created_at__lt=cutoff).exclude(
        status__in=(SyncPreview.Status.QUEUED, SyncPreview.Status.RUNNING)
    )
    return [("imports", imports.order_by("created_at", "pk")), ("rule_runs", rule_runs.order_by("created_at", "pk")),
            ("previews", previews.order_by("created_at", "pk"))]  # fmt: skip


def _prune_tenant(tenant: Tenant, cutoff: datetime, budget: _Budget, result: Pruned) -> None:
    runs = old_runs(tenant, cutoff)  # (the stops it keeps are read once, not once a batch)
    while budget.left > 0:
        run_ids = list(runs.values_list("pk", flat=True)[: budget.size()])
        if not run_ids:
            break
        if not _delete_entries(run_ids, budget, result) or budget.left <= 0:
            return  # out of budget: these runs (and what is left of their entries) go next time
        _delete(SyncRun.objects.filter(pk__in=run_ids[: budget.size()]), "runs", budget, result)
    for kind, rows in _history(tenant, cutoff):
        while budget.left > 0 and _delete_batch(rows, kind, budget, result):
            pass


def _delete_entries(run_ids: list[int], budget: _Budget, result: Pruned) -> bool:
    """Delete the runs' log entries a batch at a time; True once none is left (so the runs may go)."""
    entries = SyncLogEntry.objects.filter(run_id__in=run_ids).order_by("pk")
    while budget.left > 0:
        if not _delete_batch(entries, "entries", budget, result):
            return True
    return not entries.exists()


def _delete_batch(rows: QuerySet, kind: str, budget: _Budget, result: Pruned) -> int:  # type: ignore[type-arg]
    ids = list(rows.values_list("pk", flat=True)[: budget.size()])
    if not ids:
        return 0
    return _delete(rows.model.objects.filter(pk__in=ids), kind, budget, result)


def _delete(rows: QuerySet, kind: str, budget: _Budget, result: Pruned) -> int:  # type: ignore[type-arg]
    _, by_model = rows.delete()
    deleted = by_model.get(rows.model._meta.label, 0)
    result.counts[kind] += deleted
    result.statements += 1
    result.largest_statement = max(result.largest_statement, deleted)
    budget.left -= deleted
    return deleted


def _count(tenant: Tenant, cutoff: datetime, result: Pruned) -> None:
    runs = old_runs(tenant, cutoff)
    counters: list[tuple[str, Callable[[], int]]] = [
        ("runs", runs.count),
        ("entries", SyncLogEntry.objects.filter(run__in=runs.values("pk")).count),
        *((kind, rows.count) for kind, rows in _history(tenant, cutoff)),
    ]
    for kind, counter in counters:
        result.counts[kind] += counter()
