"""An integration whose cursor fell below its calendar's sync floor recovers by a full listing, losing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from events import services as events
from events.models import Calendar, Event, Tombstone
from events.tombstones import tombstones_prune
from integrations.services import integration_create
from sync import services
from sync.errors import CursorExpired
from sync.local import CalsyncSide
from tests.factories import CalendarFactory

from .items import event

pytestmark = pytest.mark.django_db


def _titles(calendar: Calendar) -> list[str]:
    return sorted(Event.objects.filter(calendar=calendar, parent=None).values_list("title", flat=True))


def _prune_everything_deleted() -> None:
    Tombstone.objects.update(deleted_at=timezone.now() - timedelta(days=400))
    assert tombstones_prune() > 0


def test_a_cursor_below_the_floor_is_expired_and_a_full_listing_is_not(calendar) -> None:
    events.item_save(calendar=calendar, item=event("a@test", "A"))
    cursor = CalsyncSide(calendar).changes(None).cursor
    events.item_save(calendar=calendar, item=event("b@test", "B"))
    events.item_delete(event=Event.objects.get(calendar=calendar, uid="a@test"))
    _prune_everything_deleted()
    side = CalsyncSide(Calendar.objects.get(pk=calendar.pk))
    with pytest.raises(CursorExpired):
        side.changes(cursor)
    listing = side.changes(None)
    assert [e.id for e in listing.changed] == ["b@test"] and listing.complete
    assert list(side.changes(listing.cursor).changed) == []  # the new cursor is at or above the floor


def test_an_integration_with_an_old_cursor_resyncs_and_loses_nothing(member, calendar, run_on_commit) -> None:
    other = CalendarFactory(owner=member, name="Personal")
    for uid in ("a", "b", "c"):
        events.item_save(calendar=calendar, item=event(f"{uid}@test", uid.upper()))
    with run_on_commit():
        integration = integration_create(user=member, provider="calsync", calendar=calendar,
                                         remote_calendar_id=str(other.pk), remote_calendar_name=other.name)  # fmt: skip
    assert _titles(other) == ["A", "B", "C"]

    # While the integration is not syncing: a deletion here, an edit and a new item there, a new item here.
    events.item_delete(event=Event.objects.get(calendar=calendar, uid="a@test"))
    events.item_save(calendar=other, item=event("b@test", "B edited there"))
    events.item_save(calendar=other, item=event("d@test", "D"))
    events.item_save(calendar=calendar, item=event("e@test", "E"))
    _prune_everything_deleted()  # the deletion of A is older than the retention now
    assert Calendar.objects.get(pk=calendar.pk).sync_floor > 0

    run = services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual").pk)
    assert run.status == "success", run.error
    assert _titles(calendar) == _titles(other) == ["B edited there", "C", "D", "E"]
    notes = list(run.entries.filter(action="note").values_list("message", flat=True))
    assert any("comparing everything" in note for note in notes), notes
    again = services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual").pk)
    assert again.status == "success" and _titles(calendar) == _titles(other)
