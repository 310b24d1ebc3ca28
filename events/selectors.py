"""Reads of calsync's calendars: occurrences in a range, changes since a sequence number."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

import recurring_ical_events
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from .convert import item_from_event
from .ical import Item, as_utc, items_to_calendar
from .models import Calendar, Event, Tombstone

# How an occurrence is named in URLs: its original start as a UTC instant.
RECURRENCE_KEY_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of an event as a calendar page shows it."""

    event: Event  # the series' master row
    start: datetime
    end: datetime
    all_day: bool
    title: str
    location: str
    recurrence_id: datetime | None  # UTC instant of the original occurrence; None for single events
    is_override: bool

    @property
    def calendar(self) -> Calendar:
        return self.event.calendar

    @property
    def is_recurring(self) -> bool:
        return self.recurrence_id is not None

    @property
    def recurrence_key(self) -> str:
        return self.recurrence_id.strftime(RECURRENCE_KEY_FORMAT) if self.recurrence_id else ""

    @property
    def start_date(self) -> date:
        """The day it starts on for the reader (their zone is the active one), all-day events on their own date."""
        return self.start.date() if self.all_day else timezone.localtime(self.start).date()


def span_overlaps(start: datetime, end: datetime) -> Q:
    """Rows whose occurrence span may touch [start, end) (an instant at `start` included): uses the span index."""
    return Q(span_start__lt=end) & (
        Q(span_end__gt=start) | Q(span_end__isnull=True) | Q(span_end=start, span_start=start)
    )


def masters_in_range(calendars: QuerySet[Calendar], start: datetime, end: datetime) -> QuerySet[Event]:
    """Master rows with an occurrence that may touch [start, end): indexed on the span columns."""
    return (
        Event.objects.filter(calendar__in=calendars, parent=None, kind=Event.Kind.EVENT)
        .filter(span_overlaps(start, end))
        .select_related("calendar")
        .prefetch_related(Prefetch("overrides", queryset=Event.objects.order_by("recurrence_id")))
    )


def occurrences(*, calendars: QuerySet[Calendar], start: datetime, end: datetime) -> list[Occurrence]:
    """Every occurrence in [start, end), recurring series expanded with their overrides and exceptions."""
    # A UID is unique within a calendar only: the same event imported into a second calendar is a second event.
    by_calendar: dict[int, dict[str, Event]] = {}
    for master in masters_in_range(calendars, start, end):
        by_calendar.setdefault(master.calendar_id, {})[master.uid] = master
    result: list[Occurrence] = []
    for lookup in by_calendar.values():
        items = [item_from_event(m) for m in lookup.values()]
        expanded = recurring_ical_events.of(items_to_calendar(items)).between(start, end)
        result.extend(_occurrence(lookup[str(c["UID"])], c, start.tzinfo) for c in expanded)
    result.sort(key=lambda o: (o.start, o.title))
    return result


def _reader_instant(value: date | datetime, zone: tzinfo | None) -> datetime:
    """Floating time happens at that clock time wherever the reader is: in the zone the range was asked in."""
    if isinstance(value, datetime) and value.tzinfo is None and zone is not None:
        return value.replace(tzinfo=zone).astimezone(UTC)
    return as_utc(value)


def _occurrence(master: Event, component: object, zone: tzinfo | None = None) -> Occurrence:
    start = component.decoded("DTSTART")  # type: ignore[attr-defined]
    end = component.decoded("DTEND") if "DTEND" in component else start  # type: ignore[attr-defined, operator]
    all_day = not isinstance(start, datetime)
    recurrence_id = None
    # recurring-ical-events puts a RECURRENCE-ID on every occurrence, single events too: ask the master.
    if master.is_recurring:
        recurrence_id = as_utc(component.decoded("RECURRENCE-ID"))  # type: ignore[attr-defined]
    is_override = recurrence_id is not None and any(o.recurrence_id == recurrence_id for o in master.overrides.all())
    return Occurrence(
        event=master,
        start=_reader_instant(start, zone),
        end=_reader_instant(end, zone),
        all_day=all_day,
        title=str(component.get("SUMMARY", "")),  # type: ignore[attr-defined]
        location=str(component.get("LOCATION", "")),  # type: ignore[attr-defined]
        recurrence_id=recurrence_id,
        is_override=is_override,
    )


@dataclass(frozen=True)
class Changes:
    """What changed in a calendar after sequence number `since`, up to `until`."""

    since: int
    until: int
    changed: list[Event]
    deleted: list[Tombstone]


def changes_since(*, calendar: Calendar, since: int) -> Changes:
    """Items changed and deleted since `since`: two indexed range scans, whatever the calendar's size."""
    until = Calendar.objects.values_list("change_seq", flat=True).get(pk=calendar.pk)
    changed = list(
        Event.objects.filter(calendar=calendar, parent=None, seq__gt=since, seq__lte=until)
        .prefetch_related("overrides")
        .order_by("seq")
    )
    deleted = list(Tombstone.objects.filter(calendar=calendar, seq__gt=since, seq__lte=until).order_by("seq"))
    # A tombstone older than a re-creation of the same UID is no longer a deletion.
    live = {e.uid for e in changed}
    return Changes(since=since, until=until, changed=changed, deleted=[t for t in deleted if t.uid not in live])


def calendar_items(calendars: Iterable[Calendar] | QuerySet[Calendar]) -> list[Item]:
    masters = (
        Event.objects.filter(calendar__in=calendars, parent=None)
        .prefetch_related(Prefetch("overrides", queryset=Event.objects.order_by("recurrence_id")))
        .order_by("span_start", "id")
    )
    return [item_from_event(m) for m in masters]


def main_calendar(calendars: QuerySet[Calendar]) -> Calendar | None:
    """The user's main calendar: the first one made for them (at sign-up), however the names sort."""
    return calendars.order_by("created_at", "id").first()
