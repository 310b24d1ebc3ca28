"""The engine under the sync controls, between two in-memory sides: each rule, one scenario at a time.

calsync is the local side, "the other calendar" the remote one. Scenarios run with whole lists and with sides that
stream two at a time (the engine holds pages of two)."""

from __future__ import annotations

from datetime import date

import pytest

from events.ical import Item
from sync.controls import BUSY_TITLE, Conflicts, Controls, Copy, Flow, Window
from sync.engine import Direction, Settings, Side, content_hash, sync
from sync.errors import SafetyStop
from sync.memory import ListReport, MemorySide, MemoryStore

from .items import event

DEFAULT = Controls()
BUSY_OUT = Controls(out_of_calsync=Flow(copy=Copy.BUSY))
NO_FREE_IN = Controls(into_calsync=Flow(skip_free=True))


def run(local, remote, store, controls: Controls = DEFAULT, **settings) -> ListReport:  # type: ignore[no-untyped-def]
    report = ListReport()
    sync(local, remote, store, Settings(**{"page_size": 2, "controls": controls, **settings}), report)
    return report


def rerun_complete(local, remote, store, controls: Controls, **settings) -> ListReport:  # type: ignore[no-untyped-def]
    """What sync.services does when the controls change: both cursors cleared, so the run lists everything."""
    store.local_cursor = store.remote_cursor = None
    return run(local, remote, store, controls, **settings)


def item(side: MemorySide, uid: str) -> Item | None:
    return next((e.item for e in side.items.values() if e.uid == uid), None)


def title(side: MemorySide, uid: str) -> str | None:
    found = item(side, uid)
    return found.master.summary if found else None


def mapping(store: MemoryStore, uid: str):  # type: ignore[no-untyped-def]
    return next(m for m in store.mappings.values() if m.uid == uid)


def free(uid: str, summary: str = "Gym") -> Item:
    return event(uid, summary, transparency="TRANSPARENT")


# --- origin ------------------------------------------------------------------------------------------


def test_every_create_records_its_origin_and_a_first_pairing_none(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("l@test"))
    remote.user_put(event("r@test"))
    local.user_put(event("both@test"))
    remote.user_put(event("both@test"))
    run(local, remote, store)  # the default controls
    assert [mapping(store, u).origin for u in ("l@test", "r@test", "both@test")] == ["calsync", "remote", ""]
    assert all(m.copy_hash == "" for m in store.mappings.values())


# --- the window ------------------------------------------------------------------------------------


