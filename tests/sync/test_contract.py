"""The adapter contract, run against every calendar side: calsync's own calendars, the in-memory fake,
and the CalDAV adapter against real Radicale and Xandikos servers.
"""

from __future__ import annotations

import niquests
import pytest
from django.conf import settings as django_settings

from integrations.caldav.adapter import CalDAVSide
from integrations.caldav.client import CalDAVClient
from integrations.exchange.adapter import ExchangeSide
from integrations.exchange.client import account as exchange_account
from integrations.google.adapter import GoogleSide
from integrations.google.client import GoogleApi, user_credentials_from
from integrations.microsoft.adapter import MicrosoftSide
from integrations.microsoft.client import GraphClient
from sync.adapter import Changes
from sync.engine import content_hash
from sync.errors import CursorExpired, NotFound, PreconditionFailed
from sync.local import CalsyncSide
from sync.memory import MemorySide

from .items import event, series

# The calsync side needs the database; asking for it up front sets it up even when this file runs alone.
pytestmark = pytest.mark.django_db


@pytest.fixture(
    params=["memory", "calsync", "radicale", "xandikos", "radicale-etags", "google", "microsoft", "exchange"]
)
def side(request):  # type: ignore[no-untyped-def]
    if request.param == "memory":
        return MemorySide()
    if request.param == "exchange":
        address, server = request.getfixturevalue("exchange_mailbox")
        folder = request.getfixturevalue("exchange").state.folder(address, distinguished="calendar")
        return ExchangeSide(exchange_account(server, address), folder.id, "Europe/Berlin")
    if request.param == "microsoft":
        upn, tokens = request.getfixturevalue("microsoft_mailbox")
        box = request.getfixturevalue("microsoft").state.mailboxes[upn]
        client = GraphClient(lambda: tokens["access_token"], sleep=lambda seconds: None)
        return MicrosoftSide(client, box.calendars[0], "Europe/Berlin")
    if request.param == "google":
        email, tokens = request.getfixturevalue("google_account")
        return GoogleSide(GoogleApi(user_credentials_from(tokens)), email, "Europe/Berlin")
    if request.param == "calsync":
        return CalsyncSide(request.getfixturevalue("calendar"))
    server = request.getfixturevalue(request.param.split("-")[0])
    client = CalDAVClient(server.base_url, server.username, server.password)
    # "-etags": as against a server without sync-collection (CTag and ETag comparison instead).
    return CalDAVSide(client, server.new_calendar(), supports_sync=not request.param.endswith("-etags"))


def whole(changes: Changes) -> Changes:
    """The listing read through: a side that streams fills in its cursor and deletions only then."""
    changes.changed = list(changes.changed)
    return changes


def expire(side) -> str:  # type: ignore[no-untyped-def]
    """A cursor the side no longer knows."""
    if isinstance(side, MemorySide):
        cursor = whole(side.changes(None)).cursor
        side.create(event("later"))
        side.expire_cursors()
        return cursor
    if isinstance(side, MicrosoftSide):
        cursor = whole(side.changes(None)).cursor
        base = django_settings.MICROSOFT_GRAPH_URL.rsplit("/v1.0", 1)[0]
        side.client.session.post(f"{base}/_emulator/faults", json={"expire_delta_tokens": True}, timeout=10)
        return cursor
    if isinstance(side, ExchangeSide):
        cursor = whole(side.changes(None)).cursor
        base = side.account.protocol.service_endpoint.rsplit("/EWS/", 1)[0]
        with niquests.Session() as session:
            session.trust_env = False
            session.post(f"{base}/_emulator/faults", json={"expire_sync_states": True}, timeout=10)
        return cursor
    if isinstance(side, CalDAVSide) and not side.supports_sync:
        return "etags:{not json"
    if isinstance(side, GoogleSide):
        # As when Google invalidates sync tokens (it may at any time): the next use answers 410.
        cursor = whole(side.changes(None)).cursor
        base = django_settings.GOOGLE_API_ENDPOINT.split("/calendar/v3/")[0]
        with niquests.Session() as session:
            session.trust_env = False
            session.post(f"{base}/_emulator/faults", json={"expire_sync_tokens": True}, timeout=10)
        return cursor
    if isinstance(side, CalDAVSide):
        # A token of the right form that the server never issued (as after the server pruned its history).
        token = whole(side.changes(None)).cursor
        return token[:-8] + ("0" * 8 if not token.endswith("0" * 8) else "1" * 8)
    return "not-a-cursor"


