"""What the calendar pages show and preselect, in a real browser: one event in two calendars, a floating event
edited, the organisation switching 'Another calsync calendar' off and on, and the main calendar preselected."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from events import services
from events.convert import item_from_event
from events.ical import Component, Item
from events.models import Event
from tests.factories import PASSWORD

from .conftest import grid_day_events, grid_week, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
BERLIN = ZoneInfo("Europe/Berlin")


def _save(calendar, uid: str, title: str, start: datetime, **fields) -> Event:  # type: ignore[no-untyped-def]
    component = Component(uid=uid, summary=title, start=start, end=start + timedelta(minutes=30), **fields)
    return services.item_save(calendar=calendar, item=Item(master=component)).event


@pytest.fixture
def aardvark(member, calendar):  # type: ignore[no-untyped-def]
    """A second calendar, made after the main one ('Work'), whose name sorts first."""
    return services.calendar_create(owner=member, name="Aardvark club")


def test_the_same_event_in_two_calendars_shows_twice(page, member, calendar, aardvark, screenshot) -> None:  # type: ignore[no-untyped-def]
    monday = datetime(2026, 11, 23, 9, tzinfo=BERLIN)
    _save(calendar, "standup@example.com", "Standup", monday, rrule="FREQ=DAILY;COUNT=5")
    _save(aardvark, "standup@example.com", "Standup (imported copy)", monday + timedelta(hours=2),
          rrule="FREQ=DAILY;COUNT=5")  # fmt: skip
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    grid_week(page, "2026-11-23")
    tuesday = grid_day_events(page, "2026-11-24").locator(".fc-event-title")
    assert tuesday.all_inner_texts() == ["Standup", "Standup (imported copy)"]
    page.goto("/calendar/list/?from=2026-11-23&to=2026-11-29")
    screenshot("list")
    assert page.locator("[data-testid=occurrence]").count() == 10
    page.locator("[data-testid=occurrence]", has_text="Standup (imported copy)").first.click()
    assert page.locator("h1").inner_text() == "Standup (imported copy)"


def test_a_floating_event_stays_floating_when_its_title_is_edited(page, member, calendar, screenshot) -> None:  # type: ignore[no-untyped-def]
    event = _save(calendar, "run@example.com", "Morning run", datetime(2026, 11, 24, 7, 30))  # floating
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto(f"/events/{event.pk}/edit/")
    zone = page.locator("input[name=timezone]")
    assert zone.input_value() == "" and zone.get_attribute("placeholder") == "No time zone (floating)"
    assert page.locator("input[name=start_time]").input_value() == "07:30"
    screenshot("floating-form")
    page.fill("input[name=title]", "Morning run (long)")
    page.click("main button[type=submit]")
    page.wait_for_selector(".flash.success")
    grid_week(page, "2026-11-23")  # at its clock time, not pinned to UTC and shown an hour later
    when = grid_day_events(page, "2026-11-24").locator(".fc-event-time")
    assert when.inner_text() == "07:30 - 08:00"
    event.refresh_from_db()
    assert (event.title, event.timezone) == ("Morning run (long)", "")
    assert item_from_event(event).master.start == datetime(2026, 11, 24, 7, 30)  # naive: still floating


def test_the_organisation_switches_another_calsync_calendar_off_and_on(browser, live_server, page, admin_user,
                                                                       member, calendar, screenshot) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    member_context = browser.new_context(base_url=live_server.url, timezone_id="Europe/Berlin")
    member_page = member_context.new_page()
    member_page.set_default_timeout(15_000)
    sign_in(member_page, member.email, PASSWORD)
    member_page.wait_for_url(re.compile(r"/calendar/"))
    sign_in(page, admin_user.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))

    def set_allowed(allowed: bool) -> None:
        page.goto("/manage/organisation/")
        box = page.get_by_label("Another calsync calendar")
        box.set_checked(allowed)
        page.click("main button[type=submit]")
        page.goto("/manage/organisation/")
        assert page.get_by_label("Another calsync calendar").is_checked() is allowed  # the box keeps its state

    def settings_entry() -> str:
        member_page.goto("/settings/")
        entries = member_page.locator("#integrations li", has_text="Another calsync calendar")
        assert entries.count() == 1
        return entries.inner_text()

    set_allowed(False)
    screenshot("organisation-without-calsync")
    assert "Not enabled for" in settings_entry()
    assert member_page.locator("[data-testid=connect-calsync]").count() == 0
    assert member_page.goto("/integrations/connect/calsync/").status == 403

    set_allowed(True)
    assert "Sync two of your calendars" in settings_entry() and "Not enabled" not in settings_entry()
    member_context.close()


def test_new_event_and_the_choice_step_preselect_the_main_calendar(page, member, calendar, aardvark,
                                                                   screenshot) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto("/events/new/")
    chosen = page.locator("select[name=calendar] option:checked")
    assert chosen.inner_text() == "Work"
    page.goto("/tasks/new/")
    assert page.locator("select[name=calendar] option:checked").inner_text() == "Work"
    page.goto("/settings/")
    page.click("[data-testid=connect-calsync]")
    screenshot("choice-step")
    assert page.locator("select[name=calendar] option:checked").inner_text() == "Work"
