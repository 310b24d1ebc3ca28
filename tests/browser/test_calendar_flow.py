"""The newcomer's path through calsync, in a real browser."""

from __future__ import annotations

import re

import pytest

from events.models import Calendar, Event
from events.selectors import calendar_items
from tests.factories import PASSWORD

from .conftest import grid_day_events, grid_week, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_wrong_password_is_refused_with_a_message(page, member, screenshot) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, member.email, "not the password")
    assert page.locator(".flash.error").inner_text().startswith("That email and password do not match")
    screenshot("refused")
    assert page.url.endswith("/login/")


def test_weekly_series_with_a_moved_occurrence_exports_and_imports_unchanged(  # type: ignore[no-untyped-def]
    page, member, screenshot
) -> None:
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))

    # A weekly meeting on Mondays from 23 November 2026, 10:00-11:00 Berlin time.
    page.goto("/events/new/?date=2026-11-23")
    page.fill("input[name=title]", "Weekly sync")
    page.fill("input[name=start_time]", "10:00")
    page.fill("input[name=end_date]", "2026-11-23")
    page.fill("input[name=end_time]", "11:00")
    page.fill("input[name=timezone]", "Europe/Berlin")
    page.select_option("select[name=repeat]", "WEEKLY")
    page.fill("input[name=location]", "Room 1")
    screenshot("new-event")
    page.click("main button[type=submit]")
    page.wait_for_selector(".flash.success")

    # Move the 30 November occurrence to Wednesday 2 December, 14:00-15:00.
    grid_week(page, "2026-11-30")
    monday = grid_day_events(page, "2026-11-30")
    assert monday.inner_text().startswith("10:00 - 11:00")
    monday.click()
    page.click("text=Edit this occurrence")
    page.fill("input[name=start_date]", "2026-12-02")
    page.fill("input[name=start_time]", "14:00")
    page.fill("input[name=end_date]", "2026-12-02")
    page.fill("input[name=end_time]", "15:00")
    page.click("main button[type=submit]")
    page.wait_for_selector(".flash.success")

    grid_week(page, "2026-11-30")
    screenshot("week-with-moved-occurrence")
    assert grid_day_events(page, "2026-11-30").count() == 0
    moved = grid_day_events(page, "2026-12-02")
    assert "14:00 - 15:00" in moved.inner_text() and "Weekly sync" in moved.inner_text()
    grid_week(page, "2026-12-07")
    assert "10:00 - 11:00" in grid_day_events(page, "2026-12-07").inner_text()

    # Export the calendar as ICS.
    page.goto("/calendars/")
    with page.expect_download() as download_info:
        page.locator("[data-testid=export]").first.click()
    exported = download_info.value.path().read_text()
    assert "RRULE:FREQ=WEEKLY" in exported and "RECURRENCE-ID;TZID=Europe/Berlin:20261130T100000" in exported

    # Import it into a new calendar and compare the items.
    page.click("text=New calendar")
    page.fill("input[name=name]", "Imported")
    page.click("main button[type=submit]")
    page.locator("tr", has_text="Imported").locator("[data-testid=import]").click()
    page.set_input_files(
        "input[name=file]", files=[{"name": "work.ics", "mimeType": "text/calendar", "buffer": exported.encode()}]
    )
    page.click("main button[type=submit]")
    page.wait_for_selector("[data-testid=import-status]:has-text('Imported')")
    assert "1 created, 0 updated" in page.locator(".counts").inner_text()
    screenshot("imported")

    original, imported = (Calendar.objects.get(owner=member, name=n) for n in ("My calendar", "Imported"))
    assert calendar_items([imported]) == calendar_items([original])
    assert Event.objects.filter(calendar=imported, parent__isnull=False).count() == 1
