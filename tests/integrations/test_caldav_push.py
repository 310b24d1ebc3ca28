"""calsync's CalDAV client and WebDAV-Push: against calsync's own CalDAV server (over a live server, a real server
that advertises push) it registers, a change there reaches calsync at once, renewal and disconnect clean up after
themselves; forged tokens change nothing; servers without push (Radicale, Xandikos) are polled adaptively."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dav.models import PushRegistration
from dav.resources import calendar_href
from dav.services import app_password_create
from events import services as events
from events.models import Event
from integrations.caldav import push
from integrations.caldav.services import caldav_connect, caldav_discover
from integrations.models import Integration
from integrations.services import integration_disconnect
from sync import services as sync
from sync.models import SyncRun
from tests.conftest import celery_worker
from tests.factories import CalendarFactory
from tests.sync.items import event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_server(member, live_server, settings):  # type: ignore[no-untyped-def]
    """calsync's CalDAV server as the remote: the member's "Phone" calendar, reached with an app password, and
    calsync's push endpoint under the live server's address (loopback: private push resources allowed)."""
    settings.SITE_URL, settings.DAV_PUSH_ALLOW_PRIVATE_ADDRESSES = live_server.url, True
    login = app_password_create(user=member, label="calsync itself")
    phone = CalendarFactory(owner=member, tenant=member.tenant, name="Phone")
    return phone, live_server.url + "/caldav/", login


def connected(member, calendar, phone, url, login) -> Integration:  # type: ignore[no-untyped-def]
    found = caldav_discover(url=url, username=login.username, password=login.secret)
    remote = next(c for c in found if c.url.endswith(calendar_href(member, phone)))
    integration = caldav_connect(user=member, url=url, username=login.username, password=login.secret,
                                 remote=remote, calendar=calendar, sync_enabled=True)  # fmt: skip
    integration.refresh_from_db()  # its first sync ran (eagerly) and registered for push
    return integration


def test_the_client_registers_with_a_server_that_pushes_and_a_change_there_syncs_at_once(  # type: ignore[no-untyped-def]
    member, calendar, own_server
) -> None:
    phone, url, login = own_server
    integration = connected(member, calendar, phone, url, login)
    assert integration.push_state == Integration.PushState.ACTIVE, integration.config
    registration = PushRegistration.objects.get(calendar=phone)
    assert registration.push_resource.startswith(own_server[1].removesuffix("/caldav/") + "/integrations/caldav/push/")
    assert integration.push_channel == push.token_digest(registration.push_resource.rstrip("/").rsplit("/", 1)[1])
    assert integration.push_expires_at == registration.expires_at.replace(microsecond=0)
    assert registration.push_resource.rsplit("/", 2)[1] not in str(
        Integration.objects.filter(pk=integration.pk).values()
    )
    # A change on the server: its push message reaches calsync's endpoint, which syncs the integration.
    events.item_save(calendar=phone, item=event("dentist@phone", "Dentist"))
    assert Event.objects.filter(calendar=calendar, uid="dentist@phone").exists()


def test_renewal_replaces_the_registration_and_disconnect_removes_it(member, calendar, own_server) -> None:  # type: ignore[no-untyped-def]
    phone, url, login = own_server
    integration = connected(member, calendar, phone, url, login)
    first = PushRegistration.objects.get(calendar=phone)
    Integration.objects.filter(pk=integration.pk).update(push_expires_at=timezone.now() + timedelta(hours=2))
    sync.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    renewed = PushRegistration.objects.get(calendar=phone)
    assert renewed.key != first.key and renewed.push_resource != first.push_resource
    integration.refresh_from_db()
    assert integration.push_expires_at > timezone.now() + timedelta(days=6)
    integration_disconnect(integration=integration)
    assert not PushRegistration.objects.exists()


def test_forged_or_unknown_tokens_change_nothing(member, calendar, own_server, client) -> None:  # type: ignore[no-untyped-def]
    phone, url, login = own_server
    integration = connected(member, calendar, phone, url, login)
    before = Integration.objects.values("next_sync_at", "push_pending").get(pk=integration.pk)
    runs = SyncRun.objects.count()
    for token in ("forged", integration.push_channel, "x" * 43):  # the stored digest is not a token either
        assert client.post(reverse("integrations:caldav_push", args=[token])).status_code == 404
    assert client.get(reverse("integrations:caldav_push", args=["forged"])).status_code == 405
    assert Integration.objects.values("next_sync_at", "push_pending").get(pk=integration.pk) == before
    assert SyncRun.objects.count() == runs


def test_servers_without_push_are_polled_adaptively_and_asked_again_a_day_later(  # type: ignore[no-untyped-def]
    member, calendar, caldav_server, settings
) -> None:
    settings.SYNC_POLL_MIN_SECONDS = 60
    url = caldav_server.new_calendar("Work")
    remote = next(c for c in caldav_discover(url=caldav_server.base_url, username=caldav_server.username,
                                             password=caldav_server.password) if c.url == url)  # fmt: skip
    integration = caldav_connect(user=member, url=caldav_server.base_url, username=caldav_server.username,
                                 password=caldav_server.password, remote=remote, calendar=calendar,
                                 sync_enabled=True)  # fmt: skip
    integration.refresh_from_db()
    assert integration.push_state == Integration.PushState.POLLING and not integration.push_channel
    checked = integration.config["push"]["checked_at"]
    sync.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    integration.refresh_from_db()
    assert integration.config["push"]["checked_at"] == checked  # not asked again at every sync
    assert integration.poll_seconds == 120  # a quiet check: the interval doubles


@pytest.mark.worker
def test_a_push_reaches_calsync_through_a_real_worker(member, calendar, own_server, settings) -> None:  # type: ignore[no-untyped-def]
    phone, url, login = own_server
    integration = connected(member, calendar, phone, url, login)
    assert integration.push_state == Integration.PushState.ACTIVE
    with celery_worker(SITE_URL=settings.SITE_URL, DAV_PUSH_ALLOW_PRIVATE_ADDRESSES="true") as worker:
        events.item_save(calendar=phone, item=event("worker@phone", "Pushed"))
        deadline = time.monotonic() + 90
        while not Event.objects.filter(calendar=calendar, uid="worker@phone").exists():
            assert worker.poll() is None, "the worker died"
            assert time.monotonic() < deadline, "the push did not bring the change"
            time.sleep(0.2)
