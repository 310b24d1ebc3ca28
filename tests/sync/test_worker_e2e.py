"""Celery beat's dispatcher queues a due integration and a real worker process syncs it (Redis under CI)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from events import services as events
from events.models import Event
from integrations.models import Integration
from sync import tasks
from sync.models import SyncRun
from tests.conftest import wait_until
from tests.factories import CalendarFactory

from .items import event, series


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_hands_a_due_sync_to_a_real_worker(member, calendar, worker_queue) -> None:  # type: ignore[no-untyped-def]
    other = CalendarFactory(owner=member, name="Mirror")
    events.item_save(calendar=calendar, item=event("one@test", "Planning"))
    events.item_save(calendar=calendar, item=series("two@test", "Weekly", moved_summary="Moved"))
    integration = Integration.objects.create(
        tenant=member.tenant, user=member, provider="calsync", calendar=calendar, remote_calendar_id=str(other.pk),
        direction="from_calsync", next_sync_at=timezone.now() - timedelta(seconds=5),
    )  # fmt: skip
    assert tasks.dispatch_due.apply().get() == 1  # what beat runs every minute
    # The scheduled sync carries only the integration's id; its run row appears because it had changes to make.
    wait_until(lambda: SyncRun.objects.filter(integration=integration, finished_at__isnull=False).exists(),
               worker_queue, "the dispatched sync to finish")  # fmt: skip
    run = SyncRun.objects.get(integration=integration)
    assert run.status == "success", run.error
    assert run.trigger == "automatic" and run.to_remote["created"] == 2
    copied = Event.objects.get(calendar=other, uid="two@test", parent=None)
    assert copied.overrides.get().title == "Moved"
    integration.refresh_from_db()
    assert integration.next_sync_at > timezone.now() + timedelta(minutes=4)
