"""Reads about integrations that pages outside the integration pages need."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import islice

from accounts.models import User
from events.convert import item_from_event
from events.models import Event
from scheduling.selectors import personal_for, policy_for, weekly_hours
from sync.controls import Controls, Flow, Owner
from sync.engine import Side
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


# --- sync controls: the owner's facts, the removals a change would make, the integrations sharing a calendar ---


def controls_owner(integration: Integration, *, hours: bool = True) -> Owner:
    """What the filters know of the integration's owner: the addresses they answer invitations as (calsync's
    and the connected account's) and, unless `hours` is False, their working hours on their own clock."""
    user = integration.user
    account = str(integration.config.get("account") or "")
    emails = frozenset(e.lower() for e in (user.email, account) if "@" in e)
    weekly = weekly_hours(personal_for([user]).get(user.pk), policy_for(user.tenant)) if hours else {}  # type: ignore[arg-type]
    return Owner(emails=emails, hours=weekly, zone=user.timezone or "UTC")


def integration_controls(integration: Integration) -> Controls:
    """The integration's stored controls, with its owner's facts (the working hours read only when a filter
    uses them: a run without that filter costs no query here)."""
    controls = Controls.from_json(integration.controls)
    hours = controls.into_calsync.working_hours_only or controls.out_of_calsync.working_hours_only
    return replace(controls, owner=controls_owner(integration, hours=hours))


@dataclass(frozen=True)
class Removal:
    """Copies calsync made that new controls would remove from one side."""

    side: str  # sync.engine.Side value of the side the copies are in
    where: str  # that side, as the user calls it
    count: int
    # The copies lack what the new filters read (they were shaped): each may go, and `count` is all of them.
    at_most: bool = False

    @property
    def text(self) -> str:
        events = "1 event" if self.count == 1 else f"{self.count} events"
        if self.at_most:
            return (f"This may remove up to {events} calsync copied into {self.where} (calsync keeps only part of "
                    "each copy, so it cannot tell which). Nothing you created there is touched.")  # fmt: skip
        return f"This removes {events} calsync copied into {self.where}. Nothing you created there is touched."


_SOURCE_DIRECTIONS = {  # the side copied from -> the directions that copy from it
    Side.LOCAL.value: (Integration.Direction.BOTH, Integration.Direction.FROM_CALSYNC),
    Side.REMOTE.value: (Integration.Direction.BOTH, Integration.Direction.TO_CALSYNC),
}
_CHUNK = 500


def removals_preview(*, integration: Integration, controls: Controls) -> list[Removal]:
    """How many copies calsync made would `controls` remove, per side, that the stored controls keep.

    Only mappings whose origin says calsync made the copy count ("" = the item was on both sides already: never
    removed). The item judged is calsync's own: the source for copies out of calsync, the copy for copies into it.
    A copy into calsync that the stored flow shaped lacks what some filters read (title, description, attendees):
    when new ones of those are chosen, every such copy the stored controls keep is counted, "up to".
    """
    before = Controls.from_json(integration.controls, owner=controls.owner)
    blind = _reads_what_shaping_drops(before.into_calsync, controls.into_calsync)
    counts = {Side.LOCAL.value: 0, Side.REMOTE.value: 0}
    origins = [o for o, directions in _SOURCE_DIRECTIONS.items() if integration.effective_direction in directions]
    mappings = SyncMapping.objects.filter(integration=integration, origin__in=origins).values_list("uid", "origin")
    for chunk in _chunks(mappings.iterator(chunk_size=_CHUNK)):
        events = Event.objects.filter(
            calendar_id=integration.calendar_id, parent=None, uid__in=[uid for uid, _ in chunk]
        ).prefetch_related("overrides")
        items = {event.uid: item_from_event(event) for event in events}
        for uid, origin in chunk:
            item = items.get(uid)
            if item is None or before.admit(origin, item):
                continue
            if controls.admit(origin, item) or (blind and origin == Side.REMOTE.value):
                counts[Side(origin).other.value] += 1
    where = {Side.LOCAL.value: "calsync", Side.REMOTE.value: integration.get_provider_display()}
    return [Removal(side, where[side], n, at_most=blind and side == Side.LOCAL.value)
            for side, n in counts.items() if n]  # fmt: skip


def _reads_what_shaping_drops(before: Flow, after: Flow) -> bool:
    """Does `after` filter on what copies shaped by `before` lack (new keywords, declined or "maybe" answers)?"""
    if not before.shapes:
        return False
    words = {k.casefold() for k in after.keywords} - {k.casefold() for k in before.keywords}
    return bool(words) or any(getattr(after, n) and not getattr(before, n) for n in ("skip_declined", "skip_tentative"))


def _chunks(rows: Iterator[tuple[str, str]]) -> Iterator[list[tuple[str, str]]]:
    while chunk := list(islice(rows, _CHUNK)):
        yield chunk


def integration_label(integration: Integration) -> str:
    """ "Google (personal)": the provider and the calendar there, as the hub lines name an integration."""
    name = integration.remote_calendar_name or integration.remote_calendar_id
    return f"{integration.get_provider_display()} ({name})" if name else integration.get_provider_display()


def calendar_integrations(*, calendar_id: int, user: User) -> list[Integration]:
    """The user's integrations that sync this calsync calendar (either end of a calsync-to-calsync pairing)."""
    pairing = Integration.syncing(calendar_id)
    return list(Integration.objects.filter(pairing, user=user, tenant_id=user.tenant_id).order_by("created_at", "pk"))


def also_synced_with(integration: Integration) -> str:
    """ "Outlook (work), Google (personal)": the other integrations sharing this integration's calsync calendar."""
    others = calendar_integrations(calendar_id=integration.calendar_id, user=integration.user)
    return ", ".join(integration_label(i) for i in others if i.pk != integration.pk)
