"""Previews in the product: a first sync waits for the user's confirmation of its preview, a resync, new settings
and a safety stop are previewed and confirmed, a stale preview is made again, and previews write nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from events import services as events
from events.models import Event
from integrations.models import Integration
from integrations.services import integration_create
from sync import dispatch, services
from sync.errors import AuthRevoked
from sync.models import SyncLogEntry, SyncMapping, SyncPreview, SyncRun
from sync.previews import preview_execute, preview_request
from tests.factories import CalendarFactory, UserFactory
from tests.sync.items import event
from tests.sync.test_services import titles

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(member):  # type: ignore[no-untyped-def]
    return CalendarFactory(owner=member, name="Home")


def connect_through_the_page(member_client, calendar, home, run_on_commit) -> Integration:  # type: ignore[no-untyped-def]
    form = {"calendar": calendar.pk, "other": home.pk, "sync_enabled": "on", "direction": "both",
            "primary": "calsync", "automatic": "true", "error_email": "member@acme.test"}  # fmt: skip
    with run_on_commit():
        answer = member_client.post(reverse("integrations:connect_calsync"), form)
    assert answer.status_code == 302, answer.content
    return Integration.objects.get(calendar=calendar)


def test_connecting_waits_for_the_preview_to_be_confirmed(member_client, calendar, home, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    events.item_save(calendar=calendar, item=event("a@test", "From work", attendees=()))
    events.item_save(calendar=home, item=event("b@test", "From home"))
    integration = connect_through_the_page(member_client, calendar, home, run_on_commit)
    assert integration.awaiting_confirmation and integration.next_sync_at is None
    assert not SyncRun.objects.filter(integration=integration).exists()
    preview = SyncPreview.objects.get(integration=integration)
    assert (preview.reason, preview.status) == ("first", "ready")
    assert preview.counts == {"calsync": {"created": 1}, "remote": {"created": 1}}
    assert {e["title"] for e in preview.examples} == {"From work", "From home"}
    assert preview.invitations["invitations"] == 0
    assert titles(calendar) == ["From work"] and titles(home) == ["From home"]  # nothing written

    page = member_client.get(reverse("integrations:detail", args=[integration.pk]))
    assert b'data-testid="preview-confirm"' in page.content and b"From home" in page.content
    assert b"Waiting for you to confirm the first sync" in page.content  # not "Working": nothing syncs yet
    state = member_client.get(reverse("integrations:status", args=[integration.pk])).json()
    assert state["integration_status_label"] == "Waiting for you to confirm the first sync"

    # Nothing syncs meanwhile: "Synchronize now", a run already queued, a scheduled or pushed sync, dispatch.
    member_client.post(reverse("integrations:sync_now", args=[integration.pk]))
    assert not SyncRun.objects.filter(integration=integration).exists()
    queued = services.sync_request(integration=integration, trigger="manual", queue=False)
    assert services.sync_execute(run_id=queued.pk).status == "skipped"
    assert services.sync_scheduled(integration_id=integration.pk, trigger="push") is None
    assert dispatch.dispatch_due() == 0
    assert titles(home) == ["From home"]

    with run_on_commit():
        member_client.post(reverse("integrations:preview_confirm", args=[integration.pk, preview.pk]))
    integration.refresh_from_db()
    assert not integration.awaiting_confirmation and integration.next_sync_at is not None
    run = integration.runs.get(trigger="first")
    assert run.status == "success" and run.counts == preview.counts
    assert titles(calendar) == titles(home) == ["From home", "From work"]


def test_programmatic_connects_still_sync_at_once(member, calendar, home, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    with run_on_commit():
        integration = integration_create(user=member, provider="calsync", calendar=calendar,
                                         remote_calendar_id=str(home.pk), remote_calendar_name="Home")  # fmt: skip
    assert not integration.awaiting_confirmation and integration.runs.get().trigger == "first"
    assert not integration.previews.exists()


def synced(member, calendar, home, run_on_commit) -> Integration:  # type: ignore[no-untyped-def]
    for i in range(6):
        events.item_save(calendar=calendar, item=event(f"e{i}@test", f"Event {i}"))
    with run_on_commit():
        return integration_create(user=member, provider="calsync", calendar=calendar,
                                  remote_calendar_id=str(home.pk), remote_calendar_name="Home")  # fmt: skip


def _rows(integration: Integration) -> tuple[object, ...]:
    integration.refresh_from_db()
    mappings = sorted(SyncMapping.objects.filter(integration=integration).values_list("uid", "local_version",
                                                                                      "remote_version"))  # fmt: skip
    held = sorted(Event.objects.filter(calendar__in=[integration.calendar_id, int(integration.remote_calendar_id)])
                  .values_list("calendar_id", "uid", "seq"))  # fmt: skip
    return integration.local_cursor, integration.remote_cursor, mappings, held, SyncRun.objects.count()


def test_a_settings_change_is_previewed_then_applied(member_client, member, calendar, home, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = synced(member, calendar, home, run_on_commit)
    events.item_save(calendar=home, item=event("h@test", "Only at home"))
    before = _rows(integration)
    form = {"calendar": calendar.pk, "sync_enabled": "on", "direction": "to_calsync", "primary": "calsync",
            "automatic": "true", "error_email": integration.error_email}  # fmt: skip
    with run_on_commit():
        member_client.post(reverse("integrations:detail", args=[integration.pk]), form)
    integration.refresh_from_db()
    assert integration.direction == "both"  # not yet
    preview = integration.previews.get(reason="settings")
    assert preview.proposed["direction"] == "to_calsync" and preview.status == "ready"
    assert preview.counts == {"calsync": {"created": 1}}
    assert preview.examples[0]["title"] == "Only at home"
    assert _rows(integration) == before  # no run, nothing written
    with run_on_commit():
        member_client.post(reverse("integrations:preview_confirm", args=[integration.pk, preview.pk]))
    integration.refresh_from_db()
    assert integration.direction == "to_calsync"
    assert "Only at home" in titles(calendar)


def test_other_settings_save_at_once_beside_a_previewed_direction(member_client, member, calendar, home,
                                                                  run_on_commit) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    integration = synced(member, calendar, home, run_on_commit)
    form = {"calendar": calendar.pk, "sync_enabled": "on", "direction": "to_calsync", "primary": "calsync",
            "automatic": "true", "error_email": "new@acme.test"}  # fmt: skip
    with run_on_commit():
        member_client.post(reverse("integrations:detail", args=[integration.pk]), form)
    integration.refresh_from_db()
    assert (integration.error_email, integration.direction) == ("new@acme.test", "both")
    assert integration.previews.get().proposed["direction"] == "to_calsync"


def test_a_stale_preview_is_made_again_instead_of_confirmed(member_client, member, calendar, home,
                                                            run_on_commit) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    integration = synced(member, calendar, home, run_on_commit)
    with run_on_commit():
        member_client.post(reverse("integrations:resync", args=[integration.pk]))
    old = integration.previews.get()
    SyncPreview.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(hours=1))
    runs = SyncRun.objects.count()
    with run_on_commit():
        member_client.post(reverse("integrations:preview_confirm", args=[integration.pk, old.pk]))
    assert SyncRun.objects.count() == runs  # nothing started
    old.refresh_from_db()
    fresh = integration.previews.exclude(pk=old.pk).get()
    assert old.status == "discarded" and (fresh.reason, fresh.status) == ("resync", "ready")
    with run_on_commit():
        member_client.post(reverse("integrations:preview_confirm", args=[integration.pk, fresh.pk]))
    assert integration.runs.filter(trigger="resync", status="success").exists()


def test_a_preview_for_settings_changed_since_is_made_again(member, calendar, home, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    from integrations.services import integration_preview_confirm

    integration = synced(member, calendar, home, run_on_commit)
    with run_on_commit():
        preview = preview_request(integration=integration, reason="resync")
    Integration.objects.filter(pk=integration.pk).update(primary="remote")
    preview.refresh_from_db()
    with run_on_commit():
        again = integration_preview_confirm(preview=preview, user=member)
    assert again is not None and again.proposed["primary"] == "remote"


def test_safety_stop_previews_the_deletions_then_allows_them(member_client, member, calendar, home,
                                                             run_on_commit) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    integration = synced(member, calendar, home, run_on_commit)
    for found in Event.objects.filter(calendar=home):
        events.item_delete(event=found)
    with run_on_commit():
        services.sync_request_manual(integration=integration)
    integration.refresh_from_db()
    assert integration.status == "stopped"
    page = member_client.get(reverse("integrations:detail", args=[integration.pk]))
    assert b'data-testid="allow-deletion"' in page.content

    before = _rows(integration)
    with run_on_commit():
        member_client.post(reverse("integrations:allow_mass_delete", args=[integration.pk]))
    preview = integration.previews.get(reason="deletions")
    assert preview.status == "ready" and preview.error == ""
    assert preview.counts == {"calsync": {"deleted": 6}}
    assert _rows(integration) == (*before[:4], before[4])  # no run, nothing written
    assert not Integration.objects.get(pk=integration.pk).allow_mass_delete
    with run_on_commit():
        member_client.post(reverse("integrations:preview_confirm", args=[integration.pk, preview.pk]))
    assert titles(calendar) == []
    run = integration.runs.order_by("-pk").first()
    assert run.counts == preview.counts


def test_a_preview_reports_the_safety_stop_as_its_result(member, calendar, home, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = synced(member, calendar, home, run_on_commit)
    for found in Event.objects.filter(calendar=home):
        events.item_delete(event=found)
    with run_on_commit():
        preview = preview_request(integration=integration, reason="resync")
    preview.refresh_from_db()
    assert preview.status == "ready" and preview.error.startswith("The sync would stop for safety:")


def test_a_provider_error_fails_the_preview_with_a_clear_message(member, calendar, home, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="calsync",
                                             calendar=calendar, remote_calendar_id=str(home.pk))  # fmt: skip

    def revoked(integration):  # type: ignore[no-untyped-def]
        raise AuthRevoked("The provider refused calsync's access (invalid_grant).")

    monkeypatch.setattr("sync.services.registry.build_side", revoked)
    preview = SyncPreview.objects.create(tenant=member.tenant, integration=integration, reason="first")
    done = preview_execute(preview_id=preview.pk)
    assert done is not None and done.status == "failed"
    done.refresh_from_db()
    assert done.status == "failed" and "Reconnect it" in done.error and "invalid_grant" in done.error


def test_a_member_cannot_reach_another_members_preview(client, member, calendar, home, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    colleague = UserFactory(tenant=member.tenant, email="colleague@acme.test")
    integration = synced(member, calendar, home, run_on_commit)
    with run_on_commit():
        preview = preview_request(integration=integration, reason="resync")
    client.force_login(colleague)
    confirm = reverse("integrations:preview_confirm", args=[integration.pk, preview.pk])
    assert client.post(confirm).status_code == 404
    assert client.get(reverse("integrations:preview_state", args=[integration.pk])).status_code == 404
    preview.refresh_from_db()
    assert preview.status == "ready" and not integration.runs.filter(trigger="resync").exists()


def test_retention_prunes_old_previews(member, calendar, home, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    from sync import retention

    integration = synced(member, calendar, home, run_on_commit)
    with run_on_commit():
        old = preview_request(integration=integration, reason="resync")
        kept = preview_request(integration=integration, reason="resync")
    SyncPreview.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    pruned = retention.prune(tenant=member.tenant)
    assert pruned.counts["previews"] == 1
    assert list(SyncPreview.objects.values_list("pk", flat=True)) == [kept.pk]
    assert SyncLogEntry.objects.exists()  # the recent runs' history stays


@pytest.mark.parametrize("ended_by", ["undo", "reconnect"])
def test_the_deletions_preview_goes_when_the_stop_ends(member_client, member, calendar, home, run_on_commit,
                                                       ended_by) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """Final review finding 6: the user previews "allow the deletion", then puts the items back instead (or the
    stop ends otherwise): the preview is discarded, not shown, and its button allows and starts nothing."""
    from integrations.services import integration_credentials_replaced

    integration = synced(member, calendar, home, run_on_commit)
    for found in Event.objects.filter(calendar=home):
        events.item_delete(event=found)
    with run_on_commit():
        services.sync_request_manual(integration=integration)
    stopped = integration.runs.order_by("-pk").first()
    with run_on_commit():
        member_client.post(reverse("integrations:allow_mass_delete", args=[integration.pk]))
    preview = integration.previews.get(reason="deletions")
    assert preview.status == "ready"
    with run_on_commit():
        if ended_by == "undo":
            member_client.post(reverse("integrations:undo_run", args=[stopped.pk]), {})
        else:  # the status leaves STOPPED without a sync discarding it (e.g. reconnected while paused)
            Integration.objects.filter(pk=integration.pk).update(sync_enabled=False)
            integration.refresh_from_db()
            integration_credentials_replaced(integration=integration, credentials={})
    integration.refresh_from_db()
    preview.refresh_from_db()
    assert integration.status == "ok"
    assert preview.status == ("discarded" if ended_by == "undo" else "ready")
    page = member_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert "Allow the deletion" not in page and "Deletions held back" not in page

    runs = integration.runs.count()
    Integration.objects.filter(pk=integration.pk).update(sync_enabled=True)
    with run_on_commit():
        answer = member_client.post(reverse("integrations:preview_confirm", args=[integration.pk, preview.pk]),
                                    follow=True)  # fmt: skip
    integration.refresh_from_db()
    assert "The safety stop is over" in answer.content.decode()
    assert not integration.allow_mass_delete and integration.runs.count() == runs
    assert integration.previews.filter(reason="deletions").count() == 1, "no new deletions preview made"
