"""ICS subscriptions against the reviewer's scenarios (review 1): what a publisher, a user or a hostile server
may do that the first version got wrong. The feed is the same real local HTTP server as test_ics_source's."""

from __future__ import annotations

import copy
import logging
import logging.config
import socket
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone

from events.models import Event
from integrations import services as integration_services
from integrations.ics.services import SubscriptionError, feed_check, feed_id, shown_url
from integrations.models import Integration
from sync import services as sync_services
from sync.controls import Controls, Flow
from sync.errors import MAX_RETRY_AFTER_SECONDS, TransientError

from . import test_ics_source as source
from .ics_feed import calendar_text, vevent
from .test_ics_source import rows, subscribe, sync, titles

# The same feed server and per-test feed as test_ics_source's.
feed_server, feed = source.feed_server, source.feed

pytestmark = pytest.mark.django_db


# --- what pages and logs show ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("https://cal.example.com/feed.ics?s=Ab+cD/efGH12ijKL34mnOP", "efGH12ijKL34mnOP"),
        ("https://cal.example.com/u/john/AbcdEfghIjklMnop.ics", "AbcdEfghIjklMnop"),
        ("https://cal.example.com/feed.ics?t=AbCdEfGh", "AbCdEfGh"),
        ("https://cal.example.com/u/Zq9x/basic.ics", "Zq9x"),
    ],
)
def test_shown_urls_keep_only_the_host_and_the_last_plain_segment(url: str, secret: str) -> None:
    shown = shown_url(url)
    assert secret not in shown and shown.startswith("https://cal.example.com/")


def test_shown_urls_still_say_which_feed_it_is() -> None:
    assert shown_url("https://x.example.com/a/b/holidays.ics?lang=en") == "https://x.example.com/…/holidays.ics?lang=…"
    assert shown_url("https://bob:pw@x.example.com:8443/basic.ics") == "https://…@x.example.com:8443/basic.ics"


def test_urllib3_logs_no_request_lines_even_with_debug_logging() -> None:
    """LOG_LEVEL=DEBUG (an operator chasing a problem) must not put feed URLs, tokens and all, in the logs."""
    configured = copy.deepcopy(django_settings.LOGGING)
    configured["root"]["level"] = "DEBUG"
    try:
        logging.config.dictConfig(configured)
        for name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.poolmanager"):
            assert logging.getLogger(name).getEffectiveLevel() >= logging.INFO, name
    finally:
        logging.config.dictConfig(django_settings.LOGGING)


# --- one feed, one subscription -------------------------------------------------------------------------


def test_the_same_feed_written_differently_is_the_same_feed() -> None:
    same = ["https://Cal.Example.COM/cal.ics", "https://cal.example.com:443/cal.ics", "webcal://cal.example.com/cal.ics",
            "HTTPS://cal.example.com/cal.ics"]  # fmt: skip
    assert {feed_id(url) for url in same} == {feed_id("https://cal.example.com/cal.ics")}
    assert feed_id("http://cal.example.com/cal.ics") == feed_id("http://cal.example.com:80/cal.ics")
    assert feed_id("https://cal.example.com/Cal.ics") != feed_id("https://cal.example.com/cal.ics")
    assert feed_id("https://cal.example.com:8443/cal.ics") != feed_id("https://cal.example.com/cal.ics")


# --- a server's Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize("given", [1e20, float("inf"), "99999999999999999999", 10 * 365 * 86400])
def test_a_providers_delay_is_clamped_to_a_day(given: object) -> None:
    assert TransientError("busy", retry_after=given).retry_after == MAX_RETRY_AFTER_SECONDS  # type: ignore[arg-type]


@pytest.mark.parametrize("given", [float("nan"), -5, "soon", None])
def test_a_meaningless_delay_is_no_delay(given: object) -> None:
    assert TransientError("busy", retry_after=given).retry_after is None  # type: ignore[arg-type]


