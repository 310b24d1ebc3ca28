"""A meeting in a real browser: made from a "find a time" proposal's prefilled page, answered by a colleague
on their copy and by a guest from the email's link; the owner sees both answers."""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit

import pytest
from django.core import mail

from tests.factories import PASSWORD, CalendarFactory, UserFactory

from .conftest import accept_on_own_copy, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_meeting_from_the_prefilled_page_is_answered_by_a_colleague_and_a_guest(  # type: ignore[no-untyped-def]
    page, browser, live_server, tenant, screenshot
) -> None:
    owner = UserFactory(tenant=tenant, email="olga@acme.test", first_name="Olga", timezone="Europe/Berlin")
    carl = UserFactory(tenant=tenant, email="carl@acme.test", first_name="Carl", last_name="Colleague")
    CalendarFactory(owner=owner, name="Olga's work")
    CalendarFactory(owner=carl, name="Carl's calendar")
    sign_in(page, owner.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))

    proposal = {"start": "2026-12-08T10:00:00+01:00", "end": "2026-12-08T10:30:00+01:00",
                "attendees": "guest@elsewhere.test", "title": "Budget review"}  # fmt: skip
    page.goto(f"/meetings/new/?{urlencode(proposal)}")
    assert page.input_value("input[name=title]") == "Budget review"
    assert page.input_value("input[name=start]") == "2026-12-08T10:00"
    assert page.input_value("textarea[name=attendees]") == "guest@elsewhere.test"
    # The colleague is found by name in the type-ahead list.
    assert page.locator("datalist#colleagues option[value='Carl Colleague <carl@acme.test>']").count() == 1
    page.fill("input[name=add_attendee]", "Carl Colleague <carl@acme.test>")
    screenshot("new-meeting")
    page.click("main button[type=submit]")
    page.wait_for_selector(".flash.success")
    assert page.locator("[data-testid='answer-carl@acme.test']").inner_text() == "no answer yet"

    # Carl answers on his copy.
    accept_on_own_copy(browser, live_server.url, carl, "Budget review", "Europe/Berlin")

    # The guest answers from the email's link, signed in as nobody.
    guest_mail = next(m for m in mail.outbox if m.to == ["guest@elsewhere.test"])
    link = re.search(r"http\S+/meetings/answer/\S+", guest_mail.body).group(0)  # type: ignore[union-attr]
    guest = browser.new_context(timezone_id="America/New_York")
    guest_page = guest.new_page()
    guest_page.goto(live_server.url + urlsplit(link).path)
    guest_page.click("button[value=tentative]")
    guest_page.wait_for_selector(".flash.success")
    assert guest_page.locator("[data-testid=my-answer]").inner_text() == "tentative"
    guest.close()

    page.reload()
    screenshot("answers")
    assert page.locator("[data-testid='answer-carl@acme.test']").inner_text() == "accepted"
    assert page.locator("[data-testid='answer-guest@elsewhere.test']").inner_text() == "tentative"
