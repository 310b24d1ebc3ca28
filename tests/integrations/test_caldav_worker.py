"""Synchronize now on a CalDAV integration, carried out by a real Celery worker process (Redis under CI)."""

from __future__ import annotations

import time

import caldav
import pytest
from django.urls import reverse

from events import services as events
from events.models import Event
from integrations.caldav.services import caldav_connect, caldav_discover
from sync.models import SyncRun
from tests.sync.items import event, series

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_synchronize_now_runs_on_a_worker_against_radicale(client, member, calendar, radicale, worker_queue) -> None:  # type: ignore[no-untyped-def]
    url = radicale.new_calendar("Worker")
    remote = next(c for c in caldav_discover(url=radicale.base_url, username="alice", password="app-password-1")
                  if c.url == url)  # fmt: skip
    integration = caldav_connect(user=member, url=radicale.base_url, username="alice", password="app-password-1",
                                 remote=remote, calendar=calendar, sync_enabled=True)  # fmt: skip
    events.item_save(calendar=calendar, item=series("weekly@calsync", "Weekly", moved_summary="Moved"))
    caldav.DAVClient(url=radicale.base_url, username="alice", password="app-password-1").calendar(url=url).add_event(
        _ics("from-server@x", "From the server")
    )
    client.force_login(member)
    client.post(reverse("integrations:sync_now", args=[integration.pk]))
    deadline = time.monotonic() + 90
    while SyncRun.objects.filter(integration=integration, status__in=["queued", "running"]).exists():
        assert time.monotonic() < deadline, "the worker did not finish"
        assert worker_queue.poll() is None, "the worker process died"
        time.sleep(0.3)
    runs = list(integration.runs.order_by("pk"))
    assert all(r.status == "success" for r in runs), [(r.status, r.error) for r in runs]
    assert Event.objects.filter(calendar=calendar, uid="from-server@x").exists()
    on_server = caldav.DAVClient(url=radicale.base_url, username="alice", password="app-password-1").calendar(url=url)
    assert sorted(str(e.icalendar_component["UID"]) for e in on_server.events()) == ["from-server@x", "weekly@calsync"]


def _ics(uid: str, summary: str) -> str:
    from events.ical import serialise

    return serialise([event(uid, summary)])
