"""Google, Microsoft Graph and Exchange sides stream their changes and skip the echo of the sync's own writes
(sync/adapter.py's Changes and Known), each through its emulator, with pages forced small.

One suite for the three: `provider` gives a side on a fresh calendar; a second side on the same calendar plays
the user in the provider's own application, whose writes no mapping records.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from sync.adapter import Changes, Entry
from sync.engine import Mapping, Settings, Side, content_hash, sync
from sync.memory import ListReport, MemorySide, MemoryStore
from tests.sync.items import event, series

PAGE = 4  # items per provider page in these tests


@dataclass
class Provider:
    name: str
    side: Callable[[], Any]  # a new side on the test calendar
    emulator: Any  # its state counts the requests it answered
    conversion: str  # where the side turns a provider payload into calsync's terms

    def requests(self) -> int:
        return int(self.emulator.state.requests)


@pytest.fixture
def google_provider(google, google_account, monkeypatch) -> Provider:  # type: ignore[no-untyped-def]
    from integrations.google.adapter import GoogleSide
    from integrations.google.client import GoogleApi, user_credentials_from

    email, tokens = google_account
    monkeypatch.setattr("integrations.google.adapter.PAGE_SIZE", PAGE)
    monkeypatch.setattr("googleapiclient.http.time.sleep", lambda seconds: None)
    return Provider("google", lambda: GoogleSide(GoogleApi(user_credentials_from(tokens)), email, "Europe/Berlin"),
                    google, "integrations.google.adapter.to_item")  # fmt: skip


@pytest.fixture
def microsoft_provider(microsoft, microsoft_mailbox, monkeypatch) -> Provider:  # type: ignore[no-untyped-def]
    from integrations.microsoft.adapter import MicrosoftSide
    from integrations.microsoft.client import GraphClient

    upn, tokens = microsoft_mailbox
    monkeypatch.setattr("integrations.microsoft.adapter._PAGE", {"Prefer": f"odata.maxpagesize={PAGE}"})
    calendar_id = next(iter(microsoft.state.mailboxes[upn].calendars))
    return Provider("microsoft", lambda: MicrosoftSide(GraphClient(lambda: tokens["access_token"],
                    sleep=lambda s: None), calendar_id, "Europe/Berlin"), microsoft,
                    "integrations.microsoft.adapter.to_component")  # fmt: skip


@pytest.fixture
def exchange_provider(exchange, exchange_mailbox, monkeypatch) -> Provider:  # type: ignore[no-untyped-def]
    from integrations.exchange.adapter import ExchangeSide
    from integrations.exchange.client import account

    address, server = exchange_mailbox
    monkeypatch.setattr("integrations.exchange.adapter.SYNC_PAGE", PAGE)
    folder = exchange.state.folder(address, distinguished="calendar").id
    return Provider("exchange", lambda: ExchangeSide(account(server, address), folder, "Europe/Berlin"), exchange,
                    "integrations.exchange.adapter.to_component")  # fmt: skip


@pytest.fixture(params=["google", "microsoft", "exchange"])
def provider(request) -> Provider:  # type: ignore[no-untyped-def]
    return request.getfixturevalue(f"{request.param}_provider")  # type: ignore[no-any-return]


@pytest.fixture
def conversions(provider, monkeypatch) -> list[object]:  # type: ignore[no-untyped-def]
    """Every call of the provider's conversion, recorded."""
    module, name = provider.conversion.rsplit(".", 1)
    original = getattr(__import__(module, fromlist=[name]), name)
    calls: list[object] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(provider.conversion, counted)
    return calls


def fill(side: Any, singles: int, prefix: str = "e", series_every: int = 0) -> list[Entry]:
    """Single events on consecutive days, with a series (a moved occurrence) after every `series_every` of them."""
    written = []
    for n in range(singles):
        written.append(side.create(event(f"{prefix}{n}@x", f"Event {prefix}{n}", day=n)))
        if series_every and n % series_every == series_every - 1:
            written.append(side.create(series(f"{prefix}s{n}@x", f"Weekly {prefix}{n}", f"Moved {prefix}{n}")))
    return written


