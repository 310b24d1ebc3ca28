"""Sign in with the sandbox Google in a real browser, pick a calendar, sync, and see the events and the log."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

from events.models import Event
from integrations.models import GoogleWorkspace, Integration
from tests.factories import PASSWORD

from .conftest import sign_in, start_syncing

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
    assert "read only: syncs into calsync only" in holidays.inner_text() and not holidays.is_disabled()
    page.select_option("select[name=remote]", email)
    page.check("input[name=direction][value=both]")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/integrations/\d+/$"))
    start_syncing(page)
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


def test_a_workspace_key_from_the_sandbox_passes_test_settings(page, admin_user, google, live_server, settings,
                                                               screenshot) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    """The admin's whole organisation-wide set-up in the sandbox: the sandbox Google makes the service account's
    JSON key (and the delegation), calsync takes the upload, and Test settings succeeds."""
    settings.GOOGLE_SANDBOX, settings.GOOGLE_EMULATOR_URL = True, google.base_url
    sign_in(page, admin_user.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto(reverse("integrations:google_workspace"))
    with page.context.expect_page() as opened:
        page.click("[data-testid=sandbox-workspace-keys]")
    sandbox = opened.value
    sandbox.wait_for_load_state()
    assert "SANDBOX" in sandbox.inner_text(".sandbox")
    assert sandbox.input_value("input[name=domain]") == "acme.test"
    assert sandbox.input_value("textarea[name=users]") == admin_user.email
    with sandbox.expect_download() as download:
        sandbox.click("[data-testid=create-key]")
    key_file = download.value.path()
    key = json.loads(Path(key_file).read_text())
    assert (key["type"], key["token_uri"]) == ("service_account", "https://oauth2.googleapis.com/token")
    sandbox.close()
    page.set_input_files("input[name=key_file]", str(key_file))
    page.check("input[name=enabled]")
    page.click("button[name=test]")
    page.wait_for_selector("text=Works: calsync acted as admin@acme.test")
    screenshot("workspace-tested")
    workspace = GoogleWorkspace.objects.get(tenant=admin_user.tenant)
    assert workspace.test_ok and workspace.client_email == key["client_email"] and workspace.enabled
