"""Google round trips keep everything: calsync's business fields, Google's own fields, event types and free/busy,
floating times; and Google emails guests only when calsync means it (the invitation policy in the README).
Through the sync task, the real client libraries and the Google emulator."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from events import services as events
from events.ical import Attendee, Component, Item, Person
from events.models import Event
from integrations.google.adapter import GoogleSide
from integrations.google.client import GoogleApi, user_credentials_from
from tests.integrations.test_google import BERLIN, connect, sync_now
from tests.sync.items import START, event

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_backoff_sleep(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("googleapiclient.http.time.sleep", lambda seconds: None)


def _google_event(google, email: str, uid: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return next(e for e in google.state.calendars[email].events.values()
                if e.get("iCalUID") == uid and "recurringEventId" not in e)  # fmt: skip


def _master(calendar, uid: str) -> Event:  # type: ignore[no-untyped-def]
    return Event.objects.get(calendar=calendar, uid=uid, parent=None)


def _ui_edit(google, email: str, uid: str, **changes: object) -> None:
    """What Google Calendar's own editor does: a full update of the event as read, with the user's changes."""
    current = _google_event(google, email, uid)
    google.state.write(email, email, current["id"], {**current, **changes}, current["etag"], patch=False)


# --- business fields, event types and free/busy survive an edit made in Google -------------------------------


def test_edits_in_google_keep_business_fields_type_and_busy_status(member_client, calendar, google,
                                                                   run_on_commit) -> None:  # fmt: skip
    """extendedProperties.private carries client, project, activity and what Google has no field for.
    https://developers.google.com/calendar/api/guides/extended-properties"""
    email = "fields@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    tagged = event("tagged@x", "Roof inspection", client="Acme", project="Roof", activity_type="Site visit",
                   busy_status="TENTATIVE", extra_properties=(("X-ACME-JOB", (("TYPE", "A"),), "42"),))  # fmt: skip
    events.item_save(calendar=calendar, item=tagged)
    assert sync_now(integration, run_on_commit).status == "success"
    private = _google_event(google, email, "tagged@x")["extendedProperties"]["private"]
    assert (private["calsyncClient"], private["calsyncProject"], private["calsyncActivity"]) == (
        "Acme", "Roof", "Site visit")  # fmt: skip

    current = _google_event(google, email, "tagged@x")
    google.state.write(email, email, current["id"], {"summary": "Roof inspection (2)"}, None, patch=True)
    assert sync_now(integration, run_on_commit).status == "success"
    _ui_edit(google, email, "tagged@x", start={"dateTime": "2026-11-23T14:00:00+01:00", "timeZone": "Europe/Berlin"},
             end={"dateTime": "2026-11-23T15:00:00+01:00", "timeZone": "Europe/Berlin"})  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"
    _ui_edit(google, email, "tagged@x", attendees=[{"email": "guest@elsewhere.example"}])
    assert sync_now(integration, run_on_commit).status == "success"

    row = _master(calendar, "tagged@x")
    assert (row.title, row.start.astimezone(BERLIN).hour) == ("Roof inspection (2)", 14)
    assert [a["email"] for a in row.attendees] == ["guest@elsewhere.example"]
    assert (row.client, row.project, row.activity_type, row.busy_status) == ("Acme", "Roof", "Site visit", "TENTATIVE")
    assert row.extra_properties == [["X-ACME-JOB", [["TYPE", "A"]], "42"]]


