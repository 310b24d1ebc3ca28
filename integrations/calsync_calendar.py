"""'Another calsync calendar': sync two of a user's own calendars (one-way to publish, two-way to merge)."""

from __future__ import annotations

from events.models import Calendar
from sync.errors import PermanentError
from sync.local import CalsyncSide

from .models import Integration


def build_side(integration: Integration) -> CalsyncSide:
    calendar = Calendar.objects.filter(
        pk=integration.remote_calendar_id, owner_id=integration.user_id, tenant_id=integration.tenant_id
    ).first()
    if calendar is None:
        raise PermanentError("The other calsync calendar no longer exists. Choose another one or disconnect.")
    return CalsyncSide(calendar)
