"""A hostile corpus of calendar items, stored as an old row would be: straight into the database, past the door.

The readers must stay within their budgets for every one of these, whether or not the entry points
refuse them today. Used by the recurrence tests and by bench/hostile.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from events.convert import component_fields, item_span
from events.ical import Attendee, Component, Item
from events.models import Calendar, Event

# Every reader is asked about the week (and the month) that holds this instant.
WEEK = datetime(2026, 3, 16, tzinfo=UTC)


def _series(uid: str, rule: str, start: datetime = WEEK - timedelta(days=30), **fields: object) -> Item:
    end = start + timedelta(minutes=30)
    return Item(master=Component(uid=uid, summary=uid, start=start, end=end, rrule=rule, **fields))  # type: ignore[arg-type]


def _exdates() -> Item:
    start = WEEK - timedelta(days=9_990)
    every_day = tuple(start + timedelta(days=i) for i in range(10_000))
    return _series("exdates-10000", "FREQ=DAILY", start, exdates=every_day)


def _rdates() -> Item:
    start = WEEK - timedelta(days=100)
    return _series("rdates-10000", "", start, rdates=tuple(start + timedelta(minutes=15 * i) for i in range(10_000)))


def _overrides() -> Item:
    item = _series("overrides-5000", "FREQ=DAILY", WEEK - timedelta(days=4_990))
    moved = tuple(
        replace(item.master, rrule="", recurrence_id=original, start=original + timedelta(hours=1),
                end=original + timedelta(hours=2), summary=f"moved {i}")
        for i, original in enumerate(item.master.start + timedelta(days=d) for d in range(5_000))  # type: ignore[operator]
    )  # fmt: skip
    return replace(item, overrides=moved)


def _attendees() -> Item:
    people = tuple(Attendee(email=f"person{i}@example.test") for i in range(10_000))
    return Item(master=Component(uid="attendees-10000", summary="Everyone", start=WEEK, end=WEEK + timedelta(hours=1),
                                 attendees=people))  # fmt: skip


CORPUS: dict[str, Callable[[], Item]] = {
    "SECONDLY, no end": lambda: _series("secondly", "FREQ=SECONDLY"),
    "MINUTELY, no end": lambda: _series("minutely", "FREQ=MINUTELY"),
    "HOURLY, no end": lambda: _series("hourly", "FREQ=HOURLY"),
    "HOURLY;COUNT=1000000000": lambda: _series("count", "FREQ=HOURLY;COUNT=1000000000"),
    "HOURLY from year 1": lambda: _series("year-1", "FREQ=HOURLY", datetime(1, 1, 1, tzinfo=UTC)),
    "HOURLY from year 9999": lambda: _series("year-9999", "FREQ=HOURLY", datetime(9999, 1, 1, tzinfo=UTC)),
    "HOURLY to year 9999": lambda: _series("to-9999", "FREQ=HOURLY;UNTIL=99991231T000000Z"),
    "no day matches (Feb 30)": lambda: _series("feb-30", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"),
    "INTERVAL=0": lambda: _series("interval-0", "FREQ=DAILY;INTERVAL=0"),
    "10,000 EXDATEs": _exdates,
    "10,000 RDATEs": _rdates,
    "5,000 overrides": _overrides,
    "10,000 attendees": _attendees,
}


def store_unchecked(calendar: Calendar, item: Item) -> Event:
    """Write the item's rows as they are, without the validation every entry point applies."""
    try:
        span_start, span_end = item_span(item)
    except OverflowError:  # as an old row might hold
        span_start, span_end = item.master.start, None
    master = Event.objects.create(
        tenant_id=calendar.tenant_id, calendar=calendar, name=f"{item.uid}.ics", seq=1,
        span_start=span_start, span_end=span_end, **component_fields(item.master),
    )  # fmt: skip
    Event.objects.bulk_create(
        Event(tenant_id=calendar.tenant_id, calendar=calendar, parent=master, name=master.name, seq=1,
              **component_fields(override))
        for override in item.overrides
    )  # fmt: skip
    return master
