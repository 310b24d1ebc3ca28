"""`make run`'s Exchange sandbox in a real browser: change an event on the sandbox Exchange page and see it
arrive in calsync; an admin's Test Exchange Settings with the sandbox's sync account succeeds."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from django.urls import reverse

from events.models import Event
from integrations.models import ExchangeServer, Integration
from tests.factories import PASSWORD

from .conftest import sign_in, start_syncing

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ANN = "ann@sandbox.calsync.invalid"


@pytest.fixture
def sandbox(settings) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """The sandbox Exchange exactly as `make run` starts it (python -m emulators.exchange)."""
    from emulators.exchange.app import serve
    from emulators.exchange.sandbox import sandbox_state

    state = sandbox_state("SANDBOX", "ann", "calsync-sandbox", ANN)
    _app, server, url = serve(state=state)
    settings.EXCHANGE_SANDBOX_URL, settings.EXCHANGE_ALLOW_HTTP = url, True
    settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = True
    yield state
    server.shutdown()


def _note(page, index: int) -> str:  # type: ignore[no-untyped-def]
    """A value the sandbox note shows, in the order it shows them."""
    return str(page.locator("[data-testid=sandbox-note] code").nth(index).inner_text())


def test_an_event_changed_on_the_sandbox_page_arrives_in_calsync(page, member, calendar, sandbox, live_server,
                                                                 settings, screenshot) -> None:  # fmt: skip
    settings.SITE_URL = live_server.url
    start = dt.datetime(2026, 11, 25, 9, tzinfo=dt.UTC)
    sandbox.create(ANN, None, {"subject": "Budget review", "start": start, "end": start + dt.timedelta(hours=1)})
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto(reverse("integrations:exchange_connect"))
    # The note names everything to type: server, domain, username, password, mailbox.
    for field, index in (("url", 0), ("domain", 1), ("username", 2), ("password", 3), ("mailbox", 4)):
        page.fill(f"input[name={field}]", _note(page, index))
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/integrations/connect/exchange/calendar/"))
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/integrations/\d+/$"))
    start_syncing(page)
    integration = Integration.objects.get(provider="exchange")
    assert Event.objects.filter(calendar=calendar, title="Budget review").exists()

    # To the sandbox Exchange through the connect page's link; rename the event and add one, as in Outlook.
    page.goto(reverse("integrations:exchange_connect"))
    page.click("[data-testid=sandbox-page]")
    page.click(f"a:text-is('{ANN}')")
    row = page.locator("tr", has_text="Budget review")
    row.locator("input[name=subject]").fill("Budget review (moved to Friday)")
    row.locator("button", has_text="Rename").click()
    page.wait_for_selector("text=Budget review (moved to Friday)")
    form = page.locator("[data-testid=add-event]")
    form.locator("input[name=subject]").fill("Added in Exchange")
    form.locator("input[name=date]").fill("2026-11-26")
    form.locator("select[name=free_busy]").select_option("Tentative")
    form.locator("button").click()
    page.wait_for_selector("text=Added in Exchange")
    screenshot("sandbox-exchange")

    page.goto(f"/integrations/{integration.pk}/")
    page.click("[data-testid=sync-now]")
    page.wait_for_selector("[data-testid=integration-status]")
    titles = set(Event.objects.filter(calendar=calendar, parent=None).values_list("title", "busy_status"))
    assert titles == {("Budget review (moved to Friday)", ""), ("Added in Exchange", "TENTATIVE")}


def test_test_exchange_settings_succeeds_in_the_sandbox(page, admin_user, sandbox, live_server, settings,
                                                        screenshot) -> None:  # fmt: skip
    settings.SITE_URL = live_server.url
    sign_in(page, admin_user.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto(reverse("integrations:exchange_organisation"))
    url, domain, username, password, email = (_note(page, n) for n in range(5))
    page.fill("input[name=url]", url)
    page.fill("input[name=domain]", domain)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.fill("input[name=sync_email]", email)
    page.check("input[name=access][value=impersonation]")
    page.check("input[name=enabled]")
    page.click("button[name=test]")
    page.wait_for_selector("text=Works:")
    screenshot("test-settings")
    assert "Works: calsync logged in as SANDBOX\\calsync-sync" in page.inner_text("main")
    assert ExchangeServer.objects.get().test_ok
