"""Microsoft 365 round trips lose nothing and email no one unasked (issue 13), end to end through the sync service
and the Graph emulator: business fields travel as single-value extended properties, Outlook's own fields survive
a calsync edit (PATCH of what changed only), showAs keeps its five meanings, and invitations follow the policy in
README "Invitations: who gets email when calsync writes"."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from events import services as events
from events.convert import item_from_event
from events.ical import Attendee, Component, Item, Person
from events.models import Event
from tests.integrations.test_microsoft import connect, outlook, sync_now
from tests.sync.items import BERLIN, event

pytestmark = pytest.mark.django_db

BUSINESS = {"client": "Acme", "project": "Rollout", "activity_type": "Consulting"}
CLIENT_ID = "String {00020329-0000-0000-C000-000000000046} Name calsyncClient"


def _outlook_event(microsoft, login: str, uid: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The Outlook event carrying a calsync UID, as the emulator keeps it (every property, expanded or not)."""
    box = microsoft.state.mailboxes[login]
    for found in microsoft.state.calendars[box.calendars[0]].events.values():
        if any(p["value"] == uid for p in found.get("singleValueExtendedProperties") or []):
            return found
    raise AssertionError(f"{uid} is not in Outlook")


OUTLOOK_EDITS = {
    "title only": {"subject": "Renamed in Outlook"},
    "time only": {"start": {"dateTime": "2026-11-23T15:00:00", "timeZone": "W. Europe Standard Time"},
                  "end": {"dateTime": "2026-11-23T16:00:00", "timeZone": "W. Europe Standard Time"}},
    "attendee added": {"attendees": [{"emailAddress": {"address": "dora@fabrikam.example", "name": "Dora"},
                                      "type": "required"}]},
}  # fmt: skip


@pytest.mark.parametrize("edit", OUTLOOK_EDITS)
def test_an_outlook_edit_keeps_calsyncs_fields(member_client, calendar, microsoft, run_on_commit, edit) -> None:
    """Outlook PATCHes only what the user changed; calsync reads client, project and activity back from the event's
    extended properties, and free/busy status and categories from showAs and categories."""
    login = f"edit.{edit.split()[0]}@contoso.example"
    item = event(
        "kept@x",
        "Workshop",
        **BUSINESS,
        busy_status="OOF",
        categories=("Travel",),
        event_type="focusTime",
        extra_properties=(("X-ODD", (("X-P", "1"),), "kept"),),
    )
    events.item_save(calendar=calendar, item=item)
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    written = _outlook_event(microsoft, login, "kept@x")
    assert written["showAs"] == "oof" and written["categories"] == ["Travel"]
    microsoft.state.update(login, written["id"], OUTLOOK_EDITS[edit], None)
    assert sync_now(integration, run_on_commit).status == "success"
    kept = Event.objects.get(calendar=calendar, uid="kept@x", parent=None)
    assert (kept.client, kept.project, kept.activity_type) == ("Acme", "Rollout", "Consulting")
    assert kept.busy_status == "OOF" and kept.categories == ["Travel"]
    again = item_from_event(kept, []).master  # what Graph has no field for rides in extended properties too
    assert (again.event_type, again.extra_properties) == ("focusTime", (("X-ODD", (("X-P", "1"),), "kept"),))
    if edit == "title only":
        assert kept.title == "Renamed in Outlook"
    elif edit == "time only":
        assert kept.start == datetime(2026, 11, 23, 15, tzinfo=BERLIN)
    else:
        assert [a["email"] for a in kept.attendees] == ["dora@fabrikam.example"]


