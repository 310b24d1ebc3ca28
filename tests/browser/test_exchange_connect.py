"""Connect to Exchange (on-premises) in a real browser: a wrong password first, then Test Exchange Settings,
choose, sync, read the log; and Update credentials after the password changed at the server."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from events.models import Event
from integrations.models import Integration
from tests.factories import PASSWORD

from .conftest import sign_in, start_syncing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_connect_exchange_and_sync(page, member, calendar, exchange, live_server, settings,
                                   screenshot) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    settings.SITE_URL = live_server.url
    settings.EXCHANGE_SANDBOX_URL = exchange.url
    address = "browser.user@corp.example"
    exchange.state.mailbox(address, "Browser User", password="exchange-pass", username="CORP\\browser")
    folder = exchange.state.folder(address, distinguished="calendar")
    start = dt.datetime(2026, 11, 25, 10, tzinfo=ZoneInfo("Europe/Berlin"))
    exchange.state.create(address, folder.id, {"subject": "Budget review (from Outlook)", "start": start,
                                               "end": start + dt.timedelta(hours=1)})  # fmt: skip
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto("/settings/")
    page.click("[data-testid=connect-exchange]")
    assert "sandbox" in page.inner_text("[data-testid=sandbox-note]").lower()
    assert "Connect to MS Exchange" in page.inner_text("[data-testid=prefer-graph]")
    page.fill("input[name=url]", exchange.url)
    page.fill("input[name=domain]", "CORP")
    page.fill("input[name=username]", "browser")
    page.fill("input[name=password]", "not the password")
    page.fill("input[name=mailbox]", address)
    page.click("main button[type=submit]")
    assert "refused the username or password" in page.inner_text("main")
    screenshot("wrong-password")
    page.fill("input[name=password]", "exchange-pass")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/integrations/connect/exchange/calendar/"))
    assert address in page.inner_text("[data-testid=exchange-account]")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/integrations/\d+/$"))
    start_syncing(page)
    integration = Integration.objects.get(provider="exchange")
    assert integration.runs.get().status == "success", integration.runs.get().error
    assert Event.objects.filter(calendar=calendar, title="Budget review (from Outlook)").exists()
    page.click("text=Synchronize now")
    page.goto(f"/integrations/{integration.pk}/logs/")
    logs = page.inner_text("main")
    assert "First sync" in logs and "Synchronize now" in logs
    screenshot("logs")

    # The password changed at the server: Update credentials, and the integration works again.
    exchange.state.logins["corp\\browser"].password = "changed-pass"
    page.goto(f"/integrations/{integration.pk}/")
    page.click("[data-testid=exchange-credentials]")
    page.fill("input[name=password]", "changed-pass")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(rf"/integrations/{integration.pk}/$"))
    assert "Credentials updated" in page.inner_text("main")
    integration.refresh_from_db()
    assert integration.credentials == {"password": "changed-pass"}
