"""calsync-to-calsync syncs in the database, in pages of three: a first sync finishes in one run, changes go in
batches through events.services, and a batch the target refuses falls back to one item at a time."""

from __future__ import annotations

from dataclasses import replace

import pytest

from events.models import Event, Tombstone
from events.services import calendar_create, item_save
from integrations.models import Integration
from sync.engine import Settings, Side, sync
from sync.local import CalsyncSide
from sync.memory import ListReport
from sync.store import DbStatusStore

from .items import event, series

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(calendar, member):  # type: ignore[no-untyped-def]
    """Seven events (one a series with a moved occurrence) in calsync, an empty second calendar, an integration."""
    other = calendar_create(owner=member, name="Other")
    for i in range(6):
        item_save(calendar=calendar, item=event(f"e{i}@test", f"Event {i}", day=i))
    item_save(calendar=calendar, item=series("s@test", moved_summary="Moved"))
    integration = Integration.objects.create(
        tenant=member.tenant, user=member, provider="calsync", calendar=calendar, remote_calendar_id=str(other.pk)
    )
    return CalsyncSide(calendar), CalsyncSide(other), DbStatusStore(integration)


def run(local, remote, store, **settings) -> ListReport:  # type: ignore[no-untyped-def]
    report = ListReport()
    sync(local, remote, store, Settings(**{"page_size": 3, **settings}), report)
    return report


def titles(side: CalsyncSide) -> dict[str, str]:
    return dict(Event.objects.filter(calendar=side.calendar, parent=None).values_list("uid", "title"))


def test_a_first_sync_is_finished_in_one_run(pair) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = pair
    report = run(local, remote, store)
    assert len(report.of("applied")) == 7 and titles(remote) == titles(local)
    assert Event.objects.filter(calendar=remote.calendar, parent__isnull=False).count() == 1  # the moved occurrence
    for side, cursor in ((local, store.local_cursor), (remote, store.remote_cursor)):
        assert list(side.changes(cursor).changed) == []  # the run read back its own writes: none left over
    local.calls.clear()
    remote.calls.clear()
    assert run(local, remote, store).lines == []
    assert local.calls == remote.calls == {"changes": 1}


def test_reading_since_a_cursor_skips_known_versions_without_loading_them(pair, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = pair
    run(local, remote, store)
    item_save(calendar=remote.calendar, item=event("e1@test", "Edited"))  # one real change among the echoes
    known = lambda pairs: store.known(Side.REMOTE, pairs)  # noqa: E731
    # The cursor, tombstones, a page of (uid, seq), known, the one row and its overrides, the empty next page.
    with django_assert_num_queries(7):
        changes = remote.changes("0", known=known)
        assert [e.uid for e in changes.changed] == ["e1@test"]


def test_changes_go_in_batches(pair) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = pair
    run(local, remote, store)
    for i in range(4):
        item_save(calendar=local.calendar, item=event(f"e{i}@test", f"Edited {i}", day=i))
    for uid in ("e4@test", "e5@test"):
        local.delete(uid, str(Event.objects.get(calendar=local.calendar, uid=uid).seq))
    remote.calls.clear()
    report = run(local, remote, store)
    assert sorted(line[2] for line in report.of("applied")) == ["deleted"] * 2 + ["updated"] * 4
    assert remote.calls.get("update_many") == 2 and remote.calls.get("delete_many") == 1  # pages of three
    assert "update" not in remote.calls and "delete" not in remote.calls
    assert titles(remote) == titles(local) and len(titles(remote)) == 5
    edited = Event.objects.get(calendar=remote.calendar, uid="e0@test")
    assert "edited 0" in edited.search_text
    seqs = list(Event.objects.filter(calendar=remote.calendar, parent=None).values_list("seq", flat=True))
    tombstones = list(Tombstone.objects.filter(calendar=remote.calendar).values_list("seq", flat=True))
    assert len(set(seqs + tombstones)) == len(seqs) + len(tombstones)  # every change a version of its own
    assert run(local, remote, store).lines == []


def test_a_batch_the_target_refuses_is_retried_item_by_item(pair, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = pair
    run(local, remote, store)
    for i in range(3):
        item_save(calendar=local.calendar, item=event(f"e{i}@test", f"Edited {i}", day=i))
    real = CalsyncSide.update_many

    def someone_edits_first(self, writes):  # type: ignore[no-untyped-def]
        # Between the listing and the write, a user edits one of the batch's items in the target calendar.
        item_save(calendar=remote.calendar, item=event("e1@test", "Edited in the other calendar", day=1))
        monkeypatch.setattr(CalsyncSide, "update_many", real)
        return real(self, writes)

    monkeypatch.setattr(CalsyncSide, "update_many", someone_edits_first)
    report = run(local, remote, store, primary=Side.LOCAL)
    assert titles(remote) == titles(local)
    assert [line[2] for line in report.of("conflict")] == ["e1@test"]  # reread, decided again: calsync won
    assert remote.calls.get("update", 0) >= 3  # the refused batch, one by one
    assert run(local, remote, store).lines == []


def test_batched_updates_write_what_one_by_one_updates_write(calendar, member) -> None:  # type: ignore[no-untyped-def]
    from events.services import items_update_many

    twin = calendar_create(owner=member, name="Twin")
    original = series("s@test", moved_summary="Moved")
    changed = replace(original, master=replace(original.master, summary="Renamed", location="Room 4"))
    for target in (calendar, twin):
        item_save(calendar=target, item=original)
    seq = Event.objects.get(calendar=twin, uid="s@test", parent=None).seq
    item_save(calendar=calendar, item=changed)
    [result] = items_update_many(calendar=twin, updates=[(changed, seq)])
    assert result.event.seq > seq and not result.created
    fields = ["title", "location", "search_text", "rrule", "span_start", "span_end", "recurrence_id"]
    one, many = (
        list(Event.objects.filter(calendar=c).order_by("parent_id", "recurrence_id").values_list(*fields))
        for c in (calendar, twin)
    )
    assert one == many


def test_a_stale_version_refuses_the_whole_batch(calendar) -> None:  # type: ignore[no-untyped-def]
    from events.services import PreconditionFailed, items_delete_many, items_update_many

    for uid in ("a@test", "b@test"):
        item_save(calendar=calendar, item=event(uid))
    seqs = dict(Event.objects.filter(calendar=calendar).values_list("uid", "seq"))
    with pytest.raises(PreconditionFailed):
        items_update_many(
            calendar=calendar,
            updates=[(event("a@test", "New"), seqs["a@test"]), (event("b@test", "New"), seqs["b@test"] - 1)],
        )
    with pytest.raises(PreconditionFailed):
        items_delete_many(calendar=calendar, deletions=[("a@test", seqs["a@test"]), ("gone@test", 1)])
    assert set(Event.objects.filter(calendar=calendar).values_list("title", flat=True)) == {"Meeting"}
    assert not Tombstone.objects.filter(calendar=calendar).exists()
    calendar.refresh_from_db()
    assert calendar.change_seq == max(seqs.values())  # the refused batches took no version
