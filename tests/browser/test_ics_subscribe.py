"""Subscribing to a published calendar by its URL in a real browser, against a real local HTTP feed."""

from __future__ import annotations

import re

import pytest

from events.models import Event
from integrations.models import Integration
from tests.factories import PASSWORD
from tests.integrations.ics_feed import HOLIDAYS, start_feed_server

from .conftest import sign_in, start_syncing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def feed():  # type: ignore[no-untyped-def]
    feed, stop = start_feed_server()
    feed.set(*HOLIDAYS)
    yield feed
    stop()


def test_check_then_subscribe(page, member, calendar, feed, screenshot) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto("/settings/")
    page.click("[data-testid=connect-ics]")
    page.fill("input[name=url]", "ftp://example.com/holidays.ics")
    page.click("main button[name=check]")
    assert "Enter the calendar's address" in page.locator("main").inner_text()
    page.fill("input[name=url]", feed.url("/holidays.ics?key=9f8e7d6c5b4a3928"))
    page.fill("input[name=name]", "Holidays")
    page.click("main button[name=check]")
    assert page.locator("[data-testid=feed-found]").inner_text() == "3 events found."
    assert not Integration.objects.exists()
    screenshot("checked")
    page.click("[data-testid=subscribe]")
    page.wait_for_selector("text=Here is what the first sync would do")
    start_syncing(page)
    assert "Succeeded" in page.locator("[data-testid=last-run]").inner_text()
    assert page.locator("[data-testid=feed-url]").inner_text().endswith("?key=…")
    screenshot("subscribed")
    assert sorted(Event.objects.filter(calendar=calendar).values_list("title", flat=True)) == [
        "Boxing Day", "Christmas", "New Year's Eve"]  # fmt: skip
