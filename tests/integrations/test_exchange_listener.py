"""`manage.py ews_listen` end to end: real listener processes, a real Celery worker, the EWS emulator. A change
made in Exchange reaches calsync with no poll (no dispatcher or beat runs here); a lost subscription is made again
and the change made meanwhile still arrives; a server refusing streaming is pulled; two listeners share the
integrations, and one takes over what a dead one held; disconnecting ends the subscription."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from events.models import Event
from integrations.connecting import MailboxCalendar
from integrations.exchange.client import Server
from integrations.exchange.services import exchange_connect
from integrations.models import Integration
from integrations.services import integration_disconnect
from tests.conftest import ROOT, _database_url, celery_worker, wait_until
from tests.factories import CalendarFactory, UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
START = dt.datetime(2026, 12, 10, 9, tzinfo=dt.UTC)
PASSWORD = "s3cret-pass"
ACTIVE = Integration.PushState.ACTIVE


@pytest.fixture
def notifications(exchange):  # type: ignore[no-untyped-def]
    switches = exchange.state.notifications
    switches.configure({"minute_seconds": 2, "heartbeat_seconds": 0.3})
    yield switches
    switches.configure({"refuse_streaming": 0, "refuse_pull": 0, "minute_seconds": 60, "heartbeat_seconds": 45})


def connected(exchange, tenant) -> Integration:  # type: ignore[no-untyped-def]
    """An Exchange calendar connected with its owner's login; its first sync runs here, before any worker."""
    name = f"u{uuid.uuid4().hex[:10]}"
    address = f"{name}@corp.example"
    box = exchange.state.mailbox(address, name.title(), password=PASSWORD, username=f"CORP\\{name}")
    user = UserFactory(tenant=tenant, email=f"{name}@acme.test")
    folder = next(iter(box.folders.values()))
    integration = exchange_connect(
        user=user, server=Server(exchange.url, name, PASSWORD, domain="CORP"), mailbox=address,
        remote=MailboxCalendar(folder.id, "Calendar", True, default=True),
        calendar=CalendarFactory(owner=user, tenant=tenant), sync_enabled=True, automatic=True,
        direction="both", primary="calsync",
    )  # fmt: skip
    # No poll comes before the test ends: only a notification can bring a change in.
    Integration.objects.filter(pk=integration.pk).update(next_sync_at=START + dt.timedelta(days=365))
    return Integration.objects.get(pk=integration.pk)


def made_in_exchange(exchange, integration: Integration, subject: str) -> None:  # type: ignore[no-untyped-def]
    fields = {"subject": subject, "start": START, "end": START + dt.timedelta(hours=1)}
    exchange.state.create(integration.config["account"], integration.remote_calendar_id, fields)


def arrives(integration: Integration, subject: str, *processes: subprocess.Popen[bytes]) -> None:
    for process in processes:
        assert process.poll() is None, "a process died"
    found = lambda: Event.objects.filter(calendar_id=integration.calendar_id, title=subject).exists()  # noqa: E731
    wait_until(found, processes[0], f"{subject!r} in calsync")


