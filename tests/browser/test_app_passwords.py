"""Adding calsync to a calendar app, as a user does it: generate an app password, type what the page shows."""

from __future__ import annotations

import re

import caldav
import niquests
import pytest

from events import services as events
from events.ical import parse_calendar
from tests.factories import PASSWORD
from tests.sync.items import event

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_generate_an_app_password_and_use_it(page, member, calendar, live_server, settings, screenshot) -> None:  # type: ignore[no-untyped-def]
    settings.SITE_URL = live_server.url
    events.item_save(calendar=calendar, item=event("hello@calsync", "Hello from calsync"))
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto("/settings/")
    page.click("[data-testid=app-passwords-link]")
    page.fill("input[name=label]", "iPhone")
    page.click("main form button[type=submit]")
    shown = page.locator("[data-testid=new-app-password]")
    server_url = shown.locator("[data-testid=server-url]").inner_text()
    username = shown.locator("[data-testid=username]").inner_text()
    password = shown.locator("[data-testid=password]").inner_text()
    screenshot("shown-once")
    assert server_url == f"{live_server.url}/caldav/principals/{member.email}/" and username == member.email

    # What the user types into their app works, and finds their calendar and its event.
    client = caldav.DAVClient(url=server_url, username=username, password=password)
    client.session.trust_env = False
    (work,) = [c for c in client.principal().calendars() if c.get_display_name() == "Work"]
    assert [e.icalendar_component["SUMMARY"] for e in work.events()] == ["Hello from calsync"]

    # Listed without the secret; revoking it locks the device out.
    page.goto("/settings/app-passwords/")
    row = page.locator("[data-testid=app-passwords] tbody tr")
    assert "iPhone" in row.inner_text() and password not in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button", has_text="Revoke").click()
    page.wait_for_selector("text=was revoked")
    with pytest.raises(caldav.lib.error.AuthorizationError):
        caldav.DAVClient(url=server_url, username=username, password=password).principal()


def test_copy_and_replace_the_subscription_link(page, member, calendar, live_server, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SITE_URL = live_server.url
    events.item_save(calendar=calendar, item=event("hello@calsync", "Hello from calsync"))
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto("/calendars/")
    page.click("[data-testid=subscribe]")
    old = page.input_value("[data-testid=feed-url]")
    with niquests.Session() as session:
        session.trust_env = False
        feed = session.get(old, timeout=10)
        assert feed.status_code == 200 and [i.uid for i in parse_calendar(feed.content)] == ["hello@calsync"]
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("text=Replace link")
        page.wait_for_selector("text=was replaced")
        new = page.input_value("[data-testid=feed-url]")
        assert new != old
        assert session.get(old, timeout=10).status_code == 404
        assert session.get(new, timeout=10).status_code == 200
