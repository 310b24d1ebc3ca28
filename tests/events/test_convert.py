"""events.convert: Components <-> Event field values, and occurrence spans. Unsaved rows only, no database."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta

import icalendar
import recurring_ical_events
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from events.convert import component_fields, component_from_event, item_from_event, item_span, normalise_component
from events.ical import UTC, Component, Item, as_utc, serialise
from events.models import Event

from .strategies import event_items, items
from .test_ical import shape

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def row(component: Component) -> Event:
    return Event(**component_fields(component))


# --- fields round trip --------------------------------------------------------------


@PROPERTY_SETTINGS
@given(items)
def test_components_survive_the_database_form(item: Item) -> None:
    assert normalise_component(item.master) == item.master
    assert shape(normalise_component(item.master)) == shape(item.master)
    master = row(item.master)
    for override in item.overrides:
        assert shape(component_from_event(row(override), master)) == shape(override)
    assert shape(item_from_event(master, [row(o) for o in reversed(item.overrides)])) == shape(item)


@PROPERTY_SETTINGS
@given(items)
def test_normalising_reads_the_fields_as_an_event_row_does(item: Item) -> None:
    """normalise_component skips building the Event: the fields alone must read back the same."""
    for component in (item.master, *item.overrides):
        assert normalise_component(component) == component_from_event(row(component))


def test_end_in_another_zone_keeps_its_zone() -> None:
    component = Component(
        uid="flight@test",
        start=datetime(2026, 5, 1, 10, tzinfo=BERLIN),
        end=datetime(2026, 5, 1, 13, tzinfo=zoneinfo.ZoneInfo("America/St_Johns")),
    )
    fields = component_fields(component)
    assert (fields["timezone"], fields["end_timezone"]) == ("Europe/Berlin", "America/St_Johns")
    assert shape(normalise_component(component)) == shape(component)


def test_override_recurrence_id_takes_the_masters_form() -> None:
    master = Component(uid="s@test", start=date(2026, 5, 4), end=date(2026, 5, 5), rrule="FREQ=DAILY")
    override = Component(
        uid="s@test",
        recurrence_id=date(2026, 5, 6),
        start=datetime(2026, 5, 6, 9, tzinfo=BERLIN),
        end=datetime(2026, 5, 6, 10, tzinfo=BERLIN),
    )
    assert shape(component_from_event(row(override), row(master))) == shape(override)


# --- item_span -------------------------------------------------------------------------


def _exact_length(component: Component) -> timedelta:
    """RFC 5545 3.8.2.2: a DTEND in another zone than DTSTART still ends at its own instant, so an occurrence
    lasts the exact time between the two (recurring_ical_events adds the difference on the start's clock, which
    is an hour out where the zones' offsets differ from those at DTSTART, e.g. Pacific/Chatham to Kathmandu)."""
    if component.end is None:
        return timedelta(days=1) if not isinstance(component.start, datetime) else timedelta(0)
    return as_utc(component.end) - as_utc(component.start)


def _occurrences(item: Item) -> list[tuple[datetime, datetime]]:
    """Every occurrence's (start, end) in UTC: starts as recurring_ical_events expands the serialised item."""
    calendar = icalendar.Calendar.from_ical(serialise([item]))
    overrides = {as_utc(o.recurrence_id): o for o in item.overrides if o.recurrence_id is not None}
    result = []
    for component in recurring_ical_events.of(calendar, components=("VEVENT",)).all():
        start = as_utc(component.decoded("DTSTART"))
        recurrence_id = as_utc(component.decoded("RECURRENCE-ID")) if "RECURRENCE-ID" in component else None
        result.append((start, start + _exact_length(overrides.get(recurrence_id, item.master))))
    return result


@PROPERTY_SETTINGS
@given(event_items())
@example(  # found by hypothesis: DTEND in a zone whose offset differs from DTSTART's
    Item(Component(uid="0@calsync.test", start=datetime(1989, 3, 4, tzinfo=zoneinfo.ZoneInfo("Pacific/Chatham")),
                   end=datetime(1989, 3, 4, 20, 45, tzinfo=zoneinfo.ZoneInfo("Asia/Kathmandu"))))
)  # fmt: skip
def test_span_covers_every_occurrence(item: Item) -> None:
    span_start, span_end = item_span(item)
    rrule = item.master.rrule
    if rrule and "COUNT=" not in rrule and "UNTIL=" not in rrule:
        assert span_end is None
        starts = [c.start for c in (item.master, *item.overrides)] + list(item.master.rdates)
        assert span_start == min(as_utc(v) for v in starts)
        return
    occurrences = _occurrences(item)
    assume(occurrences)  # every occurrence excluded: nothing to cover
    assert span_start is not None and span_end is not None
    assert span_start <= min(start for start, _ in occurrences)
    assert span_end >= max(end for _, end in occurrences)
    # Without exceptions and in step with the rule, the span is exact.
    if not (item.overrides or item.master.exdates or "BYDAY" in rrule):
        assert (span_start, span_end) == (min(s for s, _ in occurrences), max(e for _, e in occurrences))


@given(st.sampled_from(["date", "floating", "utc", "zoned"]).flatmap(lambda form: event_items(form=form)))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_span_of_a_single_event_is_its_start_and_end(item: Item) -> None:
    master = Item(Component(uid=item.uid, start=item.master.start, end=item.master.end))
    start, end = master.master.start, master.master.end
    assert start is not None
    if end is None:
        # RFC 5545 3.6.1: an all-day event without an end lasts the day; a timed one, no time.
        end_utc = as_utc(start) + (timedelta(days=1) if not isinstance(start, datetime) else timedelta(0))
    else:
        end_utc = as_utc(end)
    assert item_span(master) == (as_utc(start), end_utc)
    assert all(v is None or v.utcoffset() == timedelta(0) for v in item_span(master))


def test_span_of_a_zoned_event() -> None:
    item = Item(
        Component(
            uid="e@test",
            start=datetime(2026, 7, 1, 9, tzinfo=zoneinfo.ZoneInfo("Asia/Kathmandu")),
            end=datetime(2026, 7, 1, 10, tzinfo=zoneinfo.ZoneInfo("Asia/Kathmandu")),
        )
    )
    assert item_span(item) == (datetime(2026, 7, 1, 3, 15, tzinfo=UTC), datetime(2026, 7, 1, 4, 15, tzinfo=UTC))


def test_infinite_series_has_no_span_end() -> None:
    item = Item(
        Component(
            uid="e@test",
            start=datetime(2026, 7, 1, 9, tzinfo=BERLIN),
            end=datetime(2026, 7, 1, 10, tzinfo=BERLIN),
            rrule="FREQ=WEEKLY;INTERVAL=2",
        )
    )
    assert item_span(item) == (datetime(2026, 7, 1, 7, tzinfo=UTC), None)


def test_count_series_ends_with_its_last_occurrence_across_dst() -> None:
    item = Item(
        Component(
            uid="e@test",
            start=datetime(2026, 3, 20, 9, tzinfo=BERLIN),
            end=datetime(2026, 3, 20, 10, 30, tzinfo=BERLIN),
            rrule="FREQ=WEEKLY;COUNT=3",
        )
    )
    # The third Friday, 3 April, is in summer time: 09:00 CEST is 07:00 UTC.
    assert item_span(item) == (datetime(2026, 3, 20, 8, tzinfo=UTC), datetime(2026, 4, 3, 8, 30, tzinfo=UTC))


def test_all_day_until_series() -> None:
    item = Item(Component(uid="e@test", start=date(2026, 1, 5), rrule="FREQ=DAILY;UNTIL=20260109"))
    assert item_span(item) == (datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 10, tzinfo=UTC))


