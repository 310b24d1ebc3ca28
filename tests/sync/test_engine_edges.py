"""The engine's less travelled paths, one scenario each: items already on both sides, deletions both ways and on
both sides, a one-way sync putting the source back, an item changed while the sync writes it."""

from __future__ import annotations

from sync.engine import Direction, Mapping, Settings, Side, content_hash, sync
from sync.memory import ListReport, MemorySide, MemoryStore

from .items import event


def run(local, remote, store, **settings) -> ListReport:  # type: ignore[no-untyped-def]
    report = ListReport()
    sync(local, remote, store, Settings(**settings), report)
    return report


def only(side: MemorySide):  # type: ignore[no-untyped-def]
    [entry] = side.items.values()
    return entry


def test_the_same_item_on_both_sides_is_paired_without_a_write_and_then_syncs() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    local.user_put(event("both@test", "Planning"))
    remote.user_put(event("both@test", "Planning"))
    assert run(local, remote, store).lines == []
    assert not {"create", "update"} & (set(local.calls) | set(remote.calls))
    [mapping] = store.all()
    mine, theirs = only(local), only(remote)
    expected = Mapping("both@test", mine.id, mine.version, theirs.id, theirs.version, content_hash(mine.item))
    assert (mapping.uid, mapping.local_id, mapping.local_version, mapping.remote_id, mapping.remote_version,
            mapping.content_hash) == (expected.uid, expected.local_id, expected.local_version, expected.remote_id,
                                      expected.remote_version, expected.content_hash)  # fmt: skip
    remote.user_put(event("both@test", "Planning, moved"), id=theirs.id)
    run(local, remote, store)
    assert only(local).item.master.summary == "Planning, moved" and only(local).id == mine.id
    assert run(local, remote, store).lines == []


def test_resaved_on_both_sides_with_the_same_content_records_the_new_versions() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    local.user_put(event("a@test"))
    run(local, remote, store)
    local.user_put(event("a@test"), id=only(local).id)  # re-saved, same content, new versions
    remote.user_put(event("a@test"), id=only(remote).id)
    assert run(local, remote, store).lines == []
    [mapping] = store.all()
    assert (mapping.local_version, mapping.remote_version) == (only(local).version, only(remote).version)
    local.calls.clear()
    remote.calls.clear()
    assert run(local, remote, store).lines == [] and local.calls == remote.calls == {"changes": 1}


def test_a_deletion_on_either_side_reaches_the_other() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    for uid in ("l@test", "r@test"):
        local.user_put(event(uid))
    run(local, remote, store)
    local.user_delete(next(e.id for e in local.items.values() if e.uid == "l@test"))
    remote.user_delete(next(e.id for e in remote.items.values() if e.uid == "r@test"))
    report = run(local, remote, store)
    assert local.items == remote.items == {} and store.all() == []
    assert sorted(line[1:3] for line in report.of("applied")) == [("calsync", "deleted"), ("remote", "deleted")]


def test_deleted_on_both_sides_is_forgotten_without_a_write() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    local.user_put(event("a@test"))
    run(local, remote, store)
    local.user_delete(only(local).id)
    remote.user_delete(only(remote).id)
    assert run(local, remote, store).lines == []
    assert store.all() == [] and "delete" not in local.calls and "delete" not in remote.calls


def test_first_sync_with_different_content_keeps_the_primarys_and_says_so() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    local.user_put(event("a@test", "calsync's"))
    remote.user_put(event("a@test", "theirs"))
    [conflict] = run(local, remote, store, primary=Side.REMOTE).of("conflict")
    message = "Both calendars had this item with different content; kept the version in the other calendar."
    assert conflict[1:] == ("remote", "a@test", message)
    assert only(local).item.master.summary == "theirs"


def test_one_way_puts_the_source_back_and_says_why() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    local.user_put(event("a@test", "From calsync"))
    run(local, remote, store, direction=Direction.TO_REMOTE)
    remote.user_put(event("a@test", "Edited over there"), id=only(remote).id)
    [conflict] = run(local, remote, store, direction=Direction.TO_REMOTE).of("conflict")
    assert conflict[1:] == ("calsync", "a@test", "Changed in the other calendar, which this one-way sync does not "
                            "copy from; the version in calsync was put back.")  # fmt: skip
    assert only(remote).item.master.summary == "From calsync"
    assert run(local, remote, store, direction=Direction.TO_REMOTE).lines == []


def test_an_item_edited_while_the_sync_writes_it_is_read_again_and_decided_again() -> None:
    """The target changes between the listing and the write (412): the engine reads it again and plans again;
    an item that keeps changing is reported, not overwritten."""
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    local.user_put(event("a@test", "Original"))
    run(local, remote, store)
    races = {"left": 1}

    def someone_edits(name: str) -> None:
        if name == "update" and races["left"]:
            races["left"] -= 1
            remote.user_put(event("a@test", "Edited during the sync"), id=only(remote).id)

    remote.before_write = someone_edits
    local.user_put(event("a@test", "Edited in calsync"), id=only(local).id)
    report = run(local, remote, store, primary=Side.LOCAL)
    assert only(remote).item.master.summary == only(local).item.master.summary == "Edited in calsync"
    assert [line[1] for line in report.of("conflict")] == ["calsync"] and report.of("unsynced") == []
    races["left"] = 99
    local.user_put(event("a@test", "Edited again"), id=only(local).id)
    report = run(local, remote, store, primary=Side.LOCAL)
    assert report.of("unsynced") == [("unsynced", "remote", "a@test", "It kept changing during the sync.")]
    assert only(remote).item.master.summary == "Edited during the sync"
