"""The main pages work under the Content-Security-Policy: nothing refused, calendar colours still shown."""

from __future__ import annotations

import re

import pytest

from events.ical import parse_item
from events.services import item_save
from tests.factories import PASSWORD, CalendarFactory

from .conftest import grid_week, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAIN_PAGES = ["/calendar/?date=2026-11-30", "/calendar/list/", "/tasks/", "/calendars/", "/settings/", "/find-a-time/",
              "/settings/scheduling/"]  # fmt: skip


def _orange_meeting(member):  # type: ignore[no-untyped-def]
    calendar = CalendarFactory(owner=member, tenant=member.tenant, name="Orange", color="#ff8800")
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:csp-1\r\n"
        "DTSTAMP:20261101T000000Z\r\nDTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\n"
        "SUMMARY:Colourful\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return item_save(calendar=calendar, item=parse_item(ics), name="csp-1.ics")


def test_the_policy_is_sent_and_a_violation_would_be_seen(page, member, csp_violations) -> None:  # type: ignore[no-untyped-def]
    response = page.goto("/login/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    # The detector itself: an inline script is refused, and the refusal reaches the list.
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate(
            "document.head.appendChild(Object.assign(document.createElement('script'), {text: 'window.x=1'}))"
        )
    assert csp_violations and page.evaluate("window.x") is None
    csp_violations.clear()


def test_main_pages_report_no_violation_and_keep_their_colours(page, member, csp_violations) -> None:  # type: ignore[no-untyped-def]
    _orange_meeting(member)
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    for path in MAIN_PAGES:
        page.goto(path)
        page.wait_for_load_state("load")
        assert not csp_violations, (path, csp_violations)
    grid_week(page, "2026-11-30")
    occurrence = page.locator(".fc-event", has_text="Colourful")
    assert occurrence.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(255, 136, 0)"
    page.goto("/calendars/")
    swatch = page.locator("tr", has_text="Orange").locator(".swatch")
    assert swatch.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(255, 136, 0)"


def test_the_operator_admin_works_under_the_policy(page, db, csp_violations) -> None:  # type: ignore[no-untyped-def]
    from accounts.models import User

    User.objects.create_superuser(username="ops@example.test", email="ops@example.test", password=PASSWORD)
    page.goto("/operator/login/")
    page.fill("input[name=username]", "ops@example.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/operator/$"))
    for path in ("/operator/", "/operator/accounts/user/", "/operator/accounts/tenant/add/"):
        page.goto(path)
        page.wait_for_load_state("load")
        assert not csp_violations, (path, csp_violations)
