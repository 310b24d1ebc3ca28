"""Provider faults through one fault-injecting proxy (tests/faultproxy.py) in front of each emulator and a real
CalDAV server: 429 and 503 with Retry-After, 500, a stalled response, a connection reset in the middle of a
response (before and after the server did the work), and an expired cursor.

Each fault is either retried within the run or surfaced as a clear "will retry" in the run's log; then, the
fault gone, one sync brings both sides to the same items, compared item by item, with nothing duplicated.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from events import services as events
from events.models import Calendar
from integrations.caldav.adapter import CalDAVSide
from integrations.caldav.client import CalDAVClient
from integrations.caldav.services import caldav_connect, caldav_discover
from integrations.models import Integration
from sync import services as sync_services
from sync.adapter import CalendarSide
from sync.local import CalsyncSide
from sync.models import SyncRun
from tests.faultproxy import Fault, FaultProxy, Match, Reset, Stall, Status
from tests.sync.items import event

pytestmark = pytest.mark.django_db


@dataclass
class Rig:
    """An integration whose provider traffic goes through `proxy`; `other` is the provider's calendar as
    another application sees it (directly, not through the proxy); `expire` makes the provider forget
    calsync's cursor; `is_write` picks out a request that changes the provider's calendar."""

    integration: Integration
    proxy: FaultProxy
    other: CalendarSide
    expire: Callable[[], None]
    is_write: Match


@pytest.fixture(autouse=True)
def _short_waits(monkeypatch, settings):  # type: ignore[no-untyped-def]
    """Clients give up on a silent server after 2 s here (30 s and more in production); back-offs are recorded,
    not slept through."""
    settings.GOOGLE_TIMEOUT_SECONDS = settings.MICROSOFT_TIMEOUT_SECONDS = settings.EXCHANGE_TIMEOUT_SECONDS = 2
    monkeypatch.setattr("integrations.caldav.client.TIMEOUT", 2)
    monkeypatch.setattr("googleapiclient.http.time.sleep", lambda seconds: None)
    monkeypatch.setattr("integrations.microsoft.client.time.sleep", lambda seconds: None)


def _google(request, member_client, calendar, run_on_commit) -> Rig:  # type: ignore[no-untyped-def]
    from tests.integrations.test_google import connect, google_side

    google, settings = request.getfixturevalue("google"), request.getfixturevalue("settings")
    proxy = FaultProxy(google.base_url)
    settings.GOOGLE_API_ENDPOINT = f"{proxy.url}/calendar/v3/"
    settings.GOOGLE_BATCH_URI = f"{proxy.url}/batch/calendar/v3"
    email = f"faults-{uuid.uuid4().hex[:8]}@example.com"
    integration = connect(member_client, google, email, calendar, run_on_commit)
    settings.GOOGLE_API_ENDPOINT = f"{google.base_url}/calendar/v3/"
    other = google_side(google, email)  # built now: it talks to the emulator directly
    settings.GOOGLE_API_ENDPOINT = f"{proxy.url}/calendar/v3/"
    writes = ("POST", "PUT", "PATCH")
    return Rig(integration, proxy, other, lambda: google.state.expire_sync_tokens(),
               lambda m, path, body: (m in writes and "/events" in path) or "/batch/" in path)  # fmt: skip


def _microsoft(request, member_client, calendar, run_on_commit) -> Rig:  # type: ignore[no-untyped-def]
    from tests.integrations.test_microsoft import connect, outlook

    microsoft, settings = request.getfixturevalue("microsoft"), request.getfixturevalue("settings")
    cert = Path(settings.MICROSOFT_CA_BUNDLE)  # the emulator's; the proxy presents it too, so it is trusted
    proxy = FaultProxy(microsoft.base_url, certificate=(cert, cert.with_suffix(".key")), upstream_ca=cert)
    settings.MICROSOFT_GRAPH_URL = f"{proxy.url}/v1.0"
    login = f"faults-{uuid.uuid4().hex[:8]}@contoso.example"
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    settings.MICROSOFT_GRAPH_URL = f"{microsoft.base_url}/v1.0"
    other = outlook(microsoft, login)
    settings.MICROSOFT_GRAPH_URL = f"{proxy.url}/v1.0"
    return Rig(integration, proxy, other, lambda: microsoft.state.expire_delta_tokens(),
               lambda m, path, body: m in ("POST", "PATCH") and ("/events" in path or "$batch" in path))  # fmt: skip


def _exchange(request, member_client, calendar, run_on_commit) -> Rig:  # type: ignore[no-untyped-def]
    from tests.integrations.test_exchange import connect, outlook

    exchange = request.getfixturevalue("exchange")
    direct = exchange.url
    proxy = FaultProxy(f"{urlsplit(direct).scheme}://{urlsplit(direct).netloc}")
    exchange.url = f"{proxy.url}{urlsplit(direct).path}"
    integration = connect(member_client, exchange, calendar, run_on_commit, name=f"faults{uuid.uuid4().hex[:8]}")
    exchange.url = direct
    other = outlook(exchange, integration.config["account"])
    return Rig(integration, proxy, other, lambda: exchange.state.expire_sync_states(),
               lambda m, path, body: b"CreateItem" in body or b"UpdateItem" in body)  # fmt: skip


def caldav_through_proxy(server, member, calendar, **settings) -> tuple[Integration, FaultProxy, str]:  # type: ignore[no-untyped-def]
    """A new calendar on the CalDAV `server`, connected with every request through a new proxy:
    (integration, proxy, the calendar's URL on the server itself)."""
    url = server.new_calendar("Work")
    proxy = FaultProxy(f"{urlsplit(server.base_url).scheme}://{urlsplit(server.base_url).netloc}")
    proxied = proxy.url + urlsplit(server.base_url).path
    remote = next(c for c in caldav_discover(url=proxied, username=server.username, password=server.password)
                  if urlsplit(c.url).path == urlsplit(url).path)  # fmt: skip
    integration = caldav_connect(user=member, url=proxied, username=server.username, password=server.password,
                                 remote=remote, calendar=calendar, **settings)  # fmt: skip
    return integration, proxy, url


def _radicale(request, member, calendar, run_on_commit) -> Rig:  # type: ignore[no-untyped-def]
    server = request.getfixturevalue("radicale")
    request.getfixturevalue("settings").CALDAV_ALLOW_PRIVATE_ADDRESSES = True
    with run_on_commit():
        integration, proxy, url = caldav_through_proxy(server, member, calendar)
    other = CalDAVSide(CalDAVClient(server.base_url, server.username, server.password), url)

    def expire() -> None:  # a token of the right form that the server never issued (its history was pruned)
        token = integration.remote_cursor
        Integration.objects.filter(pk=integration.pk).update(remote_cursor=token[:-8] + "0" * 8)

    return Rig(integration, proxy, other, expire, lambda m, path, body: m == "PUT")


RIGS = {"google": _google, "microsoft": _microsoft, "exchange": _exchange, "radicale": _radicale}


@pytest.fixture(params=list(RIGS))
def rig(request, member, member_client, calendar, run_on_commit):  # type: ignore[no-untyped-def]
    events.item_save(calendar=calendar, item=event("local-1@test", "Local one", day=1))
    events.item_save(calendar=calendar, item=event("local-2@test", "Local two", day=2))
    builder = RIGS[request.param]
    client = member if request.param == "radicale" else member_client
    built = builder(request, client, calendar, run_on_commit)
    built.other.create(event("remote-1@test", "Remote one", day=3))
    built.other.create(event("remote-2@test", "Remote two", day=4))
    assert run(built).status == "success"
    assert_same_items(built)
    yield built
    built.proxy.close()


def run(rig: Rig) -> SyncRun:
    """One run, as a worker runs it (a retry it asks for stays queued: the test decides when to sync again)."""
    run = sync_services.sync_request(integration=rig.integration, trigger="manual", queue=False)
    return sync_services.sync_execute(run_id=run.pk)


def _instant(value: date | datetime | None) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def _items(side: CalendarSide) -> dict[str, list[tuple[str, Any, Any]]]:
    found: dict[str, list[tuple[str, Any, Any]]] = defaultdict(list)
    for entry in side.changes(None).changed:
        master = entry.item.master
        found[master.uid].append((master.summary, _instant(master.start), _instant(master.end)))
    return found


def assert_same_items(rig: Rig) -> None:
    """Both sides hold the same UIDs, each once, with the same title, start and end."""
    calendar = Calendar.objects.get(pk=rig.integration.calendar_id)
    here, there = _items(CalsyncSide(calendar)), _items(rig.other)
    assert sorted(here) == sorted(there)
    for uid in here:
        assert len(here[uid]) == len(there[uid]) == 1, f"{uid} duplicated: {here[uid]} / {there[uid]}"
        assert here[uid] == there[uid], uid


def change_both_sides(rig: Rig, n: int) -> None:
    calendar = Calendar.objects.get(pk=rig.integration.calendar_id)
    events.item_save(calendar=calendar, item=event("local-1@test", f"Local one, edit {n}", day=1))
    events.item_save(calendar=calendar, item=event(f"local-new-{n}@test", f"Local new {n}", day=5))
    current = rig.other.find("remote-1@test")
    assert current is not None
    rig.other.update(current.id, event("remote-1@test", f"Remote one, edit {n}", day=3), current.version)
    rig.other.create(event(f"remote-new-{n}@test", f"Remote new {n}", day=6))


PROVIDER_NAMES = {"google": "Google", "microsoft": "Microsoft", "exchange": "Exchange", "caldav": "CalDAV server"}
RETRY_AFTER = 600  # longer than any client waits within a run (the test records waits instead of sleeping)
FAULTS: dict[str, tuple[Fault, str]] = {
    "429 Retry-After": (Status(429, retry_after=RETRY_AFTER), "first"),
    "503 Retry-After": (Status(503, retry_after=RETRY_AFTER), "first"),
    "500": (Status(500), "first"),
    "stalled response": (Stall(4), "first"),
    "reset mid-response": (Reset(), "first"),
    "reset after a write": (Reset(), "write"),
}


@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_a_fault_is_retried_or_surfaced_and_the_next_sync_matches_both_sides(rig: Rig, fault_name: str,
                                                                           settings: Any) -> None:  # fmt: skip
    fault, where = FAULTS[fault_name]
    change_both_sides(rig, 1)
    rig.proxy.clear()
    rig.proxy.arm(fault, when=rig.is_write if where == "write" else None)
    first = run(rig)
    assert rig.proxy.faults_served() == [fault.name], "the fault was never served"
    faulted = next(i for i, (_, _, what) in enumerate(rig.proxy.seen) if what != "passed")
    if first.status == "success":  # retried within the run: the faulted request was sent again at once
        assert rig.proxy.seen[faulted + 1][:2] == rig.proxy.seen[faulted][:2]
    else:  # surfaced: the run says which server failed, and a retry is queued
        assert first.status == "retrying", (first.status, first.error)
        assert PROVIDER_NAMES[rig.integration.provider] in first.error, first.error
        retry = SyncRun.objects.get(integration=rig.integration, trigger="retry", status="queued")
        if isinstance(fault, Status) and fault.retry_after:  # the server's Retry-After is honoured
            assert retry.due_at >= first.finished_at + timedelta(seconds=fault.retry_after - 5)
    # The next sync comes after any Retry-After, when the scopes it paused (integrations/quota.py) are open again.
    settings.QUOTA_KEY_PREFIX = f"{settings.QUOTA_KEY_PREFIX}later-{uuid.uuid4().hex[:6]}:"
    assert run(rig).status == "success"
    assert_same_items(rig)


def test_an_expired_cursor_means_a_complete_listing_that_duplicates_nothing(rig: Rig) -> None:
    change_both_sides(rig, 1)
    rig.expire()
    assert run(rig).status == "success"
    assert_same_items(rig)
    change_both_sides(rig, 2)
    assert run(rig).status == "success"
    assert_same_items(rig)
