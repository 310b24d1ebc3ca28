"""An undo writes in batches (sync.undoing): one create_many, update_many or delete_many per side, kind and page of
items, reads by get_many; a batch the side refuses as a whole is retried item by item, so one bad item costs only
itself, and what the refused batch made before failing is found, not made twice."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import pytest

from events.ical import Item
from sync.engine import Settings, Side, sync
from sync.errors import ItemRejected, SafetyStop
from sync.memory import MemorySide, MemoryStore
from sync.undoing import Undo, plan_steps

from .items import event
from .test_undo_engine import LogReport, state

SIZE = 1200  # three pages of 500


@dataclass
class BatchSide(MemorySide):
    """A memory side that counts its batch calls, and refuses items titled "Bad" like a provider would: a batch
    holding one fails where the bad item is, after making the items before it (as Google's batch does)."""

    batches: Counter[str] = field(default_factory=Counter)

    def create(self, item: Item) -> object:  # type: ignore[override]
        if item.master.summary == "Bad":
            raise ItemRejected("The provider refuses this item.")
        return super().create(item)

    def create_many(self, items: list[Item]) -> list:  # type: ignore[override, type-arg]
        self.batches["create_many"] += 1
        return [self.create(item) for item in items]

    def update_many(self, writes: list) -> list:  # type: ignore[override, type-arg]
        self.batches["update_many"] += 1
        return super().update_many(writes)

    def delete_many(self, deletions: list) -> None:  # type: ignore[override, type-arg]
        self.batches["delete_many"] += 1
        super().delete_many(deletions)


def synced(size: int) -> tuple[dict[Side, BatchSide], MemoryStore]:
    sides = {Side.LOCAL: BatchSide(page_size=500), Side.REMOTE: BatchSide(page_size=500)}
    store = MemoryStore()
    for i in range(size):
        sides[Side.LOCAL].user_put(event(f"b{i}@test", f"Event {i}"))
    run(sides, store)
    return sides, store


def run(sides: dict[Side, BatchSide], store: MemoryStore) -> LogReport:
    report = LogReport()
    sync(sides[Side.LOCAL], sides[Side.REMOTE], store, Settings(mass_delete_threshold=None), report)
    return report


def undone(sides: dict[Side, BatchSide], store: MemoryStore, report: LogReport) -> LogReport:
    for side in sides.values():
        side.batches.clear()
        side.calls.clear()
    undo_report = LogReport()
    Undo(dict(sides), store, undo_report).run(plan_steps(report.logged))  # type: ignore[arg-type]
    return undo_report


def test_deletions_overwrites_and_removals_are_undone_in_one_batch_per_side_kind_and_page() -> None:
    sides, store = synced(SIZE)
    before = state(sides[Side.LOCAL])
    for entry in list(sides[Side.REMOTE].items.values()):
        sides[Side.REMOTE].user_delete(entry.id)
    deleting = run(sides, store)
    assert not sides[Side.LOCAL].items

    restoring = undone(sides, store, deleting)

    assert state(sides[Side.LOCAL]) == state(sides[Side.REMOTE]) == before
    for side in sides.values():  # re-created on both sides: 500 + 500 + 200
        assert side.batches == {"create_many": 3}
        assert not {"get", "find"} & set(side.calls), "reads are batched too"
    assert run(sides, store).lines == [], "the next sync has nothing to do"

    undone(sides, store, restoring)  # the undo of the undo removes them again, in batches
    assert not sides[Side.LOCAL].items and not sides[Side.REMOTE].items
    assert sides[Side.LOCAL].batches == sides[Side.REMOTE].batches == {"delete_many": 3}
    assert run(sides, store).lines == []


def test_an_overwrite_is_undone_by_update_many() -> None:
    sides, store = synced(SIZE)
    before = state(sides[Side.LOCAL])
    for i in range(SIZE):
        sides[Side.REMOTE].user_put(event(f"b{i}@test", f"Renamed {i}"), id=_id(sides[Side.REMOTE], f"b{i}@test"))
    overwriting = run(sides, store)
    assert state(sides[Side.LOCAL]) != before

    undone(sides, store, overwriting)

    assert state(sides[Side.LOCAL]) == state(sides[Side.REMOTE]) == before
    assert sides[Side.LOCAL].batches == sides[Side.REMOTE].batches == {"update_many": 3}
    assert run(sides, store).lines == []


def test_a_bad_item_in_a_batch_is_told_and_the_others_are_put_back_once() -> None:
    sides, store = synced(6)
    for entry in list(sides[Side.REMOTE].items.values()):
        sides[Side.REMOTE].user_delete(entry.id)
    deleting = run(sides, store)
    assert not sides[Side.LOCAL].items
    at = next(n for n, e in enumerate(deleting.logged) if e.uid == "b2@test")
    deleting.logged[at] = replace(deleting.logged[at], before=event("b2@test", "Bad"))  # one the sides refuse

    report = undone(sides, store, deleting)

    for side in sides.values():
        held = Counter(entry.uid for entry in side.items.values())
        assert held == Counter(f"b{i}@test" for i in range(6) if i != 2), "the others once each, the bad one not"
        assert side.batches == {"create_many": 1}
    assert {line[1:3] for line in report.of("unsynced")} == {(side.value, "b2@test") for side in Side}
    assert len(report.of("applied")) == 10
    assert run(sides, store).of("applied") == []


def _id(side: MemorySide, uid: str) -> str:
    return next(entry.id for entry in side.items.values() if entry.uid == uid)


class WithoutGetMany(BatchSide):
    """A provider without get_many (Google's side): each item asked for by id costs a request of its own."""

    def __getattribute__(self, name: str) -> object:
        if name == "get_many":
            raise AttributeError(name)
        return super().__getattribute__(name)


def test_a_side_listed_whole_is_not_asked_for_the_mapped_items_it_did_not_list() -> None:
    local, remote, store = BatchSide(page_size=500), WithoutGetMany(page_size=500), MemoryStore()
    sides = {Side.LOCAL: local, Side.REMOTE: remote}
    for i in range(120):
        local.user_put(event(f"s{i}@test", f"Shift {i}"))
    run(sides, store)
    for entry in list(remote.items.values()):
        remote.user_delete(entry.id)  # emptied at the provider: the safety stop holds the deletions back
    stopped = LogReport()
    with pytest.raises(SafetyStop):
        sync(local, remote, store, Settings(), stopped)

    undone(sides, store, stopped)

    assert state(remote) == state(local) and len(remote.items) == 120
    assert not {"get", "find"} & set(remote.calls), "the listing said they are gone: no request for each"
    assert remote.batches == {"create_many": 1}
    assert run(sides, store).lines == []