def test_a_calsync_edit_keeps_outlooks_own_fields(member_client, calendar, microsoft, run_on_commit) -> None:
    """calsync PATCHes only the properties it changed: Outlook's categories, importance, online meeting, HTML body
    and working-elsewhere status stay as Outlook wrote them."""
    login = "own.fields@contoso.example"
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    box = microsoft.state.mailboxes[login]
    made = microsoft.state.create(login, box.calendars[0], {
        "subject": "Site visit", "body": {"contentType": "html", "content": "<p>Bring <b>boots</b></p>"},
        "start": {"dateTime": "2026-11-24T09:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-11-24T11:00:00", "timeZone": "W. Europe Standard Time"},
        "showAs": "workingElsewhere", "categories": ["Green category"], "importance": "high",
        "isOnlineMeeting": True, "onlineMeetingProvider": "teamsForBusiness"})  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"
    local = Event.objects.get(calendar=calendar, title="Site visit")
    assert local.busy_status == "WORKINGELSEWHERE" and local.categories == ["Green category"]
    item = item_from_event(local)
    changed = replace(item.master, summary="Site visit (north)", client="Acme")
    events.item_save(calendar=calendar, item=replace(item, master=changed), name=local.name)
    assert sync_now(integration, run_on_commit).status == "success"
    after = microsoft.state.calendars[box.calendars[0]].events[made["id"]]
    assert after["subject"] == "Site visit (north)"
    assert after["body"]["content"] == "<p>Bring <b>boots</b></p>"
    assert (after["showAs"], after["categories"], after["importance"], after["isOnlineMeeting"]) == (
        "workingElsewhere", ["Green category"], "high", True)  # fmt: skip
    assert {"id": CLIENT_ID, "value": "Acme"} in after["singleValueExtendedProperties"]


def _sent(microsoft, organizer: str) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return sorted((m["method"], m["to"], m["subject"]) for m in microsoft.state.sent_invitations
                  if m["organizer"] == organizer)  # fmt: skip


def test_copies_of_meetings_organised_elsewhere_email_no_one(member_client, calendar, microsoft,
                                                             run_on_commit) -> None:  # fmt: skip
    """A first sync of 20 meetings organised by someone else writes them without attendees (Graph would email
    each one), the attendee list carried as text; reading them back gives the same meetings, not a longer text."""
    login = "copies@contoso.example"
    people = (Attendee("ann@contoso.example", "Ann", "ACCEPTED"), Attendee("bob@fabrikam.example", "Bob"),
              Attendee("cy@fabrikam.example", "Cy", "TENTATIVE", "OPT-PARTICIPANT"))  # fmt: skip
    organizer = Person("olga@fabrikam.example", "Olga")
    for n in range(20):
        events.item_save(calendar=calendar, item=event(f"m{n}@x", f"Meeting {n}", day=n % 5, description="Agenda",
                                                       organizer=organizer, attendees=people))  # fmt: skip
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    assert integration.runs.get().status == "success"
    assert _sent(microsoft, login) == [] and _sent(microsoft, "olga@fabrikam.example") == []
    copy = _outlook_event(microsoft, login, "m0@x")
    assert not copy.get("attendees") and "Olga" in copy["body"]["content"] and "bob@fabrikam.example" in copy[
        "body"]["content"]  # fmt: skip
    read = outlook(microsoft, login).find("m0@x").item.master
    assert read.description == "Agenda" and read.organizer == organizer and read.attendees == people
    # An Outlook edit comes back without the text doubling, and another sync writes nothing.
    microsoft.state.update(login, copy["id"], {"subject": "Meeting 0 (moved room)"}, None)
    assert sync_now(integration, run_on_commit).status == "success"
    local = Event.objects.get(calendar=calendar, uid="m0@x", parent=None)
    assert local.title == "Meeting 0 (moved room)" and local.description == "Agenda"
    assert local.organizer["email"] == "olga@fabrikam.example" and len(local.attendees) == 3
    before = microsoft.state.requests
    assert sync_now(integration, run_on_commit).status == "success"
    assert microsoft.state.requests - before <= 2 and _sent(microsoft, login) == []


