"""The controls with the database: a mirror's origin and copy hash survive in DbStatusStore between runs, the run
log says "filtered" (neither an error nor an unsynced item), and a conflict's kept copy is a calsync event."""

from __future__ import annotations

import pytest
from django.utils import timezone

from events.models import Event
from events.services import calendar_create, item_save
from integrations.models import Integration
from sync.controls import BUSY_TITLE, Conflicts, Controls, Copy, Flow, is_shaped
from sync.engine import Direction, Settings, Side, content_hash, sync
from sync.local import CalsyncSide
from sync.memory import ListReport
from sync.models import SyncLogEntry, SyncMapping, SyncRun, UnsyncedItem
from sync.store import DbStatusStore, RunReport

from .items import event

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(calendar, member):  # type: ignore[no-untyped-def]
    other = calendar_create(owner=member, name="Other")
    integration = Integration.objects.create(
        tenant=member.tenant, user=member, provider="calsync", calendar=calendar, remote_calendar_id=str(other.pk)
    )
    return CalsyncSide(calendar), CalsyncSide(other), integration


def run(local, remote, integration, controls: Controls, report=None, **settings):  # type: ignore[no-untyped-def]
    report = report or ListReport()
    store = DbStatusStore(Integration.objects.get(pk=integration.pk))  # a fresh store: what the database kept
    sync(local, remote, store, Settings(controls=controls, page_size=3, **settings), report)
    return report


def titles(side: CalsyncSide) -> dict[str, str]:
    return dict(Event.objects.filter(calendar=side.calendar, parent=None).values_list("uid", "title"))


def test_a_mirrors_origin_and_copy_hash_survive_in_the_database(pair) -> None:  # type: ignore[no-untyped-def]
    local, remote, integration = pair
    busy = Controls(out_of_calsync=Flow(copy=Copy.BUSY))
    item_save(calendar=local.calendar, item=event("m@test", "Salary talk", description="secret"))
    run(local, remote, integration, busy)
    row = SyncMapping.objects.get(integration=integration, uid="m@test")
    copy = remote.get(row.remote_id)
    assert copy is not None and copy.item.master.summary == BUSY_TITLE
    assert (row.origin, row.copy_hash) == ("calsync", content_hash(copy.item))
    assert row.content_hash != row.copy_hash

    item_save(calendar=remote.calendar, item=event("m@test", "Edited in the copy"))  # undone from what was kept
    run(local, remote, integration, busy)
    assert titles(remote) == {"m@test": BUSY_TITLE} and titles(local) == {"m@test": "Salary talk"}
    assert SyncMapping.objects.get(pk=row.pk).origin == "calsync"
    assert run(local, remote, integration, busy).lines == []


def test_the_run_log_says_filtered_and_lists_nothing_as_unsynced(pair) -> None:  # type: ignore[no-untyped-def]
    local, remote, integration = pair
    item_save(calendar=local.calendar, item=event("gym@test", "Gym", transparency="TRANSPARENT"))
    item_save(calendar=local.calendar, item=event("work@test", "Work"))
    report = RunReport(integration=integration, trigger=SyncRun.Trigger.MANUAL, started_at=timezone.now())
    run(local, remote, integration, Controls(out_of_calsync=Flow(skip_free=True)), report)
    report.flush()
    assert titles(remote) == {"work@test": "Work"}
    entry = SyncLogEntry.objects.get(run=report.run, action="filtered")
    assert (entry.uid, entry.level) == ("gym@test", SyncLogEntry.Level.INFO)
    assert "Filtered: free time." in entry.message
    run_row = report.run
    run_row.counts = report.count_json()
    assert run_row.count(Side.LOCAL.value, "filtered") == 1
    assert run_row.changes_text == "1 created in the other calendar; 1 filtered from calsync"
    assert not UnsyncedItem.objects.filter(integration=integration).exists() and not report.unsynced_keys


