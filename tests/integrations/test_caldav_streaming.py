"""The CalDAV side reads in batches and leaves the echo of its own writes unfetched, against real Radicale and
Xandikos servers, with sync-collection and with the ETag listing servers without it fall back to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import urlsplit

import niquests
import pytest

from events.ical import serialise
from integrations.caldav import adapter
from integrations.caldav.adapter import CalDAVSide
from integrations.caldav.client import CalDAVClient, Response
from integrations.models import Integration
from sync.errors import CursorExpired
from tests.faultproxy import FaultProxy, Status
from tests.sync.items import event, series

from .reads import assert_read_as_get
from .test_caldav import connect, sync_now


class CountingClient(CalDAVClient):
    """The real client, noting each request's method and the kind of REPORT it was."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.sent: list[str] = []

    def request(self, method: str, url: str, body: bytes | str = b"", *args: object, **kwargs: object) -> Response:
        text = body.decode() if isinstance(body, bytes) else body
        kind = next((k for k in ("sync-collection", "calendar-multiget", "calendar-query") if k in text), "")
        self.sent.append(f"{method} {kind}".strip())
        return super().request(method, url, body, *args, **kwargs)  # type: ignore[arg-type]

    def took(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


class Recorded:
    """What the mappings would record: the (id, version) of each write, as `known` answers from them."""

    def __init__(self) -> None:
        self.versions: dict[str, str] = {}
        self.asked = 0

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> set[str]:
        self.asked += 1
        return {i for i, version in pairs if version and self.versions.get(i) == version}


@pytest.fixture(params=[True, False], ids=["sync-collection", "etags"])
def side(request, caldav_server) -> CalDAVSide:  # type: ignore[no-untyped-def]
    client = CountingClient(caldav_server.base_url, caldav_server.username, caldav_server.password)
    return CalDAVSide(client, caldav_server.new_calendar("Streamed"), supports_sync=request.param)


def listing_requests(side: CalDAVSide) -> list[str]:
    """What listing the calendar's hrefs and ETags costs: one REPORT, or the CTag and the ETags."""
    return ["REPORT sync-collection"] if side.supports_sync else ["PROPFIND", "PROPFIND"]


def put_elsewhere(side: CalDAVSide, path: str, text: str) -> None:
    """Another app writes to the calendar."""
    client = side.client
    with niquests.Session() as session:
        session.trust_env = False
        response = session.put(side._href(path), data=text.encode(), auth=(client.username, client.password),
                               headers={"Content-Type": "text/calendar"}, timeout=10)  # fmt: skip
    assert response.status_code in (201, 204)


def delete_elsewhere(side: CalDAVSide, path: str) -> None:
    client = side.client
    with niquests.Session() as session:
        session.trust_env = False
        response = session.delete(side._href(path), auth=(client.username, client.password), timeout=10)
    assert response.status_code in (200, 204)


def test_a_listing_in_many_batches_loses_and_duplicates_nothing(side, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(adapter, "MULTIGET_BATCH", 7)
    monkeypatch.setattr(adapter, "KNOWN_PAGE", 10)
    written = {side.create(event(f"e{i}@calsync", f"Event {i}")).id: f"Event {i}" for i in range(30)}
    side.client.took()
    changes = side.changes(None)
    assert side.client.took() == listing_requests(side)
    read = [(entry.id, entry.item.master.summary) for entry in changes.changed]
    assert sorted(read) == sorted(written.items())
    assert len(read) == len(set(read)) == 30
    # 30 items in pages of 10 and batches of 7: 7 + 3 per page, fetched only as the sync reads them.
    assert side.client.took() == ["REPORT calendar-multiget"] * 6
    assert changes.complete and changes.skipped == [] and changes.cursor


def test_the_echo_of_own_writes_is_not_fetched(side) -> None:  # type: ignore[no-untyped-def]
    cursor = side.changes(None).cursor
    recorded = Recorded()
    for i in range(12):
        entry = side.create(event(f"mine{i}@calsync"))
        assert entry.version  # the ETag the server answered the PUT with
        recorded.versions[entry.id] = entry.version
    side.client.took()
    changes = side.changes(cursor, known=recorded)
    assert list(changes.changed) == [] and changes.deleted == []
    assert recorded.asked == 1
    assert side.client.took() == listing_requests(side)
    # What they recorded is where the next read starts: one request, nothing in it.
    assert list(side.changes(changes.cursor, known=recorded).changed) == []
    assert len(side.client.took()) == 1


def test_a_changed_item_under_the_same_href_is_fetched_and_a_deleted_one_seen(side) -> None:  # type: ignore[no-untyped-def]
    recorded = Recorded()
    items = {i: event(f"kept{i}@calsync", f"Kept {i}") for i in range(5)}
    entries = {i: side.create(item) for i, item in items.items()}
    recorded.versions = {e.id: e.version for e in entries.values()}
    cursor = side.changes(None).cursor
    edited = replace(items[1], master=replace(items[1].master, summary="Edited elsewhere"))
    put_elsewhere(side, entries[1].id, serialise([edited]))
    delete_elsewhere(side, entries[3].id)
    side.client.took()
    changes = side.changes(cursor, known=recorded)
    read = list(changes.changed)
    assert [(e.id, e.item.master.summary) for e in read] == [(entries[1].id, "Edited elsewhere")]
    assert read[0].version not in ("", entries[1].version)
    assert list(changes.deleted) == [entries[3].id]
    assert side.client.took()[-1] == "REPORT calendar-multiget"


def test_get_many_reads_by_calendar_multiget_and_the_write_after_it_reads_nothing(side, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """What the engine reads before it overwrites or deletes (the versions an undo puts back): singles and a series
    with an exception, as `get` reads them, by calendar-multiget, a REPORT per batch; an id the calendar no longer
    holds is left out. The update that follows reads nothing (its If-Match is the version the engine holds)."""
    monkeypatch.setattr(adapter, "MULTIGET_BATCH", 2)
    single = side.create(event("single@calsync", "Single"))
    weekly = side.create(series("weekly@calsync", "Weekly", "Moved"))
    gone = side.create(event("gone@calsync", "Gone"))
    side.delete(gone.id, gone.version)
    side.client.took()
    found = side.get_many([single.id, weekly.id, gone.id])
    assert side.client.took() == ["REPORT calendar-multiget"] * 2  # three ids, two to a batch
    assert set(found) == {single.id, weekly.id} and len(found[weekly.id].item.overrides) == 1
    assert_read_as_get(side, found)
    side.client.took()
    side.update(single.id, event("single@calsync", "Single, renamed"), found[single.id].version)
    assert side.client.took() == ["PUT"]


def test_an_expired_sync_token_is_said_and_a_full_listing_recovers(caldav_server) -> None:  # type: ignore[no-untyped-def]
    side = CalDAVSide(CalDAVClient(caldav_server.base_url, caldav_server.username, caldav_server.password),
                      caldav_server.new_calendar("Expired"))  # fmt: skip
    created = {side.create(event(f"x{i}@calsync")).id for i in range(3)}
    cursor = side.changes(None).cursor
    with pytest.raises(CursorExpired):
        side.changes(cursor[:-8] + "0" * 8)
    listing = side.changes(None)
    assert {e.id for e in listing.changed} == created and listing.complete


def test_a_server_that_refuses_sync_collection_is_listed_by_etags(radicale) -> None:  # type: ignore[no-untyped-def]
    url = radicale.new_calendar("No sync")
    proxy = FaultProxy(radicale.base_url.rstrip("/"))
    try:
        proxy.arm(Status(403, body=b"<error>sync-collection is off</error>"), times=10**6,
                  when=lambda method, path, body: b"sync-collection" in body)  # fmt: skip
        proxied = f"{proxy.url}{urlsplit(url).path}"
        side = CalDAVSide(CountingClient(proxy.url, radicale.username, radicale.password), proxied)
        created = {side.create(event(f"n{i}@calsync")).id for i in range(4)}
        side.client.took()
        listing = side.changes(None)
        assert {e.id for e in listing.changed} == created and listing.complete
        assert not side.supports_sync and listing.cursor.startswith("etags:")
        assert side.client.took() == ["REPORT sync-collection", "PROPFIND", "PROPFIND", "REPORT calendar-multiget"]
        assert list(side.changes(listing.cursor).changed) == [] and side.client.took() == ["PROPFIND"]
    finally:
        proxy.close()


class NoETagOnPut(CountingClient):
    """As a server that changed the data on PUT answers (RFC 4791 5.3.4): without an ETag."""

    def request(self, method: str, url: str, *args: object, **kwargs: object) -> Response:
        response = super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]
        if method == "PUT":
            response.headers.pop("etag", None)
        return response


def test_a_put_answered_without_an_etag_is_fetched_once_by_the_next_read(caldav_server) -> None:  # type: ignore[no-untyped-def]
    client = NoETagOnPut(caldav_server.base_url, caldav_server.username, caldav_server.password)
    side = CalDAVSide(client, caldav_server.new_calendar("No ETag"))
    cursor = side.changes(None).cursor
    recorded = Recorded()
    client.took()
    entry = side.create(event("bare@calsync"))
    assert entry.version == "" and client.took() == ["PUT"]  # no GET or PROPFIND after it
    recorded.versions[entry.id] = entry.version
    changes = side.changes(cursor, known=recorded)
    read = list(changes.changed)
    assert [e.id for e in read] == [entry.id] and read[0].version
    recorded.versions[entry.id] = read[0].version
    assert client.took() == ["REPORT sync-collection", "REPORT calendar-multiget"]
    assert list(side.changes(cursor, known=recorded).changed) == []
    assert client.took() == ["REPORT sync-collection"]


def test_after_a_first_sync_the_echo_costs_one_report_and_no_fetch(member, calendar, remote, run_on_commit,
                                                                   monkeypatch) -> None:  # fmt: skip  # type: ignore[no-untyped-def]
    from events import services as events

    for i in range(8):
        events.item_save(calendar=calendar, item=event(f"ours{i}@calsync", f"Ours {i}"))
    server, url, _ = remote
    sent: list[str] = []
    original = CalDAVClient.request

    def counted(self, method, url, body=b"", *args, **kwargs):  # type: ignore[no-untyped-def]
        text = body.decode() if isinstance(body, bytes) else body
        sent.append(f"{method} {'calendar-multiget' if 'calendar-multiget' in text else ''}".strip())
        return original(self, method, url, body, *args, **kwargs)

    monkeypatch.setattr(CalDAVClient, "request", counted)
    integration = connect(member, calendar, server, url, run_on_commit)
    assert sent.count("PUT") == 8
    sent.clear()
    run = sync_now(Integration.objects.get(pk=integration.pk), run_on_commit)
    assert sum(run.to_calsync.values()) == sum(run.to_remote.values()) == 0
    assert "REPORT calendar-multiget" not in sent and "GET" not in sent  # the 8 PUTs come back unfetched
    sent.clear()
    sync_now(Integration.objects.get(pk=integration.pk), run_on_commit)
    assert [s for s in sent if s.startswith(("REPORT", "PROPFIND", "GET"))] == ["REPORT"]


def test_writes_and_streamed_reads_share_one_kept_alive_connection(xandikos, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Radicale's built-in server closes every connection after its reply; Xandikos keeps them open.
    import socket

    side = CalDAVSide(CalDAVClient(xandikos.base_url, xandikos.username, xandikos.password),
                      xandikos.new_calendar("Kept alive"))  # fmt: skip
    connects: list[object] = []
    original = socket.socket.connect
    monkeypatch.setattr(
        socket.socket, "connect", lambda sock, address: connects.append(address) or original(sock, address)
    )
    monkeypatch.setattr(adapter, "MULTIGET_BATCH", 4)
    for i in range(10):
        side.create(event(f"alive{i}@calsync"))
    listing = side.changes(None)
    assert len(list(listing.changed)) == 10 and list(side.changes(listing.cursor).changed) == []
    assert len(connects) == 1  # 10 PUTs, a REPORT, 3 streamed multigets and a REPORT