def test_a_first_sync_of_the_owners_own_meetings_emails_no_one(member_client, calendar, microsoft,
                                                              run_on_commit) -> None:  # fmt: skip
    """Meetings already in calsync when Outlook is connected, made in calsync (no organiser) or organised by the
    mailbox itself, are copies of what exists, not news: Graph cannot write attendees quietly, so they are carried
    as text like a copy of someone else's meeting, and the first sync emails nobody (as with Google, Exchange and
    CalDAV). They read back as the same meetings."""
    login = "own@contoso.example"
    people = (Attendee("bob@fabrikam.example", "Bob"), Attendee("cy@fabrikam.example", "Cy"))
    events.item_save(calendar=calendar, item=event("made@x", "Made in calsync", attendees=people))
    events.item_save(calendar=calendar, item=event("mine@x", "Organised by me", day=1,
                                                   organizer=Person(login, "Me"), attendees=people))  # fmt: skip
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    assert integration.runs.get().status == "success"
    assert _sent(microsoft, login) == []
    assert outlook(microsoft, login).find("mine@x").item.master.attendees == people
    assert sync_now(integration, run_on_commit).status == "success"
    local = Event.objects.get(calendar=calendar, uid="mine@x", parent=None)
    assert local.organizer["email"] == login and len(local.attendees) == 2 and _sent(microsoft, login) == []


def test_a_meeting_the_user_organises_in_calsync_invites_as_outlook_would(member_client, calendar, microsoft,
                                                                          run_on_commit) -> None:  # fmt: skip
    """Created in calsync by its organiser: Graph sends each attendee a request; a change of its details sends an
    update; a change of calsync's own fields sends nothing; deleting it sends cancellations."""
    login = "organiser@contoso.example"
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    people = (Attendee("bob@fabrikam.example", "Bob"), Attendee("cy@fabrikam.example", "Cy"))
    saved = events.item_save(calendar=calendar, item=event("own@x", "Kick-off", organizer=Person(login, "Org"),
                                                           attendees=people)).event  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"
    assert _sent(microsoft, login) == [("REQUEST", "bob@fabrikam.example", "Kick-off"),
                                       ("REQUEST", "cy@fabrikam.example", "Kick-off")]  # fmt: skip
    microsoft.state.sent_invitations.clear()
    saved.refresh_from_db()
    item = item_from_event(saved)
    events.item_save(calendar=calendar, item=replace(item, master=replace(item.master, client="Acme")),
                     name=saved.name)  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"
    assert _sent(microsoft, login) == []
    saved.refresh_from_db()
    item = item_from_event(saved)
    later = replace(item.master, summary="Kick-off", start=item.master.start + timedelta(hours=2),
                    end=item.master.end + timedelta(hours=2))  # fmt: skip
    events.item_save(calendar=calendar, item=replace(item, master=later), name=saved.name)
    assert sync_now(integration, run_on_commit).status == "success"
    assert [m for m, _, _ in _sent(microsoft, login)] == ["REQUEST", "REQUEST"]
    microsoft.state.sent_invitations.clear()
    saved.refresh_from_db()
    events.item_delete(event=saved)
    assert sync_now(integration, run_on_commit).status == "success"
    assert _sent(microsoft, login) == [("CANCEL", "bob@fabrikam.example", "Kick-off"),
                                       ("CANCEL", "cy@fabrikam.example", "Kick-off")]  # fmt: skip


def test_fields_set_in_calsync_on_an_outlook_event_survive_a_full_resync(member_client, calendar, microsoft,
                                                                         run_on_commit) -> None:  # fmt: skip
    """An event made in Outlook gets calsync's identity with its first client, so a full round (after the delta
    token expired) finds its extended properties with one filtered listing, then an Outlook edit keeps them."""
    login = "resync@contoso.example"
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    box = microsoft.state.mailboxes[login]
    made = microsoft.state.create(login, box.calendars[0], {
        "subject": "Review", "start": {"dateTime": "2026-11-25T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2026-11-25T10:00:00", "timeZone": "UTC"}})  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"
    local = Event.objects.get(calendar=calendar, title="Review")
    item = item_from_event(local)
    events.item_save(calendar=calendar, item=replace(item, master=replace(item.master, **BUSINESS)), name=local.name)
    assert sync_now(integration, run_on_commit).status == "success"
    microsoft.state.update(login, made["id"], {"subject": "Review (v2)"}, None)
    microsoft.state.expire_delta_tokens()
    assert sync_now(integration, run_on_commit).status == "success"
    local.refresh_from_db()
    assert local.title == "Review (v2)" and (local.client, local.project, local.activity_type) == tuple(
        BUSINESS.values()
    )
    assert Event.objects.filter(calendar=calendar).count() == 1


