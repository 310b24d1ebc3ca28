"""The site at phone size (360 x 740): the navigation folds into a menu button, no page scrolls sideways, focus is
visible; search from the header; the 403 page. Screenshots go to test-artifacts/screenshots."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from events import services
from events.ical import Attendee, Component, Item
from integrations.models import Integration
from tests.factories import PASSWORD, UserFactory

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 360, "height": 740}


@pytest.fixture
def phone(page):  # type: ignore[no-untyped-def]
    page.set_viewport_size(PHONE)
    return page


@pytest.fixture
def week_of_events(member, calendar):  # type: ignore[no-untyped-def]
    """A few events this week, one with a long unbroken title and place, as people paste them."""
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    titles = ["Standup", "Quarterly planning with the whole regional sales organisation", "Dentist",
              "https://meet.example.com/abc-defg-hij-klmnopqrstuvwxyz-0123456789"]  # fmt: skip
    events = []
    for i, title in enumerate(titles):
        component = Component(uid=services.new_uid(), summary=title, start=start + timedelta(hours=26 * i),
                              end=start + timedelta(hours=26 * i + 1), location="Conference room Überlingen-Nord 4",
                              attendees=(Attendee(email="colleague.with.a.long.address@example.com"),))  # fmt: skip
        events.append(services.item_save(calendar=calendar, item=Item(master=component)).event)
    return events


def _fits(page) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    return page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")


def test_no_page_scrolls_sideways_on_a_phone(phone, member, calendar, week_of_events, tenant, screenshot):
    member.role = "admin"
    member.save()
    event = week_of_events[1]
    home = services.calendar_create(owner=member, name="Home")
    integration = Integration.objects.create(
        tenant=tenant, user=member, calendar=calendar, provider="calsync", remote_calendar_id=str(home.pk)
    )
    today = timezone.localdate()
    pasted = week_of_events[3].start.astimezone(ZoneInfo(member.timezone)).date()  # the long unbroken title
    find = f"?people={member.pk}&duration=30&first_day={today}&last_day={today + timedelta(days=6)}"
    pages = {
        "calendar": reverse("events:calendar") + f"?date={pasted}",  # the grid: a phone opens it on the day view
        "calendar-agenda": reverse("events:calendar") + f"?date={pasted}&view=listWeek",
        "list": reverse("events:calendar_list"),
        "search": reverse("events:search") + "?q=planning",
        "event": reverse("events:event_detail", args=[event.pk]),
        "event-form": reverse("events:event_create"),
        "tasks": reverse("events:task_list"),
        "calendars": reverse("events:calendar_index"),
        "calendar-form": reverse("events:calendar_edit", args=[calendar.pk]),
        "find-a-time": reverse("scheduling:find_time") + find,
        "integration": reverse("integrations:detail", args=[integration.pk]),
        "scheduling-settings": reverse("scheduling:settings"),
        "settings": reverse("settings"),
        "app-passwords": reverse("dav:app_passwords"),
        "caldav-connect": reverse("integrations:caldav_connect"),
        "manage": reverse("admin_users"),
        "organisation": reverse("admin_tenant"),
        "not-found": "/no/such/page/",
    }
    sign_in(phone, member.email, PASSWORD)
    phone.wait_for_url(re.compile(r"/calendar/"))
    too_wide = {}
    for name, url in pages.items():
        phone.goto(url)
        if name == "calendar":  # measured once the grid has drawn the day and its events, not the empty page
            phone.wait_for_selector(".fc-timeGridDay-view .fc-event", state="attached")
            phone.wait_for_load_state("networkidle")
            grid, day = (phone.locator(s).bounding_box() for s in ("#calendar-grid", ".fc-timegrid-col[data-date]"))
            assert day["width"] > grid["width"] * 0.6, (grid, day)  # the day's column takes most of the screen
            assert phone.locator(".fc-timegrid-event").first.is_visible()
        if name == "calendar-agenda":  # the grid's agenda is a table too: it must fill the screen, not scroll
            phone.wait_for_selector(".fc-listWeek-view .fc-list-event")
            table, grid = (phone.locator(s).bounding_box() for s in (".fc-list-table", "#calendar-grid"))
            assert table["width"] > grid["width"] * 0.9, (grid, table)
        screenshot(f"phone-{name}")
        width, viewport = _fits(phone)
        if width > viewport:
            too_wide[name] = width
    assert too_wide == {}, f"pages wider than {PHONE['width']} px: {too_wide}"


def test_the_navigation_folds_into_a_menu_button(phone, member, calendar, screenshot):
    sign_in(phone, member.email, PASSWORD)
    phone.wait_for_url(re.compile(r"/calendar/"))
    button = phone.get_by_role("button", name="Menu")
    settings_link = phone.get_by_role("link", name="Settings")
    assert button.is_visible() and button.get_attribute("aria-expanded") == "false"
    assert not settings_link.is_visible()
    screenshot("menu-closed")

    button.click()
    assert button.get_attribute("aria-expanded") == "true" and settings_link.is_visible()
    screenshot("menu-open")
    phone.keyboard.press("Escape")
    assert button.get_attribute("aria-expanded") == "false" and not settings_link.is_visible()
    assert phone.evaluate("document.activeElement.getAttribute('aria-controls')") == "site-menu"

    button.press("Enter")  # the keyboard opens it too
    settings_link.click()
    phone.wait_for_url(re.compile(r"/settings/"))
    assert phone.get_by_role("heading", name="Settings", exact=True).is_visible()


def test_on_a_wide_screen_the_links_show_without_a_menu(page, member, calendar):
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    assert not page.get_by_role("button", name="Menu").is_visible()
    assert page.get_by_role("link", name="Settings").is_visible()
    assert page.get_by_role("searchbox", name="Search events").is_visible()


def test_keyboard_focus_is_visible(page, member, calendar, screenshot):
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the page's content")
    assert skip.is_visible()  # the first stop, shown when reached
    for _ in range(3):
        page.keyboard.press("Tab")
        outline = page.evaluate("[getComputedStyle(document.activeElement).outlineStyle,"
                                " getComputedStyle(document.activeElement).outlineWidth]")  # fmt: skip
        assert outline[0] != "none" and outline[1] != "0px", outline
    screenshot("focus")


def test_search_from_the_header(page, member, calendar, week_of_events, screenshot):
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    box = page.get_by_role("searchbox", name="Search events")
    box.fill("QUARTERLY")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/calendar/search/\?q=QUARTERLY"))
    results = page.locator("[data-testid=search-results] [data-testid=occurrence]")
    assert results.all_inner_texts()[0].count("Quarterly planning") == 1 and results.count() == 1
    assert page.get_by_role("searchbox", name="Search events").input_value() == "QUARTERLY"
    screenshot("results")

    box = page.get_by_role("searchbox", name="Search events")
    box.fill("long.address")  # an attendee's address
    box.press("Enter")
    page.wait_for_url(re.compile(r"q=long.address"))
    assert page.locator("[data-testid=search-results] [data-testid=occurrence]").count() == 4

    page.locator("[data-testid=occurrence]", has_text="Dentist").click()
    assert page.locator("h1").inner_text() == "Dentist"


def test_search_from_the_menu_on_a_phone(phone, member, calendar, week_of_events, screenshot):
    sign_in(phone, member.email, PASSWORD)
    phone.wait_for_url(re.compile(r"/calendar/"))
    phone.get_by_role("button", name="Menu").click()
    box = phone.get_by_role("searchbox", name="Search events")
    box.fill("dentist")
    box.press("Enter")
    phone.wait_for_url(re.compile(r"/calendar/search/"))
    assert phone.locator("[data-testid=search-results] [data-testid=occurrence]").count() == 1
    assert _fits(phone)[0] <= _fits(phone)[1]
    screenshot("phone-results")


def test_a_refused_page_says_why_and_who_can_grant_it(page, member, tenant, screenshot):
    UserFactory(tenant=tenant, email="ada@acme.test", role="admin", first_name="Ada", last_name="Lovelace")
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    response = page.goto(reverse("admin_users"))
    assert response.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "You do not have access to this"
    assert page.locator("[data-testid=reason]").inner_text() == "Only your organisation's admins can do this."
    granters = page.locator("[data-testid=granters]").inner_text()
    assert "Ada Lovelace" in granters and "ada@acme.test" in granters
    assert page.get_by_role("link", name="ada@acme.test").get_attribute("href") == "mailto:ada@acme.test"
    screenshot("403")
    page.set_viewport_size(PHONE)
    page.reload()
    assert _fits(page)[0] <= _fits(page)[1]
    screenshot("403-phone")
