"""What a run holds: a page of items at a time, however many the sides list."""

from __future__ import annotations

import weakref

import pytest

from sync.adapter import Changes, Entry
from sync.engine import Direction, Settings, sync
from sync.errors import CursorExpired
from sync.memory import ListReport, MemorySide, MemoryStore

from .items import event


class WatchedSide(MemorySide):
    """Streams fresh copies of its entries and watches how many of them are still alive (held by the engine)."""

    def __init__(self) -> None:
        super().__init__(page_size=3)
        self.alive: weakref.WeakSet[Entry] = weakref.WeakSet()
        self.most = 0

    def changes(self, cursor, known=None) -> Changes:  # type: ignore[no-untyped-def]
        found = super().changes(cursor, known)
        found.changed = self._watched(found.changed)
        return found

    def _watched(self, entries):  # type: ignore[no-untyped-def]
        for entry in entries:
            copy = Entry(entry.id, entry.version, entry.item)
            self.alive.add(copy)
            self.most = max(self.most, len(self.alive))
            yield copy


@pytest.mark.parametrize("direction", [Direction.BOTH, Direction.TO_LOCAL, Direction.TO_REMOTE])
def test_a_first_sync_holds_a_page_or_two_of_items_not_the_calendar(direction) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = WatchedSide(), WatchedSide(), MemoryStore()
    for i in range(40):
        local.user_put(event(f"l{i}@test", day=i % 7))
        remote.user_put(event(f"r{i}@test", day=i % 7))
    for i in range(10):  # on both sides already: paired by UID across pages
        for side in (local, remote):
            side.user_put(event(f"both{i}@test"))
    report = ListReport()
    sync(local, remote, store, Settings(direction=direction, page_size=3), report)
    moved = 40 * (2 if direction is Direction.BOTH else 1)
    assert len(report.of("applied")) == moved and len(store.mappings) == 10 + moved
    # The page being read, the one being applied, and the first item the engine asked for early (CursorExpired).
    assert local.most <= 2 * 3 + 1 and remote.most <= 2 * 3 + 1, (local.most, remote.most)


class ForgetfulSide(MemorySide):
    """Forgets its cursor partway through a listing: the first page comes, then CursorExpired (as Google's 410 on a
    later pageToken, or Graph's lost nextLink, do)."""

    forget = False

    def changes(self, cursor, known=None) -> Changes:  # type: ignore[no-untyped-def]
        found = super().changes(cursor, known)
        if cursor is not None and self.forget:
            found.changed = self._forgetting(found.changed)
        return found

    def _forgetting(self, entries):  # type: ignore[no-untyped-def]
        for n, entry in enumerate(entries):
            if n == 3:
                self.forget = False
                raise CursorExpired("the page token expired")
            yield entry


def test_a_cursor_forgotten_after_the_first_page_falls_back_to_a_full_listing_losing_and_doubling_nothing() -> None:
    local, remote, store = MemorySide(page_size=3), ForgetfulSide(page_size=3), MemoryStore()
    for i in range(6):
        local.user_put(event(f"l{i}@test"))
        remote.user_put(event(f"r{i}@test"))
    settings = Settings(page_size=3)
    sync(local, remote, store, settings, ListReport())
    for i in range(6, 14):
        remote.user_put(event(f"r{i}@test"))
    remote.user_delete(next(e.id for e in remote.items.values() if e.uid == "r0@test"))
    remote.forget = True
    report = ListReport()
    sync(local, remote, store, settings, report)
    assert any("forgot where the last sync stopped" in " ".join(line) for line in report.of("note"))
    expected = sorted([f"l{i}@test" for i in range(6)] + [f"r{i}@test" for i in range(1, 14)])
    for side in (local, remote):  # every item once on each side; the deletion reached calsync
        assert sorted(e.uid for e in side.items.values()) == expected
    assert len(store.mappings) == 19
