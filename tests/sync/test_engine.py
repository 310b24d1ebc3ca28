"""The engine between two in-memory sides: each rule of the contract, one scenario at a time.

Each scenario runs twice: with sides that hand over whole lists, and with sides that stream their changes two at
a time; the engine holds pages of two, so items meet across page boundaries."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from events.ical import Item, Person, as_utc
from sync.adapter import Entry
from sync.engine import Direction, Settings, Side, content_hash, sync
from sync.errors import SafetyStop
from sync.memory import ListReport, MemorySide, MemoryStore

from .items import START, event, series


class Crash(Exception):
    pass


def run(local, remote, store, **settings) -> ListReport:  # type: ignore[no-untyped-def]
    report = ListReport()
    sync(local, remote, store, Settings(**{"page_size": 2, **settings}), report)
    return report


def uids(side: MemorySide) -> list[str]:
    return sorted(e.uid for e in side.items.values())


def summary(side: MemorySide, uid: str) -> str:
    return next(e.item.master.summary for e in side.items.values() if e.uid == uid)


def test_first_sync_pairs_same_uids_and_copies_the_rest(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("both@test"))
    remote.user_put(event("both@test"))
    local.user_put(event("l@test"))
    remote.user_put(series("r@test"))
    report = run(local, remote, store)
    assert uids(local) == uids(remote) == ["both@test", "l@test", "r@test"]
    assert len(store.mappings) == 3 and report.of("conflict") == []
    assert remote.calls.get("find", 0) == 0  # a complete listing needs no lookups


def test_no_op_run_costs_one_listing_per_side(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    for i in range(50):
        local.user_put(event(f"e{i}@test"))
    run(local, remote, store)
    run(local, remote, store)  # sees its own writes come back, and skips them
    local.calls.clear()
    remote.calls.clear()
    report = run(local, remote, store)
    assert local.calls == {"changes": 1} and remote.calls == {"changes": 1} and report.lines == []


def test_echoes_are_not_written_back(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("a@test"))
    run(local, remote, store)
    report = run(local, remote, store)
    assert report.of("applied") == []
    assert local.calls.get("update", 0) == 0 and remote.calls["create"] == 1


def test_changes_flow_both_ways(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("a@test"))
    run(local, remote, store)
    remote.user_put(event("a@test", "Renamed remotely"), id=next(iter(remote.items)))
    run(local, remote, store)
    assert summary(local, "a@test") == "Renamed remotely"
    local.user_delete(next(iter(local.items)))
    run(local, remote, store)
    assert uids(remote) == []


@pytest.mark.parametrize(("primary", "expected"), [(Side.LOCAL, "local edit"), (Side.REMOTE, "remote edit")])
def test_conflicts_go_to_the_primary_and_the_loser_is_logged(sides, primary, expected) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("a@test"))
    run(local, remote, store)
    local.user_put(event("a@test", "local edit"))
    remote.user_put(event("a@test", "remote edit"))
    report = run(local, remote, store, primary=primary)
    assert summary(local, "a@test") == summary(remote, "a@test") == expected
    [conflict] = report.of("conflict")
    assert conflict[1] == primary.value and "Changed in both" in conflict[3]


@pytest.mark.parametrize("primary", [Side.LOCAL, Side.REMOTE])
def test_modify_versus_delete_follows_the_primary(sides, primary) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("a@test"))
    run(local, remote, store)
    local.user_put(event("a@test", "edited in calsync"))
    remote.user_delete(next(iter(remote.items)))
    report = run(local, remote, store, primary=primary)
    if primary is Side.LOCAL:
        assert summary(remote, "a@test") == "edited in calsync"
        assert "restored" in report.of("conflict")[0][3]
    else:
        assert uids(local) == uids(remote) == []
        assert "deletion won" in report.of("conflict")[0][3]


def test_one_way_to_calsync_never_writes_to_the_other_calendar(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    remote.user_put(event("r@test", "source"))
    local.user_put(event("l@test", "calsync only"))
    run(local, remote, store, direction=Direction.TO_LOCAL)
    local.user_put(event("r@test", "edited in the target"))
    run(local, remote, store, direction=Direction.TO_LOCAL)
    local.user_delete(next(e.id for e in local.items.values() if e.uid == "r@test"))
    report = run(local, remote, store, direction=Direction.TO_LOCAL)
    assert uids(remote) == ["r@test"] and summary(remote, "r@test") == "source"
    assert not {"create", "update", "delete"} & set(remote.calls)
    assert uids(local) == ["l@test", "r@test"] and summary(local, "r@test") == "source"
    assert report.of("applied")[0][1:3] == ("calsync", "created")


def test_one_way_from_calsync_leaves_calsync_untouched(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("l@test"))
    remote.user_put(event("r@test"))
    run(local, remote, store, direction=Direction.TO_REMOTE)
    remote.user_put(
        event("l@test", "edited remotely"), id=next(e.id for e in remote.items.values() if e.uid == "l@test")
    )
    run(local, remote, store, direction=Direction.TO_REMOTE)
    assert uids(local) == ["l@test"] and not {"create", "update", "delete"} & set(local.calls)
    assert summary(remote, "l@test") == "Meeting"


def test_a_crash_after_a_remote_create_does_not_duplicate(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    for i in range(3):
        local.user_put(event(f"e{i}@test"))
    run(local, remote, store)
    local.user_put(event("new@test"))
    writes = 0

    def crash_after_first_write(name: str) -> None:
        nonlocal writes
        writes += 1
        if writes == 2:
            raise Crash

    store_before = dict(store.mappings)
    remote.before_write = crash_after_first_write
    local.user_put(event("newer@test"))
    with pytest.raises(Crash):
        run(local, remote, store)
    remote.before_write = None
    store.mappings = {k: v for k, v in store.mappings.items() if k in store_before}  # the records were lost too
    run(local, remote, store)
    run(local, remote, store)
    assert uids(remote) == uids(local) == ["e0@test", "e1@test", "e2@test", "new@test", "newer@test"]


def test_an_expired_cursor_resyncs_without_duplicates_or_deletes(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    for i in range(4):
        remote.user_put(event(f"e{i}@test"))
    run(local, remote, store)
    remote.user_put(
        event("e0@test", "changed while expired"), id=next(e.id for e in remote.items.values() if e.uid == "e0@test")
    )
    remote.user_delete(next(e.id for e in remote.items.values() if e.uid == "e3@test"))
    remote.expire_cursors()
    report = run(local, remote, store)
    assert uids(local) == ["e0@test", "e1@test", "e2@test"]
    assert summary(local, "e0@test") == "changed while expired"
    assert any("comparing everything" in line[1] for line in report.of("note"))
    assert sorted(line[2] for line in report.of("applied")) == ["deleted", "updated"]


def test_a_calendar_that_suddenly_lists_nothing_stops_the_run(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    for i in range(6):
        local.user_put(event(f"e{i}@test"))
    run(local, remote, store)
    for id in list(remote.items):
        remote.user_delete(id)
    with pytest.raises(SafetyStop, match="none of the 6 synced items"):
        run(local, remote, store)
    assert len(local.items) == 6
    run(local, remote, store, mass_delete_threshold=None)  # the user confirmed
    assert local.items == {}


@pytest.mark.parametrize(("synced", "deleted", "stops"), [(5, 5, True), (4, 4, False), (6, 5, False)])
def test_the_mass_delete_guard_stops_at_its_threshold_and_only_when_everything_went(
    sides, synced, deleted, stops
) -> None:  # type: ignore[no-untyped-def]
    """Threshold 5: five synced items all gone stops; four all gone, or five of six gone, are ordinary deletions."""
    local, remote, store = sides
    for i in range(synced):
        local.user_put(event(f"e{i}@test"))
    run(local, remote, store)
    for id in list(remote.items)[:deleted]:
        remote.user_delete(id)
    if stops:
        with pytest.raises(SafetyStop, match=f"none of the {synced} synced items"):
            run(local, remote, store, mass_delete_threshold=5)
        assert len(local.items) == synced
    else:
        report = run(local, remote, store, mass_delete_threshold=5)
        assert len(local.items) == synced - deleted and len(report.of("applied")) == deleted


class RewritingSide(MemorySide):
    """Keeps what it is sent the way a provider does: rewritten (here the owner made organiser), with a new version."""

    def _rewrite(self, item: Item) -> Item:
        return replace(item, master=replace(item.master, organizer=Person("owner@remote.test", "Owner")))

    def create(self, item: Item) -> Entry:
        return super().create(self._rewrite(item))

    def update(self, id: str, item: Item, version: str) -> Entry:
        return super().update(id, self._rewrite(item), version)


def test_an_echo_rewritten_by_the_provider_is_recognised_by_its_version() -> None:
    """Our own write coming back rewritten has a new content hash; only its version says it is an echo."""
    local, remote, store = MemorySide(), RewritingSide(), MemoryStore()
    local.user_put(event("a@test", "Planning"))
    run(local, remote, store)
    assert next(iter(remote.items.values())).item.master.organizer is not None  # it really was rewritten
    report = run(local, remote, store)
    assert report.lines == [] and local.calls.get("update", 0) == 0
    assert next(iter(local.items.values())).item.master.organizer is None
    # An edit afterwards still flows, and its rewritten echo is again left alone.
    local.user_put(event("a@test", "Planning, moved"), id=next(iter(local.items)))
    run(local, remote, store)
    assert run(local, remote, store).lines == [] and summary(remote, "a@test") == "Planning, moved"


def test_the_same_meeting_twice_on_one_side_becomes_one_event(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    remote.user_put(event("meeting@test"), id="copy-1")
    remote.user_put(event("meeting@test"), id="copy-2")
    report = run(local, remote, store)
    assert uids(local) == ["meeting@test"]
    assert any("appears twice" in line[1] for line in report.of("note"))


def test_recurring_series_sync_whole_with_their_exceptions(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(series("s@test", moved_summary="Moved"))
    run(local, remote, store)
    [entry] = remote.items.values()
    assert content_hash(entry.item) == content_hash(series("s@test", moved_summary="Moved"))
    remote.user_put(series("s@test", moved_summary="Moved again"), id=entry.id)
    run(local, remote, store)
    assert next(iter(local.items.values())).item.overrides[0].summary == "Moved again"


def test_a_rejected_item_is_reported_and_the_rest_syncs(sides, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sync.errors import ItemRejected

    local, remote, store = sides
    local.user_put(event("bad@test", "Bad"))
    local.user_put(event("good@test", "Good"))
    create = remote.create

    def refuse_bad(item):  # type: ignore[no-untyped-def]
        if item.uid == "bad@test":
            raise ItemRejected("The calendar refuses this event.")
        return create(item)

    monkeypatch.setattr(remote, "create", refuse_bad)
    report = run(local, remote, store)
    assert uids(remote) == ["good@test"]
    [unsynced] = report.of("unsynced")
    assert unsynced[2:] == ("bad@test", "The calendar refuses this event.")


def test_a_resave_of_unchanged_content_never_beats_a_real_edit(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("a@test", "Original"))
    run(local, remote, store)
    local.user_put(event("a@test", "Original"))  # re-imported: new version, same content
    remote.user_put(event("a@test", "Edited remotely"), id=next(iter(remote.items)))
    report = run(local, remote, store, primary=Side.LOCAL)
    assert summary(local, "a@test") == summary(remote, "a@test") == "Edited remotely"
    assert report.of("conflict") == []


def test_an_unreadable_item_in_a_complete_listing_is_not_deleted(sides, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sync.adapter import Changes

    local, remote, store = sides
    for uid in ("r1@test", "r2@test"):
        remote.user_put(event(uid))
    run(local, remote, store)
    listing = remote.changes(None)
    unreadable = next(e for e in listing.changed if e.uid == "r1@test")
    partial = Changes(changed=[e for e in listing.changed if e is not unreadable], deleted=[], cursor=listing.cursor,
                      complete=True, skipped=[(unreadable.id, "cannot parse")])  # fmt: skip
    monkeypatch.setattr(remote, "changes", lambda cursor: partial)
    store.remote_cursor = None  # as after an expired cursor
    report = run(local, remote, store)
    assert uids(local) == ["r1@test", "r2@test"]
    assert report.of("unsynced")[0][2:] == (unreadable.id, "cannot parse")


class WindowedSide(MemorySide):
    """A side that lists only a window of time (as Graph's calendarView does)."""

    def __init__(self, window: tuple[datetime, datetime]) -> None:
        super().__init__()
        self.window = window

    def changes(self, cursor):  # type: ignore[no-untyped-def]
        found = super().changes(cursor)
        if not found.complete:
            return found
        inside = [e for e in found.changed if self.window[0] <= as_utc(e.item.master.start) < self.window[1]]
        return replace(found, changed=inside, window=self.window)


@pytest.mark.parametrize(
    "calsync_side", [False, pytest.param(True, marks=pytest.mark.django_db)], ids=["memory", "calsync"]
)
def test_a_windowed_listing_deletes_only_what_it_could_see(calsync_side, request) -> None:  # type: ignore[no-untyped-def]
    """After a full relisting of a window, an event outside it is kept; one inside that is gone is deleted."""
    if calsync_side:
        from sync.local import CalsyncSide

        local = CalsyncSide(request.getfixturevalue("calendar"))
    else:
        local = MemorySide()
    remote, store = WindowedSide((START + timedelta(days=30), START + timedelta(days=400))), MemoryStore()
    for uid, day in (("old@test", 0), ("inside@test", 60), ("gone@test", 90)):
        remote.user_put(event(uid, day=day))
    remote.window = (START - timedelta(days=400), START + timedelta(days=400))  # the first sync saw them all
    run(local, remote, store)
    remote.window = (START + timedelta(days=30), START + timedelta(days=400))  # later, the window moved on
    remote.user_delete(next(e.id for e in remote.items.values() if e.uid == "gone@test"))
    store.remote_cursor = None  # as after the delta token expired: a complete listing of the window
    run(local, remote, store)
    kept = {e.uid for e in local.changes(None).changed}
    assert kept == {"old@test", "inside@test"}
    if calsync_side:
        assert local.calls.get("spans") == 1 and local.calls.get("get", 0) == 0  # one query, not one per event
