"""Changing a series from one occurrence: this, this and following (a split per RFC 5545), all."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from events import selectors, services
from events.convert import item_from_event
from events.ical import UTC, Component, Item, serialise
from events.models import Event
from events.series import SeriesChangeRefused, occurrence_change

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 2, 10, tzinfo=BERLIN)


def _series(calendar, rrule: str = "FREQ=WEEKLY;COUNT=10", start=MONDAY, **kwargs) -> Event:  # type: ignore[no-untyped-def]
    end = start + (
        timedelta(days=1) if isinstance(start, date) and not isinstance(start, datetime) else timedelta(hours=1)
    )
    master = Component(uid="standup@test", summary="Standup", start=start, end=end, rrule=rrule, **kwargs)
    return services.item_save(calendar=calendar, item=Item(master=master)).event


def _starts(calendar, first: datetime, last: datetime) -> list[tuple[str, datetime]]:  # type: ignore[no-untyped-def]
    found = selectors.occurrences(calendars=type(calendar).objects.filter(pk=calendar.pk), start=first, end=last)
    return [(o.title, o.start.astimezone(BERLIN)) for o in found]


def test_following_ends_the_old_series_with_a_utc_until_and_starts_a_new_uid(calendar, member) -> None:  # type: ignore[no-untyped-def]
    master = _series(calendar, "FREQ=WEEKLY;BYDAY=MO")
    third = MONDAY + timedelta(weeks=2)
    result = occurrence_change(
        user=member, master=master, recurrence_id=third, changes={"title": "Standup (new room)"},
        scope="following", if_match=master.seq,
    )  # fmt: skip
    old = Event.objects.get(pk=master.pk)
    assert old.rrule == "FREQ=WEEKLY;UNTIL=20261109T090000Z;BYDAY=MO"  # the second Monday, 10:00 Berlin, in UTC
    new = result.event
    assert new.uid != old.uid and new.calendar_id == calendar.pk and new.rrule == "FREQ=WEEKLY;BYDAY=MO"
    assert new.start == third and new.title == "Standup (new room)"
    seen = _starts(calendar, MONDAY, MONDAY + timedelta(weeks=5))
    assert [t for t, _ in seen] == ["Standup", "Standup"] + ["Standup (new room)"] * 3
    assert [s for _, s in seen] == [MONDAY + timedelta(weeks=i) for i in range(5)]


def test_following_on_an_all_day_series_ends_it_with_a_date(calendar, member) -> None:  # type: ignore[no-untyped-def]
    master = _series(calendar, "FREQ=DAILY", start=date(2026, 12, 1))
    occurrence_change(
        user=member, master=master, recurrence_id=datetime(2026, 12, 5, tzinfo=UTC),
        changes={"start": date(2026, 12, 6), "end": date(2026, 12, 7), "all_day": True},
        scope="following", if_match=None,
    )  # fmt: skip
    old, new = Event.objects.get(pk=master.pk), Event.objects.exclude(pk=master.pk).get(parent=None)
    assert old.rrule == "FREQ=DAILY;UNTIL=20261204"
    assert new.all_day and new.start.date() == date(2026, 12, 6) and new.rrule == "FREQ=DAILY"


def test_following_shares_a_count_between_the_two_series(calendar, member) -> None:  # type: ignore[no-untyped-def]
    master = _series(calendar, "FREQ=WEEKLY;COUNT=10")
    occurrence_change(
        user=member, master=master, recurrence_id=MONDAY + timedelta(weeks=4),
        changes={"start": MONDAY + timedelta(weeks=4, hours=2), "end": MONDAY + timedelta(weeks=4, hours=3)},
        scope="following", if_match=master.seq,
    )  # fmt: skip
    old, new = Event.objects.get(pk=master.pk), Event.objects.exclude(pk=master.pk).get(parent=None)
    assert old.rrule == "FREQ=WEEKLY;UNTIL=20261123T090000Z" and new.rrule == "FREQ=WEEKLY;COUNT=6"
    seen = [s for _, s in _starts(calendar, MONDAY, MONDAY + timedelta(weeks=20))]
    assert seen == [MONDAY + timedelta(weeks=i) for i in range(4)] + [
        MONDAY + timedelta(weeks=i, hours=2) for i in range(4, 10)
    ]


def test_overrides_and_exdates_after_the_cut_move_to_the_new_series(calendar, member) -> None:  # type: ignore[no-untyped-def]
    early = Component(
        uid="standup@test",
        recurrence_id=MONDAY + timedelta(weeks=1),
        summary="Early change",
        start=MONDAY + timedelta(weeks=1, hours=1),
        end=MONDAY + timedelta(weeks=1, hours=2),
    )
    late = Component(uid="standup@test", recurrence_id=MONDAY + timedelta(weeks=5), summary="Late change",
                     start=MONDAY + timedelta(weeks=5), end=MONDAY + timedelta(weeks=5, hours=1))  # fmt: skip
    master = Component(uid="standup@test", summary="Standup", start=MONDAY, end=MONDAY + timedelta(hours=1),
                       rrule="FREQ=WEEKLY", exdates=(MONDAY + timedelta(weeks=2), MONDAY + timedelta(weeks=4)),
                       rdates=(MONDAY + timedelta(weeks=3, days=2),))  # fmt: skip
    event = services.item_save(calendar=calendar, item=Item(master=master, overrides=(early, late))).event
    result = occurrence_change(
        user=member, master=event, recurrence_id=MONDAY + timedelta(weeks=3), changes={"location": "Room 2"},
        scope="following", if_match=event.seq,
    )  # fmt: skip
    old, new = item_from_event(Event.objects.get(pk=event.pk)), item_from_event(result.event)
    assert [o.summary for o in old.overrides] == ["Early change"]
    assert old.master.exdates == (MONDAY + timedelta(weeks=2),) and old.master.rdates == ()
    assert [(o.summary, o.uid) for o in new.overrides] == [("Late change", new.uid)]
    assert new.master.exdates == (MONDAY + timedelta(weeks=4),)
    assert new.master.rdates == (MONDAY + timedelta(weeks=3, days=2),)
    assert new.overrides[0].location == "Room 2"  # it had the series' location, so it follows the series


def test_all_moves_every_occurrence_and_its_weekday(calendar, member) -> None:  # type: ignore[no-untyped-def]
    master = _series(calendar, "FREQ=WEEKLY;BYDAY=MO;COUNT=3")
    second = MONDAY + timedelta(weeks=1)
    occurrence_change(
        user=member, master=master, recurrence_id=second,
        changes={"start": second + timedelta(days=1, hours=1), "end": second + timedelta(days=1, hours=3)},
        scope="all", if_match=master.seq,
    )  # fmt: skip
    row = Event.objects.get(parent=None)
    assert row.rrule == "FREQ=WEEKLY;COUNT=3;BYDAY=TU" and Event.objects.filter(parent=None).count() == 1
    seen = [s for _, s in _starts(calendar, MONDAY, MONDAY + timedelta(weeks=6))]
    assert seen == [MONDAY + timedelta(weeks=i, days=1, hours=1) for i in range(3)]
    assert row.end - row.start == timedelta(hours=2)


def test_this_changes_one_occurrence_only(calendar, member) -> None:  # type: ignore[no-untyped-def]
    master = _series(calendar)
    occurrence_change(
        user=member, master=master, recurrence_id=MONDAY + timedelta(weeks=1), changes={"title": "Moved"},
        scope="this", if_match=master.seq,
    )  # fmt: skip
    assert [t for t, _ in _starts(calendar, MONDAY, MONDAY + timedelta(weeks=3))] == ["Standup", "Moved", "Standup"]


def test_a_stale_version_is_refused_and_nothing_changes(calendar, member) -> None:  # type: ignore[no-untyped-def]
    master = _series(calendar)
    before = serialise([item_from_event(master)], stamp=datetime(2026, 1, 1, tzinfo=UTC))
    for scope in ("this", "following", "all"):
        with pytest.raises(services.PreconditionFailed):
            occurrence_change(
                user=member, master=master, recurrence_id=MONDAY + timedelta(weeks=2), changes={"title": "X"},
                scope=scope, if_match=master.seq - 1,  # type: ignore[arg-type]
            )  # fmt: skip
    after = Event.objects.get(pk=master.pk)
    assert serialise([item_from_event(after)], stamp=datetime(2026, 1, 1, tzinfo=UTC)) == before
    assert Event.objects.filter(parent=None).count() == 1


def test_the_split_is_one_change_for_readers_of_changes(calendar, member) -> None:  # type: ignore[no-untyped-def]
    master = _series(calendar)
    mark = type(calendar).objects.get(pk=calendar.pk).change_seq
    occurrence_change(user=member, master=master, recurrence_id=MONDAY + timedelta(weeks=2),
                      changes={"title": "New"}, scope="following", if_match=master.seq)  # fmt: skip
    changes = selectors.changes_since(calendar=calendar, since=mark)
    assert len(changes.changed) == 2 and changes.until == mark + 2


def test_following_from_the_first_occurrence_changes_the_whole_series(calendar, member) -> None:  # type: ignore[no-untyped-def]
    master = _series(calendar)
    occurrence_change(user=member, master=master, recurrence_id=MONDAY, changes={"title": "All"},
                      scope="following", if_match=master.seq)  # fmt: skip
    assert list(Event.objects.filter(parent=None).values_list("uid", "title")) == [("standup@test", "All")]


def test_refusals_are_worded(calendar, member) -> None:  # type: ignore[no-untyped-def]
    master = _series(calendar, "FREQ=MONTHLY;BYDAY=2MO")  # the second Monday of each month
    with pytest.raises(SeriesChangeRefused, match="cannot move"):
        occurrence_change(
            user=member, master=master, recurrence_id=datetime(2026, 11, 9, 9, tzinfo=UTC),
            changes={"start": datetime(2026, 11, 10, 10, tzinfo=BERLIN)}, scope="all", if_match=None,
        )  # fmt: skip
    with pytest.raises(SeriesChangeRefused, match="no occurrence"):
        occurrence_change(user=member, master=master, recurrence_id=datetime(2026, 11, 10, 9, tzinfo=UTC),
                          changes={"title": "x"}, scope="this", if_match=None)  # fmt: skip
    with pytest.raises(SeriesChangeRefused, match="cannot be changed here"):
        occurrence_change(user=member, master=master, recurrence_id=datetime(2026, 11, 9, 9, tzinfo=UTC),
                          changes={"rrule": ""}, scope="all", if_match=None)  # fmt: skip


def test_another_tenants_calendar_is_refused_as_a_target(calendar, member, outsider) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import CalendarFactory

    theirs = CalendarFactory(owner=outsider, tenant=outsider.tenant, name="Theirs")
    master = _series(calendar)
    with pytest.raises(SeriesChangeRefused, match="cannot add events"):
        occurrence_change(user=member, master=master, recurrence_id=MONDAY + timedelta(weeks=1),
                          changes={"calendar_id": theirs.pk}, scope="following", if_match=None)  # fmt: skip
    assert not Event.objects.filter(calendar=theirs).exists()


def test_all_into_another_calendar_moves_the_series_there(calendar, member) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import CalendarFactory

    home = CalendarFactory(owner=member, tenant=member.tenant, name="Home")
    master = _series(calendar)
    result = occurrence_change(user=member, master=master, recurrence_id=MONDAY + timedelta(weeks=1),
                               changes={"calendar_id": home.pk}, scope="all", if_match=master.seq)  # fmt: skip
    assert result.event.calendar_id == home.pk and result.event.uid == "standup@test"
    assert not Event.objects.filter(calendar=calendar).exists()
    with pytest.raises(SeriesChangeRefused, match="move the whole series"):
        occurrence_change(user=member, master=result.event, recurrence_id=MONDAY + timedelta(weeks=1),
                          changes={"calendar_id": calendar.pk}, scope="this", if_match=None)  # fmt: skip


def test_following_into_another_calendar_starts_the_new_series_there(calendar, member) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import CalendarFactory

    home = CalendarFactory(owner=member, tenant=member.tenant, name="Home")
    master = _series(calendar)
    result = occurrence_change(user=member, master=master, recurrence_id=MONDAY + timedelta(weeks=3),
                               changes={"calendar_id": home.pk}, scope="following", if_match=master.seq)  # fmt: skip
    assert result.event.calendar_id == home.pk and result.event.rrule == "FREQ=WEEKLY;COUNT=7"
    assert Event.objects.get(pk=master.pk).rrule == "FREQ=WEEKLY;UNTIL=20261116T090000Z"


def test_floating_series_split_with_a_floating_until(calendar, member) -> None:  # type: ignore[no-untyped-def]
    master = _series(calendar, "FREQ=DAILY;COUNT=5", start=datetime(2026, 11, 2, 7, 30))
    occurrence_change(user=member, master=master, recurrence_id=datetime(2026, 11, 4, 7, 30, tzinfo=UTC),
                      changes={"title": "Later runs"}, scope="following", if_match=None)  # fmt: skip
    assert Event.objects.get(pk=master.pk).rrule == "FREQ=DAILY;UNTIL=20261103T073000"
    assert Event.objects.exclude(pk=master.pk).get(parent=None).rrule == "FREQ=DAILY;COUNT=3"


def test_a_new_start_with_the_same_end_shortens_every_following_occurrence(calendar, member) -> None:  # type: ignore[no-untyped-def]
    master = _series(calendar)
    third = MONDAY + timedelta(weeks=2)
    result = occurrence_change(user=member, master=master, recurrence_id=third,
                               changes={"start": third + timedelta(minutes=30), "end": third + timedelta(hours=1)},
                               scope="following", if_match=None)  # fmt: skip
    assert result.event.start == third + timedelta(minutes=30) and result.event.end == third + timedelta(hours=1)


def test_the_subscription_feed_shows_both_halves_of_a_split(client, calendar, member) -> None:  # type: ignore[no-untyped-def]
    from django.urls import reverse

    master = _series(calendar)
    new = occurrence_change(user=member, master=master, recurrence_id=MONDAY + timedelta(weeks=2),
                            changes={"title": "Standup (later)"}, scope="following", if_match=None).event  # fmt: skip
    feed = client.get(reverse("dav:feed", args=[calendar.feed_token])).content.decode().replace("\r\n ", "")
    assert "RRULE:FREQ=WEEKLY;UNTIL=20261109T090000Z" in feed and f"UID:{new.uid}" in feed
    assert "RRULE:FREQ=WEEKLY;COUNT=8" in feed and "SUMMARY:Standup (later)" in feed