@contextlib.contextmanager
def listener(capacity: int = 100, **extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """`manage.py ews_listen` in a process of its own, publishing to the test worker's queues."""
    from django.conf import settings

    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_TASK_ALWAYS_EAGER": "false",
           "CELERY_QUEUE_PREFIX": settings.CELERY_QUEUE_PREFIX, "EXCHANGE_LISTEN_TICK_SECONDS": "0.3",
           "EXCHANGE_LISTEN_LEASE_SECONDS": "2", "EXCHANGE_STREAM_MINUTES": "1", "EXCHANGE_PULL_SECONDS": "0.3",
           "EXCHANGE_ALLOW_HTTP": "true", "CALDAV_ALLOW_PRIVATE_ADDRESSES": "true", **extra}  # fmt: skip
    process = subprocess.Popen([sys.executable, "manage.py", "ews_listen", "--capacity", str(capacity)], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def state(integration: Integration) -> Any:
    return Integration.objects.filter(pk=integration.pk).values_list("push_state", "push_channel", "push_holder")[0]


def active(integration: Integration) -> bool:
    return Integration.objects.filter(pk=integration.pk, push_state=ACTIVE, push_holder__gt="").exists()


def test_a_change_in_exchange_reaches_calsync_through_the_stream_and_disconnect_unsubscribes(
    exchange, notifications, tenant
) -> None:  # type: ignore[no-untyped-def]
    integration = connected(exchange, tenant)
    with celery_worker() as worker, listener() as listening:
        wait_until(lambda: active(integration), listening, "a streaming subscription")
        _, channel, _ = state(integration)
        assert channel.startswith("ews-stream:")
        made_in_exchange(exchange, integration, "Board meeting")
        arrives(integration, "Board meeting", worker, listening)

        sub_id = channel.split(":", 1)[1]
        assert sub_id in notifications.subscriptions
        integration_disconnect(integration=Integration.objects.get(pk=integration.pk))
        assert sub_id not in notifications.subscriptions  # Unsubscribe, not left to lapse
        listening.send_signal(signal.SIGTERM)
        assert listening.wait(timeout=30) == 0  # a clean stop


def test_a_lost_subscription_is_made_again_and_the_change_made_meanwhile_arrives(
    exchange, notifications, tenant
) -> None:  # type: ignore[no-untyped-def]
    integration = connected(exchange, tenant)
    with celery_worker() as worker, listener() as listening:
        wait_until(lambda: active(integration), listening, "a streaming subscription")
        _, before, _ = state(integration)
        with exchange.state.lock:  # the server restarts: no subscription survives, no event is queued
            notifications.configure({"forget": 1})
            made_in_exchange(exchange, integration, "Made while forgotten")
        wait_until(lambda: state(integration)[1] not in ("", before), listening, "a new subscription")
        arrives(integration, "Made while forgotten", worker, listening)
        made_in_exchange(exchange, integration, "After the new subscription")
        arrives(integration, "After the new subscription", worker, listening)


def test_where_streaming_is_refused_changes_are_pulled(exchange, notifications, tenant) -> None:  # type: ignore[no-untyped-def]
    notifications.configure({"refuse_streaming": 1})
    integration = connected(exchange, tenant)
    with celery_worker() as worker, listener() as listening:
        wait_until(lambda: active(integration), listening, "a pull subscription")
        assert state(integration)[1].startswith("ews-pull:")
        made_in_exchange(exchange, integration, "Pulled in")
        arrives(integration, "Pulled in", worker, listening)


def test_where_no_subscription_is_offered_the_calendar_is_polled(exchange, notifications, tenant) -> None:  # type: ignore[no-untyped-def]
    notifications.configure({"refuse_streaming": 1, "refuse_pull": 1})
    integration = connected(exchange, tenant)
    polling = Integration.PushState.POLLING
    with listener() as listening:
        wait_until(lambda: state(integration)[0] == polling, listening, "polling")
        assert state(integration)[1] == ""


def test_a_login_whose_streams_are_all_taken_is_polled_not_pulled(exchange, notifications, tenant) -> None:  # type: ignore[no-untyped-def]
    integration = connected(exchange, tenant)
    with listener(EXCHANGE_STREAMS_PER_LOGIN="0") as listening:
        wait_until(lambda: state(integration)[0] == Integration.PushState.POLLING, listening, "polling")
        assert not [s for s in notifications.subscriptions.values() if integration.remote_calendar_id in s.folders]


def test_two_listeners_share_the_integrations_and_one_takes_over_from_a_dead_one(
    exchange, notifications, tenant
) -> None:  # type: ignore[no-untyped-def]
    integrations = [connected(exchange, tenant) for _ in range(4)]
    everyone_active = lambda: all(active(i) for i in integrations)  # noqa: E731
    with celery_worker() as worker, listener(capacity=2) as first, listener(capacity=2) as second:
        wait_until(everyone_active, first, "all four subscribed")
        holders = [state(i)[2] for i in integrations]
        assert sorted(holders.count(h) for h in set(holders)) == [2, 2]  # each holds two, none holds one twice
        folders = {i.remote_calendar_id for i in integrations}
        watching = [s for s in notifications.subscriptions.values() if s.folders & folders]
        assert len(watching) == 4  # one subscription per calendar, not one per listener
        assert second.poll() is None

        dead = next(h for h in holders if f"-{first.pid}-" in h)  # a holder names its host and process id
        first.send_signal(signal.SIGKILL)  # dies without a word: its leases must run out
        first.wait()
        orphaned = [i for i, h in zip(integrations, holders, strict=True) if h == dead]
        channels = {i.pk: state(i)[1] for i in orphaned}
        with listener(capacity=2) as third:
            taken = lambda: all(state(i)[2] not in ("", dead) for i in orphaned)  # noqa: E731
            wait_until(taken, third, "the dead listener's calendars taken over")
            assert {i.pk: state(i)[1] for i in orphaned} == channels  # the same subscriptions, carried on
            made_in_exchange(exchange, orphaned[0], "Heard by the successor")
            arrives(orphaned[0], "Heard by the successor", worker, third, second)


def test_a_refused_login_is_not_retried_at_once_and_the_sync_asks_for_new_credentials(
    exchange, notifications, tenant
) -> None:  # type: ignore[no-untyped-def]
    integration = connected(exchange, tenant)
    with celery_worker() as worker, listener() as listening:
        wait_until(lambda: active(integration), listening, "a streaming subscription")
        login = exchange.state.logins[f"corp\\{integration.config['username']}".lower()]
        with exchange.state.lock:  # the password changed in Active Directory, and the server dropped the streams
            login.password = "changed-elsewhere"
            notifications.configure({"forget": 1})
        reauth = Integration.Status.NEEDS_REAUTH
        wait_until(lambda: Integration.objects.filter(pk=integration.pk, status=reauth).exists(), worker,
                   "the sync to ask for new credentials")  # fmt: skip
        # No longer listened for: its lease and push state are given up, and nothing is subscribed again.
        wait_until(lambda: state(integration) == ("", "", ""), listening, "the listener to let it go")
        assert not [s for s in notifications.subscriptions.values() if integration.remote_calendar_id in s.folders]
