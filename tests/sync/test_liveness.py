"""Runs that would never finish are ended: a dead worker's (heartbeat gone silent), a lost task's; a slow but
live sync is not. And a sync asked for while the task queue is unreachable says so and leaves nothing queued."""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from events import services as events
from integrations import registry
from integrations.models import Integration
from sync import dispatch, liveness, services
from sync.models import SyncRun
from tests.factories import CalendarFactory

from .items import event


def pair_integration(member, calendar, **fields) -> Integration:  # type: ignore[no-untyped-def]
    other = CalendarFactory(owner=member, name="Personal")
    return Integration.objects.create(
        tenant=member.tenant, user=member, provider=fields.pop("provider", "calsync"), calendar=calendar,
        remote_calendar_id=str(other.pk), automatic=False, **fields,
    )  # fmt: skip


def run_in(integration: Integration, status: str, **fields) -> SyncRun:  # type: ignore[no-untyped-def]
    return SyncRun.objects.create(
        tenant_id=integration.tenant_id, integration=integration, trigger="manual", status=status, **fields
    )


def lock(integration: Integration, *, silent_for: int) -> None:
    """The integration's lock as a sync leaves it whose last heartbeat was `silent_for` seconds ago."""
    from django.conf import settings

    expires = timezone.now() + timedelta(seconds=settings.SYNC_STALE_SECONDS - silent_for)
    Integration.objects.filter(pk=integration.pk).update(lock_token="a-worker", lock_expires_at=expires)


@pytest.mark.django_db
def test_a_run_whose_heartbeat_went_silent_is_ended_logged_and_a_new_sync_runs(  # type: ignore[no-untyped-def]
    client, member, calendar, run_on_commit
) -> None:
    integration = pair_integration(member, calendar)
    events.item_save(calendar=calendar, item=event("a@test", "Planning"))
    dead = run_in(integration, "running", started_at=timezone.now() - timedelta(minutes=3))
    lock(integration, silent_for=125)
    assert liveness.sweep() == 1
    dead.refresh_from_db()
    assert dead.status == "failed" and dead.finished_at is not None
    assert "worker stopped while syncing" in dead.error
    assert dead.entries.get().level == "error" and "worker stopped" in dead.entries.get().message
    integration.refresh_from_db()
    assert integration.lock_token == "" and integration.lock_expires_at is None
    client.force_login(member)
    with run_on_commit():
        page = client.post(reverse("integrations:sync_now", args=[integration.pk]), follow=True).content.decode()
    assert "Sync started." in page
    fresh = integration.runs.exclude(pk=dead.pk).get()
    assert fresh.status == "success" and fresh.to_remote["created"] == 1
    assert liveness.sweep() == 0


@pytest.mark.django_db
def test_a_live_run_and_a_retry_waiting_out_its_back_off_are_not_swept(member, calendar) -> None:  # type: ignore[no-untyped-def]
    integration = pair_integration(member, calendar)
    live = run_in(integration, "running", started_at=timezone.now() - timedelta(hours=2))  # long, but beating
    lock(integration, silent_for=30)
    later = run_in(integration, "queued", attempt=2, due_at=timezone.now() + timedelta(minutes=8))
    assert liveness.sweep() == 0
    assert services.sync_request_manual(integration=integration).pk in (live.pk, later.pk)  # no second run
    assert integration.runs.count() == 2
    live.refresh_from_db()
    later.refresh_from_db()
    assert live.status == "running" and later.status == "queued"
    integration.refresh_from_db()
    assert integration.lock_token == "a-worker"


@pytest.mark.django_db
def test_a_queued_run_no_worker_started_is_ended_and_no_longer_swallows_synchronize_now(  # type: ignore[no-untyped-def]
    settings, member, calendar, run_on_commit
) -> None:
    integration = pair_integration(member, calendar)
    lost = run_in(
        integration, "queued", due_at=timezone.now() - timedelta(seconds=settings.SYNC_QUEUED_TIMEOUT_SECONDS + 5)
    )
    waiting = run_in(pair_integration(member, CalendarFactory(owner=member)), "queued", due_at=timezone.now())
    with run_on_commit():
        run = services.sync_request_manual(integration=integration)  # the button finds the lost run ended
    lost.refresh_from_db()
    waiting.refresh_from_db()
    assert lost.status == "failed" and "No worker started this sync" in lost.error
    assert lost.entries.get().message == lost.error
    assert run.pk != lost.pk
    run.refresh_from_db()
    assert run.status == "success"
    assert waiting.status == "queued"  # due now, a worker may still take it
    out = io.StringIO()
    call_command("sync_sweep", "--json", stdout=out)
    assert '"ended": 0' in out.getvalue()


