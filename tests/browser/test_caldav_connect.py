"""Connecting a CalDAV calendar in a real browser, against a real Radicale server."""

from __future__ import annotations

import re

import pytest

from events import services as events
from events.models import Event
from integrations.models import Integration
from tests.factories import PASSWORD
from tests.sync.items import event

from .conftest import sign_in, start_syncing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_connect_to_radicale_with_a_wrong_then_right_password(page, member, calendar, radicale, screenshot) -> None:  # type: ignore[no-untyped-def]
    url = radicale.new_calendar("Browser test")
    radicale.new_calendar("Another one")  # so there is a choice to make
    events.item_save(calendar=calendar, item=event("hello@calsync", "Hello from calsync"))
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto("/settings/")
    page.click("[data-testid=connect-caldav]")
    page.fill("input[name=url]", radicale.base_url)
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "not-it")
    page.click("main button[type=submit]")
    assert "refused the username or app password" in page.locator(".flash.error").inner_text()
    assert page.input_value("input[name=password]") == ""  # never sent back to the browser
    screenshot("wrong-password")

    page.fill("input[name=password]", "app-password-1")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/connect/caldav/calendar/"))
    page.select_option("select[name=remote]", url)
    page.check("input[name=direction][value=both]")
    screenshot("choose")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Here is what the first sync would do")
    start_syncing(page)
    assert "Succeeded" in page.locator("[data-testid=last-run]").inner_text()
    screenshot("connected")
    integration = Integration.objects.get(provider="caldav")
    assert integration.remote_calendar_id == url
    assert Event.objects.filter(calendar=calendar).count() == 1
    assert "1 created in the other calendar" in page.locator("[data-testid=last-run]").inner_text()
