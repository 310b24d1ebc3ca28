"""Who gets email when calsync writes to Exchange: copies of meetings organised by others are written with
SendToNone, a meeting the mailbox's owner organises in calsync sends what Exchange sends its organiser
(SendToAllAndSaveCopy on create, SendToChangedAndSaveCopy on update, a cancellation on delete). The EWS emulator
records every message Exchange would send, as the SendMeeting* attribute of each request asks.

https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem-operation-calendar-item
https://learn.microsoft.com/exchange/client-developer/web-service-reference/updateitem
https://learn.microsoft.com/exchange/client-developer/web-service-reference/deleteitem
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from events import services as events
from events.ical import Attendee, Person
from events.models import Event
from tests.integrations.test_exchange import connect, sync_now
from tests.sync.items import event

pytestmark = pytest.mark.django_db

GUESTS = (Attendee("bob@example.com", "Bob"), Attendee("eve@example.com", "Eve"))


def _mail(exchange, organizer: str) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [
        (m["method"], m["to"], m["subject"]) for m in exchange.state.sent_invitations if m["organizer"] == organizer
    ]


def test_a_first_sync_of_meetings_organised_by_others_sends_nothing(member_client, calendar, exchange,
                                                                   run_on_commit) -> None:  # fmt: skip
    boss = Person("boss@elsewhere.example", "Boss")
    for n in range(20):
        events.item_save(calendar=calendar, item=event(f"theirs{n}@x", f"Their meeting {n}", day=n % 7,
                                                       organizer=boss, attendees=GUESTS))  # fmt: skip
    integration = connect(member_client, exchange, calendar, run_on_commit, name="copies")
    assert integration.runs.get().status == "success"
    stored = exchange.state.folder("copies@corp.example", distinguished="calendar").items.values()
    assert len(stored) == 20 and all(len(i["required"]) == 2 for i in stored)
    assert not any(i["request_sent"] for i in stored)
    assert [m for m in exchange.state.sent_invitations if m["organizer"] == "copies@corp.example"] == []
    # Deleting such a copy in calsync cancels nothing either: nobody was invited through it.
    events.item_delete(event=Event.objects.get(calendar=calendar, uid="theirs0@x", parent=None))
    assert sync_now(integration, run_on_commit).status == "success"
    assert _mail(exchange, "copies@corp.example") == []


def test_a_first_sync_of_the_owners_own_meetings_sends_nothing(member_client, calendar, exchange,
                                                               run_on_commit) -> None:  # fmt: skip
    """Meetings already in calsync when Exchange is connected, made in calsync (no organiser) or organised by the
    mailbox itself, are copied with their attendees and SendToNone: they were not made or changed in calsync
    now, so nobody hears of them again (the same rule as Google, Graph and CalDAV)."""
    me = "own@corp.example"
    events.item_save(calendar=calendar, item=event("made@x", "Made in calsync", attendees=GUESTS))
    events.item_save(calendar=calendar, item=event("mine@x", "Organised by me", day=1, organizer=Person(me),
                                                   attendees=GUESTS))  # fmt: skip
    integration = connect(member_client, exchange, calendar, run_on_commit, name="own")
    assert integration.runs.get().status == "success"
    stored = exchange.state.folder(me, distinguished="calendar").items.values()
    assert len(stored) == 2 and all(len(i["required"]) == 2 for i in stored)
    assert _mail(exchange, me) == []


def test_a_meeting_made_in_calsync_sends_requests_updates_and_a_cancellation(member_client, calendar, exchange,
                                                                            run_on_commit) -> None:  # fmt: skip
    integration = connect(member_client, exchange, calendar, run_on_commit, name="organiser")
    me = "organiser@corp.example"
    events.item_save(calendar=calendar, item=event("mine@x", "Kick-off", attendees=GUESTS))
    assert sync_now(integration, run_on_commit).status == "success"
    assert _mail(exchange, me) == [("REQUEST", "bob@example.com", "Kick-off"),
                                   ("REQUEST", "eve@example.com", "Kick-off")]  # fmt: skip
    sent = [m for m in exchange.state.sent_invitations if m["organizer"] == me]
    stored = exchange.state.folder(me, distinguished="calendar").items[sent[0]["event_id"]]
    assert {m["ical_uid"] for m in sent} == {stored["uid"]} and stored["request_sent"]

    # Moved: everyone hears (SendToChangedAndSaveCopy, the meeting itself changed).
    exchange.state.sent_invitations.clear()
    mine = Event.objects.get(calendar=calendar, uid="mine@x", parent=None)
    moved = event("mine@x", "Kick-off", day=1, attendees=GUESTS)
    events.item_save(calendar=calendar, item=moved, name=mine.name)
    assert sync_now(integration, run_on_commit).status == "success"
    assert sorted(_mail(exchange, me)) == [("REQUEST", "bob@example.com", "Kick-off"),
                                           ("REQUEST", "eve@example.com", "Kick-off")]  # fmt: skip
    # One more guest: only she is invited.
    exchange.state.sent_invitations.clear()
    more = replace(moved.master, attendees=(*GUESTS, Attendee("carol@example.com", "Carol")))
    events.item_save(calendar=calendar, item=replace(moved, master=more), name=mine.name)
    assert sync_now(integration, run_on_commit).status == "success"
    assert _mail(exchange, me) == [("REQUEST", "carol@example.com", "Kick-off")]
    # Deleted in calsync: a cancellation to each guest.
    exchange.state.sent_invitations.clear()
    events.item_delete(event=Event.objects.get(calendar=calendar, uid="mine@x", parent=None))
    assert sync_now(integration, run_on_commit).status == "success"
    assert sorted(_mail(exchange, me)) == [("CANCEL", "bob@example.com", "Kick-off"),
                                           ("CANCEL", "carol@example.com", "Kick-off"),
                                           ("CANCEL", "eve@example.com", "Kick-off")]  # fmt: skip


def test_a_meeting_the_user_was_invited_to_is_never_sent_again(member_client, calendar, exchange,
                                                               run_on_commit) -> None:  # fmt: skip
    """The invitation in the user's calendar (organised by someone else) changes in calsync: Exchange is asked to
    send nothing, and the item keeps its organiser."""
    integration = connect(member_client, exchange, calendar, run_on_commit, name="invitee")
    me = "invitee@corp.example"
    start = dt.datetime(2026, 11, 24, 14, tzinfo=dt.UTC)
    invited = exchange.state.create(me, None, {
        "subject": "Their review", "start": start, "end": start + dt.timedelta(hours=1),
        "organizer": ("boss@elsewhere.example", "Boss"),
        "required": [(me, "Invitee", "Accept"), ("bob@example.com", "Bob", "Unknown")]})  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"
    mine = Event.objects.get(calendar=calendar, title="Their review", parent=None)
    assert mine.organizer["email"] == "boss@elsewhere.example"
    events.item_save(calendar=calendar, item=replace(events_item(mine), master=replace(
        events_item(mine).master, summary="Their review (my notes)")), name=mine.name)  # fmt: skip
    assert sync_now(integration, run_on_commit).status == "success"
    assert invited["subject"] == "Their review (my notes)" and invited["organizer"][0] == "boss@elsewhere.example"
    assert [m for m in exchange.state.sent_invitations if m["event_id"] == invited["id"]] == []


def events_item(row):  # type: ignore[no-untyped-def]
    from events.convert import item_from_event

    return item_from_event(row, list(row.overrides.all()))


def test_the_recorded_mail_is_served_and_forgotten_over_http(exchange, exchange_mailbox) -> None:
    """The sandbox page and tests read what Exchange would have sent at /_emulator/sent_invitations."""
    import requests

    address, _server = exchange_mailbox
    exchange.state.create(address, None, {"subject": "Hello", "start": dt.datetime(2026, 11, 24, tzinfo=dt.UTC),
                                          "end": dt.datetime(2026, 11, 24, 1, tzinfo=dt.UTC),
                                          "required": [("x@example.com", "X", "Unknown")]},
                          "SendToAllAndSaveCopy")  # fmt: skip
    base = exchange.url.rsplit("/EWS", 1)[0]
    served = requests.get(f"{base}/_emulator/sent_invitations", timeout=5).json()
    assert {"method": "REQUEST", "to": "x@example.com", "organizer": address, "subject": "Hello"}.items() <= next(
        m for m in served if m["organizer"] == address
    ).items()
    assert requests.delete(f"{base}/_emulator/sent_invitations", timeout=5).json() == []
    assert exchange.state.sent_invitations == []


def test_the_policy_sends_for_the_owners_own_meetings_only() -> None:
    """The decision itself: the Exchange item's organiser wins over calsync's view for updates, and a delete
    cancels only what was sent (MeetingRequestWasSent)."""
    from types import SimpleNamespace

    from events.ical import Component
    from integrations.exchange import invitations

    me = "me@corp.example"
    ours, theirs = Component(attendees=GUESTS), Component(attendees=GUESTS, organizer=Person("boss@x.example"))
    exchange_item = SimpleNamespace(organizer=SimpleNamespace(email_address="Me@Corp.example"),
                                    meeting_request_was_sent=True)  # fmt: skip
    invited = SimpleNamespace(organizer=SimpleNamespace(email_address="boss@x.example"), meeting_request_was_sent=False)
    assert invitations.on_create(ours, me) == "SendToAllAndSaveCopy"
    assert invitations.on_create(theirs, me) == invitations.on_create(Component(), me) == "SendToNone"
    assert invitations.on_update(ours, exchange_item, me) == "SendToChangedAndSaveCopy"
    assert invitations.on_update(ours, invited, me) == "SendToNone"
    assert invitations.on_delete(exchange_item, me) == "SendToAllAndSaveCopy"
    assert invitations.on_delete(SimpleNamespace(**{**vars(exchange_item), "meeting_request_was_sent": False}),
                                 me) == "SendToNone"  # fmt: skip
