"""Event rows <-> canonical `events.ical` items. No queries here but the overrides prefetch."""

from __future__ import annotations

import zoneinfo
from dataclasses import asdict
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from .ical import (
    UTC,
    Alarm,
    Attendee,
    Component,
    Item,
    Person,
    Temporal,
    as_utc,
    temporal_from_text,
    temporal_to_text,
)
from .models import Event
from .recurrence import Budget, duration, rule_starts

# A series with COUNT/UNTIL but more occurrences than this is treated as open-ended for range queries.
_MAX_EXPANSION = 5000


def _zone_name(value: Temporal | None) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return getattr(value.tzinfo, "key", "UTC")
    return ""


def _local(instant: datetime | None, zone: str, all_day: bool) -> Temporal | None:
    """The stored UTC instant back in the form it was given in."""
    if instant is None:
        return None
    if all_day:
        return instant.astimezone(UTC).date()
    if not zone:
        return instant.astimezone(UTC).replace(tzinfo=None)
    return instant.astimezone(zoneinfo.ZoneInfo(zone))


def occurrence_value(master: Event, instant: datetime) -> Temporal:
    """An occurrence's UTC instant in the form the series' RECURRENCE-IDs take."""
    value = _local(instant, master.timezone, master.all_day)
    assert value is not None
    return value


def _stored(value: Temporal | None) -> datetime | None:
    return None if value is None else as_utc(value)


def component_fields(component: Component) -> dict[str, Any]:
    """Model field values for one component (without calendar, parent, seq or span)."""
    anchor = component.start if component.start is not None else component.due
    zone = _zone_name(anchor)
    end_zone = _zone_name(component.end)
    return {
        "kind": component.kind,
        "uid": component.uid,
        "recurrence_id": _stored(component.recurrence_id),
        "title": component.summary,
        "description": component.description,
        "location": component.location,
        "start": _stored(component.start),
        "end": _stored(component.end),
        "end_as_duration": component.end_as_duration and component.end is not None,
        "timezone": zone,
        "end_timezone": end_zone if end_zone != zone else "",
        "all_day": anchor is not None and not isinstance(anchor, datetime),
        "rrule": component.rrule,
        "rdates": [temporal_to_text(v) for v in component.rdates],
        "exdates": [temporal_to_text(v) for v in component.exdates],
        "status": component.status,
        "transparency": component.transparency or Event.Transparency.BUSY,
        "visibility": component.visibility or Event.Visibility.PUBLIC,
        "organizer": asdict(component.organizer) if component.organizer else None,
        "attendees": [asdict(a) for a in component.attendees],
        "alarms": [_alarm_json(a) for a in component.alarms],
        "categories": list(component.categories),
        "url": component.url,
        "sequence": component.sequence,
        "due": _stored(component.due),
        "completed": component.completed.astimezone(UTC) if component.completed else None,
        "priority": component.priority,
        "percent_complete": component.percent_complete,
        "client": component.client,
        "project": component.project,
        "activity_type": component.activity_type,
        "busy_status": component.busy_status,
        "event_type": component.event_type,
        "extra_properties": [[n, [list(p) for p in params], v] for n, params, v in component.extra_properties],
        "extra_components": list(component.extra_components),
        "search_text": search_text(component),
    }


def search_text(component: Component) -> str:
    """What search looks in (events.selectors.search): title, location, description and the attendees' names and
    addresses, case-folded once here so that a search matches alike on SQLite and PostgreSQL, non-ASCII too."""
    people = [part for a in component.attendees for part in (a.name, a.email)]
    if component.organizer is not None:
        people += [component.organizer.name, component.organizer.email]
    parts = [component.summary, component.location, component.description, *people]
    return "\n".join(p for p in parts if p).casefold()


def _alarm_json(alarm: Alarm) -> dict[str, Any]:
    data = asdict(alarm)
    data["extra_properties"] = [[n, [list(p) for p in params], v] for n, params, v in alarm.extra_properties]
    return data


def _raw_tuple(raw: list[Any]) -> tuple[str, tuple[tuple[str, str], ...], str]:
    name, params, value = raw
    return (name, tuple((k, v) for k, v in params), value)


# Columns a calendar page showing occurrences never reads: a range read leaves them in the database (and does not
# decode their JSON), and builds its components with timing_item_from_event.
DETAIL_FIELDS = ("description", "organizer", "attendees", "alarms", "categories", "url", "sequence", "completed",
                 "priority", "percent_complete", "client", "project", "activity_type", "extra_properties",
                 "extra_components", "created_at", "updated_at")  # fmt: skip