def test_create_then_list_completely_and_incrementally(side) -> None:  # type: ignore[no-untyped-def]
    start = side.changes(None)
    assert start.complete and list(start.changed) == []
    created = side.create(event("a@test", "Alpha"))
    listing = side.changes(None)
    assert [e.id for e in listing.changed] == [created.id]
    since = side.changes(start.cursor)
    assert [e.id for e in since.changed] == [created.id] and not since.complete
    assert list(side.changes(since.cursor).changed) == []


def test_get_and_find_return_the_same_content(side) -> None:  # type: ignore[no-untyped-def]
    item = series("s@test", moved_summary="Moved")
    created = side.create(item)
    for entry in (side.get(created.id), side.find("s@test")):
        assert entry is not None and entry.id == created.id and entry.version == created.version
        assert content_hash(entry.item) == content_hash(item)
        assert len(entry.item.overrides) == 1 and entry.item.overrides[0].summary == "Moved"
    assert side.get("missing") is None and side.find("missing@test") is None


def test_update_needs_the_current_version(side) -> None:  # type: ignore[no-untyped-def]
    created = side.create(event("a@test"))
    updated = side.update(created.id, event("a@test", "Renamed"), created.version)
    assert updated.version != created.version
    with pytest.raises(PreconditionFailed):
        side.update(created.id, event("a@test", "Stale"), created.version)
    assert side.get(created.id).item.master.summary == "Renamed"


def test_update_of_a_missing_item_is_not_found(side) -> None:  # type: ignore[no-untyped-def]
    created = side.create(event("a@test"))
    side.delete(created.id, created.version)
    with pytest.raises(NotFound):
        side.update(created.id, event("a@test"), created.version)


def test_delete_needs_the_current_version_and_is_reported(side) -> None:  # type: ignore[no-untyped-def]
    created = side.create(event("a@test"))
    cursor = whole(side.changes(None)).cursor
    updated = side.update(created.id, event("a@test", "v2"), created.version)
    with pytest.raises(PreconditionFailed):
        side.delete(created.id, created.version)
    side.delete(created.id, updated.version)
    changes = whole(side.changes(cursor))
    assert list(changes.deleted) == [created.id] and list(changes.changed) == []
    with pytest.raises(NotFound):
        side.delete(created.id, updated.version)


def test_a_forgotten_cursor_is_cursor_expired(side) -> None:  # type: ignore[no-untyped-def]
    cursor = expire(side)
    with pytest.raises(CursorExpired):
        side.changes(cursor)


def test_no_op_listing_since_the_latest_cursor_is_empty(side) -> None:  # type: ignore[no-untyped-def]
    for i in range(5):
        side.create(event(f"e{i}@test"))
    cursor = whole(side.changes(None)).cursor
    changes = whole(side.changes(cursor))
    assert list(changes.changed) == [] and list(changes.deleted) == []


def test_our_own_write_coming_back_is_left_alone(side) -> None:  # type: ignore[no-untyped-def]
    """Each side keeps what it is sent in its own way (Google and Graph make the calendar's owner the organiser,
    Graph returns the body as HTML, servers add fields): the echo of calsync's write may hash differently from
    what was written, so only the version the write returned says it is an echo. Nothing may be written back."""
    from events.ical import Attendee, Person
    from sync.engine import Settings, sync
    from sync.memory import ListReport, MemoryStore

    local, store = MemorySide(), MemoryStore()
    local.user_put(event("echo@test", "Review", description="Agenda:\n- figures\n- next steps",
                         organizer=Person("member@acme.test", "Member"),
                         attendees=(Attendee("guest@example.org", "Guest", rsvp=True),)))  # fmt: skip
    for _ in range(3):
        report = ListReport()
        sync(local, side, store, Settings(), report)
    assert report.lines == [] and local.calls.get("update", 0) == 0
    assert [e.item.master.summary for e in side.changes(None).changed] == ["Review"]
