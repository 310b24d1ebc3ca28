"""Adaptive polling of calendars without push: shortest while busy or while the owner uses calsync, doubling while
quiet up to the longest, never sooner than the server's Retry-After; a quiet check still ends in one UPDATE."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from events import services as events
from integrations import registry
from integrations.models import Integration
from sync import services
from tests.factories import CalendarFactory

from .items import event

pytestmark = pytest.mark.django_db

WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture(autouse=True)
def polling_settings(settings, monkeypatch):  # type: ignore[no-untyped-def]
    # A "CalDAV" integration whose remote is another calsync calendar: the real engine, no server to start.
    monkeypatch.setitem(registry.SIDES, "caldav", "tests.sync.failing_provider")
    settings.SYNC_POLL_MIN_SECONDS, settings.SYNC_POLL_MAX_SECONDS = 60, 900
    settings.SYNC_INTERVAL_SECONDS, settings.SYNC_OWNER_ACTIVE_SECONDS = 300, 600
    cache.clear()


def polled(member, calendar, provider: str = "caldav", **config: object) -> Integration:  # type: ignore[no-untyped-def]
    other = CalendarFactory(owner=member, name="Remote")
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider=provider, calendar=calendar,
                                             remote_calendar_id=str(other.pk), config=config,
                                             next_sync_at=timezone.now())  # fmt: skip
    services.sync_scheduled(integration_id=integration.pk, trigger="automatic")  # the first sync lists all
    integration.refresh_from_db()
    return integration


def check(integration: Integration) -> Integration:
    services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    integration.refresh_from_db()
    return integration


def due_in(integration: Integration) -> float:
    return (integration.next_sync_at - timezone.now()).total_seconds()


def test_quiet_checks_back_off_step_by_step_to_the_longest_interval(member, calendar) -> None:  # type: ignore[no-untyped-def]
    integration = polled(member, calendar)
    seen = [check(integration).poll_seconds for _ in range(6)]
    assert seen == [120, 240, 480, 900, 900, 900]
    assert 890 < due_in(integration) <= 900


def test_a_quiet_check_is_still_one_update_after_the_lock(member, calendar) -> None:  # type: ignore[no-untyped-def]
    integration = polled(member, calendar)
    with CaptureQueriesContext(connection) as captured:
        check(integration)
    writes = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)]
    lock, end = writes
    assert "lock_token" in lock and "poll_seconds" in end and "quiet_syncs" in end


def test_a_check_that_finds_changes_polls_at_the_shortest_interval_again(member, calendar) -> None:  # type: ignore[no-untyped-def]
    integration = polled(member, calendar)
    for _ in range(4):
        check(integration)
    assert integration.poll_seconds == 900
    events.item_save(calendar=calendar, item=event("new@test", "Dentist"))
    integration = check(integration)
    assert integration.poll_seconds == 60 and 50 < due_in(integration) <= 60


def test_the_owner_using_calsync_pulls_the_next_check_forward_and_keeps_it_short(  # type: ignore[no-untyped-def]
    member, calendar, member_client
) -> None:
    integration = polled(member, calendar)
    for _ in range(4):
        check(integration)
    assert integration.poll_seconds == 900 and due_in(integration) > 800
    page = member_client.get(reverse("integrations:detail", args=[integration.pk]))
    assert page.status_code == 200
    integration.refresh_from_db()
    assert integration.next_sync_at <= timezone.now() and integration.poll_seconds == 60
    assert integration.owner_active_until > timezone.now() + timedelta(seconds=590)
    assert check(integration).poll_seconds == 60  # quiet, but watched: still every minute
    # Further requests while active write nothing more.
    Integration.objects.filter(pk=integration.pk).update(next_sync_at=timezone.now() + timedelta(seconds=500))
    member_client.get(reverse("integrations:detail", args=[integration.pk]))
    integration.refresh_from_db()
    assert due_in(integration) > 400


def test_a_user_without_polled_calendars_costs_no_query(member, member_client) -> None:  # type: ignore[no-untyped-def]
    member_client.get("/")
    with CaptureQueriesContext(connection) as captured:
        from sync.polling import owner_seen

        assert owner_seen(user_id=member.pk) == 0
    assert not captured.captured_queries


def test_the_next_check_waits_for_the_servers_retry_after(member, calendar) -> None:  # type: ignore[no-untyped-def]
    integration = polled(member, calendar)
    integration.config = {"fail": "transient"}  # 503 with Retry-After: 120, longer than the 60 s interval
    integration.poll_seconds = 60
    integration.save(update_fields=["config", "poll_seconds"])
    check(integration)
    assert due_in(integration) > 110


def test_providers_with_push_of_their_own_keep_the_operators_interval(member, calendar) -> None:  # type: ignore[no-untyped-def]
    integration = polled(member, calendar, provider="calsync")
    check(integration)
    assert integration.poll_seconds == 0 and 290 < due_in(integration) <= 300


def test_a_caldav_server_that_pushes_is_polled_only_as_a_safety_net(member, calendar) -> None:  # type: ignore[no-untyped-def]
    integration = polled(member, calendar)
    Integration.objects.filter(pk=integration.pk).update(push_state=Integration.PushState.ACTIVE, poll_seconds=60)
    assert 890 < due_in(check(integration)) <= 900


def test_the_page_says_how_often_and_why(member, calendar, member_client) -> None:  # type: ignore[no-untyped-def]
    integration = polled(member, calendar)
    Integration.objects.filter(pk=integration.pk).update(poll_seconds=60)
    page = member_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert "checked every minute while" in page
    Integration.objects.filter(pk=integration.pk).update(poll_seconds=900, owner_active_until=None)
    cache.clear()
    page = member_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert "checked every 15 minutes while it is quiet" in page
    Integration.objects.filter(pk=integration.pk).update(push_state=Integration.PushState.ACTIVE)
    page = member_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert "The server announces its changes; it is also checked every 15 minutes." in page


def test_a_subscribed_feed_is_never_asked_more_often_than_its_own_interval(
    member, calendar, settings, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(registry.SIDES, "ics", "tests.sync.failing_provider")
    settings.ICS_POLL_SECONDS = 600
    integration = polled(member, calendar, provider="ics")
    events.item_save(calendar=calendar, item=event("busy@test", "Dentist"))
    assert check(integration).poll_seconds == 600  # busy: the shortest wait, which for a feed is its own
    assert [check(integration).poll_seconds for _ in range(2)] == [900, 900]


def test_caldav_clients_background_requests_do_not_count_as_the_owner_using_calsync(  # type: ignore[no-untyped-def]
    member, calendar, client
) -> None:
    from dav.services import app_password_create

    integration = polled(member, calendar)
    for _ in range(4):
        check(integration)
    assert integration.poll_seconds == 900
    new = app_password_create(user=member, label="Phone")
    token = base64.b64encode(f"{new.username}:{new.secret}".encode()).decode()
    assert client.generic("PROPFIND", "/caldav/", HTTP_AUTHORIZATION=f"Basic {token}").status_code == 207
    integration.refresh_from_db()
    assert integration.poll_seconds == 900 and integration.owner_active_until is None and due_in(integration) > 800


def test_the_owner_using_calsync_never_asks_a_feed_sooner_than_its_floor(  # type: ignore[no-untyped-def]
    member, calendar, member_client, settings, monkeypatch
) -> None:
    monkeypatch.setitem(registry.SIDES, "ics", "tests.sync.failing_provider")
    settings.ICS_POLL_SECONDS = 600
    integration = polled(member, calendar, provider="ics")  # just checked
    assert member_client.get(reverse("integrations:detail", args=[integration.pk])).status_code == 200
    integration.refresh_from_db()
    assert integration.poll_seconds >= 600 and due_in(integration) > 500
    Integration.objects.filter(pk=integration.pk).update(
        last_synced_at=timezone.now() - timedelta(seconds=700), owner_active_until=None
    )
    cache.delete(f"sync:owner-seen:{member.pk}")
    member_client.get(reverse("integrations:detail", args=[integration.pk]))
    integration.refresh_from_db()
    assert integration.next_sync_at <= timezone.now() and integration.poll_seconds == 600