def _timing_fields(event: Event, master: Event) -> dict[str, Any]:
    """What expanding an event into occurrences and showing them reads (none of DETAIL_FIELDS)."""
    recurrence_id = None
    if event.recurrence_id is not None:
        recurrence_id = _local(event.recurrence_id, master.timezone, master.all_day)
    return {
        "kind": event.kind,
        "uid": event.uid,
        "recurrence_id": recurrence_id,
        "summary": event.title,
        "location": event.location,
        "start": _local(event.start, event.timezone, event.all_day),
        "end": _local(event.end, event.end_timezone or event.timezone, event.all_day),
        "end_as_duration": event.end_as_duration,
        "due": _local(event.due, event.timezone, event.all_day),
        "status": event.status,
        "transparency": "" if event.transparency == Event.Transparency.BUSY else event.transparency,
        "visibility": "" if event.visibility == Event.Visibility.PUBLIC else event.visibility,
        "rrule": event.rrule,
        "rdates": tuple(temporal_from_text(v) for v in event.rdates),
        "exdates": tuple(temporal_from_text(v) for v in event.exdates),
        "busy_status": event.busy_status,
        "event_type": event.event_type,
    }


def component_from_event(event: Event, master: Event | None = None) -> Component:
    return Component(
        **_timing_fields(event, master or event),
        description=event.description,
        completed=event.completed.astimezone(UTC) if event.completed else None,
        priority=event.priority,
        percent_complete=event.percent_complete,
        organizer=Person(**event.organizer) if event.organizer else None,
        attendees=tuple(Attendee(**a) for a in event.attendees),
        alarms=tuple(
            Alarm(**{**a, "extra_properties": tuple(_raw_tuple(r) for r in a.get("extra_properties", []))})
            for a in event.alarms
        ),
        categories=tuple(event.categories),
        url=event.url,
        sequence=event.sequence,
        client=event.client,
        project=event.project,
        activity_type=event.activity_type,
        extra_properties=tuple(_raw_tuple(r) for r in event.extra_properties),
        extra_components=tuple(event.extra_components),
    )


def item_from_event(master: Event, overrides: list[Event] | None = None) -> Item:
    """The item a master row heads; pass `overrides`, or prefetch them as `overrides`."""
    rows = overrides if overrides is not None else list(master.overrides.all())
    rows.sort(key=lambda o: o.recurrence_id)
    return Item(
        master=component_from_event(master),
        overrides=tuple(component_from_event(o, master) for o in rows),
    )


def timing_item_from_event(master: Event, overrides: list[Event]) -> Item:
    """The item as far as its occurrences' times, titles and places go: for rows read without DETAIL_FIELDS."""
    rows = sorted(overrides, key=lambda o: o.recurrence_id)
    return Item(
        master=Component(**_timing_fields(master, master)),
        overrides=tuple(Component(**_timing_fields(o, master)) for o in rows),
    )


def normalise_component(component: Component) -> Component:
    """What the component reads back as after a trip through the database. component_from_event reads only the
    fields component_fields writes, so their values stand in for the row: building an Event instance was most of
    the cost of a content hash (sync.engine), paid once per item read."""
    row = cast(Event, SimpleNamespace(**component_fields(component)))
    return component_from_event(row)


# --- occurrence span, for range queries ---------------------------------------------


def item_span(item: Item) -> tuple[datetime | None, datetime | None]:
    """(first start, last end) over all occurrences; last end None when it repeats forever."""
    master = item.master
    anchor = master.start if master.start is not None else master.due
    if anchor is None:
        return None, None
    # An RDATE need not follow DTSTART, so it can open the span as well as close it.
    starts = [as_utc(anchor)] + [as_utc(v) for v in master.rdates]
    starts += [as_utc(o.start) for o in item.overrides if o.start is not None]
    ends = [as_utc(o.start) + duration(o) for o in item.overrides if o.start is not None]
    last = _last_occurrence(master, anchor)
    if last is None:
        return min(starts), None
    ends.append(last + duration(master))
    ends += [as_utc(v) + duration(master) for v in master.rdates]
    return min(starts), max(ends)


def _last_occurrence(master: Component, anchor: Temporal) -> datetime | None:
    if not master.rrule:
        return as_utc(anchor)
    upper = master.rrule.upper()
    if "COUNT=" not in upper and "UNTIL=" not in upper:
        return None
    # A span is stored once per write: it may look further than a page may, but not forever.
    budget = Budget(max_occurrences=_MAX_EXPANSION, max_steps=_MAX_EXPANSION, seconds=1.0)
    last = None
    for last in rule_starts(master, budget=budget):  # noqa: B007 (the last one is what we want)
        pass
    if budget.truncated:
        return None
    return as_utc(last if last is not None else anchor)