def test_a_hostile_retry_after_queues_a_retry_within_a_day(member, calendar, feed, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = subscribe(member, calendar, feed, run_on_commit)
    feed.status, feed.headers = 503, {"Retry-After": "99999999999999999999"}
    started = timezone.now()
    with run_on_commit():
        run = sync_services.sync_request(integration=integration, trigger="manual")
    run.refresh_from_db()
    assert run.status == "retrying" and "busy or failing" in run.error
    # Each retry was queued a day later (the eager test queue runs them at once, until the last gives up).
    retries = list(integration.runs.filter(trigger="retry").order_by("pk"))
    latest = timezone.now() + timedelta(seconds=MAX_RETRY_AFTER_SECONDS)
    assert retries and all(started + timedelta(hours=23) < r.due_at <= latest for r in retries)
    assert retries[-1].status == "failed" and "gave up" in retries[-1].error
    assert len(titles(calendar)) == 3


# --- comparing everything again keeps the feed's identities ------------------------------------------------

NEW_CONTROLS = Controls(into_calsync=Flow(keywords=("no event says this",)))


def save_controls(integration, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    """What the controls form does (the sync it asks for runs as it commits); the next runs compare everything."""
    with run_on_commit():
        assert integration_services.integration_controls_update(integration=integration, controls=NEW_CONTROLS)
    integration.refresh_from_db()


def test_saving_controls_does_not_duplicate_a_feed_that_changes_uids(member, calendar, feed,  # type: ignore[no-untyped-def]
                                                                     run_on_commit) -> None:  # fmt: skip
    feed.regenerate_uids = True
    feed.set(*[(f"e{i}@pub", f"Event {i}", 1 + i) for i in range(6)])
    integration = subscribe(member, calendar, feed, run_on_commit)
    before = rows(calendar)
    assert len(before) == 6
    save_controls(integration, run_on_commit)
    last = integration.runs.order_by("-pk").first()
    assert last.status == "success", last.error
    for _ in range(2):
        run = sync(integration, run_on_commit)
        assert run.status == "success" and run.counts == {}, (run.error, run.counts)
    assert rows(calendar) == before


def test_saving_controls_keeps_the_shrink_guard(member, calendar, feed, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    feed.set(*[(f"e{i}@pub", f"Event {i}", 1 + i) for i in range(10)])
    integration = subscribe(member, calendar, feed, run_on_commit)
    feed.set(("e0@pub", "Event 0", 1))
    save_controls(integration, run_on_commit)
    run = integration.runs.order_by("-pk").first()
    assert run.status == "stopped" and "lists 1 of the 10 events" in run.error
    assert len(titles(calendar)) == 10


def test_the_shrink_guard_counts_what_was_synced_even_without_a_cursor(member, calendar, feed,  # type: ignore[no-untyped-def]
                                                                       run_on_commit) -> None:  # fmt: skip
    feed.set(*[(f"e{i}@pub", f"Event {i}", 1 + i) for i in range(10)])
    integration = subscribe(member, calendar, feed, run_on_commit)
    Integration.objects.filter(pk=integration.pk).update(remote_cursor="")  # lost, or written by an older calsync
    feed.set(("e0@pub", "Event 0", 1))
    run = sync(integration, run_on_commit)
    assert run.status == "stopped" and len(titles(calendar)) == 10


# --- an unreadable event in a feed that changes UIDs ----------------------------------------------------


def broken(uid: str) -> str:
    """An event calsync cannot read (a time zone nobody knows)."""
    return f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART;TZID=Nowhere/Land:20261203T090000\r\nSUMMARY:Gala\r\nEND:VEVENT\r\n"


def test_an_event_that_turns_unreadable_under_a_new_uid_is_not_deleted(member, calendar, feed,  # type: ignore[no-untyped-def]
                                                                       run_on_commit) -> None:  # fmt: skip
    feed.raw = calendar_text(vevent("a1@pub", "Fair", 1), vevent("b1@pub", "Market", 2), vevent("c1@pub", "Gala", 3))
    integration = subscribe(member, calendar, feed, run_on_commit)
    assert titles(calendar) == ["Fair", "Gala", "Market"]
    feed.raw = calendar_text(vevent("a2@pub", "Fair", 1), vevent("b2@pub", "Market", 2), broken("c2@pub"))
    run = sync(integration, run_on_commit)
    assert run.status == "partial" and run.unsynced == 1 and not run.to_calsync.get("deleted"), run.to_calsync
    assert titles(calendar) == ["Fair", "Gala", "Market"]
    # Still unreadable under yet another UID: still kept; readable again: the same event, not a new one.
    feed.raw = calendar_text(vevent("a3@pub", "Fair", 1), vevent("b3@pub", "Market", 2), broken("c3@pub"))
    assert sync(integration, run_on_commit).status == "partial" and titles(calendar) == ["Fair", "Gala", "Market"]
    gala = Event.objects.get(calendar=calendar, parent=None, title="Gala").pk
    feed.raw = calendar_text(vevent("a4@pub", "Fair", 1), vevent("b4@pub", "Market", 2), vevent("c4@pub", "Gala", 3))
    run = sync(integration, run_on_commit)
    assert run.status == "success" and run.counts == {}, run.counts
    assert Event.objects.get(calendar=calendar, parent=None, title="Gala").pk == gala


def test_with_stable_uids_a_deletion_happens_beside_an_unreadable_event(member, calendar, feed,  # type: ignore[no-untyped-def]
                                                                          run_on_commit) -> None:  # fmt: skip
    feed.raw = calendar_text(vevent("a@pub", "Fair", 1), vevent("b@pub", "Market", 2), vevent("c@pub", "Gala", 3))
    integration = subscribe(member, calendar, feed, run_on_commit)
    feed.raw = calendar_text(vevent("a@pub", "Fair", 1), broken("c@pub"))
    run = sync(integration, run_on_commit)
    assert run.status == "partial" and run.unsynced == 1 and run.to_calsync.get("deleted") == 1, run.to_calsync
    assert titles(calendar) == ["Fair", "Gala"]


# --- "Synchronize now" ------------------------------------------------------------------------------------


def test_synchronize_now_fetches_a_feed_the_server_called_fresh(member, calendar, feed, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    feed.headers = {"Cache-Control": "max-age=86400"}
    integration = subscribe(member, calendar, feed, run_on_commit)
    feed.set(("xmas@pub", "Christmas Day", 25), ("boxing@pub", "Boxing Day", 26), ("eve@pub", "New Year's Eve", 31))
    asked = len(feed.requests)
    # The dispatcher's poll respects the server's max-age: no request.
    assert sync_services.sync_scheduled(integration_id=integration.pk, trigger="automatic") is None
    assert len(feed.requests) == asked and "Christmas" in titles(calendar)
    # Someone asked: the feed is fetched.
    run = sync(integration, run_on_commit)
    assert len(feed.requests) == asked + 1 and run.to_calsync.get("updated") == 1
    assert "Christmas Day" in titles(calendar)


# --- "Check" is an outbound request on a user's behalf -------------------------------------------------


def test_checking_addresses_is_rate_limited_per_user(client, member, calendar, feed, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ICS_CHECKS_PER_HOUR = 2
    client.force_login(member)
    page = reverse("integrations:ics_subscribe")
    form = {"url": feed.url(), "name": "Holidays", "calendar": calendar.pk, "automatic": "true",
            "error_email": member.email, "check": "1"}  # fmt: skip
    for _ in range(2):
        assert "3 events found" in client.post(page, form).content.decode()
    asked = len(feed.requests)
    answer = client.post(page, form)
    assert answer.status_code == 200 and "try again later" in answer.content.decode()
    assert len(feed.requests) == asked  # not fetched
    subscribing = {k: v for k, v in form.items() if k != "check"} | {"url": feed.url("/other.ics")}
    answer = client.post(page, subscribing)
    assert "try again later" in answer.content.decode() and not Integration.objects.exists()


def test_a_check_gives_up_sooner_than_a_sync(feed, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ICS_FEED_TIMEOUT_SECONDS, settings.ICS_CHECK_TIMEOUT_SECONDS = 600, 1
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        with pytest.raises(SubscriptionError, match="Could not reach"):
            feed_check(text=f"http://127.0.0.1:{silent.getsockname()[1]}/cal.ics")
