"""Splitting a meeting series follows the meeting rules: only the owner splits it; the new series is a meeting of
its own, copied to the colleagues and sent to the guests."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.core import mail

from events import services
from events.convert import item_from_event
from events.models import Event
from events.series import occurrence_change
from meetings.models import Meeting
from meetings.rules import OwnerOnlyEdit

from .conftest import EXTERNAL, START

pytestmark = pytest.mark.django_db


@pytest.fixture
def weekly(make_meeting, owner_calendar, run_on_commit):  # type: ignore[no-untyped-def]
    """The owner's meeting made weekly, four times; the copies follow."""
    meeting = make_meeting()
    event = Event.objects.get(calendar=owner_calendar, uid=meeting.uid, parent=None)
    item = item_from_event(event)
    with run_on_commit():
        services.item_save(calendar=owner_calendar, item=replace(item, master=replace(item.master,
                           rrule="FREQ=WEEKLY;COUNT=4")), name=event.name)  # fmt: skip
    return meeting


def test_a_colleague_cannot_split_or_move_the_owners_series(weekly, colleague, colleague_calendar) -> None:  # type: ignore[no-untyped-def]
    copy = Event.objects.get(calendar=colleague_calendar, uid=weekly.uid, parent=None)
    assert copy.rrule == "FREQ=WEEKLY;COUNT=4"
    later = START + timedelta(weeks=2)
    for scope, changes in (("following", {"title": "Mine now"}), ("all", {"start": later + timedelta(hours=1)})):
        with pytest.raises(OwnerOnlyEdit, match="Olga"):
            occurrence_change(user=colleague, master=copy, recurrence_id=later, changes=changes,
                              scope=scope, if_match=None)  # type: ignore[arg-type]  # fmt: skip
    assert Event.objects.filter(calendar=colleague_calendar, parent=None).count() == 1


def test_the_owners_split_makes_a_second_meeting_with_copies_and_invitations(
    weekly, owner, owner_calendar, colleague_calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    master = Event.objects.get(calendar=owner_calendar, uid=weekly.uid, parent=None)
    mail.outbox.clear()
    with run_on_commit():
        new = occurrence_change(
            user=owner, master=master, recurrence_id=START + timedelta(weeks=2),
            changes={"title": "Budget review (new room)", "location": "Room 9"}, scope="following", if_match=master.seq,
        ).event  # fmt: skip
    second = Meeting.objects.get(uid=new.uid)
    assert second.owner_id == owner.pk and second.calendar_id == owner_calendar.pk
    copies = {e.uid: e for e in Event.objects.filter(calendar=colleague_calendar, parent=None)}
    assert copies[weekly.uid].rrule == "FREQ=WEEKLY;UNTIL=20261215T090000Z"
    assert copies[new.uid].title == "Budget review (new room)" and copies[new.uid].rrule == "FREQ=WEEKLY;COUNT=2"
    invited = [m for m in mail.outbox if EXTERNAL in m.to and "new room" in m.subject]
    assert invited, [(m.to, m.subject) for m in mail.outbox]


def test_a_meeting_series_is_not_moved_whole_to_another_calendar(weekly, owner, owner_calendar) -> None:  # type: ignore[no-untyped-def]
    from events.series import SeriesChangeRefused
    from tests.factories import CalendarFactory

    other = CalendarFactory(owner=owner, name="Olga's private")
    master = Event.objects.get(calendar=owner_calendar, uid=weekly.uid, parent=None)
    with pytest.raises(SeriesChangeRefused, match="stays in the calendar"):
        occurrence_change(user=owner, master=master, recurrence_id=START, changes={"calendar_id": other.pk},
                          scope="all", if_match=None)  # fmt: skip
    assert not Meeting.objects.get(uid=weekly.uid).cancelled
