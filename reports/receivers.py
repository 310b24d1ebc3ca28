"""The time index follows every write to calsync's calendars, in the write's own transaction."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from accounts.signals import user_zone_changed
from events.signals import calendar_owner_changed, items_written

from .index import owner_zone_changed, reindex, reindex_calendar


@receiver(items_written, dispatch_uid="reports.reindex")
def _reindex(sender: Any, *, calendar_id: int, master_ids: list[int], **kwargs: Any) -> None:
    reindex(master_ids)


@receiver(user_zone_changed, dispatch_uid="reports.owner_zone")
def _owner_zone(sender: Any, *, user_id: int, **kwargs: Any) -> None:
    owner_zone_changed(user_id=user_id)


@receiver(calendar_owner_changed, dispatch_uid="reports.calendar_owner")
def _calendar_owner(sender: Any, *, calendar_id: int, **kwargs: Any) -> None:
    reindex_calendar(calendar_id)
