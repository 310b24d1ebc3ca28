"""Confirming a preview: once only, never a second first sync; with the queue down, a clear message and the
preview still confirmable; a failed or lost preview can be made again; a calendar change voids earlier previews;
reconnecting an integration that waits for its confirmation previews it again and syncs nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from events import services as events
from integrations.models import Integration
from integrations.services import integration_credentials_replaced, integration_update_settings
from sync import liveness
from sync.errors import TransientError
from sync.models import SyncPreview, SyncRun
from sync.previews import PREVIEW_LOST, preview_execute, preview_request
from tests.factories import CalendarFactory
from tests.sync.items import event

pytestmark = pytest.mark.django_db


def _connect(member_client, calendar, home, run_on_commit):  # type: ignore[no-untyped-def]
    form = {"calendar": calendar.pk, "other": home.pk, "sync_enabled": "on", "direction": "both",
            "primary": "calsync", "automatic": "true", "error_email": "member@acme.test"}  # fmt: skip
    with run_on_commit():
        assert member_client.post(reverse("integrations:connect_calsync"), form).status_code == 302
    return Integration.objects.get(calendar=calendar)


def _messages(answer) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(m) for m in answer.context["messages"]]


def test_a_second_confirmation_does_nothing_and_says_so(member_client, member, calendar, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    home = CalendarFactory(owner=member, name="Home")
    events.item_save(calendar=home, item=event("b@test", "From home"))
    integration = _connect(member_client, calendar, home, run_on_commit)
    preview = integration.previews.get()
    url = reverse("integrations:preview_confirm", args=[integration.pk, preview.pk])
    with run_on_commit():
        member_client.post(url)
    with run_on_commit():
        second = member_client.post(url, follow=True)
    assert "This preview was confirmed already: nothing more was started." in _messages(second)
    assert list(integration.previews.values_list("status", flat=True)) == ["confirmed"]  # no new preview
    assert list(integration.runs.values_list("trigger", flat=True)) == [SyncRun.Trigger.FIRST]  # one first sync
    assert b"Start syncing" not in second.content


def test_a_failed_first_preview_is_made_again(member_client, member, calendar, run_on_commit, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    home = CalendarFactory(owner=member, name="Home")

    def down(integration):  # type: ignore[no-untyped-def]
        raise TransientError("The provider is down for a minute.")

    monkeypatch.setattr("sync.services.registry.build_side", down)
    integration = _connect(member_client, calendar, home, run_on_commit)
    failed = integration.previews.get()
    assert failed.status == "failed"
    page = member_client.get(reverse("integrations:detail", args=[integration.pk]))
    assert b'data-testid="preview-retry"' in page.content
    monkeypatch.undo()
    with run_on_commit():
        member_client.post(reverse("integrations:preview_retry", args=[integration.pk, failed.pk]))
    assert integration.previews.filter(status="ready", reason="first").count() == 1
    SyncPreview.objects.filter(status="ready").update(status="failed")  # failed again: "Synchronize now" too
    with run_on_commit():
        member_client.post(reverse("integrations:sync_now", args=[integration.pk]))
    assert integration.previews.filter(status="ready", reason="first").count() == 1
    assert not integration.runs.exists()


def test_a_preview_whose_worker_died_is_failed_and_can_be_made_again(member, calendar, settings) -> None:  # type: ignore[no-untyped-def]
    home = CalendarFactory(owner=member, name="Home")
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="calsync", calendar=calendar,
                                             remote_calendar_id=str(home.pk), awaiting_confirmation=True)  # fmt: skip
    preview = preview_request(integration=integration, reason="first")
    SyncPreview.objects.filter(pk=preview.pk).update(status="running")  # the worker died mid-preview
    assert preview_execute(preview_id=preview.pk).status == "running"  # type: ignore[union-attr]  # redelivered
    liveness.sweep(now=timezone.now() + timedelta(seconds=settings.PREVIEW_STALE_SECONDS - 5))
    preview.refresh_from_db()
    assert preview.status == "running"  # still within its bound
    liveness.sweep(now=timezone.now() + timedelta(seconds=settings.PREVIEW_STALE_SECONDS + 5))
    preview.refresh_from_db()
    assert (preview.status, preview.error) == ("failed", PREVIEW_LOST)


@pytest.mark.django_db(transaction=True)
def test_confirming_a_resync_with_the_queue_down_says_so(member_client, member, calendar, unreachable_queue,
                                                         settings) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    settings.CELERY_TASK_ALWAYS_EAGER = False
    home = CalendarFactory(owner=member, name="Home")
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="calsync", calendar=calendar,
                                             remote_calendar_id=str(home.pk))  # fmt: skip
    preview = preview_request(integration=integration, reason="resync")  # its task could not be queued either:
    SyncPreview.objects.filter(pk=preview.pk).update(status="queued", error="")  # as if a worker had it
    preview_execute(preview_id=preview.pk)
    answer = member_client.post(reverse("integrations:preview_confirm", args=[integration.pk, preview.pk]), follow=True)
    assert answer.status_code == 200
    assert any("did not start" in m for m in _messages(answer)), _messages(answer)
    preview.refresh_from_db()
    assert preview.status == "ready"  # confirmable again once the queue is back


def test_a_calendar_change_voids_the_previews_made_before(member, calendar) -> None:  # type: ignore[no-untyped-def]
    home, other = CalendarFactory(owner=member, name="Home"), CalendarFactory(owner=member, name="Other")
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="calsync", calendar=home,
                                             remote_calendar_id=str(calendar.pk))  # fmt: skip
    preview = preview_request(integration=integration, reason="settings", proposed={"direction": "to_calsync"})
    preview_execute(preview_id=preview.pk)
    integration_update_settings(integration=integration, calendar=other)
    preview.refresh_from_db()
    assert preview.status == "discarded"
    from sync.previews import preview_valid

    preview.status = "ready"  # even one not discarded (made meanwhile) is of the other calendar
    assert not preview_valid(preview)


def test_reconnecting_while_waiting_for_confirmation_previews_again_and_syncs_nothing(member, calendar) -> None:  # type: ignore[no-untyped-def]
    home = CalendarFactory(owner=member, name="Home")
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="calsync", calendar=calendar,
                                             remote_calendar_id=str(home.pk), awaiting_confirmation=True)  # fmt: skip
    integration_credentials_replaced(integration=integration, credentials={})
    integration.refresh_from_db()
    assert integration.next_sync_at is None and not integration.runs.exists()
    assert list(integration.previews.values_list("reason", flat=True)) == ["first"]
