"""What calsync PUTs to a CalDAV server that schedules (RFC 6638): copies must email nobody.

A scripted server records every request, so the assertions are on the exact bodies calsync sent
(integrations/caldav/scheduling.py; https://www.rfc-editor.org/rfc/rfc6638#section-7.1).
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from events import services as events
from events.ical import Attendee, Item, Person, serialise
from integrations.caldav.adapter import CalDAVSide
from integrations.caldav.client import CalDAVClient
from integrations.caldav.services import caldav_connect, caldav_discover
from sync import services as sync_services
from tests.dav.conftest import vevent
from tests.scripted_dav import MULTISTATUS, found, scripted_dav
from tests.sync.items import event, series

OWNER = "member@acme.test"  # the member fixture's address
GUESTS = (Attendee("ann@example.com", "Ann", rsvp=True), Attendee("bob@example.com", "Bob", "ACCEPTED"))


def meeting(uid: str, organizer: str) -> Item:
    return event(uid, "Review", organizer=Person(organizer, "Org"), attendees=GUESTS)


def people_lines(body: str) -> list[str]:
    """ORGANIZER and ATTENDEE lines, unfolded (RFC 5545 3.1)."""
    unfolded = body.replace("\r\n ", "").replace("\n ", "")
    return [line for line in unfolded.splitlines() if re.match(r"(ORGANIZER|ATTENDEE)[;:]", line)]


def client_scheduled(body: str) -> bool:
    """Every organizer and attendee is marked for the client; False if none is."""
    lines = people_lines(body)
    marked = ["SCHEDULE-AGENT=CLIENT" in line.split(":mailto:")[0] for line in lines]
    assert lines and (all(marked) or not any(marked)), lines
    return all(marked)


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    with scripted_dav() as scripted:
        scripted.discovers()
        yield scripted


def side(server, own: tuple[str, ...]) -> CalDAVSide:  # type: ignore[no-untyped-def]
    return CalDAVSide(CalDAVClient(server.url, "alice", "pw"), f"{server.url}cals/work/", own_addresses=own)


def test_a_copy_of_someone_elses_meeting_tells_the_server_to_send_nothing(server) -> None:  # type: ignore[no-untyped-def]
    side(server, (OWNER,)).create(meeting("m1@x", "boss@example.com"))
    (body,) = server.bodies("PUT")
    assert client_scheduled(body)
    assert len(people_lines(body)) == 3


def test_the_owners_own_meeting_is_left_to_the_server(server) -> None:  # type: ignore[no-untyped-def]
    side(server, (OWNER,)).create(meeting("m2@x", OWNER.upper()))  # addresses compare without case
    (body,) = server.bodies("PUT")
    assert not client_scheduled(body)
    assert "SCHEDULE-AGENT" not in body


def test_without_own_addresses_even_the_owners_meeting_sends_nothing(server) -> None:  # type: ignore[no-untyped-def]
    """How a first sync writes: every copy, the owner's meetings too, and in every changed occurrence."""
    item = series("s@x", "Weekly")
    item = Item(
        master=replace(item.master, organizer=Person(OWNER), attendees=GUESTS),
        overrides=tuple(replace(o, organizer=Person(OWNER), attendees=GUESTS[:1]) for o in item.overrides),
    )
    side(server, ()).create(item)
    (body,) = server.bodies("PUT")
    assert client_scheduled(body) and len(people_lines(body)) == 5  # 3 in the series, 2 in the moved occurrence


def test_reading_leaves_the_scheduling_parameters_with_the_server(server) -> None:  # type: ignore[no-untyped-def]
    stored = vevent(
        "r@x",
        "ORGANIZER;SCHEDULE-AGENT=CLIENT;CN=Org:mailto:boss@example.com",
        "ATTENDEE;SCHEDULE-AGENT=CLIENT;SCHEDULE-STATUS=1.2;PARTSTAT=ACCEPTED:mailto:ann@example.com",
    )
    server.answer("/cals/work/r.ics", 200, stored, "text/calendar")
    entry = side(server, (OWNER,)).get("/cals/work/r.ics")
    assert entry is not None and entry.item.master.attendees == (Attendee("ann@example.com", partstat="ACCEPTED"),)
    assert "SCHEDULE-" not in serialise([entry.item])


@pytest.mark.django_db
def test_a_first_sync_sends_nothing_and_later_own_meetings_are_scheduled(
    server, member, calendar, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    server.answer("/cals/work/", 207, MULTISTATUS.format(found("/cals/work/", "<d:sync-token>t1</d:sync-token>")))
    events.item_save(calendar=calendar, item=meeting("before@calsync", OWNER))
    events.item_save(calendar=calendar, item=meeting("invited@calsync", "boss@example.com"))
    (remote,) = caldav_discover(url=server.url, username=OWNER, password="pw")
    with run_on_commit():
        integration = caldav_connect(user=member, url=server.url, username=OWNER, password="pw", remote=remote,
                                     calendar=calendar)  # fmt: skip
    first = server.bodies("PUT")
    assert len(first) == 2 and all(client_scheduled(body) for body in first)

    events.item_save(calendar=calendar, item=meeting("new@calsync", OWNER))
    events.item_save(calendar=calendar, item=meeting("invited-later@calsync", "boss@example.com"))
    with run_on_commit():
        run = sync_services.sync_request(integration=integration, trigger="manual")
    run.refresh_from_db()
    assert run.status == "success", run.error
    later = {re.search(r"UID:(\S+)", b)[1]: client_scheduled(b) for b in server.bodies("PUT")[2:]}  # type: ignore[index]
    assert later == {"new@calsync": False, "invited-later@calsync": True}
