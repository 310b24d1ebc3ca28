"""Owner-only edits: the one rule every write path asks (web pages, calsync's CalDAV server, provider syncs).

Only the meeting's owner changes its title, description, start and end; on anyone else's copy those stay as the
owner made them, and an attendee changes only their answer (RFC 6638 3.2.2.1 lets an attendee change its own
PARTSTAT and little else, and names the precondition a server refuses the rest with).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import transaction

from calsync.queue import publish
from events.convert import item_from_event
from events.ical import Component, Item, Temporal, as_utc
from events.limits import ItemRefused
from events.models import Calendar, Event

from .models import Meeting

# https://www.rfc-editor.org/rfc/rfc6638#section-3.2.2.1 (CALDAV namespace).
CONDITION = "allowed-attendee-scheduling-object-change"


class OwnerOnlyEdit(ItemRefused):
    """A change to a meeting copy that only its owner may make; the message names the owner."""

    def __init__(self, message: str) -> None:
        super().__init__(message, CONDITION)


def _instant(value: Temporal | None) -> object:
    return None if value is None else (type(value) is not type(as_utc(value)), as_utc(value))


def owner_fields(component: Component) -> tuple[object, ...]:
    """What only the owner may change, compared as instants so a provider's other zone name is no edit."""
    return (component.summary, component.description, _instant(component.start), _instant(component.end))


def _owner_view(item: Item) -> tuple[object, ...]:
    """The owner's fields of the series and of each occurrence they moved or retitled."""
    overrides = sorted((as_utc(o.recurrence_id), owner_fields(o)) for o in item.overrides if o.recurrence_id)
    return owner_fields(item.master), tuple(overrides)


def owner_fields_differ(before: Item, after: Item) -> bool:
    return _owner_view(before) != _owner_view(after)


def meeting_of(calendar: Calendar, uid: str) -> Meeting | None:
    return Meeting.objects.filter(tenant_id=calendar.tenant_id, uid=uid).select_related("owner").first()


def refusal(owner_name: str, owner_email: str) -> str:
    return (
        f"Only the meeting's owner, {owner_name} <{owner_email}>, can change its title, description, start "
        "and end; you can change your answer."
    )


_MEETING_SERVICE: ContextVar[bool] = ContextVar("calsync_meeting_service", default=False)


@contextmanager
def meeting_service_writes() -> Iterator[None]:
    """Writes made inside are the meeting service carrying the owner's version or an answer to every copy."""
    marker = _MEETING_SERVICE.set(True)
    try:
        yield
    finally:
        _MEETING_SERVICE.reset(marker)


def check_write(calendar: Calendar, existing: Event | None, after: Item) -> Meeting | None:
    """The meeting this write touches (None for anything else, and for the meeting service's own writes).

    Raises OwnerOnlyEdit when the write changes the owner's fields of a copy in someone else's calendar.
    """
    if _MEETING_SERVICE.get() or not (after.master.attendees or (existing is not None and existing.attendees)):
        return None
    meeting = meeting_of(calendar, after.uid)
    if meeting is None or existing is None or calendar.owner_id == meeting.owner_id:
        return meeting  # the owner's own calendars (a calsync-to-calsync sync too) take the owner's edits
    if owner_fields_differ(item_from_event(existing), after):
        raise OwnerOnlyEdit(refusal(meeting.owner.display_name, meeting.owner.email))
    return meeting


def after_write(meeting: Meeting, calendar: Calendar) -> None:
    """Once the write commits, carry it to the other copies (and send what the change calls for)."""
    from . import tasks  # the tasks module imports the services, which write through events.services

    transaction.on_commit(lambda: publish(tasks.meeting_copy_changed, meeting.pk, calendar.pk))


def before_delete(event: Event) -> None:
    """Once the delete commits: the owner deleting the meeting cancels it for everyone; a colleague deleting
    their copy declines it, so the owner sees an answer rather than silence (as Google and Outlook treat an
    attendee removing an invitation)."""
    if _MEETING_SERVICE.get() or not event.attendees:
        return
    meeting = Meeting.objects.filter(tenant_id=event.tenant_id, uid=event.uid).select_related("calendar").first()
    if meeting is None:
        return
    from . import services, tasks

    if event.calendar_id == meeting.calendar_id:
        snapshot = services.snapshot_of(event)
        transaction.on_commit(lambda: publish(tasks.meeting_cancel, meeting.pk, snapshot))
    elif event.calendar.owner_id != meeting.owner_id:
        calendar_owner = event.calendar.owner_id
        transaction.on_commit(lambda: publish(tasks.meeting_copy_deleted, meeting.pk, calendar_owner))
