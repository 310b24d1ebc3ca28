"""The write path: change sequence, tombstones, preconditions, occurrences."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from events import services
from events.convert import item_from_event
from events.ical import Component, Item
from events.models import Event, Tombstone
from events.selectors import changes_since, occurrences

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 23, 10, tzinfo=BERLIN)


def _item(uid: str = "a@test", **kwargs) -> Item:  # type: ignore[no-untyped-def]
    fields = {"uid": uid, "summary": "Standup", "start": START, "end": START + timedelta(minutes=30), **kwargs}
    return Item(master=Component(**fields))


def test_every_write_bumps_the_sequence_and_changes_since_reports_it(calendar) -> None:  # type: ignore[no-untyped-def]
    first = services.item_save(calendar=calendar, item=_item("a@test")).event
    services.item_save(calendar=calendar, item=_item("b@test"))
    assert calendar.change_seq == 2
    mark = calendar.change_seq
    services.item_save(calendar=calendar, item=_item("a@test", summary="Renamed"))
    services.item_delete(event=Event.objects.get(uid="b@test"))
    changes = changes_since(calendar=calendar, since=mark)
    assert [e.uid for e in changes.changed] == ["a@test"] and changes.changed[0].pk == first.pk
    assert [t.uid for t in changes.deleted] == ["b@test"]
    assert changes.until == 4
    assert changes_since(calendar=calendar, since=changes.until).changed == []


def test_recreating_a_deleted_uid_is_a_change_not_a_deletion(calendar) -> None:  # type: ignore[no-untyped-def]
    event = services.item_save(calendar=calendar, item=_item()).event
    services.item_delete(event=event)
    services.item_save(calendar=calendar, item=_item())
    changes = changes_since(calendar=calendar, since=0)
    assert [e.uid for e in changes.changed] == ["a@test"] and changes.deleted == []


def test_saving_the_same_uid_updates_instead_of_duplicating(calendar) -> None:  # type: ignore[no-untyped-def]
    first = services.item_save(calendar=calendar, item=_item())
    second = services.item_save(calendar=calendar, item=_item(summary="Changed"))
    assert first.created and not second.created
    assert Event.objects.filter(calendar=calendar).count() == 1
    assert Event.objects.get().title == "Changed"


def test_if_match_and_if_none_match(calendar) -> None:  # type: ignore[no-untyped-def]
    event = services.item_save(calendar=calendar, item=_item()).event
    with pytest.raises(services.PreconditionFailed):
        services.item_save(calendar=calendar, item=_item(summary="x"), if_match=event.seq + 1)
    with pytest.raises(services.PreconditionFailed):
        services.item_save(calendar=calendar, item=_item(summary="x"), if_none_match=True)
    with pytest.raises(services.PreconditionFailed):
        services.item_delete(event=event, if_match=event.seq - 1)
    assert Event.objects.get().title == "Standup" and calendar.change_seq == event.seq
    services.item_save(calendar=calendar, item=_item(summary="ok"), if_match=event.seq)
    assert Event.objects.get().title == "ok"


def test_a_uid_cannot_move_to_another_name(calendar) -> None:  # type: ignore[no-untyped-def]
    services.item_save(calendar=calendar, item=_item(), name="one.ics")
    services.item_save(calendar=calendar, item=_item("b@test"), name="two.ics")
    with pytest.raises(services.NameConflict):
        services.item_save(calendar=calendar, item=_item("b@test"), name="one.ics")
    with pytest.raises(services.NameConflict):
        services.item_save(calendar=calendar, item=_item("b@test"), name="three.ics")


def test_delete_leaves_a_tombstone_and_removes_overrides(calendar) -> None:  # type: ignore[no-untyped-def]
    master = services.item_save(calendar=calendar, item=_item(rrule="FREQ=WEEKLY")).event
    moved = START + timedelta(days=8)
    changes = {"summary": "Moved", "start": moved, "end": moved + timedelta(minutes=30)}
    services.occurrence_update(master=master, recurrence_id=START + timedelta(days=7), changes=changes)
    assert Event.objects.filter(parent=master).count() == 1
    services.item_delete(event=master)
    assert Event.objects.count() == 0
    assert Tombstone.objects.get().uid == "a@test"


def test_moving_and_cancelling_occurrences(calendar) -> None:  # type: ignore[no-untyped-def]
    master = services.item_save(calendar=calendar, item=_item(rrule="FREQ=WEEKLY;COUNT=4")).event
    second, third = START + timedelta(days=7), START + timedelta(days=14)
    moved_start = second + timedelta(days=2, hours=4)
    services.occurrence_update(
        master=master, recurrence_id=second, changes={"start": moved_start, "end": moved_start + timedelta(hours=1)}
    )
    services.occurrence_cancel(master=Event.objects.get(pk=master.pk), recurrence_id=third)
    window = occurrences(
        calendars=calendar.__class__.objects.filter(pk=calendar.pk), start=START - timedelta(days=1),
        end=START + timedelta(days=60),
    )  # fmt: skip
    assert [o.start for o in window] == [START, moved_start, START + timedelta(days=21)]
    assert [o.is_override for o in window] == [False, True, False]
    item = item_from_event(Event.objects.get(pk=master.pk))
    assert item.master.exdates == (third,)
    assert item.overrides[0].recurrence_id == second and item.overrides[0].end == moved_start + timedelta(hours=1)


def test_range_query_finds_series_by_span_not_by_first_start(calendar, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    services.item_save(calendar=calendar, item=_item("old@test", rrule="FREQ=DAILY;COUNT=3"))  # over by 26 Nov
    services.item_save(calendar=calendar, item=_item("forever@test", rrule="FREQ=WEEKLY"))
    services.item_save(
        calendar=calendar,
        item=Item(master=Component(uid="allday@test", summary="Holiday", start=date(2027, 3, 1), end=date(2027, 3, 3))),
    )
    for i in range(20):  # noise that must not be loaded
        services.item_save(calendar=calendar, item=_item(f"n{i}@test", start=START - timedelta(days=400 + i),
                                                          end=START - timedelta(days=400 + i, hours=-1)))  # fmt: skip
    calendars = calendar.__class__.objects.filter(pk=calendar.pk)
    march = datetime(2027, 3, 1, tzinfo=BERLIN), datetime(2027, 3, 8, tzinfo=BERLIN)
    with django_assert_max_num_queries(2):
        found = occurrences(calendars=calendars, start=march[0], end=march[1])
    assert sorted({o.event.uid for o in found}) == ["allday@test", "forever@test"]
    assert [o.all_day for o in found if o.event.uid == "allday@test"] == [True]


def test_occurrence_update_keeps_attendee_replies_and_unknown_properties(calendar) -> None:  # type: ignore[no-untyped-def]
    from events.ical import Attendee

    item = _item(
        rrule="FREQ=DAILY",
        attendees=(Attendee(email="ann@example.com", partstat="ACCEPTED"),),
        extra_properties=(("X-APPLE-TRAVEL-ADVISORY-BEHAVIOR", (), "AUTOMATIC"),),
    )
    master = services.item_save(calendar=calendar, item=item).event
    services.occurrence_update(master=master, recurrence_id=START + timedelta(days=1), changes={"summary": "Special"})
    result = item_from_event(Event.objects.get(pk=master.pk))
    assert result.master == replace(item.master, status="")
    assert result.overrides[0].attendees[0].partstat == "ACCEPTED"
    assert result.overrides[0].summary == "Special"


def test_uids_that_make_the_same_resource_name_both_fit(calendar) -> None:  # type: ignore[no-untyped-def]
    first = services.item_save(calendar=calendar, item=_item("meeting@example")).event
    second = services.item_save(calendar=calendar, item=_item("meeting-example")).event
    assert first.name == "meeting-example.ics" and second.name.startswith("meeting-example-")
    assert Event.objects.filter(calendar=calendar, parent=None).count() == 2


def test_many_new_items_are_created_in_one_transaction(calendar, django_assert_max_num_queries) -> None:  # type: ignore[no-untyped-def]
    services.item_save(calendar=calendar, item=_item("taken@example"))
    items = [_item(f"bulk{i}@test") for i in range(50)] + [_item("taken-example")]
    # Not one query per item: the write is the lock, 2 checks, the bump and the inserts (3 on SQLite for 51
    # rows, 1 on PostgreSQL); the time index adds a constant 10 per batch (its old rows read and deleted, the
    # items, their series and the owner read, the new rows in one executemany; the day sums' state, and the
    # owner's touched days deleted, read and inserted); and 2 savepoints.
    with django_assert_max_num_queries(19):
        masters = [r.event for r in services.items_create_many(calendar=calendar, items=items)]
    assert [m.seq for m in masters] == list(range(2, 53)) and calendar.change_seq == 52
    assert masters[-1].name.startswith("taken-example-")  # the plain name was taken
    assert changes_since(calendar=calendar, since=1).until == 52
    with pytest.raises(services.PreconditionFailed):
        services.items_create_many(calendar=calendar, items=[_item("new@test"), _item("bulk3@test")])
    assert not Event.objects.filter(uid="new@test").exists()