def test_google_event_types_arrive_as_such_and_are_written_back_unchanged(member_client, calendar, google,
                                                                          run_on_commit) -> None:  # fmt: skip
    """Out of office, focus time and working location: https://developers.google.com/calendar/api/guides/calendar-status"""
    email = "types@example.com"
    google.state.account(email)
    when = {"start": {"dateTime": "2026-11-24T09:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-11-24T17:00:00+01:00", "timeZone": "Europe/Berlin"}}  # fmt: skip
    oof = {"outOfOfficeProperties": {"autoDeclineMode": "declineAllConflictingInvitations", "declineMessage": "Away"}}
    google.state.insert(email, email, {"iCalUID": "oof@x", "summary": "Holiday", "eventType": "outOfOffice", **oof,
                                       **when})  # fmt: skip
    google.state.insert(email, email, {"iCalUID": "focus@x", "summary": "Deep work", "eventType": "focusTime",
                                       "focusTimeProperties": {"chatStatus": "doNotDisturb"}, **when})  # fmt: skip
    google.state.insert(email, email, {"iCalUID": "home@x", "summary": "Home", "eventType": "workingLocation",
                                       "workingLocationProperties": {"type": "homeOffice", "homeOffice": {}},
                                       **when})  # fmt: skip
    integration = connect(member_client, google, email, calendar, run_on_commit)
    got = {uid: _master(calendar, uid) for uid in ("oof@x", "focus@x", "home@x")}
    assert (got["oof@x"].event_type, got["oof@x"].busy_status) == ("outOfOffice", "OOF")
    assert got["focus@x"].event_type == "focusTime" and got["focus@x"].transparency != "TRANSPARENT"
    assert (got["home@x"].event_type, got["home@x"].transparency) == ("workingLocation", "TRANSPARENT")

    for uid in got:
        row = got[uid]
        item = Item(master=Component(uid=uid, summary=row.title + " (edited)", start=row.start.astimezone(BERLIN),
                                     end=row.end.astimezone(BERLIN), event_type=row.event_type,
                                     busy_status=row.busy_status, transparency=row.transparency))  # fmt: skip
        events.item_save(calendar=calendar, item=item, name=row.name)
    assert sync_now(integration, run_on_commit).status == "success"
    stored = _google_event(google, email, "oof@x")
    assert stored["summary"] == "Holiday (edited)" and stored["eventType"] == "outOfOffice"
    assert stored["outOfOfficeProperties"] == oof["outOfOfficeProperties"]
    assert _google_event(google, email, "focus@x")["focusTimeProperties"] == {"chatStatus": "doNotDisturb"}
    assert _google_event(google, email, "home@x")["workingLocationProperties"]["type"] == "homeOffice"


def test_a_new_status_event_goes_to_a_primary_calendar_and_is_not_synced_elsewhere(member_client, calendar, google,
                                                                                   run_on_commit) -> None:  # fmt: skip
    """Status events exist only on primary calendars: https://developers.google.com/calendar/api/guides/calendar-status"""
    email = "newtype@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    events.item_save(calendar=calendar, item=event("away@x", "Away", event_type="outOfOffice", busy_status="OOF"))
    assert sync_now(integration, run_on_commit).status == "success"
    stored = _google_event(google, email, "away@x")
    assert stored["eventType"] == "outOfOffice" and stored["transparency"] == "opaque"

    tokens = google.state.authorize(email, "calsync-test")
    team = next(c["id"] for c in google.state.calendar_list(email) if c["summary"] == "Team")
    side = GoogleSide(GoogleApi(user_credentials_from(tokens)), team, "Europe/Berlin", account=email)
    from sync.errors import ItemRejected

    with pytest.raises(ItemRejected, match="only on a primary calendar"):
        side.create(event("away2@x", "Away", event_type="outOfOffice"))


# --- Google's own fields survive an edit made in calsync -------------------------------------------------


def test_an_edit_in_calsync_patches_only_what_changed(member_client, calendar, google, run_on_commit) -> None:
    """Writes are events.patch with the changed fields: colour, guest permissions, conference data, attachments
    and default reminders set in Google stay. https://developers.google.com/calendar/api/v3/reference/events/patch"""
    email = "keep@example.com"
    google.state.account(email)
    own = {"colorId": "11", "guestsCanModify": True, "guestsCanInviteOthers": False,
           "conferenceData": {"conferenceId": "abc-defg-hij", "entryPoints": [{"entryPointType": "video",
                              "uri": "https://meet.google.com/abc-defg-hij"}]},
           "attachments": [{"fileUrl": "https://drive.google.com/file/d/1", "title": "Agenda"}],
           "reminders": {"useDefault": True},
           "extendedProperties": {"private": {"otherApp": "7"}, "shared": {"room": "B"}}}  # fmt: skip
    google.state.insert(email, email, {"iCalUID": "rich@x", "summary": "Kick-off",
                                       "start": {"dateTime": "2026-11-25T10:00:00+01:00", "timeZone": "Europe/Berlin"},
                                       "end": {"dateTime": "2026-11-25T11:00:00+01:00", "timeZone": "Europe/Berlin"},
                                       **own})  # fmt: skip
    integration = connect(member_client, google, email, calendar, run_on_commit)
    row = _master(calendar, "rich@x")
    item = Item(master=Component(uid="rich@x", summary="Kick-off (agenda)", start=row.start.astimezone(BERLIN),
                                 end=row.end.astimezone(BERLIN), client="Acme"))  # fmt: skip
    events.item_save(calendar=calendar, item=item, name=row.name)
    before = google.state.requests
    assert sync_now(integration, run_on_commit).status == "success"
    stored = _google_event(google, email, "rich@x")
    assert stored["summary"] == "Kick-off (agenda)"
    for key, value in own.items():
        if key != "extendedProperties":
            assert stored[key] == value, key
    assert stored["extendedProperties"]["shared"] == {"room": "B"}
    assert stored["extendedProperties"]["private"]["otherApp"] == "7"
    assert stored["extendedProperties"]["private"]["calsyncClient"] == "Acme"
    # changes of both sides, the event's read before its If-Match write, the patch, and the run's read-back of
    # what it wrote (the echo, recognised by its etag and left unconverted: the next run has nothing to do)
    assert google.state.requests - before == 4