def test_items_outside_the_window_are_left_alone_but_deletions_propagate(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    window = Controls(window=Window(start=date(2026, 11, 23)))
    local.user_put(event("old@test", day=-3))
    local.user_put(event("now@test"))
    run(local, remote, store, window)
    assert item(remote, "old@test") is None and title(remote, "now@test") == "Meeting"
    local.user_put(event("now@test", "Moved away", day=-5))  # it leaves the window: not updated, not deleted
    assert run(local, remote, store, window).of("applied") == []
    assert title(remote, "now@test") == "Meeting"
    local.user_delete(next(e.id for e in local.items.values() if e.uid == "now@test"))
    run(local, remote, store, window)
    assert item(remote, "now@test") is None and store.mappings == {}


# --- filters ----------------------------------------------------------------------------------------


def test_a_filtered_new_item_is_reported_not_copied(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    remote.user_put(free("gym@test"))
    remote.user_put(event("work@test"))
    report = run(local, remote, store, NO_FREE_IN)
    assert item(local, "gym@test") is None and item(local, "work@test") is not None
    assert report.of("filtered") == [("filtered", "remote", "gym@test", "Filtered: free time.")]
    assert report.of("unsynced") == []
    assert run(local, remote, store, NO_FREE_IN).lines == []  # nothing changed: not reported again


def test_a_copy_whose_source_is_now_filtered_is_removed(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    remote.user_put(event("gym@test", "Gym"))
    run(local, remote, store, NO_FREE_IN)
    assert mapping(store, "gym@test").origin == "remote"
    remote.user_put(free("gym@test"))
    report = run(local, remote, store, NO_FREE_IN)
    assert item(local, "gym@test") is None and store.mappings == {}
    assert ("applied", "calsync", "deleted", "gym@test") in report.lines
    assert report.of("filtered") == [("filtered", "remote", "gym@test", "Filtered: free time.")]


def test_the_other_sides_own_item_is_never_deleted_by_a_filter(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("mine@test", "Mine"))
    remote.user_put(event("mine@test", "Mine"))  # both held it: paired, origin ""
    local.user_put(event("made@test", "Made here"))  # copied from calsync: its origin is calsync
    run(local, remote, store, NO_FREE_IN)
    remote.user_put(free("mine@test", "Mine"))
    remote.user_put(free("made@test", "Made here"))
    report = run(local, remote, store, NO_FREE_IN)
    assert title(local, "mine@test") == "Mine" and title(local, "made@test") == "Made here"
    assert item(local, "mine@test") == event("mine@test", "Mine")  # not updated either
    assert sorted(line[2] for line in report.of("filtered")) == ["made@test", "mine@test"]
    assert report.of("applied") == [] and len(store.mappings) == 2
    assert run(local, remote, store, NO_FREE_IN).lines == []  # reported once, not every run


def test_deletions_by_a_filter_count_in_the_mass_delete_guard(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    for i in range(5):
        remote.user_put(event(f"e{i}@test"))
    run(local, remote, store, NO_FREE_IN, mass_delete_threshold=5)
    everything = Controls(into_calsync=Flow(keywords=("meeting",)))
    with pytest.raises(SafetyStop, match="The sync controls would remove 5 copies"):
        rerun_complete(local, remote, store, everything, mass_delete_threshold=5)
    assert len(local.items) == 5


def test_removals_replanned_for_edited_mirrors_wait_for_the_mass_delete_guard(sides) -> None:  # type: ignore[no-untyped-def]
    """Review 3, finding 6: the copies were edited, their sources not (a reshape reads them), and the owner's facts
    changed so that the filter now drops them all: the removals are weighed, not applied at once."""
    local, remote, store = sides
    for i in range(5):
        local.user_put(event(f"e{i}@test", "Standup"))
    busy_filtered = Controls(out_of_calsync=Flow(copy=Copy.BUSY, keywords=("standup",)))
    run(local, remote, store, BUSY_OUT, mass_delete_threshold=5)
    for entry in list(remote.items.values()):
        remote.user_put(event(entry.uid, "Edited copy"), id=entry.id)
    with pytest.raises(SafetyStop, match="The sync controls would remove 5 copies"):
        run(local, remote, store, busy_filtered, mass_delete_threshold=5)  # (cursors kept: only copies changed)
    assert len(remote.items) == 5


# --- shapes -----------------------------------------------------------------------------------------


def test_a_busy_copy_is_a_mirror_of_its_source(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("m@test", "Salary talk", description="secret"))
    run(local, remote, store, BUSY_OUT)
    copy = item(remote, "m@test")
    assert copy is not None and copy.master.summary == BUSY_TITLE and copy.master.description == ""
    found = mapping(store, "m@test")
    assert found.origin == "calsync" and found.copy_hash == content_hash(copy)
    assert found.content_hash == content_hash(event("m@test", "Salary talk", description="secret"))

    local.user_put(event("m@test", "Salary talk", day=1))  # the source moves: the copy follows, still busy
    run(local, remote, store, BUSY_OUT)
    assert item(remote, "m@test") == Flow(copy=Copy.BUSY).shape(event("m@test", "Salary talk", day=1))

    remote.user_put(event("m@test", "Hacked", day=2))  # the copy is edited: undone, the source untouched
    run(local, remote, store, BUSY_OUT)
    assert item(remote, "m@test") == Flow(copy=Copy.BUSY).shape(event("m@test", "Salary talk", day=1))
    assert title(local, "m@test") == "Salary talk"

    remote.user_delete(next(iter(remote.items)))  # the copy is deleted: re-created
    run(local, remote, store, BUSY_OUT)
    assert title(remote, "m@test") == BUSY_TITLE and title(local, "m@test") == "Salary talk"

    local.user_put(event("m@test", "Salary talk", day=3))  # both changed: the source wins
    remote.user_put(event("m@test", "Other", day=4))
    run(local, remote, store, BUSY_OUT, primary=Side.REMOTE)
    assert item(remote, "m@test") == Flow(copy=Copy.BUSY).shape(event("m@test", "Salary talk", day=3))
    assert title(local, "m@test") == "Salary talk"

    local.user_delete(next(iter(local.items)))  # the source is deleted: so is the copy
    run(local, remote, store, BUSY_OUT)
    assert remote.items == {} and store.mappings == {}
    assert run(local, remote, store, BUSY_OUT).lines == []


def test_a_shape_is_never_written_over_the_other_sides_original(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    remote.user_put(event("g@test", "From Google", description="agenda"))
    run(local, remote, store, BUSY_OUT)
    local.user_put(event("g@test", "Edited in calsync", description="agenda"))
    run(local, remote, store, BUSY_OUT)
    assert item(remote, "g@test") == event("g@test", "Edited in calsync", description="agenda")
    assert mapping(store, "g@test").copy_hash == ""
    local.user_put(event("g@test", "Edited again"))
    run(local, remote, store, BUSY_OUT, direction=Direction.TO_LOCAL)  # the direction forbids: nothing at all
    assert title(remote, "g@test") == "Edited in calsync"  # the one-way sync put the other side's back instead
    assert title(local, "g@test") == "Edited in calsync"


def test_a_lost_mirror_record_is_found_not_taken_for_a_conflict(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("m@test", "Private"))
    remote.user_put(Flow(copy=Copy.BUSY).shape(event("m@test", "Private")))  # written, then the worker died
    report = run(local, remote, store, BUSY_OUT, primary=Side.REMOTE)
    assert report.of("conflict") == [] and title(local, "m@test") == "Private"
    assert mapping(store, "m@test").origin == "calsync" and mapping(store, "m@test").copy_hash


# --- re-evaluation after the controls change -----------------------------------------------------------


def test_changed_controls_are_applied_to_items_that_did_not_change(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("talk@test", "Talk", description="notes"))
    local.user_put(free("gym@test"))
    remote.user_put(free("yoga@test", "Yoga"))
    run(local, remote, store, NO_FREE_IN)
    assert item(local, "yoga@test") is None and title(remote, "talk@test") == "Talk"

    report = rerun_complete(local, remote, store, Controls(out_of_calsync=Flow(copy=Copy.BUSY, skip_free=True)))
    assert title(remote, "talk@test") == BUSY_TITLE  # the mode changed: the copy is rewritten
    assert item(remote, "gym@test") is None  # now filtered: the copy calsync made is removed
    assert title(local, "yoga@test") == "Yoga"  # no longer filtered: copied
    assert ("filtered", "calsync", "gym@test", "Filtered: free time.") in report.lines

    rerun_complete(local, remote, store, Controls(out_of_calsync=Flow(copy=Copy.TITLE)))
    assert item(remote, "talk@test") == Flow(copy=Copy.TITLE).shape(event("talk@test", "Talk", description="notes"))
    assert title(remote, "gym@test") == "Gym"

    rerun_complete(local, remote, store, Controls())  # no longer shaped: a normal two-way pair again
    assert item(remote, "talk@test") == event("talk@test", "Talk", description="notes")
    assert mapping(store, "talk@test").copy_hash == ""
    remote.user_put(event("talk@test", "Talk, edited there"))
    run(local, remote, store)
    assert title(local, "talk@test") == "Talk, edited there"
    assert rerun_complete(local, remote, store, Controls()).of("applied") == []


# --- keep both ------------------------------------------------------------------------------------------


KEEP_BOTH = Controls(conflicts=Conflicts.KEEP_BOTH)


def test_keep_both_keeps_the_losing_version_as_a_new_item(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("c@test", "Plan"))
    run(local, remote, store, KEEP_BOTH)
    local.user_put(event("c@test", "Plan A"))
    remote.user_put(event("c@test", "Plan B"))
    report = run(local, remote, store, KEEP_BOTH, primary=Side.LOCAL)
    assert title(local, "c@test") == title(remote, "c@test") == "Plan A"
    kept = [e.item for e in local.items.values() if e.uid != "c@test"]
    assert len(kept) == 1 and kept[0].master.summary == "Plan B (conflicting copy from the other calendar)"
    assert ("X-CALSYNC-CONFLICT-OF", (), "c@test") in kept[0].master.extra_properties
    assert item(remote, kept[0].uid) == kept[0]  # the run's echo carried it over
    assert len(report.of("conflict")) == 1
    assert run(local, remote, store, KEEP_BOTH).lines == []


def test_keep_both_after_a_deletion_won_keeps_the_changed_version(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("c@test", "Plan"))
    run(local, remote, store, KEEP_BOTH)
    local.user_put(event("c@test", "Plan, changed"))
    remote.user_delete(next(iter(remote.items)))
    run(local, remote, store, KEEP_BOTH, primary=Side.REMOTE)
    assert item(local, "c@test") is None and item(remote, "c@test") is None
    titles = sorted(e.item.master.summary for e in local.items.values())
    assert titles == ["Plan, changed (conflicting copy from calsync)"]
    assert [e.item.master.summary for e in remote.items.values()] == titles


def test_keep_both_is_for_two_way_sync_only(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("c@test", "Plan"))
    run(local, remote, store, KEEP_BOTH)
    local.user_put(event("c@test", "Plan A"))
    remote.user_put(event("c@test", "Plan B"))
    run(local, remote, store, KEEP_BOTH, direction=Direction.TO_REMOTE)
    assert len(local.items) == 1 and title(remote, "c@test") == "Plan A"


def test_kept_copy_keeps_overrides_under_its_new_uid() -> None:
    from sync.applying import kept_copy

    from .items import series

    kept = kept_copy(series("s@test", "Weekly"), "calsync")
    assert kept.uid != "s@test" and all(o.uid == kept.uid for o in kept.overrides)
    assert kept.overrides[0].summary == "Weekly"  # only the series' title is marked
    assert kept_copy(series("s@test", "Weekly"), "calsync").uid == kept.uid  # a retried run finds it


def test_an_edit_held_back_by_a_filter_flows_once_the_filter_is_gone(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("i@test", "Plan"))
    run(local, remote, store, NO_FREE_IN)
    remote.user_put(free("i@test", "Plan, free now"))
    assert len(run(local, remote, store, NO_FREE_IN).of("filtered")) == 1
    assert title(local, "i@test") == "Plan"  # held back, the copy left as the user made it
    rerun_complete(local, remote, store, DEFAULT)  # the filter is removed: the edit is judged again
    assert title(local, "i@test") == title(remote, "i@test") == "Plan, free now"


def test_a_copy_edited_where_it_was_made_is_no_longer_removed_by_a_filter(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    remote.user_put(event("g@test", "From Google"))
    run(local, remote, store)
    assert mapping(store, "g@test").origin == "remote"
    local.user_put(event("g@test", "With a client added in calsync"))
    run(local, remote, store)
    assert mapping(store, "g@test").origin == ""  # both sides' own now
    remote.user_put(free("g@test", "With a client added in calsync"))
    run(local, remote, store, NO_FREE_IN)
    assert title(local, "g@test") == "With a client added in calsync"


def test_a_held_back_edit_meets_the_other_sides_next_change_as_a_conflict(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("i@test", "Plan"))
    run(local, remote, store, NO_FREE_IN)
    remote.user_put(free("i@test", "Plan, free now"))
    run(local, remote, store, NO_FREE_IN)
    local.user_put(event("i@test", "Plan 2"))
    report = run(local, remote, store, NO_FREE_IN, primary=Side.LOCAL)
    assert len(report.of("conflict")) == 1  # not a silent overwrite of the edit held back
    assert title(local, "i@test") == title(remote, "i@test") == "Plan 2"
