"""Tombstones past the retention period are pruned in batches behind each calendar's sync floor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from events import services
from events.models import Calendar, Event, Tombstone
from events.tasks import prune_tombstones
from events.tombstones import token_expired, tombstones_prune
from tests.factories import CalendarFactory, UserFactory
from tests.sync.items import event

pytestmark = pytest.mark.django_db


def _delete(calendar: Calendar, uid: str, *, days_ago: int) -> int:
    """Create and delete an item; its tombstone dated `days_ago`. Returns the tombstone's seq."""
    services.item_save(calendar=calendar, item=event(uid))
    services.item_delete(event=Event.objects.get(calendar=calendar, uid=uid, parent=None))
    tombstone = Tombstone.objects.get(calendar=calendar, uid=uid)
    Tombstone.objects.filter(pk=tombstone.pk).update(deleted_at=timezone.now() - timedelta(days=days_ago))
    return tombstone.seq


def test_old_tombstones_go_and_the_floor_rises_to_the_newest_one_pruned(calendar, settings) -> None:
    settings.RETENTION_DEFAULT_DAYS = 90  # the organisation has not chosen: the operator's default
    first = _delete(calendar, "a", days_ago=120)
    second = _delete(calendar, "b", days_ago=91)
    recent = _delete(calendar, "c", days_ago=10)
    assert tombstones_prune() == 2
    calendar.refresh_from_db()
    assert first < second == calendar.sync_floor < recent
    assert list(Tombstone.objects.values_list("uid", flat=True)) == ["c"]
    assert token_expired(calendar=calendar, since=second - 1)
    assert not token_expired(calendar=calendar, since=second)  # changes after it are all still known
    assert tombstones_prune() == 0


def test_each_calendar_keeps_its_own_floor(calendar, member, other_tenant) -> None:
    other = CalendarFactory(owner=UserFactory(tenant=other_tenant))
    mine = _delete(calendar, "a", days_ago=100)
    _delete(other, "b", days_ago=5)
    assert tombstones_prune() == 1
    assert Calendar.objects.get(pk=calendar.pk).sync_floor == mine
    assert Calendar.objects.get(pk=other.pk).sync_floor == 0
    assert Tombstone.objects.filter(calendar=other).count() == 1


def test_pruning_is_bounded_per_batch_and_the_task_finishes_the_backlog(calendar, settings) -> None:
    settings.TOMBSTONE_PRUNE_BATCH = 2
    seqs = [_delete(calendar, f"e{i}", days_ago=200 - i) for i in range(5)]
    assert tombstones_prune() == 2  # the oldest two
    calendar.refresh_from_db()
    assert calendar.sync_floor == seqs[1]
    assert prune_tombstones() == 3  # the beat task: batches until one comes back short
    calendar.refresh_from_db()
    assert calendar.sync_floor == seqs[4] and not Tombstone.objects.exists()


def test_the_floor_never_goes_down(calendar) -> None:
    seq = _delete(calendar, "a", days_ago=100)
    Calendar.objects.filter(pk=calendar.pk).update(sync_floor=seq + 5)
    _delete(calendar, "b", days_ago=100)  # seq + 2 or so: below the floor set above
    tombstones_prune()
    calendar.refresh_from_db()
    assert calendar.sync_floor == seq + 5


def test_the_operator_command_prunes_in_batches(calendar, capsys) -> None:
    for i in range(3):
        _delete(calendar, f"e{i}", days_ago=100)
    call_command("prune_tombstones", "--batch", "2", "--json")
    assert '"pruned": 3' in capsys.readouterr().out and not Tombstone.objects.exists()
    with pytest.raises(Exception, match="at least 1"):
        call_command("prune_tombstones", "--batch", "0")


def test_an_organisation_that_keeps_its_history_longer_keeps_its_tombstones_longer(calendar, settings) -> None:
    settings.RETENTION_DEFAULT_DAYS = 90
    calendar.tenant.log_retention_days = 365
    calendar.tenant.save(update_fields=["log_retention_days"])
    _delete(calendar, "a", days_ago=120)
    assert tombstones_prune() == 0  # past the operator's default, within the organisation's own period
    calendar.tenant.log_retention_days = 30
    calendar.tenant.save(update_fields=["log_retention_days"])
    assert tombstones_prune() == 1