@pytest.mark.django_db
def test_an_import_whose_task_was_lost_is_ended_by_the_sweep(settings, member, calendar) -> None:  # type: ignore[no-untyped-def]
    from events.models import ImportJob

    lost, fresh = (
        ImportJob.objects.create(tenant=member.tenant, calendar=calendar, created_by=member, filename=name, payload="")
        for name in ("lost.ics", "fresh.ics")
    )
    long_ago = timezone.now() - timedelta(seconds=settings.SYNC_QUEUED_TIMEOUT_SECONDS + 5)
    ImportJob.objects.filter(pk=lost.pk).update(created_at=long_ago)
    liveness.sweep()
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.status == "failed" and "No worker started this import" in lost.error and lost.finished_at
    assert fresh.status == "pending"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_a_slow_sync_alive_past_the_stale_limit(settings, member, calendar, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One provider call longer than SYNC_STALE_SECONDS: the heartbeat thread, not progress, keeps the run alive."""
    monkeypatch.setitem(registry.SIDES, "google", "tests.sync.slow_provider")
    settings.SYNC_HEARTBEAT_SECONDS, settings.SYNC_STALE_SECONDS = 0.5, 2
    integration = pair_integration(member, calendar, provider="google", config={"seconds": 5})
    events.item_save(calendar=calendar, item=event("a@test", "Planning"))
    run = services.sync_request(integration=integration, trigger="manual", queue=False)
    worker = threading.Thread(target=services.sync_execute, kwargs={"run_id": run.pk})
    worker.start()
    swept = []
    deadline = time.monotonic() + 4.5  # the sync sits in one call for 5 s, over twice the stale limit
    while time.monotonic() < deadline:
        time.sleep(0.5)
        swept.append(liveness.sweep())
    worker.join(timeout=60)
    run.refresh_from_db()
    assert swept == [0] * len(swept)
    assert run.status == "success" and run.to_remote["created"] == 1, run.error


@pytest.mark.django_db(transaction=True)  # as a web request: no transaction around it, the publish is at once
def test_synchronize_now_with_the_queue_unreachable_says_so_and_leaves_nothing_queued(  # type: ignore[no-untyped-def]
    client, member, calendar, unreachable_queue
) -> None:
    integration = pair_integration(member, calendar)
    client.force_login(member)
    page = client.post(reverse("integrations:sync_now", args=[integration.pk]), follow=True)
    assert page.status_code == 200
    assert "Could not reach the task queue" in page.content.decode()
    run = integration.runs.get()
    assert run.status == "failed" and "Could not reach the task queue" in run.error
    with pytest.raises(CommandError, match="Could not reach the task queue"):
        call_command("sync_now", "--tenant", "acme", "--integration", str(integration.pk), stdout=io.StringIO())
    assert not integration.runs.filter(status__in=["queued", "running"]).exists()
    out = io.StringIO()  # an operator can still sync without the queue
    call_command("sync_now", "--tenant", "acme", "--integration", str(integration.pk), "--inline", stdout=out)
    assert "Succeeded" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_leaves_integrations_due_when_the_queue_is_unreachable(
    member, calendar, unreachable_queue
) -> None:  # type: ignore[no-untyped-def]
    moment = timezone.now()
    first = pair_integration(member, calendar, next_sync_at=moment - timedelta(minutes=2))
    second = pair_integration(member, CalendarFactory(owner=member), next_sync_at=moment - timedelta(minutes=1))
    Integration.objects.filter(pk__in=[first.pk, second.pk]).update(automatic=True)
    assert dispatch.dispatch_due(now=moment) == 0
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.next_sync_at == moment and second.next_sync_at == moment  # both due at the next dispatch
    assert not first.runs.exists() and not second.runs.exists()  # a scheduled sync has no row until it runs


@pytest.mark.django_db(transaction=True)
def test_saving_settings_with_the_queue_unreachable_shows_why_no_sync_ran(  # type: ignore[no-untyped-def]
    client, member, calendar, unreachable_queue
) -> None:
    integration = pair_integration(member, calendar)
    client.force_login(member)
    form = {"sync_enabled": "on", "direction": "both", "primary": "calsync", "automatic": "false",
            "error_email": "member@acme.test", "calendar": str(calendar.pk)}  # fmt: skip
    page = client.post(reverse("integrations:detail", args=[integration.pk]), form, follow=True)
    assert page.status_code == 200
    flashed = [str(m) for m in page.context["messages"]]
    assert flashed == [
        "Settings saved. Could not reach the task queue, so this sync did not start. Try again in a few minutes."
    ]
    assert (
        'data-testid="last-run"' in page.content.decode() and "Could not reach the task queue" in page.content.decode()
    )
    assert list(integration.runs.values_list("status", flat=True)) == ["failed"]


@pytest.mark.django_db(transaction=True)
def test_an_import_uploaded_with_the_queue_unreachable_says_so_and_does_not_wait_for_ever(  # type: ignore[no-untyped-def]
    client, member, calendar, unreachable_queue
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from events.models import ImportJob

    ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:i@test\r\nDTSTART:20261123T100000Z\r\n"
    ics += b"SUMMARY:Imported\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    client.force_login(member)
    upload = SimpleUploadedFile("team.ics", ics, content_type="text/calendar")
    page = client.post(reverse("events:calendar_import", args=[calendar.pk]), {"file": upload}, follow=True)
    assert page.status_code == 200 and "Could not reach the task queue" in page.content.decode()
    job = ImportJob.objects.get()
    assert job.status == "failed" and "nothing was imported" in job.error
