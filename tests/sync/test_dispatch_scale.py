"""Dispatch at any size: claimed in batches by turns across tenants, never twice nor skipped by parallel
dispatchers, queued on the queue its kind belongs to; a scheduled sync with nothing to do leaves no run row."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from calsync.celery import app
from calsync.queue import SYNC_MANUAL, SYNC_POLLED, SYNC_PUSH, SYNC_QUEUES
from events import services as events
from integrations.models import Integration
from integrations.services import integration_create
from sync import dispatch, services
from sync.models import SyncLogEntry, SyncRun
from tests.conftest import ROOT, _database_url, wait_until
from tests.factories import CalendarFactory, TenantFactory, UserFactory

from .items import event

ON_POSTGRESQL = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks across connections: PostgreSQL (CI runs it)"
)


class Broker:
    """The sync queues under a private prefix on the configured broker, tasks published for real (not run
    eagerly), and read back from it."""

    def __init__(self) -> None:
        self.prefix = f"test-{uuid.uuid4().hex[:8]}."

    def drain(self, queue: str) -> list[tuple[str, list[object]]]:
        """(task name, args) of every message waiting on `queue`, taken off it."""
        found = []
        with app.connection_for_read() as conn:
            waiting = conn.SimpleQueue(self.prefix + queue)
            while True:
                try:
                    message = waiting.get(block=False)
                except waiting.Empty:
                    break
                message.ack()
                found.append((message.headers["task"].rsplit(".", 1)[-1], message.payload[0]))
            waiting.close()
        return found

    def ids(self, queue: str) -> list[int]:
        """The integrations queued on `queue`, whether alone in a message or several to one."""
        found: list[int] = []
        for name, args in self.drain(queue):
            found += args[0] if name == "sync_scheduled_many" else [args[0]]  # type: ignore[list-item]
        return [int(pk) for pk in found]


@pytest.fixture
def broker():  # type: ignore[no-untyped-def]
    queues = Broker()
    app.conf.task_always_eager = False
    with override_settings(CELERY_QUEUE_PREFIX=queues.prefix):
        yield queues
        for name in SYNC_QUEUES:
            queues.drain(name)


def due_integrations(user, count: int, *, now, age: timedelta = timedelta(minutes=1), **fields) -> list[int]:  # type: ignore[no-untyped-def]
    """`count` automatic integrations of `user`, due since `age` ago, the first oldest; their ids."""
    calendar = CalendarFactory(owner=user, tenant=user.tenant)
    first = now - age
    rows = Integration.objects.bulk_create(
        Integration(tenant_id=user.tenant_id, user=user, provider="calsync", calendar=calendar,
                    remote_calendar_id=f"r{uuid.uuid4().hex}", next_sync_at=first + timedelta(milliseconds=i), **fields)
        for i in range(count)
    )  # fmt: skip
    return [row.pk for row in rows]


# --- claiming -------------------------------------------------------------------------------------


def test_only_due_automatic_enabled_integrations_are_queued_once_with_a_query_per_batch(  # type: ignore[no-untyped-def]
    member, broker, django_assert_max_num_queries
) -> None:
    now = timezone.now()
    due = due_integrations(member, 3, now=now)
    due_integrations(member, 2, now=now, age=-timedelta(minutes=3))  # not yet
    due_integrations(member, 2, now=now, automatic=False)
    due_integrations(member, 2, now=now, sync_enabled=False)
    # One query per batch (and one that finds none left); SQLite reads the push flags first, so two each.
    with django_assert_max_num_queries(4):
        assert dispatch.dispatch_due(now=now) == 3
    assert dispatch.dispatch_due(now=now) == 0  # claimed: not queued again
    assert sorted(broker.ids(SYNC_POLLED)) == due
    assert not SyncRun.objects.exists()  # a scheduled sync carries only the integration's id
    interval = timedelta(seconds=300)
    assert set(Integration.objects.filter(pk__in=due).values_list("next_sync_at", flat=True)) == {now + interval}


@override_settings(SYNC_DISPATCH_PER_MESSAGE=20)
def test_polled_syncs_travel_several_to_a_message_and_each_runs(member, broker) -> None:  # type: ignore[no-untyped-def]
    now = timezone.now()
    due = due_integrations(member, 45, now=now)
    assert dispatch.dispatch_due(now=now) == 45
    messages = broker.drain(SYNC_POLLED)
    # Messages of 20 (the broker may hand them back in any order: the embedded one reads files by name).
    assert sorted((name, len(args[0])) for name, args in messages) == [  # type: ignore[arg-type]
        ("sync_scheduled_many", n) for n in (5, 20, 20)
    ]
    assert sorted(pk for _, args in messages for pk in args[0]) == due  # type: ignore[union-attr]


def test_a_message_of_several_syncs_runs_each_even_when_one_fails(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sync.tasks import sync_scheduled_many

    ran: list[int] = []

    def sync(*, integration_id: int, trigger: str) -> None:
        ran.append(integration_id)
        if integration_id == 2:
            raise RuntimeError("a bug in one sync")

    monkeypatch.setattr(services, "sync_scheduled", sync)
    sync_scheduled_many([1, 2, 3], "automatic")
    assert ran == [1, 2, 3]


def test_a_tenant_with_many_due_integrations_does_not_delay_another_tenants_few(member, broker) -> None:  # type: ignore[no-untyped-def]
    now = timezone.now()
    crowd = due_integrations(member, 300, now=now, age=timedelta(hours=1))  # older: first in line by age alone
    small = UserFactory(tenant=TenantFactory(slug="small"))
    few = due_integrations(small, 3, now=now)
    assert dispatch.dispatch_due(now=now, batch=10, batches=1) == 10
    first_batch = broker.ids(SYNC_POLLED)
    assert set(few) <= set(first_batch)  # by turns: the small tenant's three, and the crowd's seven oldest
    assert sorted(set(first_batch) - set(few)) == crowd[:7]
    assert dispatch.dispatch_due(now=now, batch=100) == 293
    assert sorted(broker.ids(SYNC_POLLED)) == crowd[7:]


@ON_POSTGRESQL
@pytest.mark.django_db(transaction=True)
def test_parallel_dispatchers_never_queue_an_integration_twice_nor_skip_one(broker) -> None:  # type: ignore[no-untyped-def]
    now = timezone.now()
    due: list[int] = []
    for n in range(3):
        user = UserFactory(tenant=TenantFactory(slug=f"t{n}"))
        due += due_integrations(user, 400, now=now)
    queued: list[int] = []
    start = threading.Barrier(4)

    def dispatcher() -> None:
        try:
            start.wait()
            queued.append(dispatch.dispatch_due(batch=37))
        finally:
            connection.close()  # this thread's own

    threads = [threading.Thread(target=dispatcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent = broker.ids(SYNC_POLLED)
    assert sum(queued) == len(sent) == len(due)
    assert Counter(sent).most_common(1)[0][1] == 1 and sorted(sent) == sorted(due)
    assert not Integration.objects.filter(next_sync_at__lte=now).exists()


# --- queues -------------------------------------------------------------------------------------------


@pytest.fixture
def pair(member, calendar):  # type: ignore[no-untyped-def]
    return calendar, CalendarFactory(owner=member, name="Personal")


def connect(member, pair, run_on_commit) -> Integration:  # type: ignore[no-untyped-def]
    calendar, other = pair
    with run_on_commit():
        integration = integration_create(user=member, provider="calsync", calendar=calendar,
                                         remote_calendar_id=str(other.pk), remote_calendar_name=other.name)  # fmt: skip
    integration.refresh_from_db()
    return integration


def test_each_kind_of_sync_goes_to_its_own_queue(member, pair, run_on_commit, broker) -> None:  # type: ignore[no-untyped-def]
    calendar, other = pair
    with run_on_commit():
        integration = integration_create(user=member, provider="calsync", calendar=calendar,
                                         remote_calendar_id=str(other.pk), remote_calendar_name=other.name)  # fmt: skip
    first = integration.runs.get()
    assert broker.drain(SYNC_MANUAL) == [("run_sync", [first.pk])]  # a user is watching
    SyncRun.objects.filter(pk=first.pk).update(status=SyncRun.Status.SUCCESS)

    with run_on_commit():
        now_run = services.sync_request_manual(integration=integration)
    assert broker.drain(SYNC_MANUAL) == [("run_sync", [now_run.pk])]
    SyncRun.objects.filter(pk=now_run.pk).update(status=SyncRun.Status.SUCCESS)

    with run_on_commit():
        services.sync_request_push(integration=integration)  # a provider's change notice
    assert broker.drain(SYNC_PUSH) == [("sync_scheduled", [integration.pk, "push"])]

    Integration.objects.filter(pk=integration.pk).update(next_sync_at=timezone.now() + timedelta(minutes=5))
    with run_on_commit():
        events.item_save(calendar=calendar, item=event("web@test", "Typed on the page"))  # a calsync-side edit
    assert dispatch.dispatch_due() == 1
    assert broker.drain(SYNC_PUSH) == [("sync_scheduled", [integration.pk, "push"])]

    Integration.objects.filter(pk=integration.pk).update(next_sync_at=timezone.now())  # its interval is up
    assert dispatch.dispatch_due() == 1
    assert broker.drain(SYNC_POLLED) == [("sync_scheduled_many", [[integration.pk], "automatic"])]
    assert broker.drain(SYNC_MANUAL) == broker.drain(SYNC_PUSH) == []


# --- a sync with nothing to do ------------------------------------------------------------------------

WRITES = ("INSERT", "UPDATE", "DELETE")


@contextlib.contextmanager
def counted():  # type: ignore[no-untyped-def]
    """The queries inside, and which of them wrote."""
    with CaptureQueriesContext(connection) as captured:
        yield captured


def writes(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)]


def settled(member, pair, run_on_commit) -> Integration:  # type: ignore[no-untyped-def]
    """A two-way pairing of calsync calendars with a few events, synced until there is nothing left to do."""
    calendar, _ = pair
    for i in range(20):
        events.item_save(calendar=calendar, item=event(f"e{i}@test", f"Event {i}"))
    integration = connect(member, pair, run_on_commit)
    services.sync_scheduled(integration_id=integration.pk, trigger="automatic")  # absorbs its own writes' echo
    Integration.objects.filter(pk=integration.pk).update(quiet_syncs=0, quiet_since=None)
    integration.refresh_from_db()
    return integration


QUIET_QUERIES = 11  # measured 10 (bench/dispatch.py prints them): was 18


def test_a_scheduled_sync_with_nothing_to_do_leaves_no_run_and_one_write_after_the_lock(  # type: ignore[no-untyped-def]
    member, pair, run_on_commit
) -> None:
    integration = settled(member, pair, run_on_commit)
    runs = SyncRun.objects.count()
    before = timezone.now()
    with counted() as captured:
        assert services.sync_scheduled(integration_id=integration.pk, trigger="automatic") is None
    assert len(captured) <= QUIET_QUERIES, "\n".join(q["sql"] for q in captured.captured_queries)
    # Taking the lock, and the one small write that releases it, schedules the next sync and counts this one.
    # The cursors did not move, so they are not written again.
    lock, end = writes(captured)
    assert "lock_token" in lock and "quiet_syncs" in end
    assert SyncRun.objects.count() == runs
    integration.refresh_from_db()
    assert integration.quiet_syncs == 1 and integration.last_synced_at >= before and not integration.lock_token
    assert integration.next_sync_at > before + timedelta(seconds=290) and not integration.is_running

    services.sync_scheduled(integration_id=integration.pk, trigger="push")
    integration.refresh_from_db()
    assert integration.quiet_syncs == 2 and SyncRun.objects.count() == runs


def test_a_scheduled_sync_that_changes_something_leaves_its_run_and_log(member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    _, other = pair
    integration = settled(member, pair, run_on_commit)
    services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    events.item_save(calendar=other, item=event("new@test", "Dentist"))
    run = services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    assert run is not None and (run.trigger, run.status) == ("automatic", "success")
    assert run.to_calsync["created"] == 1 and run.started_at is not None and run.finished_at is not None
    assert SyncLogEntry.objects.get(run=run, action="created").title == "Dentist"
    integration.refresh_from_db()
    assert integration.quiet_syncs == 0 and integration.quiet_since == run.finished_at


def test_a_scheduled_sync_that_fails_leaves_its_run_and_an_email(member, pair, monkeypatch, mailoutbox) -> None:  # type: ignore[no-untyped-def]
    from integrations import registry

    monkeypatch.setitem(registry.SIDES, "google", "tests.sync.failing_provider")
    calendar, other = pair
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="google", calendar=calendar,
                                             remote_calendar_id=str(other.pk), config={"fail": "revoked"},
                                             error_email="alerts@acme.test")  # fmt: skip
    run = services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    assert run is not None and run.status == "failed" and run.trigger == "automatic"
    integration.refresh_from_db()
    assert integration.status == "needs_reauth" and integration.next_sync_at is None and integration.lock_token == ""
    assert [m.to for m in mailoutbox] == [["alerts@acme.test"]]


def test_a_scheduled_sync_meeting_a_running_one_leaves_it_alone(member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = settled(member, pair, run_on_commit)
    later = timezone.now() + timedelta(minutes=4)
    Integration.objects.filter(pk=integration.pk).update(
        lock_token="busy", lock_expires_at=timezone.now() + timedelta(minutes=1), next_sync_at=later
    )
    runs = SyncRun.objects.count()
    assert services.sync_scheduled(integration_id=integration.pk, trigger="automatic") is None
    integration.refresh_from_db()
    assert integration.lock_token == "busy" and SyncRun.objects.count() == runs and integration.quiet_syncs == 0
    assert integration.next_sync_at == later and not integration.push_pending  # polled: the running one reads it all


def test_a_pushed_sync_meeting_a_running_one_is_due_again_when_that_one_ends(member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = settled(member, pair, run_on_commit)
    Integration.objects.filter(pk=integration.pk).update(
        lock_token="busy", lock_expires_at=timezone.now() + timedelta(minutes=1), next_sync_at=None
    )
    before = timezone.now()
    assert services.sync_scheduled(integration_id=integration.pk, trigger="push") is None
    integration.refresh_from_db()
    # The running sync may have read before the change that asked for this one.
    assert integration.push_pending and integration.next_sync_at >= before and integration.lock_token == "busy"


def test_synchronize_now_while_a_scheduled_sync_runs_waits_its_turn_instead_of_being_skipped(  # type: ignore[no-untyped-def]
    member, pair, run_on_commit, broker
) -> None:
    integration = settled(member, pair, run_on_commit)
    Integration.objects.filter(pk=integration.pk).update(
        lock_token="busy", lock_expires_at=timezone.now() + timedelta(minutes=1)
    )
    with run_on_commit():
        run = services.sync_request_manual(integration=integration)
    broker.drain(SYNC_MANUAL)
    with run_on_commit():
        assert services.sync_execute(run_id=run.pk).status == SyncRun.Status.QUEUED
    assert broker.drain(SYNC_MANUAL) == [("run_sync", [run.pk])]  # asked again, a few seconds on
    integration.refresh_from_db()
    assert integration.lock_token == "busy"
    Integration.objects.filter(pk=integration.pk).update(lock_token="", lock_expires_at=None)
    assert services.sync_execute(run_id=run.pk).status == SyncRun.Status.SUCCESS


def test_the_integration_page_counts_the_checks_that_found_nothing(client, member, pair, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = settled(member, pair, run_on_commit)
    for _ in range(3):
        services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    client.force_login(member)
    page = client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert "3 checks with no changes since" in page and "Last checked" in page
    logs = client.get(reverse("integrations:logs", args=[integration.pk])).content.decode()
    assert "3 checks with no changes since" in logs


# --- the dispatcher as a service of its own -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_manage_dispatch_queues_what_falls_due_and_stops_cleanly_on_sigterm(member, broker) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_QUEUE_PREFIX": broker.prefix,
           "CELERY_TASK_ALWAYS_EAGER": "false"}  # fmt: skip
    process = subprocess.Popen([sys.executable, "manage.py", "dispatch", "--idle", "0.2"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        due = due_integrations(member, 5, now=timezone.now())
        sent: list[int] = []
        wait_until(lambda: bool(sent.extend(broker.ids(SYNC_POLLED))) or len(sent) >= 5, process, "the dispatch")
        assert sorted(sent) == due
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0 and "Stopped; queued 5 syncs" in out


def test_a_change_made_while_a_sync_runs_is_synced_at_the_next_dispatch_not_an_interval_later(  # type: ignore[no-untyped-def]
    member, pair, run_on_commit, monkeypatch, broker
) -> None:
    _, other = pair
    integration = settled(member, pair, run_on_commit)
    engine_run = services._run_engine

    def edited_meanwhile(*args) -> None:  # type: ignore[no-untyped-def]
        engine_run(*args)  # the run has read both sides; then someone types an event on the page
        with run_on_commit():
            events.item_save(calendar=other, item=event("late@test", "Typed during the sync"))

    monkeypatch.setattr(services, "_run_engine", edited_meanwhile)
    services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    monkeypatch.undo()
    integration.refresh_from_db()
    assert integration.next_sync_at <= timezone.now() and integration.push_pending and not integration.lock_token
    assert dispatch.dispatch_due() == 1
    assert broker.ids(SYNC_PUSH) == [integration.pk]
    run = services.sync_scheduled(integration_id=integration.pk, trigger="automatic")
    assert run is not None and run.to_calsync["created"] == 1  # the remote calendar of this pairing is `other`


def test_a_scheduled_sync_held_back_by_the_quota_comes_back_later_without_run_rows(  # type: ignore[no-untyped-def]
    member, pair, run_on_commit, monkeypatch
) -> None:
    from sync.errors import Throttled

    integration = settled(member, pair, run_on_commit)
    runs = SyncRun.objects.count()

    def throttled(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Throttled("Google: throttled, will retry", retry_after=120)

    monkeypatch.setattr(services, "_run_engine", throttled)
    before = timezone.now()
    assert services.sync_scheduled(integration_id=integration.pk, trigger="automatic") is None
    integration.refresh_from_db()
    assert SyncRun.objects.count() == runs and integration.status == "ok" and not integration.lock_token
    assert before + timedelta(seconds=119) <= integration.next_sync_at <= timezone.now() + timedelta(seconds=121)
