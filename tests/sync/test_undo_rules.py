"""Undo under the integration's rules (sync.undoing): the direction and the sync controls decide what an undo may
write, as they decide what a sync writes; an edit made since on either side is left alone; a refused write leaves
the pair for the next sync to retry; undoing every run since a safety stop whose deletion was then allowed puts
every item back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync.controls import Controls, Copy, Flow
from sync.engine import Direction, Settings, Side, content_hash, sync
from sync.errors import ItemRejected, SafetyStop
from sync.memory import MemorySide, MemoryStore
from sync.undoing import Undo, plan_steps

from .items import event
from .test_undo_engine import LogReport

BUSY_OUT = Settings(controls=Controls(out_of_calsync=Flow(copy=Copy.BUSY)))
BUSY_IN = Settings(controls=Controls(into_calsync=Flow(copy=Copy.BUSY)))


def held(side: MemorySide, uid: str):  # type: ignore[no-untyped-def]
    return next((e.item for e in side.items.values() if e.uid == uid), None)


def summaries(side: MemorySide) -> dict[str, str]:
    return {e.uid: e.item.master.summary for e in side.items.values()}


def delete(side: MemorySide, uid: str) -> None:
    side.user_delete(next(e.id for e in side.items.values() if e.uid == uid))


def undo(local: MemorySide, remote: MemorySide, store: MemoryStore, logged, settings=None):  # type: ignore[no-untyped-def]
    report = LogReport()
    done = Undo({Side.LOCAL: local, Side.REMOTE: remote}, store, report, settings=settings or Settings())
    done.run(plan_steps(logged))
    return done, report


def quiet(local: MemorySide, remote: MemorySide, store: MemoryStore, settings: Settings) -> bool:
    report = LogReport()
    sync(local, remote, store, settings, report)
    return report.of("applied") == []


def test_undoing_an_update_of_a_busy_copy_puts_back_the_copy_and_never_the_users_own_event() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    local.user_put(event("d@t", "Dentist", description="root canal"))
    sync(local, remote, store, BUSY_OUT, LogReport())
    first_copy = held(remote, "d@t")
    assert first_copy is not None and first_copy.master.summary == "Busy"
    local.user_put(event("d@t", "Dentist", day=1, description="root canal"))  # moved a day in calsync
    run = LogReport()
    sync(local, remote, store, BUSY_OUT, run)  # the run moves the busy copy at the provider

    undo(local, remote, store, run.logged, BUSY_OUT)

    mine = held(local, "d@t")
    assert mine is not None and (mine.master.summary, mine.master.description) == ("Dentist", "root canal")
    assert content_hash(held(remote, "d@t")) == content_hash(first_copy), "the copy is back where it was"
    assert quiet(local, remote, store, BUSY_OUT)


def test_a_busy_copy_deleted_with_its_origin_is_not_made_into_an_event() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    remote.user_put(event("d@t", "Dentist", description="root canal"))
    sync(local, remote, store, BUSY_IN, LogReport())  # calsync holds a busy copy of the provider's event
    delete(remote, "d@t")
    run = LogReport()
    sync(local, remote, store, BUSY_IN, run)  # the run deletes the busy copy in calsync
    assert local.items == {}

    _, report = undo(local, remote, store, run.logged, BUSY_IN)

    assert local.items == remote.items == {}, "the provider's event is not rebuilt from a busy copy, nor spread"
    assert any("was not put back" in line[1] for line in report.of("note")), "and the log says so"


def test_an_undo_writes_nothing_to_a_side_the_direction_never_writes() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    into = Settings(direction=Direction.TO_LOCAL)  # provider -> calsync only (a read-only calendar is so too)
    remote.user_put(event("x@t", "From provider"))
    remote.user_put(event("y@t", "Also from provider"))
    sync(local, remote, store, into, LogReport())
    delete(remote, "x@t")
    remote.user_put(event("y@t", "Edited at provider"))
    run = LogReport()
    sync(local, remote, store, into, run)  # deletes x and overwrites y in calsync
    remote.calls.clear()

    undo(local, remote, store, run.logged, into)

    assert {k: v for k, v in remote.calls.items() if k not in ("get", "get_many", "find", "changes")} == {}
    assert summaries(local) == {"x@t": "From provider", "y@t": "Also from provider"}, "put back in calsync"
    assert summaries(remote) == {"y@t": "Edited at provider"}


def test_an_undo_of_a_one_way_run_out_of_calsync_never_writes_calsync() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    out = Settings(direction=Direction.TO_REMOTE)
    local.user_put(event("x@t", "Mine"))
    sync(local, remote, store, out, LogReport())
    local.user_put(event("x@t", "Mine, edited"))
    run = LogReport()
    sync(local, remote, store, out, run)
    local.calls.clear()

    undo(local, remote, store, run.logged, out)

    assert local.calls.get("update", 0) == local.calls.get("create", 0) == 0
    assert summaries(remote) == {"x@t": "Mine"} and summaries(local) == {"x@t": "Mine, edited"}
    assert quiet(local, remote, store, out)


def synced_then_run() -> tuple[MemorySide, MemorySide, MemoryStore, LogReport]:
    """ "a" synced as "Old"; the run carries a calsync edit "New" to the provider."""
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    local.user_put(event("a@t", "Old"))
    sync(local, remote, store, Settings(), LogReport())
    local.user_put(event("a@t", "New"))
    run = LogReport()
    sync(local, remote, store, Settings(), run)
    return local, remote, store, run


def test_an_edit_since_on_the_side_the_run_did_not_write_is_left_alone() -> None:
    local, remote, store, run = synced_then_run()
    local.user_put(event("a@t", "Newer, not synced yet"))

    done, report = undo(local, remote, store, run.logged)

    assert [s.uid for s in done.left_alone] == ["a@t"]
    assert summaries(local) == {"a@t": "Newer, not synced yet"} and summaries(remote) == {"a@t": "New"}
    assert any("changed since" in line[1] for line in report.of("note"))


def test_a_deletion_since_on_the_side_the_run_did_not_write_is_left_alone() -> None:
    local, remote, store, run = synced_then_run()
    delete(local, "a@t")

    done, _ = undo(local, remote, store, run.logged)

    assert [s.uid for s in done.left_alone] == ["a@t"] and local.items == {}


def test_a_write_refused_during_an_undo_is_retried_by_the_next_sync() -> None:
    local, remote, store, run = synced_then_run()

    def refuse(name: str) -> None:
        if name in ("update", "update_many"):
            raise ItemRejected("read-only event")

    remote.before_write = refuse
    _, report = undo(local, remote, store, run.logged)
    assert summaries(local) == {"a@t": "Old"} and summaries(remote) == {"a@t": "New"}
    assert report.of("unsynced"), "the refused side is said"
    remote.before_write = None

    sync(local, remote, store, Settings(), LogReport())

    assert summaries(local) == summaries(remote) == {"a@t": "Old"}, "the next sync carries the undo over"


def test_undoing_every_run_since_a_safety_stop_whose_deletion_was_allowed_puts_everything_back() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    for i in range(6):
        local.user_put(event(f"s{i}@t", f"Shift {i}"))
    sync(local, remote, store, Settings(), LogReport())
    for entry in list(remote.items.values()):
        remote.user_delete(entry.id)  # emptied by mistake at the provider
    stopped, allowed = LogReport(), LogReport()
    with pytest.raises(SafetyStop):
        sync(local, remote, store, Settings(), stopped)
    sync(local, remote, store, Settings(mass_delete_threshold=None), allowed)  # "Allow the deletion"
    assert local.items == remote.items == {}

    done, _ = undo(local, remote, store, stopped.logged + allowed.logged)

    shifts = {f"s{i}@t": f"Shift {i}" for i in range(6)}
    assert done.left_alone == [] and summaries(local) == summaries(remote) == shifts
    assert quiet(local, remote, store, Settings())


def test_an_item_adopted_by_uid_is_logged_with_the_version_it_overwrote() -> None:
    """A create whose record was lost finds the item by UID and updates it: what it held is the before."""
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    local.user_put(event("a@t", "Old"))
    sync(local, remote, store, Settings(), LogReport())
    store.remove(store.all()[0])  # the record is lost (a crash after the write)
    local.user_put(event("a@t", "New"))
    run = LogReport()
    sync(local, remote, store, Settings(), run)
    updated = [e for e in run.logged if e.action == "updated"]
    assert [(e.side, e.before.master.summary if e.before else None) for e in updated] == [(Side.REMOTE, "Old")]

    undo(local, remote, store, run.logged)

    assert summaries(local) == summaries(remote) == {"a@t": "Old"}


class Windowed(MemorySide):
    """A side whose complete listing is a window of time (Microsoft's calendarView)."""

    def changes(self, cursor, known=None):  # type: ignore[no-untyped-def]
        changes = super().changes(cursor, known)
        changes.window = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
        return changes


def test_on_a_windowed_side_an_undo_finds_by_uid_only_the_items_put_back() -> None:
    """The stated bound (sync.undoing.Undo): a find per item put back that no mapping places there (here the 30
    deleted), none for the 60 mapped ones it overwrites (read by id)."""
    local, remote, store = MemorySide(), Windowed(), MemoryStore()
    for i in range(90):
        local.user_put(event(f"x{i}@t", f"X{i}"))
    sync(local, remote, store, Settings(), LogReport())
    for i in range(60):
        local.user_put(event(f"x{i}@t", f"X{i} edited"))
    for entry in [e for e in remote.items.values() if int(e.uid[1:].split("@")[0]) >= 60]:
        remote.user_delete(entry.id)
    run = LogReport()
    sync(local, remote, store, Settings(mass_delete_threshold=None), run)
    remote.calls.clear()

    undo(local, remote, store, run.logged)

    assert remote.calls.get("find", 0) == 30
    assert summaries(remote) == summaries(local) and len(local.items) == 90