def test_override_moved_past_the_series_end_extends_the_span() -> None:
    master = Component(
        uid="e@test",
        start=datetime(2026, 6, 1, 9, tzinfo=BERLIN),
        end=datetime(2026, 6, 1, 10, tzinfo=BERLIN),
        rrule="FREQ=DAILY;COUNT=5",
    )
    moved = Component(
        uid="e@test",
        recurrence_id=datetime(2026, 6, 3, 9, tzinfo=BERLIN),
        start=datetime(2026, 7, 1, 18, tzinfo=BERLIN),
        end=datetime(2026, 7, 1, 19, tzinfo=BERLIN),
    )
    assert item_span(Item(master)) == (datetime(2026, 6, 1, 7, tzinfo=UTC), datetime(2026, 6, 5, 8, tzinfo=UTC))
    assert item_span(Item(master, (moved,))) == (
        datetime(2026, 6, 1, 7, tzinfo=UTC),
        datetime(2026, 7, 1, 17, tzinfo=UTC),
    )


def test_override_moved_before_the_series_start_extends_the_span() -> None:
    master = Component(uid="e@test", start=date(2026, 6, 10), end=date(2026, 6, 11), rrule="FREQ=DAILY;COUNT=3")
    moved = Component(uid="e@test", recurrence_id=date(2026, 6, 10), start=date(2026, 6, 1), end=date(2026, 6, 2))
    assert item_span(Item(master, (moved,))) == (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 13, tzinfo=UTC))


def test_rdate_outside_the_rule_extends_the_span() -> None:
    master = Component(
        uid="e@test",
        start=datetime(2026, 6, 10, 9),
        end=datetime(2026, 6, 10, 10),
        rrule="FREQ=DAILY;COUNT=2",
        rdates=(datetime(2026, 6, 1, 9), datetime(2026, 6, 20, 9)),
    )
    assert item_span(Item(master)) == (datetime(2026, 6, 1, 9, tzinfo=UTC), datetime(2026, 6, 20, 10, tzinfo=UTC))


def test_task_span_uses_due_without_start() -> None:
    item = Item(Component(kind="VTODO", uid="t@test", due=datetime(2026, 6, 1, 17, tzinfo=UTC)))
    assert item_span(item) == (datetime(2026, 6, 1, 17, tzinfo=UTC), datetime(2026, 6, 1, 17, tzinfo=UTC))
    assert item_span(Item(Component(kind="VTODO", uid="t@test"))) == (None, None)
