"""Connecting two calendars, the sync settings, Synchronize now and the logs, in a real browser."""

from __future__ import annotations

import re

import pytest

from events.models import Event
from tests.factories import PASSWORD

from .conftest import sign_in, start_syncing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_connect_two_calendars_sync_and_read_the_logs(page, member, calendar, screenshot) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto("/calendars/new/")
    page.fill("input[name=name]", "Team")
    page.click("main button[type=submit]")

    page.goto("/events/new/?date=2026-11-24")
    page.select_option("select[name=calendar]", label="Work")
    page.fill("input[name=title]", "Quarterly review")
    page.fill("input[name=end_date]", "2026-11-24")
    page.fill("input[name=end_time]", "10:00")
    page.click("main button[type=submit]")
    page.wait_for_selector(".flash.success")

    page.goto("/settings/")
    page.click("[data-testid=connect-calsync]")
    page.select_option("select[name=calendar]", label="Work")
    page.select_option("select[name=other]", label="Team")
    page.check("input[name=direction][value=from_calsync]")
    screenshot("connect")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Connected. Here is what the first sync would do")
    start_syncing(page)
    assert "Succeeded" in page.locator("[data-testid=last-run]").inner_text()
    assert "1 created in the other calendar" in page.locator("[data-testid=last-run]").inner_text()
    screenshot("integration")
    assert Event.objects.filter(calendar__name="Team", title="Quarterly review").exists()

    # Change a setting: saving syncs at once; then Synchronize now.
    page.select_option("select[name=automatic]", "false")
    page.click("form:has(select[name=automatic]) button[type=submit]")
    page.wait_for_selector("text=Settings saved.")
    page.click("[data-testid=sync-now]")
    page.wait_for_selector("text=Sync started.")
    page.click("text=Logs")
    assert page.locator("[data-testid=run-row]").count() == 3
    page.locator("[data-testid=run-row]").last.locator("text=Details").click()
    assert "“Quarterly review” created in the other calendar." in page.content()
    screenshot("run")
