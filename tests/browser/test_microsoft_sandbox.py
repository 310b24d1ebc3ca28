"""Connect to MS Exchange against the sandbox Microsoft in a real browser: consent, choose, sync, read the log."""

from __future__ import annotations

import re

import pytest

from events.models import Event
from integrations.models import Integration
from tests.factories import PASSWORD

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_connect_the_sandbox_microsoft_and_sync(page, member, calendar, microsoft, live_server, settings,
                                                 screenshot) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    settings.SITE_URL = live_server.url
    login = "browser.user@contoso.example"
    box = microsoft.state.mailbox(login)
    microsoft.state.create(login, box.calendars[0], {
        "subject": "Budget review (from Outlook)",
        "start": {"dateTime": "2026-11-25T10:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2026-11-25T11:00:00", "timeZone": "W. Europe Standard Time"},
    })  # fmt: skip
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto("/settings/")
    page.click("[data-testid=connect-microsoft]")
    page.wait_for_url(re.compile(re.escape(microsoft.browser_url) + r"/common/oauth2/v2\.0/authorize"))
    assert "SANDBOX" in page.inner_text(".sandbox")
    page.fill("input[name=login]", login)
    screenshot("consent")
    page.click("button[value=accept]")
    page.wait_for_url(re.compile(r"/integrations/connect/microsoft/calendar/"))
    holidays = page.locator("select[name=remote] option", has_text="Holidays")
    assert "read-only" in holidays.inner_text() and holidays.is_disabled()
    page.select_option("select[name=remote]", label="Calendar")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/integrations/\d+/$"))
    integration = Integration.objects.get(provider="microsoft")
    first = integration.runs.get()
    assert first.status == "success", first.error
    assert Event.objects.filter(calendar=calendar, title="Budget review (from Outlook)").exists()
    page.click("text=Synchronize now")
    page.goto(f"/integrations/{integration.pk}/logs/")
    logs = page.inner_text("main")
    assert "First sync" in logs and "Synchronize now" in logs
    screenshot("logs")
