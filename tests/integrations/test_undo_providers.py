"""Undo through the real providers: the Google, Microsoft Graph and Exchange emulators, Radicale and Xandikos.

Each test connects an integration as a user does, makes a run that deletes an item each way, overwrites one and
settles a conflict, and undoes it through the service and the task (sync.undo): both calendars, as calsync and the
provider (read by another application) hold them, are back as before the run, and a following sync has nothing to
do; the undo of the undo returns them to after the run. A bulk deletion at the provider hits the safety stop; the
undo puts the items back at the provider, and the syncs after it (whose change feeds still report the old
deletions) stay quiet and delete nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from events import services as events
from events.models import Event
from integrations.caldav.adapter import CalDAVSide
from integrations.caldav.client import CalDAVClient
from integrations.models import Integration
from sync import undo as sync_undo
from sync.adapter import CalendarSide
from sync.models import SyncRun
from tests.integrations import test_caldav, test_exchange, test_google, test_microsoft
from tests.integrations.test_exchange import sync_now
from tests.sync.items import event

pytestmark = pytest.mark.django_db

PROVIDERS = ["google", "microsoft", "exchange", "radicale", "xandikos"]
BEFORE = ["A", "B", "C", "D", "E"]


@dataclass
class Connected:
    integration: Integration
    app: CalendarSide  # another application on the provider's calendar (the user there)


Connect = Callable[[], Connected]


@pytest.fixture(params=PROVIDERS)
def connect(request, member, member_client, calendar, run_on_commit, monkeypatch) -> Connect:  # type: ignore[no-untyped-def]
    """Connects calsync's `calendar` to a fresh calendar at the provider, as the provider's tests do."""
    name, fresh = request.param, f"undo{uuid.uuid4().hex[:8]}"  # the emulators live for the whole session
    monkeypatch.setattr("googleapiclient.http.time.sleep", lambda seconds: None)
    monkeypatch.setattr("integrations.microsoft.client.time.sleep", lambda seconds: None)

    def google() -> Connected:
        emulator, email = request.getfixturevalue("google"), f"{fresh}@example.com"
        integration = test_google.connect(member_client, emulator, email, calendar, run_on_commit)
        return Connected(integration, test_google.google_side(emulator, email))

    def microsoft() -> Connected:
        emulator, login = request.getfixturevalue("microsoft"), f"{fresh}@contoso.example"
        integration = test_microsoft.connect(member_client, emulator, login, calendar, run_on_commit)
        return Connected(integration, test_microsoft.outlook(emulator, login))

    def exchange() -> Connected:
        emulator = request.getfixturevalue("exchange")
        integration = test_exchange.connect(member_client, emulator, calendar, run_on_commit, name=fresh)
        return Connected(integration, test_exchange.outlook(emulator, f"{fresh}@corp.example"))

    def caldav() -> Connected:
        server = request.getfixturevalue(name)
        url = server.new_calendar("Work")
        integration = test_caldav.connect(member, calendar, server, url, run_on_commit)
        return Connected(integration, CalDAVSide(CalDAVClient(server.base_url, server.username, server.password), url))

    return {"google": google, "microsoft": microsoft, "exchange": exchange}.get(name, caldav)


def undo(integration: Integration, run: SyncRun, run_on_commit) -> SyncRun:  # type: ignore[no-untyped-def]
    """Undo `run` the way the undo page does: the service queues it, the task runs it."""
    with run_on_commit():
        queued = sync_undo.undo_request(integration=integration, run=run, options={})
    queued.refresh_from_db()
    assert queued.status == "success", (queued.status, queued.error)
    return queued


def in_calsync(calendar) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(Event.objects.filter(calendar=calendar, parent=None).values_list("title", flat=True))


def at_provider(app: CalendarSide) -> list[str]:
    return sorted(entry.item.master.summary for entry in app.changes(None).changed)


def edit(app: CalendarSide, uid: str, title: str) -> None:
    entry = app.find(uid)
    assert entry is not None, uid
    app.update(entry.id, event(uid, title), entry.version)


def remove(app: CalendarSide, uid: str) -> None:
    entry = app.find(uid)
    assert entry is not None, uid
    app.delete(entry.id, entry.version)


def test_a_run_is_undone_at_the_provider_and_in_calsync_and_the_undo_too(  # type: ignore[no-untyped-def]
    connect, calendar, run_on_commit
) -> None:
    for title in BEFORE:
        events.item_save(calendar=calendar, item=event(f"{title.lower()}@undo", title))
    connected = connect()
    integration, app = connected.integration, connected.app
    assert at_provider(app) == in_calsync(calendar) == BEFORE
    edit(app, "a@undo", "A edited at the provider")  # overwrites calsync's
    remove(app, "b@undo")  # deleted in calsync by the run
    events.item_delete(event=Event.objects.get(calendar=calendar, uid="d@undo", parent=None))  # deleted there
    edit(app, "c@undo", "C at the provider")  # a conflict: calsync is primary and wins
    events.item_save(calendar=calendar, item=event("c@undo", "C in calsync"))
    events.item_save(calendar=calendar, item=event("e@undo", "E in calsync"))  # overwrites the provider's
    run = sync_now(integration, run_on_commit)
    after = ["A edited at the provider", "C in calsync", "E in calsync"]
    assert at_provider(app) == in_calsync(calendar) == after
    assert run.conflicts == 1

    undone = undo(integration, run, run_on_commit)

    before = ["A", "B", "C at the provider", "D", "E"]  # c: what the provider held before the run overwrote it
    assert at_provider(app) == in_calsync(calendar) == before
    assert sync_now(integration, run_on_commit).counts == {}, "a sync after the undo has nothing to do"

    undo(integration, undone, run_on_commit)

    assert at_provider(app) == in_calsync(calendar) == after
    assert sync_now(integration, run_on_commit).counts == {}
    assert sync_now(integration, run_on_commit).counts == {}


def test_an_item_changed_at_the_provider_since_the_run_is_left_alone(  # type: ignore[no-untyped-def]
    connect, calendar, run_on_commit
) -> None:
    """What the provider holds now is compared with what the run left there (read back, not as written)."""
    for title in ("A", "E"):
        events.item_save(calendar=calendar, item=event(f"{title.lower()}@undo", title))
    connected = connect()
    integration, app = connected.integration, connected.app
    events.item_save(calendar=calendar, item=event("a@undo", "A in calsync"))
    events.item_save(calendar=calendar, item=event("e@undo", "E in calsync"))
    run = sync_now(integration, run_on_commit)
    edit(app, "e@undo", "E changed at the provider since")  # no sync has seen it yet

    undone = undo(integration, run, run_on_commit)

    assert undone.entries.filter(message__contains="left alone").count() == 1
    assert at_provider(app) == ["A", "E changed at the provider since"]
    assert in_calsync(calendar) == ["A", "E in calsync"]
    sync_now(integration, run_on_commit)
    assert at_provider(app) == in_calsync(calendar) == ["A", "E changed at the provider since"]


def test_a_safety_stop_at_the_provider_is_put_back_there_and_stays(  # type: ignore[no-untyped-def]
    connect, calendar, run_on_commit
) -> None:
    shifts = [f"Shift {i}" for i in range(7)]
    for i, title in enumerate(shifts):
        events.item_save(calendar=calendar, item=event(f"s{i}@undo", title, day=i))
    connected = connect()
    integration, app = connected.integration, connected.app
    for i in range(len(shifts)):
        remove(app, f"s{i}@undo")
    stopped = sync_now(integration, run_on_commit)
    assert stopped.status == "stopped", (stopped.status, stopped.error)
    assert stopped.entries.filter(action="withheld").count() == len(shifts)

    undo(integration, stopped, run_on_commit)

    integration.refresh_from_db()
    assert integration.status == "ok"
    assert at_provider(app) == in_calsync(calendar) == shifts
    for _ in range(2):  # the provider's change feed may still report the old deletions: nothing is deleted
        assert sync_now(integration, run_on_commit).counts == {}
        assert at_provider(app) == in_calsync(calendar) == shifts
