"""The "this and following" choice in a real browser: from the event page (the occurrence form's choice) and from the
calendar grid (dragging an occurrence opens the choice dialog), then a sync to the sandbox Google shows the split
there as two series, the old one ending with UNTIL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from events import services
from events.ical import Component, Item
from events.models import Event
from integrations.models import Integration
from tests.factories import PASSWORD

from .conftest import connect_sandbox_google, sign_in, start_syncing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2027, 1, 4, 10, tzinfo=BERLIN)


def _series(calendar) -> Event:  # type: ignore[no-untyped-def]
    master = Component(uid="planning@calsync", summary="Planning", start=MONDAY, end=MONDAY + timedelta(hours=1),
                       rrule="FREQ=WEEKLY;COUNT=8", location="Room 1")  # fmt: skip
    return services.item_save(calendar=calendar, item=Item(master=master)).event


def _connect_sandbox_google(page, google, email: str) -> Integration:  # type: ignore[no-untyped-def]
    """Settings -> Sign in with Google -> the calendar -> saved -> the preview confirmed: the first sync runs."""
    google.state.account(email)
    connect_sandbox_google(page, email)
    start_syncing(page)
    return Integration.objects.get(provider="google", remote_calendar_id=email)


def _google_series(google, email: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Each recurring event in the Google calendar: its title and its recurrence lines."""
    found = {}
    for body in google.state.calendars[email].events.values():
        if body.get("recurrence") and body.get("status") != "cancelled":
            found[body["iCalUID"]] = [body.get("location", ""), *body["recurrence"]]
    return found


def _sync_and_read(page, google, integration, email: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    page.goto(f"/integrations/{integration.pk}/")
    page.click("[data-testid=sync-now]")
    page.wait_for_selector("[data-testid=integration-status]")
    integration.refresh_from_db()
    assert integration.runs.order_by("-pk").first().status == "success"
    return _google_series(google, email)


def test_this_and_following_from_the_event_page_reaches_google(page, member, calendar, google, live_server,
                                                               settings, screenshot) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    settings.SITE_URL = live_server.url
    email = "split.browser@example.com"
    master = _series(calendar)
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    integration = _connect_sandbox_google(page, google, email)
    assert list(_google_series(google, email)) == [master.uid]

    page.goto(f"/events/{master.pk}/?occurrence=20270118T090000Z")
    assert page.inner_text("[data-testid=repeats]").strip().startswith("Every week on Monday, 8 times")
    page.click("text=Edit this occurrence")
    page.check("input[name=scope][value=following]")
    page.fill("input[name=start_time]", "11:00")
    page.fill("input[name=end_time]", "12:00")
    page.fill("input[name=location]", "Room 2")
    screenshot("scope-chosen")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=now a series of their own")
    new = Event.objects.exclude(pk=master.pk).get(calendar=calendar, parent=None)
    page.goto(f"/events/{new.pk}/")
    assert "Every week on Monday, 6 times" in page.inner_text("[data-testid=repeats]")
    screenshot("new-series")

    in_google = _sync_and_read(page, google, integration, email)
    assert in_google[master.uid] == ["Room 1", "RRULE:FREQ=WEEKLY;UNTIL=20270111T090000Z"]
    assert in_google[new.uid] == ["Room 2", "RRULE:FREQ=WEEKLY;COUNT=6"]
    page.goto(f"/events/{new.pk}/")
    assert "Google Calendar" in page.inner_text("[data-testid=copies]")
    screenshot("synced")


def test_this_and_following_from_the_grid_by_keyboard_reaches_google(page, member, calendar, google, live_server,
                                                                     settings, screenshot) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    from .test_calendar_grid import _drag, _open, _slot

    settings.SITE_URL = live_server.url
    email = "split.grid@example.com"
    master = _series(calendar)
    _open(page, member, "?date=2027-01-18&view=timeGridWeek")
    block = page.locator(".fc-event", has_text="Planning")
    box = block.bounding_box()
    target = _slot(page, "2027-01-18", "14:00")
    lane = page.locator(".fc-timegrid-slot-lane").first.bounding_box()["height"]
    _drag(page, (box["x"] + box["width"] / 2, box["y"] + 8), (target[0], target[1] + 8 - lane / 2))
    dialog = page.locator("dialog[data-testid=series-choice]")
    dialog.wait_for(state="visible")
    focused = page.evaluate("document.activeElement.dataset.scope")
    assert focused == "this"  # focus is in the dialog, on the safest choice
    screenshot("choice")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.scope") == "following"
    page.keyboard.press("Enter")
    page.locator("[data-testid=grid-message]", has_text="moved").wait_for()
    master.refresh_from_db()
    assert master.rrule == "FREQ=WEEKLY;UNTIL=20270111T090000Z"
    new = Event.objects.exclude(pk=master.pk).get(calendar=calendar, parent=None)
    assert new.start == datetime(2027, 1, 18, 14, tzinfo=BERLIN) and new.rrule == "FREQ=WEEKLY;COUNT=6"
    screenshot("split")

    integration = _connect_sandbox_google(page, google, email)
    in_google = _google_series(google, email)
    assert in_google[master.uid][1:] == ["RRULE:FREQ=WEEKLY;UNTIL=20270111T090000Z"]
    assert in_google[new.uid][1:] == ["RRULE:FREQ=WEEKLY;COUNT=6"]
    assert integration.runs.get().status == "success"


def test_escape_in_the_choice_changes_nothing(page, member, calendar) -> None:  # type: ignore[no-untyped-def]
    from .test_calendar_grid import _drag, _open, _slot

    master = _series(calendar)
    _open(page, member, "?date=2027-01-18&view=timeGridWeek")
    box = page.locator(".fc-event", has_text="Planning").bounding_box()
    target = _slot(page, "2027-01-18", "15:00")
    _drag(page, (box["x"] + box["width"] / 2, box["y"] + 8), target)
    page.locator("dialog[data-testid=series-choice]").wait_for(state="visible")
    page.keyboard.press("Escape")
    page.locator("dialog[data-testid=series-choice]").wait_for(state="detached")
    assert Event.objects.get(pk=master.pk).seq == master.seq and Event.objects.filter(parent=None).count() == 1
    page.locator(".fc-event", has_text="Planning").first.wait_for()
