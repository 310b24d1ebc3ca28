"""The time index follows every write to calsync's calendars, in the write's own transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from accounts.signals import tenant_zone_changed, user_zone_changed
from calsync.queue import publish
from events.models import Event
from events.signals import calendar_owner_changed, items_written

from . import summary
from .index import forget, owner_zone_changed, reindex, reindex_calendar


@receiver(items_written, dispatch_uid="reports.reindex")
def _reindex(sender: Any, *, calendar_id: int, master_ids: list[int], **kwargs: Any) -> None:
    reindex(master_ids)


@receiver(user_zone_changed, dispatch_uid="reports.owner_zone")
def _owner_zone(sender: Any, *, user_id: int, **kwargs: Any) -> None:
    owner_zone_changed(user_id=user_id)


@receiver(calendar_owner_changed, dispatch_uid="reports.calendar_owner")
def _calendar_owner(sender: Any, *, calendar_id: int, **kwargs: Any) -> None:
    reindex_calendar(calendar_id)


@receiver(pre_delete, sender=Event, dispatch_uid="reports.forget")
def _forget(sender: Any, *, instance: Event, **kwargs: Any) -> None:
    # The rows would go with the event anyway (a cascade); taking them first keeps the day sums in step.
    if instance.parent_id is None:
        forget([instance.pk])


@receiver(tenant_zone_changed, dispatch_uid="reports.tenant_zone")
def _tenant_zone(sender: Any, *, tenant_id: int, **kwargs: Any) -> None:
    from .tasks import rebuild_day_sums

    summary.zone_changed(tenant_id)  # reports read the index meanwhile; if the queue is down, reports_reindex
    transaction.on_commit(lambda: publish(rebuild_day_sums, tenant_id))