def test_a_kept_conflict_copy_is_a_calsync_event_marked_with_its_original(pair) -> None:  # type: ignore[no-untyped-def]
    local, remote, integration = pair
    keep = Controls(conflicts=Conflicts.KEEP_BOTH)
    item_save(calendar=local.calendar, item=event("c@test", "Plan"))
    run(local, remote, integration, keep)
    item_save(calendar=local.calendar, item=event("c@test", "Plan A"))
    item_save(calendar=remote.calendar, item=event("c@test", "Plan B"))
    run(local, remote, integration, keep)
    kept = Event.objects.get(calendar=local.calendar, parent=None, title__endswith="(conflicting copy from the other "
                                                                                   "calendar)")  # fmt: skip
    assert kept.title.startswith("Plan B")
    item = local.get(next(e.id for e in local.changes(None).changed if e.uid == kept.uid))
    assert item is not None and ("X-CALSYNC-CONFLICT-OF", (), "c@test") in item.item.master.extra_properties
    assert titles(remote) == titles(local)


def test_a_run_whose_only_news_is_filtered_items_is_quiet(pair) -> None:  # type: ignore[no-untyped-def]
    """Review 3, finding 5: a complete listing says the filtered items again; alone, that is no news (no run row,
    not counted as busy, no run_changed), while a run with something else to say still logs them."""
    local, remote, integration = pair
    skip_free = Controls(out_of_calsync=Flow(skip_free=True))
    item_save(calendar=local.calendar, item=event("gym@test", "Gym", transparency="TRANSPARENT"))
    counts = []
    for _ in range(2):
        Integration.objects.filter(pk=integration.pk).update(local_cursor="", remote_cursor="")  # a complete listing
        report = RunReport(integration=integration, trigger=SyncRun.Trigger.AUTOMATIC, started_at=timezone.now())
        run(local, remote, integration, skip_free, report)
        counts.append((report.quiet, dict(report.counts), report.count_json()))
    assert counts == [(True, {}, {"calsync": {"filtered": 1}})] * 2
    assert not SyncRun.objects.filter(integration=integration).exists()

    item_save(calendar=local.calendar, item=event("work@test", "Work"))
    Integration.objects.filter(pk=integration.pk).update(local_cursor="", remote_cursor="")
    report = RunReport(integration=integration, trigger=SyncRun.Trigger.AUTOMATIC, started_at=timezone.now())
    run(local, remote, integration, skip_free, report)
    report.flush()
    assert not report.quiet
    assert set(SyncLogEntry.objects.filter(run=report.run).values_list("action", "uid")) == {
        ("filtered", "gym@test"),
        ("created", "work@test"),
    }


def test_a_hub_keeps_outlooks_own_invitation_under_another_integrations_busy_copy(pair, member) -> None:  # type: ignore[no-untyped-def]
    """The shaped-copy marker survives calsync's storage, so the plain integration B holds back A's busy copy."""
    hub, google, a = pair
    outlook = CalsyncSide(calendar_create(owner=member, name="Outlook"))
    b = Integration.objects.create(tenant=member.tenant, user=member, provider="calsync", calendar=hub.calendar,
                                   remote_calendar_id=str(outlook.calendar.pk))  # fmt: skip
    item_save(calendar=google.calendar, item=event("invite@x", "Board meeting"))
    item_save(calendar=outlook.calendar, item=event("invite@x", "Board meeting", description="agenda"))
    run(hub, google, a, Controls(into_calsync=Flow(copy=Copy.BUSY)), direction=Direction.TO_LOCAL)
    copy = Event.objects.get(calendar=hub.calendar, uid="invite@x")
    assert copy.title == BUSY_TITLE and is_shaped(hub.find("invite@x").item)  # type: ignore[union-attr]
    report = run(hub, outlook, b, Controls(), primary=Side.LOCAL)
    assert titles(outlook) == {"invite@x": "Board meeting"}
    assert Event.objects.get(calendar=outlook.calendar, uid="invite@x").description == "agenda"
    assert report.of("filtered") and not report.of("conflict")
    assert SyncMapping.objects.get(integration=b, uid="invite@x").origin == ""
