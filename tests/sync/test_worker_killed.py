"""kill -9 of a real worker process in the middle of a sync: its heartbeat stops, the sweep ends the run and
frees the integration within seconds (not the old 15-minute lock), and the next "Synchronize now" syncs."""

from __future__ import annotations

import signal
import time

import pytest
from django.urls import reverse

from events import services as events
from events.models import Event
from sync import liveness
from sync.models import SyncRun
from tests.conftest import celery_worker, wait_until
from tests.faultproxy import Stall

from .items import event
from .test_provider_faults import caldav_through_proxy

# The worker beats every second and is presumed dead after three silent seconds.
FAST_HEARTBEAT = {"SYNC_HEARTBEAT_SECONDS": "1", "SYNC_STALE_SECONDS": "3"}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_run_is_swept_and_the_next_sync_runs(  # type: ignore[no-untyped-def]
    client, member, calendar, radicale, settings
) -> None:
    settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = True
    # The first sync runs at once, in this process (Celery is eager until a worker starts).
    integration, proxy, _ = caldav_through_proxy(radicale, member, calendar, automatic=False)
    events.item_save(calendar=calendar, item=event("after-the-kill@test", "Made while the worker was down"))
    client.force_login(member)
    sync_now = reverse("integrations:sync_now", args=[integration.pk])

    proxy.arm(Stall(20))  # the sync sits in one CalDAV request (under the client's 30 s timeout)
    with celery_worker(**FAST_HEARTBEAT) as worker:
        client.post(sync_now)
        run = SyncRun.objects.filter(integration=integration).latest("id")
        wait_until(lambda: SyncRun.objects.get(pk=run.pk).status == "running" and bool(proxy.seen), worker, "the run")
        time.sleep(4)  # longer than SYNC_STALE_SECONDS: only the heartbeat keeps it alive
        assert liveness.sweep() == 0, "a live run was swept"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=20)
    wait_until(lambda: liveness.sweep() == 1, None, "the sweep to end the dead run")  # within ~3 s of the kill
    run.refresh_from_db()
    assert run.status == "failed" and "worker stopped while syncing" in run.error
    assert run.entries.filter(level="error", message__contains="worker stopped").exists()
    integration.refresh_from_db()
    assert integration.lock_token == ""

    proxy.clear()
    with celery_worker(**FAST_HEARTBEAT) as worker:
        assert "Sync started." in client.post(sync_now, follow=True).content.decode()
        fresh = SyncRun.objects.filter(integration=integration).latest("id")
        assert fresh.pk != run.pk
        wait_until(lambda: SyncRun.objects.get(pk=fresh.pk).finished, worker, "the next sync")
    fresh.refresh_from_db()
    assert fresh.status == "success", fresh.error
    assert fresh.to_remote["created"] == 1
    assert Event.objects.filter(calendar=calendar, uid="after-the-kill@test").count() == 1
    proxy.close()