# --- floating times ------------------------------------------------------------------------------------------


def test_a_floating_time_is_written_in_the_calendars_zone_and_read_back_floating(google, google_account) -> None:
    """Google has no floating time (every dateTime has an offset or a timeZone):
    https://developers.google.com/calendar/api/v3/reference/events#start.dateTime"""
    email, tokens = google_account
    side = GoogleSide(GoogleApi(user_credentials_from(tokens)), email, "Europe/Berlin", account=email)
    floating = datetime(2026, 11, 26, 9, 0)
    created = side.create(Item(master=Component(uid="float@x", summary="Stretch", start=floating,
                                                end=floating + timedelta(minutes=30), rrule="FREQ=DAILY;COUNT=3",
                                                exdates=(floating + timedelta(days=1),))))  # fmt: skip
    stored = google.state.get(email, email, created.id)
    assert stored["start"] == {"dateTime": "2026-11-26T09:00:00+01:00", "timeZone": "Europe/Berlin"}
    again = side.get(created.id).item.master
    assert (again.start, again.end, again.exdates) == (floating, floating + timedelta(minutes=30),
                                                       (floating + timedelta(days=1),))  # fmt: skip
    # Moved in Google, it stays a floating time of the day it was moved to.
    google.state.write(email, email, created.id, {"start": {"dateTime": "2026-11-26T11:00:00+01:00",
                       "timeZone": "Europe/Berlin"}, "end": {"dateTime": "2026-11-26T11:30:00+01:00",
                       "timeZone": "Europe/Berlin"}}, None, patch=True)  # fmt: skip
    assert side.get(created.id).item.master.start == datetime(2026, 11, 26, 11, 0)


# --- invitations ---------------------------------------------------------------------------------------------


def _meeting(uid: str, organizer: str, day: int = 0, guests: tuple[str, ...] = ("ann@elsewhere.example",)) -> Item:
    start = START + timedelta(days=day)
    people = tuple(Attendee(g) for g in guests)
    return Item(master=Component(uid=uid, summary=f"Meeting {uid}", start=start, end=start + timedelta(hours=1),
                                 organizer=Person(organizer), attendees=people))  # fmt: skip


def test_a_first_sync_of_meetings_organised_by_others_emails_nobody(member_client, calendar, google,
                                                                    run_on_commit) -> None:  # fmt: skip
    """Copies of others' meetings go in with events.import, which sends nothing and keeps their organizer.
    https://developers.google.com/calendar/api/v3/reference/events/import"""
    email = "invited@example.com"
    google.state.account(email)
    google.state.sent_invitations.clear()
    for n in range(10):  # meetings in Google that others organise
        google.state.import_event(email, email, {
            "iCalUID": f"g{n}@elsewhere", "summary": f"G{n}", "organizer": {"email": "boss@elsewhere.example"},
            "attendees": [{"email": "boss@elsewhere.example"}, {"email": email}, {"email": "x@elsewhere.example"}],
            "start": {"dateTime": f"2026-12-{n + 1:02d}T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": f"2026-12-{n + 1:02d}T11:00:00+01:00", "timeZone": "Europe/Berlin"}})  # fmt: skip
    for n in range(10):  # and in calsync
        events.item_save(calendar=calendar, item=_meeting(f"c{n}@elsewhere", "chief@elsewhere.example", day=n,
                                                          guests=(email, "y@elsewhere.example")))  # fmt: skip
    integration = connect(member_client, google, email, calendar, run_on_commit)
    assert integration.runs.get().status == "success"
    for n in range(10):  # edited in calsync afterwards: still nothing sent
        row = _master(calendar, f"c{n}@elsewhere")
        moved = _meeting(f"c{n}@elsewhere", "chief@elsewhere.example", day=n + 1, guests=(email, "y@elsewhere.example"))
        events.item_save(calendar=calendar, item=moved, name=row.name)
    assert sync_now(integration, run_on_commit).status == "success"
    assert google.state.sent_invitations == []
    copies = [_google_event(google, email, f"c{n}@elsewhere") for n in range(10)]
    assert {c["organizer"]["email"] for c in copies} == {"chief@elsewhere.example"}
    assert Event.objects.filter(calendar=calendar, parent=None).count() == 20


