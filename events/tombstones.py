"""Tombstones compacted behind a per-calendar sync floor.

A tombstone lets "what changed since N" report a deletion. Kept forever they grow without bound, so those older
than the organisation's retention are deleted in bounded batches, and each calendar's `sync_floor` rises to the
highest change sequence deleted: a sync token or cursor below it could miss a deletion, so it is refused (CalDAV
answers DAV:valid-sync-token, RFC 6578 3.2; calsync's own sync side raises CursorExpired) and the client lists
the calendar again, which loses and duplicates nothing.

A reader that took the floor just before a prune and reads tombstones just after could miss a deletion; that
needs a token exactly as old as the retention at that moment, and the next sync reports the item as gone anyway
because a full listing no longer holds it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Tenant

from .models import Calendar, Tombstone

log = logging.getLogger(__name__)


def tombstone_retention(tenant: Tenant) -> timedelta:
    """How long this organisation's deletions stay reportable to sync tokens: as long as it keeps its sync history
    (its retention setting, within the operator's limits)."""
    return timedelta(days=tenant.retention_days)


def token_expired(*, calendar: Calendar, since: int) -> bool:
    """Whether changes since `since` can no longer be told in full: deletions after it were compacted away."""
    return since < calendar.sync_floor


def tombstones_prune(*, now: datetime | None = None, batch: int | None = None) -> int:
    """Delete up to `batch` tombstones past their organisation's retention, oldest first, raising the floors of
    their calendars in the same short transaction. Returns how many were deleted (fewer than `batch`: done)."""
    now = now or timezone.now()
    limit = batch or settings.TOMBSTONE_PRUNE_BATCH
    pruned = 0
    for tenant in Tenant.objects.order_by("id").iterator():
        pruned += _prune_tenant(tenant, before=now - tombstone_retention(tenant), limit=limit - pruned)
        if pruned >= limit:
            break
    if pruned:
        log.info("tombstones pruned", extra={"count": pruned})
    return pruned


def _prune_tenant(tenant: Tenant, *, before: datetime, limit: int) -> int:
    with transaction.atomic():
        old = Tombstone.objects.filter(calendar__tenant=tenant, deleted_at__lt=before).order_by("deleted_at", "id")
        rows = list(old.values_list("id", "calendar_id", "seq")[:limit])
        floors: dict[int, int] = {}
        for _, calendar_id, seq in rows:
            floors[calendar_id] = max(seq, floors.get(calendar_id, 0))
        for calendar_id, seq in sorted(floors.items()):  # in id order: two prunes never lock in opposite orders
            Calendar.objects.filter(pk=calendar_id, sync_floor__lt=seq).update(sync_floor=seq)
        Tombstone.objects.filter(id__in=[row[0] for row in rows]).delete()
    return len(rows)
