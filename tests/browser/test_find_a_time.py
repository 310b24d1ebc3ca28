"""Find a time with three colleagues in a real browser, as one flow: proposals with everyone's local time, the
team grid drawn under the Content-Security-Policy (bars placed by static/js/scheduling.js, no inline style),
"Book" on a proposal, the meeting made on the prefilled page, a colleague accepting it signed in as themselves,
and the owner seeing that answer on their event."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache

from events import services as events
from events.ical import Component, Item
from tests.factories import PASSWORD, CalendarFactory, UserFactory

from .conftest import accept_on_own_copy, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_find_a_time_with_three_colleagues_book_it_and_a_colleague_accepts(  # type: ignore[no-untyped-def]
    page, browser, live_server, member, calendar, tenant, screenshot
) -> None:
    cache.clear()
    london = UserFactory(tenant=tenant, email="lena@acme.test", first_name="Lena", timezone="Europe/London")
    lisbon = UserFactory(tenant=tenant, email="rui@acme.test", first_name="Rui", timezone="Europe/Lisbon")
    UserFactory(tenant=tenant, email="not-asked@acme.test")
    # Tuesday 25 November 2031: Lena is busy 09:00-12:00 UTC, Rui out of office 13:00-15:00 UTC.
    for person, hour, hours, extra in ((london, 9, 3, {}), (lisbon, 13, 2, {"busy_status": "OOF"})):
        start = datetime(2031, 11, 25, hour, tzinfo=UTC)
        item = Item(master=Component(uid=f"busy-{person.pk}", summary="Hidden title", start=start,
                                     end=start + timedelta(hours=hours), **extra))  # fmt: skip
        events.item_save(calendar=CalendarFactory(owner=person), item=item)

    sign_in(page, member.email, PASSWORD)
    page.click("nav >> text=Find a time")
    for email in (member.email, london.email, lisbon.email):
        page.get_by_label(email, exact=False).check()
    page.fill("input[name=duration]", "60")
    page.fill("input[name=first_day]", "2031-11-25")
    page.fill("input[name=last_day]", "2031-11-25")
    page.click("form.find-time button[type=submit]")

    proposals = page.locator("[data-testid=proposals] tr.proposal")
    # Working hours in common: 09:00-16:00 UTC (Berlin 08-16, London and Lisbon 09-17 UTC); busy until 12:00
    # and from 13:00 to 15:00: one hour at 12:00 UTC (13:00 in Berlin) and one at 15:00 UTC (16:00 Berlin).
    assert proposals.count() == 2
    assert proposals.nth(0).inner_text().startswith("Tue 25 Nov, 13:00–14:00")
    first = proposals.nth(0).inner_text()
    assert (
        "lena@acme.test: Tue 12:00 (Europe/London)" in first and "member@acme.test: Tue 13:00 (Europe/Berlin)" in first
    )
    assert proposals.nth(1).inner_text().startswith("Tue 25 Nov, 16:00–17:00")

    grid = page.locator("[data-testid=team-grid]")
    assert grid.locator(".team-row").count() == 3
    assert "not-asked" not in grid.inner_text() and "Hidden title" not in page.content()
    oof = grid.locator(".team-row[data-person='rui@acme.test'] .bar.oof")
    assert oof.get_attribute("title") == "Out of office"
    assert oof.evaluate("el => el.style.left") == "58.333%"  # 14:00 in Berlin (the grid is in your zone), by JS
    screenshot("proposals-and-grid")

    # Book the first proposal: the new-meeting page arrives prefilled with its time and its three people.
    page.fill("input[name=title]", "Planning")
    proposals.nth(0).get_by_role("button", name="Book").click()
    page.wait_for_url(re.compile(r"/meetings/new/"))
    assert page.input_value("input[name=start]") == "2031-11-25T13:00"
    assert page.input_value("input[name=end]") == "2031-11-25T14:00"
    for email in (london.email, lisbon.email):
        assert email in page.input_value("textarea[name=attendees]")
    page.fill("input[name=title]", "Planning")
    page.click("main button[type=submit]")
    page.wait_for_selector(".flash.success")
    assert page.locator("[data-testid='answer-lena@acme.test']").inner_text() == "no answer yet"
    owner_event_url = page.url

    # Lena signs in on her own browser and accepts on her copy, which calsync put on her calendar.
    accept_on_own_copy(browser, live_server.url, london, "Planning", "Europe/London")

    # The owner's event page shows Lena's answer; Rui has not answered.
    page.goto(owner_event_url)
    assert page.locator("[data-testid='answer-lena@acme.test']").inner_text() == "accepted"
    assert page.locator("[data-testid='answer-rui@acme.test']").inner_text() == "no answer yet"
    screenshot("booked-and-answered")