def test_a_first_sync_of_the_owners_own_meetings_emails_nobody(member_client, calendar, google,
                                                               run_on_commit) -> None:  # fmt: skip
    """Meetings the owner organises, already in calsync when Google is connected, are inserted with
    sendUpdates=none and keep their guests: a first sync copies what exists (integrations.meetings), the same
    through every provider. https://developers.google.com/calendar/api/v3/reference/events/insert#sendUpdates"""
    email = "owner@example.com"
    guests = ("ann@elsewhere.example", "bob@elsewhere.example")
    for n in range(5):
        events.item_save(calendar=calendar, item=_meeting(f"own{n}@x", email, day=n, guests=guests))
    integration = connect(member_client, google, email, calendar, run_on_commit)
    assert integration.runs.get().status == "success"
    assert [s for s in google.state.sent_invitations if s["organizer"] == email] == []
    copy = _google_event(google, email, "own0@x")
    assert {a["email"] for a in copy["attendees"]} >= set(guests) and copy["organizer"]["email"] == email


def test_a_meeting_the_owner_makes_in_calsync_is_sent_updated_and_cancelled(member_client, calendar, google,
                                                                            run_on_commit) -> None:  # fmt: skip
    """The owner's own meeting, made in calsync: sendUpdates=all on insert, on a move and on delete.
    https://developers.google.com/calendar/api/v3/reference/events/insert#sendUpdates"""
    email = "organiser@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    sent = google.state.sent_invitations
    sent.clear()
    guests = ("ann@elsewhere.example", "bob@elsewhere.example")
    events.item_save(calendar=calendar, item=_meeting("plan@x", email, guests=guests))
    assert sync_now(integration, run_on_commit).status == "success"
    assert sorted((s["method"], s["to"], s["organizer"]) for s in sent) == [
        ("REQUEST", g, email) for g in guests]  # fmt: skip
    sent.clear()
    row = _master(calendar, "plan@x")
    events.item_save(calendar=calendar, item=_meeting("plan@x", email, day=1, guests=guests), name=row.name)
    assert sync_now(integration, run_on_commit).status == "success"
    assert sorted((s["method"], s["to"]) for s in sent) == [("REQUEST", g) for g in guests]
    sent.clear()
    row.refresh_from_db()
    moved = _meeting("plan@x", email, day=1, guests=guests)
    # A business field only: nothing a guest sees changed, so nobody is emailed.
    events.item_save(calendar=calendar, item=replace(moved, master=replace(moved.master, client="Acme")), name=row.name)
    assert sync_now(integration, run_on_commit).status == "success"
    assert sent == []
    events.item_delete(event=_master(calendar, "plan@x"))
    assert sync_now(integration, run_on_commit).status == "success"
    assert sorted((s["method"], s["to"]) for s in sent) == [("CANCEL", g) for g in guests]


def test_an_emptied_business_field_is_removed_and_a_free_busy_changed_in_google_wins(google, google_account) -> None:
    """A patch sends null for what calsync no longer has, and leaves other applications' properties alone.
    https://developers.google.com/calendar/api/guides/performance#patch"""
    email, tokens = google_account
    side = GoogleSide(GoogleApi(user_credentials_from(tokens)), email, "Europe/Berlin", account=email)
    created = side.create(event("emptied@x", "Call", client="Acme", project="Roof", busy_status="WORKINGELSEWHERE"))
    google.state.write(email, email, created.id, {"extendedProperties": {"private": {"otherApp": "1"}}}, None,
                       patch=True)  # fmt: skip
    entry = side.get(created.id)
    assert (entry.item.master.client, entry.item.master.busy_status) == ("Acme", "WORKINGELSEWHERE")
    side.update(created.id, event("emptied@x", "Call", project="Roof", busy_status="WORKINGELSEWHERE"), entry.version)
    private = google.state.get(email, email, created.id)["extendedProperties"]["private"]
    assert "calsyncClient" not in private and private["calsyncProject"] == "Roof" and private["otherApp"] == "1"
    google.state.write(email, email, created.id, {"transparency": "transparent"}, None, patch=True)  # "Free" in Google
    again = side.get(created.id).item.master
    assert (again.busy_status, again.transparency, again.project) == ("", "TRANSPARENT", "Roof")
