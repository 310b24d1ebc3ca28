"""Reads about integrations that pages outside the integration pages need."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import User
from events.models import Event
from sync.models import SyncMapping

from .models import Integration


@dataclass(frozen=True)
class EventCopy:
    """A copy of an event at a provider, kept by one of its calendar's integrations."""

    provider: str  # Provider value ("google", ...)
    provider_label: str
    # The provider's calendar the copy is in: named only to the integration's owner, whose account it is.
    remote_calendar: str


def event_copies(*, event: Event, viewer: User) -> list[EventCopy]:
    """Where copies of the event live, from the sync mappings of its calendar's integrations (one query)."""
    master = event.parent or event
    mappings = (
        SyncMapping.objects.filter(integration__calendar_id=master.calendar_id, uid=master.uid)
        .select_related("integration")
        .order_by("integration__provider", "integration_id")
    )
    return [
        EventCopy(
            provider=m.integration.provider,
            provider_label=m.integration.get_provider_display(),
            remote_calendar=(m.integration.remote_calendar_name or m.integration.remote_calendar_id)
            if m.integration.user_id == viewer.pk
            else "",
        )
        for m in mappings
    ]


def hub_partners(*, integration: Integration) -> list[Integration]:
    """The owner's other integrations on the same calsync calendar: each one's events reach the others through it
    (a hub), so the integration page names them."""
    return list(
        Integration.objects.filter(user_id=integration.user_id, calendar_id=integration.calendar_id)
        .exclude(pk=integration.pk)
        .order_by("created_at")
    )
