"""Only the meeting's owner changes its title, description and time; an attendee's copy refuses those edits
from the web page, over calsync's CalDAV server and from a provider sync, and always takes the attendee's answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.urls import reverse

from dav.resources import calendar_href
from dav.services import app_password_create
from events.convert import item_from_event
from events.forms import EventForm
from events.ical import serialise
from events.models import Event
from events.services import item_save
from meetings.rules import OwnerOnlyEdit
from sync.engine import Settings, sync
from sync.local import CalsyncSide
from sync.memory import ListReport, MemorySide, MemoryStore
from tests.dav.conftest import Dav

from .conftest import END, START

pytestmark = pytest.mark.django_db


def _copy(calendar, uid) -> Event:  # type: ignore[no-untyped-def]
    return Event.objects.get(calendar=calendar, uid=uid, parent=None)


def _partstat(calendar, uid, email) -> str:  # type: ignore[no-untyped-def]
    return next(a["partstat"] for a in _copy(calendar, uid).attendees if a["email"] == email)


def _form_data(event: Event, **changes: str) -> dict[str, object]:
    initial = EventForm.initial_for(item_from_event(event).master, event.calendar, "Europe/Berlin")
    data = {k: ("" if v is None else v) for k, v in initial.items()}
    data.update(version=event.seq, **changes)
    return {k: v for k, v in data.items() if v is not False}


# --- the web page ---------------------------------------------------------------------------------------------------


def test_the_edit_page_refuses_an_attendees_change_of_time_naming_the_owner(
    client, make_meeting, colleague, colleague_calendar
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    copy = _copy(colleague_calendar, meeting.uid)
    client.force_login(colleague)
    response = client.post(
        reverse("events:event_edit", args=[copy.pk]), _form_data(copy, start_time="14:00", end_time="15:00")
    )
    assert response.status_code == 200
    assert "Only the meeting&#x27;s owner, Olga Owner &lt;olga@acme.test&gt;" in response.content.decode()
    assert _copy(colleague_calendar, meeting.uid).start == START


def test_the_owner_edits_from_the_page_and_every_copy_follows(
    client, make_meeting, owner, owner_calendar, colleague_calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    mine = _copy(owner_calendar, meeting.uid)
    client.force_login(owner)
    with run_on_commit():
        response = client.post(reverse("events:event_edit", args=[mine.pk]), _form_data(mine, title="Budget v2"))
    assert response.status_code == 302
    assert _copy(colleague_calendar, meeting.uid).title == "Budget v2"


# --- calsync's CalDAV server --------------------------------------------------------------------------------------


@pytest.fixture
def carl_dav(client, colleague) -> Dav:  # type: ignore[no-untyped-def]
    created = app_password_create(user=colleague, label="Thunderbird")
    return Dav(client, created.username, created.secret)


def _put(dav: Dav, event: Event, text: str):  # type: ignore[no-untyped-def]
    path = calendar_href(event.calendar.owner, event.calendar) + event.name
    return dav.put(path, text, **{"If-Match": event.etag})


def test_caldav_refuses_an_attendees_change_of_title_with_rfc6638s_precondition(
    carl_dav, make_meeting, colleague_calendar
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    copy = _copy(colleague_calendar, meeting.uid)
    item = item_from_event(copy)
    response = _put(carl_dav, copy, serialise([replace(item, master=replace(item.master, summary="Party"))]))
    body = carl_dav.body(response)
    assert response.status_code == 403
    assert "allowed-attendee-scheduling-object-change" in body and "olga@acme.test" in body
    assert _copy(colleague_calendar, meeting.uid).title == "Budget review"


def test_caldav_takes_the_attendees_own_answer_and_the_owner_sees_it(
    carl_dav, make_meeting, owner_calendar, colleague_calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    copy = _copy(colleague_calendar, meeting.uid)
    item = item_from_event(copy)
    answered = tuple(replace(a, partstat="ACCEPTED") if a.email == "carl@acme.test" else a
                     for a in item.master.attendees)  # fmt: skip
    with run_on_commit():
        response = _put(carl_dav, copy, serialise([replace(item, master=replace(item.master, attendees=answered))]))
    assert response.status_code == 204
    assert _partstat(owner_calendar, meeting.uid, "carl@acme.test") == "ACCEPTED"


def test_the_rule_is_in_the_write_path_itself(make_meeting, colleague_calendar) -> None:  # type: ignore[no-untyped-def]
    """An import, a script, any writer: the copy refuses."""
    meeting = make_meeting()
    item = item_from_event(_copy(colleague_calendar, meeting.uid))
    with pytest.raises(OwnerOnlyEdit, match="Olga Owner"):
        item_save(calendar=colleague_calendar, item=replace(item, master=replace(item.master, description="mine")))


# --- a provider sync ------------------------------------------------------------------------------------------------


def _synced(colleague_calendar, uid):  # type: ignore[no-untyped-def]
    local, remote, store = CalsyncSide(colleague_calendar), MemorySide(), MemoryStore()
    sync(local, remote, store, Settings(), ListReport())
    (entry,) = remote.items.values()
    assert entry.uid == uid
    return local, remote, store, entry


def test_a_sync_puts_the_owners_time_back_on_the_attendees_provider_and_logs_why(
    make_meeting, colleague_calendar
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    local, remote, store, entry = _synced(colleague_calendar, meeting.uid)
    moved = replace(entry.item.master, start=START + timedelta(days=1), end=END + timedelta(days=1))
    remote.user_put(replace(entry.item, master=moved), id=entry.id)
    report = ListReport()
    sync(local, remote, store, Settings(), report)
    assert _copy(colleague_calendar, meeting.uid).start == START
    assert remote.items[entry.id].item.master.start == START
    (conflict,) = report.of("conflict")
    assert "Only the meeting's owner, Olga Owner <olga@acme.test>" in conflict[3] and "put back" in conflict[3]
    # And it stays put: the next run has nothing to do.
    again = ListReport()
    sync(local, remote, store, Settings(), again)
    assert again.of("applied") == [] and again.of("conflict") == []


def test_a_sync_refuses_the_edit_even_when_the_provider_is_the_primary_calendar(
    make_meeting, colleague_calendar
) -> None:  # type: ignore[no-untyped-def]
    from sync.engine import Side

    meeting = make_meeting()
    local, remote, store, entry = _synced(colleague_calendar, meeting.uid)
    remote.user_put(replace(entry.item, master=replace(entry.item.master, summary="Renamed")), id=entry.id)
    sync(local, remote, store, Settings(primary=Side.REMOTE), ListReport())
    assert remote.items[entry.id].item.master.summary == "Budget review"


def test_a_sync_carries_the_attendees_answer_from_their_provider_to_the_owner(
    make_meeting, owner_calendar, colleague_calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    local, remote, store, entry = _synced(colleague_calendar, meeting.uid)
    answered = tuple(replace(a, partstat="DECLINED") if a.email == "carl@acme.test" else a
                     for a in entry.item.master.attendees)  # fmt: skip
    remote.user_put(replace(entry.item, master=replace(entry.item.master, attendees=answered)), id=entry.id)
    with run_on_commit():
        sync(local, remote, store, Settings(), ListReport())
    assert _partstat(colleague_calendar, meeting.uid, "carl@acme.test") == "DECLINED"
    assert _partstat(owner_calendar, meeting.uid, "carl@acme.test") == "DECLINED"


def test_the_owners_own_provider_edit_is_taken_and_reaches_the_copies(
    make_meeting, owner_calendar, colleague_calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    local, remote, store, entry = _synced(owner_calendar, meeting.uid)
    moved = replace(entry.item.master, start=START + timedelta(hours=1), end=END + timedelta(hours=1))
    remote.user_put(replace(entry.item, master=moved), id=entry.id)
    with run_on_commit():
        sync(local, remote, store, Settings(), ListReport())
    assert _copy(owner_calendar, meeting.uid).start == START + timedelta(hours=1)
    assert _copy(colleague_calendar, meeting.uid).start == START + timedelta(hours=1)


def test_an_attendee_cannot_move_one_occurrence_of_a_recurring_meeting_either(
    make_meeting, owner_calendar, colleague_calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    owners = item_from_event(_copy(owner_calendar, meeting.uid))
    with run_on_commit():
        item_save(calendar=owner_calendar, item=replace(owners, master=replace(owners.master, rrule="FREQ=WEEKLY")))
    copy = item_from_event(_copy(colleague_calendar, meeting.uid))
    assert copy.master.rrule == "FREQ=WEEKLY"
    second = START + timedelta(days=7)
    moved = replace(copy.master, rrule="", recurrence_id=second, start=second + timedelta(hours=5),
                    end=END + timedelta(days=7, hours=5))  # fmt: skip
    with pytest.raises(OwnerOnlyEdit):
        item_save(calendar=colleague_calendar, item=replace(copy, overrides=(moved,)))
    # The owner may.
    with run_on_commit():
        item_save(calendar=owner_calendar, item=replace(item_from_event(_copy(owner_calendar, meeting.uid)),
                                                        overrides=(replace(moved, sequence=1),)))  # fmt: skip
    assert len(item_from_event(_copy(colleague_calendar, meeting.uid)).overrides) == 1


def test_the_owners_calsync_to_calsync_sync_carries_their_edit_to_their_other_calendar(
    make_meeting, owner, owner_calendar, colleague_calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import CalendarFactory

    meeting = make_meeting()
    mirror = CalendarFactory(owner=owner, name="Olga's mirror")
    local, remote, store = CalsyncSide(owner_calendar), CalsyncSide(mirror), MemoryStore()
    with run_on_commit():
        sync(local, remote, store, Settings(), ListReport())
    owners = item_from_event(_copy(owner_calendar, meeting.uid))
    with run_on_commit():
        item_save(calendar=owner_calendar, item=replace(owners, master=replace(owners.master, summary="Moved on")))
        report = ListReport()
        sync(local, remote, store, Settings(), report)
    assert report.of("conflict") == []
    assert _copy(mirror, meeting.uid).title == "Moved on"
    assert _copy(colleague_calendar, meeting.uid).title == "Moved on"
    assert _copy(owner_calendar, meeting.uid).title == "Moved on"
