"""Concurrency: two workers given the same integration at once, and a user saving the event form while a sync
of that event runs. Threads with their own database connections, on the suite's database (PostgreSQL under
CI=true). The lock is a conditional UPDATE: SQLite serialises it on the database's write lock, PostgreSQL on
the row lock (the second UPDATE re-checks its condition once the first commits), so one claim wins on both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse

from events import services as events
from events.models import Event
from integrations import registry
from integrations.models import Integration
from sync import services
from sync.models import SyncRun
from tests.factories import CalendarFactory

from .items import event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def slow_pair(member, calendar, monkeypatch):  # type: ignore[no-untyped-def]
    """calsync's "Work" calendar paired two ways with "Elsewhere", whose listing takes config["seconds"]."""
    monkeypatch.setitem(registry.SIDES, "google", "tests.sync.slow_provider")
    other = CalendarFactory(owner=member, name="Elsewhere")
    integration = Integration.objects.create(
        tenant=member.tenant, user=member, provider="google", calendar=calendar, remote_calendar_id=str(other.pk),
        automatic=False, primary="calsync", config={"seconds": 0},
    )  # fmt: skip
    return integration, other


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run `target` on a thread with its own database connection; its result (or exception) lands in the list."""
    outcome: list[Any] = []

    def body() -> None:
        try:
            outcome.append(target())
        except Exception as exc:  # handed to the test, which fails on it
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=body)
    thread.start()
    return thread, outcome


def slow(integration: Integration, seconds: float) -> None:
    Integration.objects.filter(pk=integration.pk).update(config={"seconds": seconds})


def test_two_workers_given_the_same_integration_at_once_one_runs_the_other_is_refused(  # type: ignore[no-untyped-def]
    slow_pair, calendar
) -> None:
    integration, other = slow_pair
    slow(integration, 1)
    for round_ in range(3):
        for n in range(4):
            events.item_save(calendar=calendar, item=event(f"r{round_}-{n}@test", f"Round {round_} item {n}", day=n))
        runs = [services.sync_request(integration=integration, trigger="manual", queue=False) for _ in range(2)]
        start = threading.Barrier(2)

        def worker(run_id: int, start: threading.Barrier = start) -> SyncRun:
            start.wait()  # both claim the integration at the same moment
            return services.sync_execute(run_id=run_id)

        threads = [in_thread(lambda run_id=run.pk: worker(run_id)) for run in runs]
        for thread, _ in threads:
            thread.join(timeout=60)
        outcomes = [outcome[0] for _, outcome in threads]
        assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
        assert sorted(run.status for run in outcomes) == ["skipped", "success"]
        refused = next(run for run in outcomes if run.status == "skipped")
        assert refused.get_status_display() == "Skipped: another sync was running"
    copies = list(Event.objects.filter(calendar=other, parent=None).values_list("uid", flat=True))
    assert sorted(copies) == sorted(f"r{r}-{n}@test" for r in range(3) for n in range(4))  # each once
    integration.refresh_from_db()
    assert integration.lock_token == ""


def test_an_edit_saved_while_a_sync_of_that_event_runs_is_not_lost(  # type: ignore[no-untyped-def]
    client, member, slow_pair, calendar
) -> None:
    integration, other = slow_pair
    events.item_save(calendar=calendar, item=event("e@test", "Planning"))
    assert services.sync_execute(run_id=services.sync_request(integration=integration, trigger="first",
                                                              queue=False).pk).status == "success"  # fmt: skip
    events.item_save(calendar=other, item=event("e@test", "Edited elsewhere"), name=Event.objects.get(
        calendar=other, uid="e@test").name)  # fmt: skip
    mine = Event.objects.get(calendar=calendar, uid="e@test")
    client.force_login(member)
    form = client.get(reverse("events:event_edit", args=[mine.pk])).context["form"]
    data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False, "")}
    data.update(title="Edited by the user", calendar=str(calendar.pk))

    slow(integration, 2)  # the sync reads calsync's changes, then waits 2 s for the other side's
    run = services.sync_request(integration=integration, trigger="manual", queue=False)
    thread, outcome = in_thread(lambda: services.sync_execute(run_id=run.pk))
    while SyncRun.objects.get(pk=run.pk).status != "running":
        time.sleep(0.05)
    time.sleep(0.3)  # inside the wait: the sync's view of calsync is already older than the save below
    saved = client.post(reverse("events:event_edit", args=[mine.pk]), data)
    assert saved.status_code == 302, saved.content.decode()[-2000:]
    thread.join(timeout=60)
    assert not isinstance(outcome[0], Exception), outcome
    slow(integration, 0)
    assert services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual",
                                                              queue=False).pk).status == "success"  # fmt: skip

    for cal in (calendar, other):  # the user's edit won (calsync is primary) on both sides, once
        assert list(Event.objects.filter(calendar=cal, parent=None).values_list("title", flat=True)) == [
            "Edited by the user"
        ], cal.name
    lost = [e for r in integration.runs.all() for e in r.entries.filter(action="conflict")]
    assert lost and "Edited elsewhere" in lost[0].detail  # the other side's edit is kept in the log


def test_a_form_older_than_a_finished_sync_is_refused_not_saved_over_it(  # type: ignore[no-untyped-def]
    client, member, slow_pair, calendar
) -> None:
    integration, other = slow_pair
    events.item_save(calendar=calendar, item=event("e@test", "Planning"))
    services.sync_execute(run_id=services.sync_request(integration=integration, trigger="first", queue=False).pk)
    mine = Event.objects.get(calendar=calendar, uid="e@test")
    client.force_login(member)
    form = client.get(reverse("events:event_edit", args=[mine.pk])).context["form"]
    data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False, "")}
    events.item_save(calendar=other, item=event("e@test", "Edited elsewhere"), name=Event.objects.get(
        calendar=other, uid="e@test").name)  # fmt: skip
    assert services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual",
                                                              queue=False).pk).status == "success"  # fmt: skip
    data.update(title="Edited by the user", calendar=str(calendar.pk))
    refused = client.post(reverse("events:event_edit", args=[mine.pk]), data)
    assert refused.status_code == 200
    assert "changed this event while you were editing" in refused.content.decode()
    for cal in (calendar, other):
        assert list(Event.objects.filter(calendar=cal, parent=None).values_list("title", flat=True)) == [
            "Edited elsewhere"
        ]
