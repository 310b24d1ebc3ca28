"""Sign in with the sandbox Google in a real browser, pick a calendar, sync, and see the events and the log."""

from __future__ import annotations

import re

import pytest

from events.models import Event
from integrations.models import Integration
from tests.factories import PASSWORD

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_connect_the_sandbox_google_and_sync(page, member, calendar, google, live_server, settings, screenshot) -> None:  # type: ignore[no-untyped-def]
    settings.SITE_URL = live_server.url  # Google sends the browser back here
    email = "browser.user@example.com"
    google.state.account(email)
    google.state.insert(email, email, {
        "summary": "Dentist (from Google)",
        "start": {"dateTime": "2026-11-25T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-11-25T11:00:00+01:00", "timeZone": "Europe/Berlin"},
    })  # fmt: skip
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto("/settings/")
    page.click("[data-testid=connect-google]")
    page.wait_for_url(re.compile(re.escape(google.base_url) + "/o/oauth2/auth"))
    assert "SANDBOX" in page.inner_text(".sandbox")
    page.fill("input[name=email]", email)
    screenshot("consent")
    page.click("button[value=allow]")
    page.wait_for_url(re.compile(r"/integrations/connect/google/calendar/"))
    holidays = page.locator("select[name=remote] option", has_text="Holidays")
    assert "read-only" in holidays.inner_text() and holidays.is_disabled()
    page.select_option("select[name=remote]", email)
    page.check("input[name=direction][value=both]")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/integrations/\d+/$"))
    integration = Integration.objects.get(provider="google")
    first = integration.runs.get()
    assert (first.status, first.counts.get("calsync")) == ("success", {"created": 1}), (
        first.status,
        first.error,
        first.counts,
        google.state.calendars[email].events,
    )
    assert Event.objects.filter(calendar=calendar, title="Dentist (from Google)").exists()

    google.state.insert(email, email, {
        "summary": "Added later in Google", "start": {"date": "2026-11-27"}, "end": {"date": "2026-11-28"},
    })  # fmt: skip
    page.click("text=Synchronize now")
    page.wait_for_selector("[data-testid=integration-status]")
    page.goto(f"/integrations/{integration.pk}/logs/")
    logs = page.inner_text("main")
    assert "First sync" in logs and "Synchronize now" in logs
    page.locator("tr", has_text="Synchronize now").locator("text=Details").click()  # what the run did
    page.wait_for_url(re.compile(r"/sync-runs/\d+/"))
    assert "Added later in Google" in page.inner_text("main")
    page.goto("/calendar/list/?from=2026-11-20&to=2026-11-30")
    text = page.inner_text("main")
    assert "Dentist (from Google)" in text and "Added later in Google" in text
    screenshot("synced")
