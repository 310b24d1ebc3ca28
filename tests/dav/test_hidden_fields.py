"""calsync's own CalDAV server and feed with the fields calendar apps show no control for (events.hidden).

Client, project, activity, busy status and event type go out as X- properties; an app that writes the event
back with them (an iPhone) or without them (one that drops unknown properties) leaves them as they were.
"""

from __future__ import annotations

import re

import caldav
import pytest
from django.urls import reverse

from dav.services import app_password_create
from events.ical import parse_calendar, parse_item
from events.models import Event
from events.services import item_save

from .conftest import vevent

HIDDEN = ("X-CALSYNC-CLIENT:Acme", "X-CALSYNC-PROJECT:Launch", "X-CALSYNC-ACTIVITY-TYPE:Travel",
          "X-MICROSOFT-CDO-BUSYSTATUS:OOF", "X-CALSYNC-EVENT-TYPE:outOfOffice")  # fmt: skip
FIELDS = {"client": "Acme", "project": "Launch", "activity_type": "Travel", "busy_status": "OOF",
          "event_type": "outOfOffice"}  # fmt: skip


def _fields(uid: str) -> dict[str, str]:
    stored = Event.objects.get(uid=uid, parent=None)
    return {name: getattr(stored, name) for name in FIELDS}


@pytest.fixture
def trip(member, calendar, live_server):  # type: ignore[no-untyped-def]
    """An out-of-office event with business fields in calsync, as the member's iPhone sees it."""
    item_save(calendar=calendar, item=parse_item(vevent("trip", *HIDDEN, summary="Trip")))
    created = app_password_create(user=member, label="iPhone")
    client = caldav.DAVClient(url=live_server.url + "/", username=created.username, password=created.secret)
    client.session.trust_env = False
    (work,) = client.principal().calendars()
    return client, work.event_by_uid("trip")


@pytest.mark.django_db(transaction=True)
def test_the_device_reads_them_and_an_iphone_edit_keeps_them(trip) -> None:  # type: ignore[no-untyped-def]
    _, obj = trip
    assert all(line in obj.data for line in HIDDEN)
    obj.data = re.sub(r"(?m)^SUMMARY:.*$", "SUMMARY:Trip to Lyon", obj.data).replace(
        "END:VEVENT", "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\nEND:VEVENT"
    )
    obj.save()
    assert _fields("trip") == FIELDS
    stored = Event.objects.get(uid="trip", parent=None)
    assert stored.title == "Trip to Lyon"
    assert ["X-APPLE-TRAVEL-ADVISORY-BEHAVIOR", [], "AUTOMATIC"] in stored.extra_properties


@pytest.mark.django_db(transaction=True)
def test_an_app_that_drops_them_leaves_them_and_is_sent_no_etag(trip) -> None:  # type: ignore[no-untyped-def]
    client, obj = trip
    answer = client.put(str(obj.url), vevent("trip", summary="Trip (new room)"), {"Content-Type": "text/calendar"})
    assert answer.status == 204
    # What is stored is not what was sent, so the app must read it back (RFC 4791 5.3.4).
    assert "etag" not in {k.lower() for k in answer.headers}
    assert Event.objects.get(uid="trip", parent=None).title == "Trip (new room)"
    assert _fields("trip") == FIELDS
    # An app that sends them as they are gets its ETag.
    answer = client.put(str(obj.url), vevent("trip", *HIDDEN, summary="Trip"), {"Content-Type": "text/calendar"})
    assert answer.status == 204 and answer.headers.get("ETag")


@pytest.mark.django_db
def test_the_feed_carries_how_the_time_shows(client, calendar) -> None:  # type: ignore[no-untyped-def]
    item_save(calendar=calendar, item=parse_item(vevent("away", *HIDDEN, summary="Away")))
    tentative = vevent("maybe", "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE", "CLASS:PRIVATE", summary="Dentist",
                       start="20261103T080000Z", end="20261103T090000Z")  # fmt: skip
    item_save(calendar=calendar, item=parse_item(tentative))
    response = client.get(reverse("dav:feed", args=[calendar.feed_token]))
    assert "X-MICROSOFT-CDO-BUSYSTATUS:OOF" in response.content.decode()
    items = {item.uid: item.master for item in parse_calendar(response.content)}
    assert (items["away"].busy_status, items["away"].event_type) == ("OOF", "outOfOffice")
    # A private event shows only as taken time, and how it is taken: tentatively.
    assert (items["maybe"].summary, items["maybe"].busy_status) == ("Busy", "TENTATIVE")


@pytest.mark.django_db(transaction=True)
def test_a_floating_event_stays_floating_through_the_server_and_the_feed(trip, calendar, client) -> None:  # type: ignore[no-untyped-def]
    device, _ = trip
    (work,) = device.principal().calendars()
    work.save_event(vevent("gym", start="20261125T070000", end="20261125T080000", summary="Gym"))
    stored = Event.objects.get(uid="gym", parent=None)
    assert stored.timezone == ""  # floating: no zone, not UTC
    for data in (
        work.event_by_uid("gym").data,
        client.get(reverse("dav:feed", args=[calendar.feed_token])).content.decode(),
    ):
        assert re.search(r"(?m)^DTSTART:20261125T070000\r?$", data)
