"""What a run holds: a page of items at a time, however many the sides list."""

from __future__ import annotations

import weakref

import pytest

from sync.adapter import Changes, Entry
from sync.engine import Direction, Settings, sync
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
