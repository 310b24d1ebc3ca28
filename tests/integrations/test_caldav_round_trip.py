"""An event edited on a real CalDAV server (Radicale, Xandikos) the way calendar apps edit it, and back.

An iPhone PUTs the whole VEVENT and keeps every X- property it read; some clients write back only what they
show and drop the rest. Neither may blank what the app has no control for: client, project, activity,
the finer busy status (X-MICROSOFT-CDO-BUSYSTATUS) and the event type. Edits in calsync keep the server's own
unknown properties.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime

import pytest

from events import services as events
from events.convert import item_from_event
from events.ical import Component, Item, parse_item
from events.models import Event
from tests.sync.items import START, event

from .test_caldav import connect, sync_now

pytestmark = pytest.mark.django_db

BUSINESS = {"client": "Acme", "project": "Launch", "activity_type": "Travel", "busy_status": "OOF",
            "event_type": "outOfOffice"}  # fmt: skip


def _stored(calendar, uid: str = "trip@calsync") -> Event:  # type: ignore[no-untyped-def]
    return Event.objects.get(calendar=calendar, uid=uid, parent=None)


def _synced(member, calendar, remote, run_on_commit):  # type: ignore[no-untyped-def]
    """A calsync event with every hidden field set, synced to the server; its server copy."""
    server, url, cal = remote
    events.item_save(calendar=calendar, item=event("trip@calsync", "Trip", **BUSINESS))
    integration = connect(member, calendar, server, url, run_on_commit)
    return integration, cal.event_by_uid("trip@calsync")


def _put(obj, data: str) -> None:  # type: ignore[no-untyped-def]
    """The whole resource written back as a client does: a PUT of the complete calendar object."""
    obj.data = data
    obj.save()


def _retitled(data: str, title: str) -> str:
    return re.sub(r"(?m)^SUMMARY:.*$", f"SUMMARY:{title}", data.replace("\r\n", "\n")).replace("\n", "\r\n")


def _bare(uid: str, title: str, transparency: str = "OPAQUE") -> str:
    """What a client that writes only what it shows sends: no X- property at all."""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//a forgetful client//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20261123T100000\r\n"
        f"DTEND;TZID=Europe/Berlin:20261123T110000\r\nSUMMARY:{title}\r\nTRANSP:{transparency}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def test_calsync_writes_the_hidden_fields_as_x_properties(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    _, obj = _synced(member, calendar, remote, run_on_commit)
    for line in ("X-CALSYNC-CLIENT:Acme", "X-CALSYNC-PROJECT:Launch", "X-CALSYNC-ACTIVITY-TYPE:Travel",
                 "X-MICROSOFT-CDO-BUSYSTATUS:OOF", "X-CALSYNC-EVENT-TYPE:outOfOffice"):  # fmt: skip
        assert line in obj.data


def test_an_iphone_edit_keeps_every_field_and_adds_its_own(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration, obj = _synced(member, calendar, remote, run_on_commit)
    edited = _retitled(obj.data, "Trip to Lyon").replace(
        "END:VEVENT", "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\nEND:VEVENT"
    )
    _put(obj, edited)
    sync_now(integration, run_on_commit)
    stored = _stored(calendar)
    assert stored.title == "Trip to Lyon"
    assert {k: getattr(stored, k) for k in BUSINESS} == BUSINESS
    assert ["X-APPLE-TRAVEL-ADVISORY-BEHAVIOR", [], "AUTOMATIC"] in stored.extra_properties


EDITS = {  # as an iPhone makes them: the whole item back, every X- property kept
    "time only": lambda data: data.replace("T100000", "T120000").replace("T110000", "T130000"),
    "attendee added": lambda data: data.replace(
        "END:VEVENT", "ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION:mailto:bob@example.com\r\nEND:VEVENT"
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_time_and_attendee_edits_keep_every_field(member, calendar, remote, run_on_commit, edit) -> None:  # type: ignore[no-untyped-def]
    integration, obj = _synced(member, calendar, remote, run_on_commit)
    _put(obj, EDITS[edit](obj.data.replace("\r\n", "\n").replace("\n", "\r\n")))
    sync_now(integration, run_on_commit)
    stored = _stored(calendar)
    changed = item_from_event(stored).master
    if edit == "time only":
        assert changed.start == START.replace(hour=12) and changed.end == START.replace(hour=13)
    else:
        assert [a.email for a in changed.attendees] == ["bob@example.com"]
    assert {k: getattr(stored, k) for k in BUSINESS} == BUSINESS


def test_a_client_that_drops_x_properties_does_not_blank_them(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration, obj = _synced(member, calendar, remote, run_on_commit)
    _put(obj, _bare("trip@calsync", "Trip (moved room)"))
    sync_now(integration, run_on_commit)
    stored = _stored(calendar)
    assert stored.title == "Trip (moved room)"
    assert {k: getattr(stored, k) for k in BUSINESS} == BUSINESS


def test_a_client_that_drops_them_and_marks_the_time_free_is_free(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    """Out of office is busy time: a client saying the time is free has changed it, not forgotten it."""
    integration, obj = _synced(member, calendar, remote, run_on_commit)
    _put(obj, _bare("trip@calsync", "Trip", transparency="TRANSPARENT"))
    sync_now(integration, run_on_commit)
    stored = _stored(calendar)
    assert (stored.transparency, stored.busy_status) == ("TRANSPARENT", "")
    assert (stored.client, stored.project, stored.activity_type) == ("Acme", "Launch", "Travel")


def test_a_client_that_keeps_x_properties_can_clear_one(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    """With any X-CALSYNC- business property present the client carries them: one it left out was removed."""
    integration, obj = _synced(member, calendar, remote, run_on_commit)
    _put(obj, re.sub(r"(?m)^X-CALSYNC-PROJECT:Launch\r?\n", "", obj.data))
    sync_now(integration, run_on_commit)
    stored = _stored(calendar)
    assert (stored.client, stored.project, stored.activity_type) == ("Acme", "", "Travel")


def test_an_edit_in_calsync_keeps_the_servers_own_properties(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    server, url, cal = remote
    cal.add_event(
        _bare("desk@server", "Desk booking").replace(
            "END:VEVENT", "X-SERVER-ROOM;FLOOR=3:North\r\nX-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE\r\nEND:VEVENT"
        )
    )
    integration = connect(member, calendar, server, url, run_on_commit)
    stored = _stored(calendar, "desk@server")
    assert stored.busy_status == "WORKINGELSEWHERE"
    item = item_from_event(stored)
    edited = replace(item, master=replace(item.master, summary="Desk booking (moved)", client="Acme"))
    events.item_save(calendar=calendar, item=edited, if_match=stored.seq)
    sync_now(integration, run_on_commit)
    master = parse_item(cal.event_by_uid("desk@server").data).master
    assert (master.summary, master.client, master.busy_status) == ("Desk booking (moved)", "Acme", "WORKINGELSEWHERE")
    assert ("X-SERVER-ROOM", (("FLOOR", "3"),), "North") in master.extra_properties


def test_floating_times_stay_floating_both_ways(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    server, url, cal = remote
    cal.add_event(
        _bare("float@server", "Lunch")
        .replace("DTSTART;TZID=Europe/Berlin:20261123T100000", "DTSTART:20261124T123000")
        .replace("DTEND;TZID=Europe/Berlin:20261123T110000", "DTEND:20261124T133000")
    )
    gym = Component(uid="float@calsync", summary="Gym", start=datetime(2026, 11, 25, 7), end=datetime(2026, 11, 25, 8))
    events.item_save(calendar=calendar, item=Item(master=gym))
    connect(member, calendar, server, url, run_on_commit)
    lunch = _stored(calendar, "float@server")
    assert (lunch.timezone, lunch.all_day) == ("", False)
    assert item_from_event(lunch).master.start == datetime(2026, 11, 24, 12, 30)  # naive: floating
    data = cal.event_by_uid("float@calsync").data
    assert re.search(r"(?m)^DTSTART:20261125T070000\r?$", data)  # no TZID, no Z
    assert parse_item(data).master.start == datetime(2026, 11, 25, 7)
