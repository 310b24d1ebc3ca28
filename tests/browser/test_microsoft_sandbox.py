"""Connect to MS Exchange against the sandbox Microsoft in a real browser: consent, choose, sync, read the log."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from events.models import Event
from integrations.models import Integration
from tests.factories import PASSWORD

from .conftest import sign_in, start_syncing

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
    assert "read only: syncs into calsync only" in holidays.inner_text() and not holidays.is_disabled()
    page.select_option("select[name=remote]", label="Calendar")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/integrations/\d+/$"))
    start_syncing(page)
    integration = Integration.objects.get(provider="microsoft")
    first = integration.runs.get()
    assert first.status == "success", first.error
    assert Event.objects.filter(calendar=calendar, title="Budget review (from Outlook)").exists()
    # On the "Outlook" side, from the sandbox's own page (linked from Settings): rename and move the event.
    page.goto("/settings/")
    sandbox_page = page.get_attribute("[data-testid=microsoft-sandbox-page]", "href")
    assert sandbox_page == f"{microsoft.browser_url}/sandbox"
    page.goto(sandbox_page)
    page.click(f"text={login}")
    row = page.locator("tr", has_text="Budget review (from Outlook)")
    assert "2026-11-25 10:00 W. Europe Standard Time" in row.inner_text()
    row.locator("input[name=subject]").fill("Budget review (moved in Outlook)")
    row.locator("input[name=time]").fill("14:30")
    screenshot("sandbox-edit")
    row.locator("button", has_text="Save").click()
    assert "2026-11-25 14:30" in page.locator("tr", has_text="Budget review (moved in Outlook)").inner_text()
    page.goto(f"/integrations/{integration.pk}/")
    page.click("text=Synchronize now")
    moved = Event.objects.get(calendar=calendar, title="Budget review (moved in Outlook)")
    assert moved.start == datetime(2026, 11, 25, 13, 30, tzinfo=UTC)  # 14:30 in Berlin, in November
    assert not Event.objects.filter(calendar=calendar, title="Budget review (from Outlook)").exists()
    page.goto(f"/integrations/{integration.pk}/logs/")
    logs = page.inner_text("main")
    assert "First sync" in logs and "Synchronize now" in logs
    screenshot("logs")


def test_organisation_wide_test_settings_succeed_in_the_sandbox(page, admin_user, microsoft, live_server, settings,
                                                                 screenshot) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """An admin follows the Microsoft 365 page in the sandbox: the app's ids from the sandbox note, admin consent
    on the emulator's page, then Test settings reports success."""
    settings.SITE_URL = live_server.url
    sign_in(page, admin_user.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto("/manage/microsoft/")
    note = {k: page.inner_text(f"[data-testid=sandbox-{k}]") for k in ("directory", "client", "secret")}
    assert note["directory"] == admin_user.email.split("@")[1]
    page.fill("input[name=directory_id]", note["directory"])
    page.fill("input[name=client_id]", note["client"])
    page.fill("input[name=secret]", note["secret"])
    page.check("input[name=enabled]")
    page.click("button[name=save]")
    page.click("[data-testid=admin-consent]")
    page.wait_for_url(re.compile(re.escape(microsoft.browser_url) + r"/.+/adminconsent"))
    assert "SANDBOX" in page.inner_text(".sandbox") and "Calendars.ReadWrite" in page.inner_text("main, body")
    page.fill("input[name=login]", admin_user.email)
    screenshot("admin-consent")
    page.click("button[value=accept]")
    page.wait_for_url(re.compile(r"/manage/microsoft/"))
    assert "Admin consent granted" in page.inner_text("body")
    page.click("button[name=test]")
    page.get_by_text("Works: calsync read").first.wait_for()
    assert f"Works: calsync read 3 calendars of {admin_user.email}" in page.inner_text("body")
    screenshot("test-settings")
