"""Sync runs through the database: the Celery task (eager here), lock, dispatcher, logs and emails."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from events import services as events
from events.models import Event
from integrations import registry
from integrations.models import Integration
from integrations.services import integration_create, integration_update_settings
from sync import services
from sync.models import SyncLogEntry, SyncMapping, SyncRun
from tests.factories import CalendarFactory, UserFactory

from .items import event

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(member, calendar):  # type: ignore[no-untyped-def]
    other = CalendarFactory(owner=member, name="Personal")
    return calendar, other


def connect(member, pair, run_on_commit, **settings) -> Integration:  # type: ignore[no-untyped-def]
    calendar, other = pair
    with run_on_commit():
        return integration_create(user=member, provider="calsync", calendar=calendar, remote_calendar_id=str(other.pk),
                                  remote_calendar_name=other.name, **settings)  # fmt: skip


def titles(calendar) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(Event.objects.filter(calendar=calendar, parent=None).values_list("title", flat=True))


def test_connecting_runs_the_first_sync_at_once(member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    calendar, other = pair
    events.item_save(calendar=calendar, item=event("a@test", "From work"))
    events.item_save(calendar=other, item=event("b@test", "From home"))
    integration = connect(member, pair, run_on_commit)
    run = integration.runs.get()
    assert (run.trigger, run.status) == ("first", "success")
    assert run.to_remote == {"created": 1, "updated": 0, "deleted": 0} and run.to_calsync["created"] == 1
    assert titles(calendar) == titles(other) == ["From home", "From work"]
    integration.refresh_from_db()
    assert integration.next_sync_at is not None and integration.lock_token == ""
    assert SyncMapping.objects.filter(integration=integration).count() == 2
    assert SyncLogEntry.objects.filter(run=run, action="created").count() == 2


def test_a_no_op_run_costs_a_fixed_number_of_queries(
    member, pair, run_on_commit, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    calendar, _ = pair
    for i in range(40):
        events.item_save(calendar=calendar, item=event(f"e{i}@test", f"Event {i}"))
    integration = connect(member, pair, run_on_commit)
    with run_on_commit():
        services.sync_request_manual(integration=integration)  # sees its own writes come back
    run = services.sync_request(integration=integration, trigger="manual")
    with django_assert_max_num_queries(25):
        services.sync_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "success" and run.counts == {}


def test_one_sync_at_a_time_and_a_dead_workers_lock_expires(member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = connect(member, pair, run_on_commit, sync_enabled=False)
    Integration.objects.filter(pk=integration.pk).update(
        sync_enabled=True, lock_token="held", lock_expires_at=timezone.now() + timedelta(minutes=5)
    )
    stuck = SyncRun.objects.create(tenant=member.tenant, integration=integration, trigger="manual", status="running")
    run = services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual").pk)
    assert run.status == "skipped"
    Integration.objects.filter(pk=integration.pk).update(lock_expires_at=timezone.now() - timedelta(seconds=1))
    run = services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual").pk)
    assert run.status == "success"
    stuck.refresh_from_db()
    assert stuck.status == "failed" and "worker stopped while syncing" in stuck.error


def test_paused_integrations_do_not_sync(member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    calendar, other = pair
    integration = connect(member, pair, run_on_commit, sync_enabled=False)
    assert integration.runs.count() == 0
    events.item_save(calendar=calendar, item=event("a@test"))
    run = services.sync_execute(run_id=services.sync_request(integration=integration, trigger="automatic").pk)
    assert run.status == "skipped" and titles(other) == []


def test_settings_change_restarts_the_pairing_and_syncs(member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    _, other = pair
    integration = connect(member, pair, run_on_commit)
    third = CalendarFactory(owner=member, name="Third")
    events.item_save(calendar=third, item=event("t@test", "In third"))
    with run_on_commit():
        integration_update_settings(integration=integration, calendar=third, direction="to_calsync")
    assert titles(third) == ["In third"] and titles(other) == []  # one-way into calsync: nothing goes out


@pytest.fixture
def failing(monkeypatch):  # type: ignore[no-untyped-def]
    """Google's slot in the registry taken by a provider that fails on demand; the real one comes back after."""
    monkeypatch.setitem(registry.SIDES, "google", "tests.sync.failing_provider")


def make_failing(member, pair, kind: str) -> Integration:  # type: ignore[no-untyped-def]
    calendar, other = pair
    integration = Integration.objects.create(
        tenant=member.tenant, user=member, provider="google", calendar=calendar, remote_calendar_id=str(other.pk),
        config={"fail": kind}, error_email="alerts@acme.test",
    )  # fmt: skip
    integration.set_credentials({"refresh_token": "SECRET-REFRESH-TOKEN"})
    integration.save()
    return integration


