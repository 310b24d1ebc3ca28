"""The time index follows every write to calsync's calendars, in the write's own transaction."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from events.signals import items_written

from .index import reindex


@receiver(items_written, dispatch_uid="reports.reindex")
def _reindex(sender: Any, *, calendar_id: int, master_ids: list[int], **kwargs: Any) -> None:
    reindex(master_ids)