def test_a_floating_time_is_written_at_its_wall_clock_and_stays_floating(member_client, calendar, microsoft,
                                                                        run_on_commit) -> None:  # fmt: skip
    """Graph's dateTimeTimeZone always names a zone (https://learn.microsoft.com/en-us/graph/api/resources/
    datetimetimezone), so a floating 10:00 is written as 10:00 in the calsync calendar's zone, marked, and read
    back without a zone after an Outlook edit, moved too (README "Floating times")."""
    calendar.timezone = "Europe/Berlin"
    calendar.save(update_fields=["timezone"])
    login = "floating@contoso.example"
    ten = datetime(2026, 11, 26, 10, 0)
    events.item_save(calendar=calendar, item=Item(master=Component(uid="float@x", summary="Stand-up", start=ten,
                                                                   end=ten + timedelta(minutes=15))))  # fmt: skip
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    written = _outlook_event(microsoft, login, "float@x")
    assert written["start"] == {"dateTime": "2026-11-26T10:00:00.0000000", "timeZone": "W. Europe Standard Time"}
    before = microsoft.state.requests
    assert sync_now(integration, run_on_commit).status == "success"
    assert microsoft.state.requests - before <= 2  # the echo of the create writes nothing back
    microsoft.state.update(login, written["id"], {"subject": "Stand-up (room 2)"}, None)
    assert sync_now(integration, run_on_commit).status == "success"
    local = Event.objects.get(calendar=calendar, uid="float@x", parent=None)
    assert local.title == "Stand-up (room 2)" and local.timezone == ""
    microsoft.state.update(login, written["id"], {
        "start": {"dateTime": "2026-11-26T11:30:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-11-26T11:45:00", "timeZone": "W. Europe Standard Time"}}, None)  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"
    moved = item_from_event(Event.objects.get(calendar=calendar, uid="float@x", parent=None)).master
    assert moved.start == datetime(2026, 11, 26, 11, 30) and moved.end == datetime(2026, 11, 26, 11, 45)


def test_the_meeting_text_reads_back_exactly_and_an_edited_one_stays_text() -> None:
    """The people of a copied meeting survive any name, answer and role calsync knows; a block the user rewrote in
    Outlook is left as the description they wrote, not guessed at."""
    from integrations.microsoft.convert import meeting_text, split_meeting_text

    people = (Attendee("a@x.example", "Ann (Sales)", "DECLINED", "CHAIR"), Attendee("b@x.example", "", "DELEGATED"),
              Attendee("c@x.example", "Cy", "NEEDS-ACTION", "NON-PARTICIPANT"))  # fmt: skip
    master = Component(uid="t@x", description="Line 1\nLine 2", organizer=Person("o@x.example", ""), attendees=people)
    text = meeting_text(master)
    assert split_meeting_text(text) == ("Line 1\nLine 2", (master.organizer, people))
    edited = text.replace("* Cy <c@x.example>", "Cy said no")
    assert split_meeting_text(edited) == (edited, None)
    assert split_meeting_text("Plain notes") == ("Plain notes", None)
    # A meeting made in calsync (a first sync writes it as text) has no organiser, and reads back without one.
    made = replace(master, organizer=None)
    assert split_meeting_text(meeting_text(made)) == ("Line 1\nLine 2", (None, people))


def test_a_series_update_patches_only_the_occurrences_that_differ(microsoft, microsoft_mailbox) -> None:
    """Writing a series again with the same moved occurrence sends that occurrence nothing: a meeting series the user
    organises emails its attendees only for what changed (https://learn.microsoft.com/en-us/graph/api/event-update)."""
    from integrations.microsoft.adapter import MicrosoftSide
    from integrations.microsoft.client import GraphClient
    from tests.sync.items import series

    login, tokens = microsoft_mailbox
    side = MicrosoftSide(GraphClient(lambda: tokens["access_token"], sleep=lambda s: None, owner=login),
                         microsoft.state.mailboxes[login].calendars[0])  # fmt: skip
    item = series("weekly@x", "Weekly", moved_summary="Weekly (moved)")
    people = {"organizer": Person(login), "attendees": (Attendee("b@x.example"),)}
    meeting = Item(master=replace(item.master, **people), overrides=(replace(item.overrides[0], **people),))
    created = side.create(meeting)
    assert [m["method"] for m in microsoft.state.sent_invitations if m["organizer"] == login] == ["REQUEST"] * 2
    microsoft.state.sent_invitations.clear()
    before = microsoft.state.requests
    side.update(created.id, replace(meeting, master=replace(meeting.master, client="Acme")), created.version)
    assert [m for m in microsoft.state.sent_invitations if m["organizer"] == login] == []
    # GET instances (the version; the master is the one the create read back, and its etag is the If-Match), PATCH
    # master, GET instances, GET master and instances: no occurrence
    assert microsoft.state.requests - before == 5


