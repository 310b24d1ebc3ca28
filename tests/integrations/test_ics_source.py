"""ICS-URL subscriptions end to end: a real local HTTP server publishes a feed the tests edit, and the sync task
reads it into calsync one way (integrations/ics/)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from django.urls import reverse

from events import services as events
from events.convert import item_from_event
from events.models import Event
from integrations import services as integration_services
from integrations.ics import client
from integrations.ics.adapter import ICSSide
from integrations.ics.services import SubscriptionError, feed_check, ics_subscribe, shown_url, subscription_url
from integrations.models import Integration
from sync import services as sync_services
from sync.errors import PermanentError, TransientError
from tests.previews import confirm_first_sync

from .ics_feed import HOLIDAYS, LAST_MODIFIED, calendar_text, start_feed_server, vevent

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def feed_server():  # type: ignore[no-untyped-def]
    feed, stop = start_feed_server()
    yield feed
    stop()


@pytest.fixture
def feed(feed_server):  # type: ignore[no-untyped-def]
    feed_server.set(*HOLIDAYS)
    feed_server.status, feed_server.headers, feed_server.raw = 200, {}, None
    feed_server.regenerate_uids = feed_server.dated = False
    feed_server.requests.clear()
    return feed_server


def subscribe(member, calendar, feed, run_on_commit, path: str = "/holidays.ics") -> Integration:  # type: ignore[no-untyped-def]
    with run_on_commit():
        return ics_subscribe(user=member, check=feed_check(text=feed.url(path)), name="Holidays", calendar=calendar,
                             automatic=True, error_email=member.email)  # fmt: skip


def sync(integration, run_on_commit):  # type: ignore[no-untyped-def]
    with run_on_commit():
        run = sync_services.sync_request(integration=integration, trigger="manual")
    run.refresh_from_db()
    integration.refresh_from_db()
    return run


def titles(calendar) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(Event.objects.filter(calendar=calendar, parent=None).values_list("title", flat=True))


def rows(calendar) -> dict[str, tuple[int, int]]:  # type: ignore[no-untyped-def]
    """uid -> (primary key, change sequence) of each event: the same ones, unchanged, or not."""
    return {e.uid: (e.pk, e.seq) for e in Event.objects.filter(calendar=calendar, parent=None)}


# --- syncing --------------------------------------------------------------------------------------


def test_first_sync_then_a_304_is_one_conditional_request_that_writes_nothing(member, calendar, feed,
                                                                              run_on_commit) -> None:  # fmt: skip
    integration = subscribe(member, calendar, feed, run_on_commit)
    integration.refresh_from_db()
    first = integration.runs.get()
    assert first.status == "success" and first.to_calsync["created"] == 3, first.error
    assert titles(calendar) == ["Boxing Day", "Christmas", "New Year's Eve"]
    assert integration.remote_read_only and integration.direction == "to_calsync"
    assert integration.poll_seconds == 900 and integration.push_state == "polling"
    before, asked = rows(calendar), len(feed.requests)
    run = sync(integration, run_on_commit)
    assert run.status == "success" and run.counts == {}
    assert len(feed.requests) == asked + 1
    assert feed.requests[-1]["if-none-match"].startswith('"')
    assert rows(calendar) == before
    # A poll by the dispatcher that finds nothing leaves no run row: one request, the integration's quiet count.
    runs = integration.runs.count()
    assert sync_services.sync_scheduled(integration_id=integration.pk, trigger="automatic") is None
    integration.refresh_from_db()
    assert len(feed.requests) == asked + 2 and integration.runs.count() == runs and integration.quiet_syncs == 1
    assert rows(calendar) == before


def test_a_feed_dated_by_last_modified_is_asked_if_modified_since(member, calendar, feed, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    feed.dated = True
    integration = subscribe(member, calendar, feed, run_on_commit)
    before = rows(calendar)
    run = sync(integration, run_on_commit)
    assert run.counts == {} and rows(calendar) == before
    assert feed.requests[-1]["if-modified-since"] == LAST_MODIFIED and "if-none-match" not in feed.requests[-1]


def test_an_edit_and_a_deletion_in_the_feed_arrive(member, calendar, feed, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = subscribe(member, calendar, feed, run_on_commit)
    before = rows(calendar)
    feed.set(("xmas@pub", "Christmas Day", 25), ("eve@pub", "New Year's Eve", 31))
    run = sync(integration, run_on_commit)
    assert run.to_calsync["updated"] == 1 and run.to_calsync["deleted"] == 1
    assert titles(calendar) == ["Christmas Day", "New Year's Eve"]
    assert rows(calendar)["xmas@pub"][0] == before["xmas@pub"][0]  # edited in place


def test_a_feed_that_changes_uids_keeps_its_events(member, calendar, feed, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    feed.regenerate_uids = True
    integration = subscribe(member, calendar, feed, run_on_commit)
    before = rows(calendar)
    assert len(before) == 3
    run = sync(integration, run_on_commit)  # every UID is new in this copy
    assert run.counts == {} and rows(calendar) == before
    # An edit still arrives, on the event it belongs to, under its new UID again.
    feed.set(("a", "Christmas", 25, "Closed all day"), ("b", "Boxing Day", 26), ("c", "New Year's Eve", 31))
    run = sync(integration, run_on_commit)
    assert (run.to_calsync.get("updated"), run.to_calsync.get("created"), run.to_calsync.get("deleted")) == (1, 0, 0)
    assert rows(calendar).keys() == before.keys()
    changed = Event.objects.get(calendar=calendar, parent=None, title="Christmas")
    assert changed.description == "Closed all day" and changed.pk == before[changed.uid][0]
    assert sync(integration, run_on_commit).counts == {}


@pytest.mark.parametrize("status", [404, 410])
def test_a_feed_that_is_gone_stops_the_integration_and_deletes_nothing(member, calendar, feed, run_on_commit,
                                                                      status) -> None:  # fmt: skip
    integration = subscribe(member, calendar, feed, run_on_commit)
    feed.status = status
    run = sync(integration, run_on_commit)
    assert run.status == "failed" and f"The feed is gone: 127.0.0.1:{feed.port} answers {status}" in run.error
    assert integration.status == "error" and "The feed is gone" in integration.last_error
    assert feed.url() not in integration.last_error  # the address may be a secret: only its host is named
    assert titles(calendar) == ["Boxing Day", "Christmas", "New Year's Eve"]


def test_a_feed_that_now_points_inside_calsyncs_network_is_not_fetched(member, calendar, feed, run_on_commit,
                                                                        settings) -> None:  # fmt: skip
    integration = subscribe(member, calendar, feed, run_on_commit)
    settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = False  # production: the test server's 127.0.0.1 is calsync's own
    asked = len(feed.requests)
    run = sync(integration, run_on_commit)
    assert run.status == "failed" and "inside its own network" in run.error
    assert len(feed.requests) == asked and len(titles(calendar)) == 3


def test_an_emptied_feed_stops_until_the_user_allows_the_deletion(member, calendar, feed, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = subscribe(member, calendar, feed, run_on_commit)
    feed.raw = calendar_text()
    run = sync(integration, run_on_commit)
    assert run.status == "stopped" and "lists 0 of the 3 events" in run.error
    assert integration.status == "stopped"
    assert len(titles(calendar)) == 3
    with run_on_commit():
        integration_services.integration_allow_mass_delete(integration=integration)
    integration.refresh_from_db()
    assert titles(calendar) == [] and integration.status == "ok" and not integration.allow_mass_delete


def test_a_nearly_emptied_feed_stops_whatever_the_threshold(member, calendar, feed, run_on_commit, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SYNC_MASS_DELETE_THRESHOLD = 1000
    feed.set(*[(f"e{i}@pub", f"Event {i}", 1 + i) for i in range(10)])
    integration = subscribe(member, calendar, feed, run_on_commit)
    feed.set(("e0@pub", "Event 0", 1))
    run = sync(integration, run_on_commit)
    assert run.status == "stopped" and len(titles(calendar)) == 10


def test_calsync_side_edits_of_a_subscribed_event_are_put_back(member, calendar, feed, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = subscribe(member, calendar, feed, run_on_commit)
    master = Event.objects.get(calendar=calendar, uid="xmas@pub", parent=None)
    item = item_from_event(master)
    events.item_save(calendar=calendar, item=replace(item, master=replace(item.master, summary="My Christmas")))
    events.item_delete(event=Event.objects.get(calendar=calendar, uid="eve@pub", parent=None))
    run = sync(integration, run_on_commit)
    assert run.status == "success", run.error
    assert titles(calendar) == ["Boxing Day", "Christmas", "New Year's Eve"]
    assert {r["method"] for r in feed.requests} == {"GET"}  # nothing was ever written to the publisher
    # The settings page cannot turn the subscription two-way.
    with run_on_commit():
        integration_services.integration_update_settings(integration=integration, direction="both")
    integration.refresh_from_db()
    assert integration.direction == "to_calsync"


def test_an_unreadable_event_is_reported_and_the_rest_syncs(member, calendar, feed, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    broken = (
        "BEGIN:VEVENT\r\nUID:broken@pub\r\nDTSTART;TZID=Nowhere/Land:20261201T090000\r\nSUMMARY:X\r\nEND:VEVENT\r\n"
    )
    feed.raw = calendar_text(vevent("ok@pub", "Readable", 2), broken)
    integration = subscribe(member, calendar, feed, run_on_commit)
    run = integration.runs.get()
    assert run.status == "partial" and run.unsynced == 1
    assert titles(calendar) == ["Readable"]


# --- the side on its own: throttling, freshness, writes ---------------------------------------------


def test_throttling_carries_the_servers_delay(feed) -> None:  # type: ignore[no-untyped-def]
    feed.status, feed.headers = 429, {"Retry-After": "120"}
    with pytest.raises(TransientError) as raised:
        ICSSide(url=feed.url()).changes(None)
    assert raised.value.retry_after == 120


def test_a_retry_after_date_is_turned_into_seconds(feed) -> None:  # type: ignore[no-untyped-def]
    later = datetime.now(UTC) + timedelta(minutes=10)
    feed.status, feed.headers = 503, {"Retry-After": format_datetime(later, usegmt=True)}
    with pytest.raises(TransientError, match="busy or failing") as raised:
        client.fetch(feed.url())
    assert raised.value.retry_after is not None and 500 < raised.value.retry_after <= 600


def test_no_request_while_the_server_says_the_copy_is_fresh(feed) -> None:  # type: ignore[no-untyped-def]
    feed.headers = {"Cache-Control": "public, max-age=3600"}
    now = [1_000_000.0]
    side = ICSSide(url=feed.url(), clock=lambda: now[0])
    cursor = side.changes(None).cursor
    assert len(feed.requests) == 1
    assert ICSSide(url=feed.url(), clock=lambda: now[0] + 3599).changes(cursor).cursor == cursor
    assert len(feed.requests) == 1
    changes = ICSSide(url=feed.url(), clock=lambda: now[0] + 3601).changes(cursor)
    assert len(feed.requests) == 2 and list(changes.changed) == []  # asked again, conditionally: 304


def test_writes_are_refused(feed) -> None:  # type: ignore[no-untyped-def]
    side = ICSSide(url=feed.url())
    entry = next(iter(side.changes(None).changed))
    with pytest.raises(PermanentError, match="read only"):
        side.update(entry.id, entry.item, entry.version)
    with pytest.raises(PermanentError, match="read only"):
        side.delete(entry.id, entry.version)


def test_a_feed_larger_than_the_limit_is_refused(feed, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ICS_IMPORT_MAX_BYTES = 100
    with pytest.raises(PermanentError, match="larger than calsync accepts"):
        client.fetch(feed.url())


# --- the outbound guard -------------------------------------------------------------------------------


def test_the_guard_refuses_private_addresses_and_redirects_into_them(feed, network) -> None:  # type: ignore[no-untyped-def]
    network.resolve("feed.example.test", "127.0.0.1")  # the test server, allowed as the CalDAV tests allow it
    network.resolve("inside.example.test", "10.0.0.5")
    with pytest.raises(SubscriptionError, match="inside its own network"):
        subscription_url("webcal://inside.example.test/cal.ics")
    assert subscription_url(f"webcal://feed.example.test:{feed.port}/x.ics").startswith("https://feed.example.test")
    feed.status, feed.headers = 302, {"Location": "http://inside.example.test/cal.ics"}
    with pytest.raises(PermanentError, match="inside its own network"):
        client.fetch(feed.url(host="feed.example.test"))
    assert network.non_loopback_connects() == []


# --- connecting ---------------------------------------------------------------------------------------


def test_the_subscribe_form(client, member, calendar, feed, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    client.force_login(member)
    settings_page = client.get(reverse("settings")).content.decode()
    assert reverse("integrations:ics_subscribe") in settings_page
    page = reverse("integrations:ics_subscribe")
    secret = "s3cr3tT0k3nAbcdef12345"
    url = feed.url(f"/holidays.ics?token={secret}")
    form = {"url": url, "name": "Holidays", "calendar": calendar.pk, "automatic": "true", "error_email": member.email}
    checked = client.post(page, {**form, "check": "1"}).content.decode()
    assert "3 events found" in checked and not Integration.objects.exists()
    for bad, message in [("ftp://example.com/x.ics", "Enter the calendar"), ("not a url", "Enter the calendar"),
                         ("http://[::1/x", "Enter the calendar"), ("https://example.com:99999/", "Enter the calendar"),
                         ("http://127.0.0.1:9/x.ics", "Could not reach")]:  # fmt: skip
        answer = client.post(page, {**form, "url": bad})
        assert answer.status_code == 200 and message in answer.content.decode()
    answer = client.post(page, {**form, "url": "https://example.com/" + "x" * 2000})
    assert answer.status_code == 200 and "at most 2000 characters" in answer.content.decode()
    feed.raw = "<html><body>Please sign in</body></html>"
    answer = client.post(page, form)
    assert answer.status_code == 200 and "does not serve a calendar" in answer.content.decode()
    feed.raw = None
    with run_on_commit():
        response = client.post(page, form)
    integration = Integration.objects.get(provider="ics")
    assert response["Location"] == reverse("integrations:detail", args=[integration.pk])
    assert integration.previews.get().counts == {"calsync": {"created": 3}} and titles(calendar) == []
    confirm_first_sync(client, integration, run_on_commit)
    assert integration.runs.get().status == "success" and len(titles(calendar)) == 3
    assert secret not in integration.credentials_encrypted and secret not in str(integration.config)
    assert integration.credentials["url"] == url
    detail = client.get(response["Location"]).content.decode()
    assert "holidays.ics?token=…" in detail and secret not in detail
    again = client.post(page, form).content.decode()
    assert "already connected" in again


def test_shown_urls_hide_what_looks_like_a_credential() -> None:
    assert shown_url("https://bob:pw@cal.example.com/feed.ics") == "https://…@cal.example.com/feed.ics"
    private = "https://calendar.google.com/calendar/ical/bob%40example.com/private-9f8e7d6c5b4a39281706/basic.ics"
    assert "9f8e7d6c5b4a39281706" not in shown_url(private)
    assert shown_url("https://example.com/h.ics?lang=en&key=abc") == "https://example.com/h.ics?lang=…&key=…"