def test_a_revoked_token_asks_to_reconnect_with_one_email(member, pair, failing) -> None:  # type: ignore[no-untyped-def]
    integration = make_failing(member, pair, "revoked")
    for _ in range(3):
        services.sync_execute(run_id=services.sync_request(integration=integration, trigger="automatic").pk)
    integration.refresh_from_db()
    assert integration.status == "needs_reauth"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alerts@acme.test"] and "needs reconnecting" in message.subject
    assert "SECRET-REFRESH-TOKEN" not in message.body and "please reconnect" in message.body
    integration.config = {}
    integration.save()
    services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual").pk)
    integration.refresh_from_db()
    assert integration.status == "ok" and len(mail.outbox) == 2 and "works again" in mail.outbox[1].subject


def test_transient_failures_retry_with_backoff_then_give_up(member, pair, failing, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = make_failing(member, pair, "transient")
    with run_on_commit():
        run = services.sync_request(integration=integration, trigger="automatic")
    runs = list(integration.runs.order_by("pk"))
    assert [r.status for r in runs] == ["retrying"] * (services.MAX_ATTEMPTS - 1) + ["failed"]
    assert [r.attempt for r in runs] == list(range(1, services.MAX_ATTEMPTS + 1))
    assert "gave up after 4 attempts" in runs[-1].error and run.pk == runs[0].pk
    assert len(mail.outbox) == 1


def test_a_suddenly_empty_calendar_stops_the_sync_until_the_user_confirms(member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    calendar, other = pair
    for i in range(6):
        events.item_save(calendar=calendar, item=event(f"e{i}@test"))
    integration = connect(member, pair, run_on_commit)
    for ev in Event.objects.filter(calendar=other, parent=None):
        events.item_delete(event=ev)
    run = services.sync_execute(run_id=services.sync_request(integration=integration, trigger="automatic").pk)
    integration.refresh_from_db()
    assert run.status == "stopped" and integration.status == "stopped" and len(titles(calendar)) == 6
    assert "suddenly lists none" in mail.outbox[0].body
    with run_on_commit():
        from integrations.services import integration_allow_mass_delete

        integration_allow_mass_delete(integration=integration)
    integration.refresh_from_db()
    assert titles(calendar) == [] and integration.status == "ok" and not integration.allow_mass_delete


def test_conflict_loser_is_kept_in_the_log(member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    calendar, other = pair
    events.item_save(calendar=calendar, item=event("a@test", "Original"))
    integration = connect(member, pair, run_on_commit)
    events.item_save(calendar=calendar, item=event("a@test", "calsync edit"))
    events.item_save(calendar=other, item=event("a@test", "other edit"))
    run = services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual").pk)
    assert run.conflicts == 1 and titles(other) == ["calsync edit"]
    entry = run.entries.get(action="conflict")
    assert "SUMMARY:other edit" in entry.detail


def test_pages_show_status_unsynced_items_and_logs(client, member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = connect(member, pair, run_on_commit)
    integration.unsynced_items.create(side="remote", uid="x@test", title="Board meeting", reason="Refused: read-only")
    client.force_login(member)
    page = client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert "Board meeting" in page and "Refused: read-only" in page and "Succeeded" in page
    status = client.get(reverse("integrations:status", args=[integration.pk])).json()
    assert status["running"] is False and status["last_run"]["status"] == "success"
    with run_on_commit():
        client.post(reverse("integrations:sync_now", args=[integration.pk]))
    assert integration.runs.filter(trigger="manual", status="success").exists()
    logs = client.get(reverse("integrations:logs", args=[integration.pk])).content.decode()
    assert logs.count('data-testid="run-row"') == 2


def test_admin_log_viewer_filters_and_paginates(client, admin_user, member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = connect(member, pair, run_on_commit)
    for _ in range(55):
        SyncRun.objects.create(tenant=member.tenant, integration=integration, trigger="automatic", status="failed")
    client.force_login(admin_user)
    url = reverse("integrations:admin_logs")
    first = client.get(url).content.decode()
    assert first.count('data-testid="run-row"') == 50 and "Page 1 of 2" in first
    failed = client.get(url, {"status": "failed", "page": 2}).content.decode()
    assert failed.count('data-testid="run-row"') == 5
    other_user = UserFactory(tenant=member.tenant)
    assert client.get(url, {"user": other_user.pk}).content.decode().count('data-testid="run-row"') == 0
    assert client.get(url, {"since": "not-a-date", "user": "x"}).status_code == 200


def test_connect_form_refuses_pairing_a_calendar_with_itself_and_twice(client, member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    calendar, other = pair
    client.force_login(member)
    data = {"calendar": calendar.pk, "other": calendar.pk, "direction": "both", "primary": "calsync",
            "automatic": "true", "error_email": member.email, "sync_enabled": "on"}  # fmt: skip
    assert "cannot sync with itself" in client.post(reverse("integrations:connect_calsync"), data).content.decode()
    with run_on_commit():
        assert client.post(reverse("integrations:connect_calsync"), {**data, "other": other.pk}).status_code == 302
    again = client.post(reverse("integrations:connect_calsync"), {**data, "other": other.pk}).content.decode()
    assert "already connected" in again


def test_without_the_right_nothing_can_be_connected(client, member, pair) -> None:  # type: ignore[no-untyped-def]
    member.can_setup_integrations = False
    member.save()
    client.force_login(member)
    assert client.get(reverse("integrations:connect_calsync")).status_code == 403


def test_operator_commands_run_and_read_syncs_within_one_tenant(member, pair, run_on_commit, outsider) -> None:  # type: ignore[no-untyped-def]
    import io
    import json

    from django.core.management import CommandError, call_command

    calendar, _ = pair
    events.item_save(calendar=calendar, item=event("cmd@test", "From a command"))
    integration = connect(member, pair, run_on_commit)
    out = io.StringIO()
    call_command("sync_now", "--tenant", "acme", "--integration", str(integration.pk), "--inline", "--json", stdout=out)
    run = json.loads(out.getvalue())
    assert run["status"] == "success" and run["trigger"] == "manual"
    out = io.StringIO()
    call_command("sync_log", "--tenant", "acme", "--integration", str(integration.pk), "--json", stdout=out)
    log = json.loads(out.getvalue())
    assert [r["trigger"] for r in log] == ["manual", "first"]
    assert any("From a command" in e["message"] for e in log[1]["log"])
    with pytest.raises(CommandError, match="has no integration"):
        call_command("sync_now", "--tenant", "globex", "--integration", str(integration.pk), stdout=io.StringIO())
    with pytest.raises(CommandError, match="has no integration"):
        call_command("sync_log", "--tenant", "globex", "--integration", str(integration.pk), stdout=io.StringIO())


def test_the_page_shows_a_queued_sync_until_a_worker_finishes_it(client, member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = connect(member, pair, run_on_commit)
    run = services.sync_request(integration=integration, trigger="manual")  # queued; no worker has taken it
    client.force_login(member)
    page = client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert "waiting for a worker" in page and 'data-running="1"' in page
    assert client.get(reverse("integrations:status", args=[integration.pk])).json()["running"] is True
    services.sync_execute(run_id=run.pk)
    state = client.get(reverse("integrations:status", args=[integration.pk])).json()
    assert state["running"] is False and state["last_run"]["id"] == run.pk


def test_refused_credentials_are_not_retried_every_five_minutes(member, pair, failing) -> None:  # type: ignore[no-untyped-def]
    integration = make_failing(member, pair, "revoked")
    integration.automatic = True
    integration.save()
    services.sync_execute(run_id=services.sync_request(integration=integration, trigger="automatic").pk)
    integration.refresh_from_db()
    assert integration.status == "needs_reauth" and integration.next_sync_at is None


def test_a_run_whose_worker_died_does_not_block_synchronize_now(member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = connect(member, pair, run_on_commit)
    dead = SyncRun.objects.create(tenant=member.tenant, integration=integration, trigger="manual", status="running")
    with run_on_commit():
        run = services.sync_request_manual(integration=integration)
    dead.refresh_from_db()
    run.refresh_from_db()
    assert run.pk != dead.pk and run.status == "success" and dead.status == "failed"


def test_the_calendar_cannot_change_under_a_running_sync(member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    from django.core.exceptions import ValidationError

    _, other = pair
    integration = connect(member, pair, run_on_commit)
    third = CalendarFactory(owner=member)
    Integration.objects.filter(pk=integration.pk).update(
        lock_token="busy", lock_expires_at=timezone.now() + timedelta(minutes=5)
    )
    integration.refresh_from_db()
    with pytest.raises(ValidationError, match="A sync is running"):
        integration_update_settings(integration=integration, calendar=third)
    with pytest.raises(ValidationError, match="cannot sync with itself"):
        integration_update_settings(integration=integration, calendar=other)


def test_a_run_that_lost_its_lock_does_not_move_the_cursors(member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    from sync.errors import SyncError
    from sync.store import DbStatusStore

    integration = connect(member, pair, run_on_commit)
    Integration.objects.filter(pk=integration.pk).update(lock_token="a-newer-run")
    store = DbStatusStore(integration, lock_token="the-old-run")
    with pytest.raises(SyncError, match="took over"):
        store.save_cursors("999", "999")
    integration.refresh_from_db()
    assert integration.local_cursor != "999"
    store._renewed -= 120  # a minute has passed: the heartbeat notices too
    with pytest.raises(SyncError, match="took over"):
        store._heartbeat()


def test_a_change_outside_a_sync_brings_the_next_sync_forward(member, calendar, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    other = events.calendar_create(owner=member, name="Other")
    with run_on_commit():
        integration = integration_create(user=member, provider="calsync", calendar=calendar,
                                         remote_calendar_id=str(other.pk), remote_calendar_name="Other")  # fmt: skip
    integration.refresh_from_db()
    later = integration.next_sync_at
    assert later > timezone.now() + timedelta(seconds=60)  # the first sync ran; the next is an interval away
    with run_on_commit():
        events.item_save(calendar=other, item=event("web@x", "Typed on the web page"))
    integration.refresh_from_db()
    assert integration.next_sync_at <= timezone.now()  # picked up at the next dispatch

    # The sync's own writes into calsync do not ask for another sync.
    with run_on_commit():
        run = services.sync_request(integration=integration, trigger="manual")
    integration.refresh_from_db()
    assert SyncRun.objects.get(pk=run.pk).status == "success" and integration.next_sync_at > timezone.now()