@dataclass
class Reading:
    """A listing read entry by entry, as an engine consuming pages would."""

    changes: Changes
    entries: list[Entry]
    requests_on_return: int  # emulator requests once changes() returned
    requests_at: list[int]  # ... when each entry arrived


def read(provider: Provider, side: Any, cursor: str | None, known: Any = None) -> Reading:
    changes = side.changes(cursor, known=known) if known is not None else side.changes(cursor)
    on_return = provider.requests()
    entries, at = [], []
    for entry in changes.changed:
        entries.append(entry)
        at.append(provider.requests())
    return Reading(changes, entries, on_return, at)


def recorded(entries: list[Entry]) -> Callable[[Any], set[str]]:
    """A Known that recognises these entries at these versions (what the mappings of a sync's writes hold)."""
    versions = {e.id: e.version for e in entries}
    return lambda pairs: {i for i, version in pairs if versions.get(i) == version}


def test_a_listing_over_many_pages_loses_and_duplicates_nothing(provider, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    user = provider.side()
    written = fill(user, 11, series_every=4)  # 11 single events and 2 series, each with a moved occurrence
    reading = read(provider, provider.side(), None)
    ids = [e.id for e in reading.entries]
    assert len(ids) == len(set(ids)) == 13 and set(ids) == {e.id for e in written}
    assert reading.changes.complete and reading.changes.cursor and not reading.changes.deleted
    assert sorted(len(e.item.overrides) for e in reading.entries) == [0] * 11 + [1, 1]
    assert {e.id: e.version for e in reading.entries} == {e.id: e.version for e in written}
    # Streamed: the first items arrived before the last page was asked for.
    assert reading.requests_at[0] < reading.requests_at[-1]


def test_the_cursor_is_taken_from_the_last_page_only(provider) -> None:  # type: ignore[no-untyped-def]
    side, user = provider.side(), provider.side()
    start = read(provider, side, None).changes.cursor
    fill(user, 10)
    interrupted = side.changes(start)
    assert len(list(itertools.islice(interrupted.changed, PAGE + 1))) == PAGE + 1  # then the run stops (crashes)
    assert not interrupted.cursor  # nothing to save: the next run starts from `start` again
    again = read(provider, side, start)
    assert sorted(e.item.master.summary for e in again.entries) == sorted(f"Event e{n}" for n in range(10))
    assert again.changes.cursor and again.changes.cursor != start
    assert read(provider, side, again.changes.cursor).entries == []


def test_known_echoes_are_skipped_unread_and_a_real_change_of_the_same_item_is_not(  # type: ignore[no-untyped-def]
    provider, conversions
) -> None:
    side, user = provider.side(), provider.side()
    start = read(provider, side, None).changes.cursor
    ours = fill(side, 6, prefix="ours", series_every=3)  # the sync's own writes: its mappings record them
    # An update's answer carries the version the listing then reports, as a create's does.
    ours[0] = side.update(ours[0].id, event("ours0@x", "Event ours0 (renamed in calsync)"), ours[0].version)
    before = provider.requests()
    echo = read(provider, side, start, known=recorded(ours))
    assert echo.entries == [] and echo.changes.cursor
    if provider.name == "exchange":
        assert provider.requests() - before == 2  # SyncFolderItems, two pages of ids: no GetItem at all
    edited = next(e for e in ours if e.item.master.summary == "Event ours1")
    user.update(edited.id, event("ours1@x", "Event ours1 (edited in the provider)", day=1), edited.version)
    user.create(event("theirs@x", "Theirs", day=9))
    conversions.clear()
    later = read(provider, side, start, known=recorded(ours))
    assert sorted(e.item.master.summary for e in later.entries) == ["Event ours1 (edited in the provider)", "Theirs"]
    assert len(conversions) == 2  # the echoes were never converted


def test_a_first_sync_then_a_no_op_reads_nothing_new(provider, conversions) -> None:  # type: ignore[no-untyped-def]
    """Under the sync engine as it is (it reads a streamed side whole): the first sync's writes come back in the
    second run's listing, recognised as the echo without being converted or written anywhere."""
    side, user = provider.side(), provider.side()
    fill(user, 5, prefix="theirs", series_every=5)
    local, store = MemorySide(), MemoryStore()
    for n in range(6):
        local.user_put(event(f"local{n}@x", f"Local {n}", day=n))
    local.user_put(series("local-series@x", "Local weekly", "Local moved"))
    sync(local, side, store, Settings(), ListReport())
    assert len(local.items) == 13 and store.count() == 13
    calls = dict(local.calls)
    conversions.clear()
    before = provider.requests()
    for _ in range(2):  # the run that would have absorbed the echo, then a plain no-op
        report = ListReport()
        sync(local, side, store, Settings(), report)
        assert report.of("applied") == [] and report.of("unsynced") == []
    assert conversions == [] and {k: v for k, v in local.calls.items() if k != "changes"} == {
        k: v for k, v in calls.items() if k != "changes"
    }
    if provider.name != "microsoft":  # (Graph's delta lists a series' every occurrence in the window: many pages)
        assert provider.requests() - before <= {"google": 8, "exchange": 4}[provider.name]


def mirror_by_pages(side: Any, local: MemorySide, store: MemoryStore, crash_after: int | None = None) -> int:
    """A small one-way engine that consumes a side a page at a time (PAGE entries), recording each page's mappings
    before reading on and the cursor only at the end; returns the most entries it held at once."""
    cursor = store.remote_cursor
    if cursor is None:
        changes = side.changes(None)
    else:
        changes = side.changes(cursor, known=lambda pairs: store.known(Side.REMOTE, pairs))
    held = 0
    for number, page in enumerate(_pages(changes.changed), 1):
        held = max(held, len(page))
        mapped = {m.remote_id: m for m in store.lookup([], [e.id for e in page], [])}
        for entry in page:
            mapping = mapped.get(entry.id)
            if mapping is None:
                written = local.create(entry.item)
                mapping = Mapping(entry.uid, written.id, written.version, entry.id, entry.version, "")
            else:
                mapping.record(Side.LOCAL, local.update(mapping.local_id, entry.item, mapping.local_version))
                mapping.record(Side.REMOTE, entry)
            store.save(replace(mapping, content_hash=content_hash(entry.item)))
        if number == crash_after:
            raise RuntimeError("the worker died here")
    store.save_cursors(None, changes.cursor)
    return held


def _pages(entries: Any) -> Iterator[list[Entry]]:
    iterator = iter(entries)
    while page := list(itertools.islice(iterator, PAGE)):
        yield page


def test_a_paged_sync_interrupted_mid_listing_resumes_without_loss_or_duplicates(  # type: ignore[no-untyped-def]
    provider, conversions
) -> None:
    side, user = provider.side(), provider.side()
    local, store = MemorySide(), MemoryStore()
    mirror_by_pages(side, local, store)
    start = store.remote_cursor
    fill(user, 10, series_every=5)
    with pytest.raises(RuntimeError):
        mirror_by_pages(side, local, store, crash_after=1)
    assert store.remote_cursor == start and 0 < len(local.items) < 12
    assert mirror_by_pages(side, local, store) <= PAGE
    titles = sorted(e.item.master.summary for e in local.items.values())
    assert titles == sorted([f"Event e{n}" for n in range(10)] + ["Weekly e4", "Weekly e9"])
    conversions.clear()
    mirror_by_pages(side, local, store)  # nothing new: one cheap request
    assert conversions == [] and len(local.items) == 12


def test_a_full_graph_round_holds_the_properties_of_a_bounded_number_of_events(  # type: ignore[no-untyped-def]
    microsoft_provider, monkeypatch
) -> None:
    """Beyond TAGGED_HELD events that carry calsync's properties, a full round reads each page's single events
    with theirs instead of holding them all, and lists the same."""
    side = microsoft_provider.side()
    for n in range(6):  # written by calsync: each carries its UID and business fields as extended properties
        side.create(event(f"e{n}@x", f"Event {n}", day=n, client="Acme", project=f"Project {n}"))
    held = read(microsoft_provider, side, None).entries
    monkeypatch.setattr("integrations.microsoft.adapter.TAGGED_HELD", 2)
    paged = read(microsoft_provider, microsoft_provider.side(), None).entries
    assert [(e.id, e.version, e.item) for e in paged] == [(e.id, e.version, e.item) for e in held]
    assert sorted(e.item.master.project for e in paged) == [f"Project {n}" for n in range(6)]
