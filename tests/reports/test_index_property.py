"""The time index holds exactly the occurrences a brute-force expansion finds, on random calendars."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import recurrence, services
from events.ical import Attendee, Item, as_utc
from events.models import Event
from reports import index
from reports.models import TimeEntry
from tests.events import strategies
from tests.factories import CalendarFactory

# The index expands each series to at most this many occurrences (REPORTS_MAX_OCCURRENCES, lowered here so a
# daily series from 1971 is cut short in some examples); the brute force below has no such limit.
LIMIT = 300
Row = tuple[object, ...]


def _moment(value: object, zone: ZoneInfo) -> datetime:
    """Where an occurrence's start or end lies: dates at UTC midnight, floating times on the owner's clock."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone).astimezone(UTC) if value.tzinfo is None else value.astimezone(UTC)
    assert isinstance(value, date)
    return datetime.combine(value, time(), UTC)


def brute_force(item: Item, zone: ZoneInfo, owner_email: str, until: datetime) -> Counter[Row]:
    """Every occurrence from the beginning of time that starts (on the owner's clock) before `until`."""
    if item.master.kind != "VEVENT":
        return Counter()
    budget = recurrence.Budget(max_occurrences=10**6, max_steps=10**7, seconds=120.0)
    found = recurrence.occurrences(
        item, start=datetime(1900, 1, 1, tzinfo=UTC), end=until + timedelta(days=2), budget=budget
    )
    assert not budget.truncated
    rows: Counter[Row] = Counter()
    for occurrence in found:
        start, part = _moment(occurrence.start, zone), occurrence.component
        if start >= until:
            continue
        declined = any(a.email.lower() == owner_email and a.partstat == "DECLINED" for a in part.attendees)
        rid = as_utc(occurrence.recurrence_id) if occurrence.recurrence_id is not None else None
        rows[(rid, start, _moment(occurrence.end, zone), not isinstance(occurrence.start, datetime),
              part.summary[:500], part.status.upper() == "CANCELLED", declined)] += 1  # fmt: skip
    return rows


def indexed(event: Event) -> Counter[Row]:
    fields = ("recurrence_id", "start", "end", "all_day", "title", "cancelled", "declined")
    return Counter(TimeEntry.objects.filter(event=event).values_list(*fields))


@st.composite
def calendars(draw: st.DrawFn) -> tuple[str, list[Item], list[bool]]:
    """An owner's zone and a calendar of random items, some of which the owner was invited to and declined."""
    zone = draw(st.sampled_from(strategies.ZONES))
    items = draw(strategies.item_lists(max_size=4))
    invited = draw(st.lists(st.booleans(), min_size=len(items), max_size=len(items)))
    return zone, items, invited


def _with_owner(item: Item, email: str) -> Item:
    """The owner among the attendees, declining (their answer is what marks time not counted)."""
    answer = (Attendee(email=email, partstat="DECLINED"),)
    return replace(
        item,
        master=replace(item.master, attendees=item.master.attendees + answer),
        overrides=tuple(replace(o, attendees=o.attendees[:1] + answer) for o in item.overrides),
    )


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=calendars(), first_sync=st.booleans())
def test_the_index_is_a_brute_force_expansion(member, drawn, first_sync) -> None:  # type: ignore[no-untyped-def]
    zone, items, invited = drawn
    member.timezone = zone
    member.save(update_fields=["timezone"])
    calendar = CalendarFactory(owner=member, tenant=member.tenant)
    items = [_with_owner(i, member.email) if yes else i for i, yes in zip(items, invited, strict=True)]
    with override_settings(REPORTS_MAX_OCCURRENCES=LIMIT):
        until = index.horizon()
        if first_sync:
            masters = [r.event for r in services.items_create_many(calendar=calendar, items=items)]
        else:
            masters = [services.item_save(calendar=calendar, item=item).event for item in items]
        index.reindex([m.pk for m in masters], until=until)  # one horizon for the comparison

    for master, item in zip(masters, items, strict=True):
        expected, found = brute_force(item, ZoneInfo(zone), member.email, until), indexed(master)
        if sum(expected.values()) <= LIMIT:
            assert found == expected, item
        else:  # a series longer than the budget: a part of it, never an occurrence that is not there
            assert found and not found - expected