def test_a_meeting_the_user_was_invited_to_is_never_sent_again(member_client, calendar, microsoft,
                                                               run_on_commit) -> None:  # fmt: skip
    """A meeting request the user received in Outlook comes to calsync with its organiser and attendees; a client set
    in calsync goes back as that extended property alone: the copy keeps its people and organiser, nobody is
    emailed."""
    login = "invited@contoso.example"
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    box = microsoft.state.mailboxes[login]
    people = [{"emailAddress": {"address": a, "name": a[0].upper()}, "type": "required"}
              for a in (login, "bob@fabrikam.example")]  # fmt: skip
    board = {"subject": "Board meeting", "start": {"dateTime": "2026-11-27T09:00:00", "timeZone": "UTC"},
             "end": {"dateTime": "2026-11-27T10:00:00", "timeZone": "UTC"}, "attendees": people}  # fmt: skip
    received = microsoft.state.deliver(login, box.calendars[0], board, "olga@fabrikam.example")
    assert sync_now(integration, run_on_commit).status == "success"
    local = Event.objects.get(calendar=calendar, title="Board meeting")
    assert local.organizer["email"] == "olga@fabrikam.example" and len(local.attendees) == 2
    item = item_from_event(local)
    events.item_save(calendar=calendar, item=replace(item, master=replace(item.master, client="Acme")), name=local.name)
    assert sync_now(integration, run_on_commit).status == "success"
    after = microsoft.state.calendars[box.calendars[0]].events[received["id"]]
    assert after["attendees"] == people and after["organizer"]["emailAddress"]["address"] == "olga@fabrikam.example"
    assert (
        "calsync copy" not in str(after.get("body"))
        and {"id": CLIENT_ID, "value": "Acme"} in after["singleValueExtendedProperties"]
    )
    assert [m for m in microsoft.state.sent_invitations if m["event_id"] == received["id"]] == []


def test_a_series_read_in_utc_keeps_its_own_zone_and_is_not_rewritten() -> None:
    """Graph gives times in UTC without a Prefer header; a series' zone is still in its recurrence range, so it
    reads back in it and an unchanged series yields an empty PATCH (no update mail for its attendees).
    https://learn.microsoft.com/en-us/graph/api/resources/recurrencerange"""
    from integrations.microsoft.convert import patch_for, to_component, to_event

    master = {"subject": "Standup", "start": {"dateTime": "2026-11-23T08:30:00.0000000", "timeZone": "UTC"},
              "end": {"dateTime": "2026-11-23T08:45:00.0000000", "timeZone": "UTC"}, "type": "seriesMaster",
              "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                             "range": {"type": "noEnd", "startDate": "2026-11-23",
                                       "recurrenceTimeZone": "W. Europe Standard Time"}}}  # fmt: skip
    held = to_component(master, "s@x")
    nine_thirty = datetime(2026, 11, 23, 9, 30, tzinfo=BERLIN)
    assert held.start == nine_thirty and held.start.tzinfo.key == "Europe/Berlin" and held.rrule == "FREQ=WEEKLY"  # type: ignore[union-attr]
    same = Component(uid="s@x", summary="Standup", start=nine_thirty, end=nine_thirty + timedelta(minutes=15),
                     rrule="FREQ=WEEKLY")  # fmt: skip
    assert patch_for(to_event(held, "s@x", "Europe/Berlin"), to_event(same, "s@x", "Europe/Berlin")) == {}
