"""The health board in a real browser: an admin finds a user needing reconnection and asks them; the user's
link opens their integration, where they reconnect themselves."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from integrations.models import Integration
from tests.factories import PASSWORD, UserFactory

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_asks_a_user_to_reconnect_and_the_link_opens_their_integration(
    browser, live_server, page, admin_user, member, calendar, settings, screenshot
) -> None:  # type: ignore[no-untyped-def]
    settings.SITE_URL = live_server.url  # the email's link, opened in the user's browser below
    integration = Integration.objects.create(
        tenant=member.tenant, user=member, provider="google", calendar=calendar, remote_calendar_id="m@example.com",
        remote_calendar_name="Member at Google", config={"auth": "oauth"}, status=Integration.Status.NEEDS_REAUTH,
        last_error="Google refused calsync's access (invalid_grant): reconnect.",
    )  # fmt: skip
    UserFactory(tenant=member.tenant, email="fine@acme.test")  # a user with no integration, listed too

    sign_in(page, admin_user.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.click("text=Manage")
    page.click("[data-testid=health-board-link]")
    assert "1" in page.locator("[data-testid=count-needs_reconnecting]").inner_text()
    page.click("[data-testid=count-needs_reconnecting]")  # the count is a filter
    row = page.locator(f"[data-testid=health-row][data-integration='{integration.pk}']")
    assert "Needs reconnecting" in row.locator("[data-testid=board-status]").inner_text()
    assert member.email in row.inner_text() and page.locator("text=fine@acme.test").count() == 0
    screenshot("board")
    row.locator("[data-testid=ask-reconnect]").click()
    page.wait_for_selector(".flash.success")
    assert f"Asked {member.email} by email to reconnect." in page.locator(".flash.success").inner_text()
    assert "status=needs_reconnecting" in page.url  # back on the board as it was filtered
    assert "Asked to reconnect" in page.locator(f"[data-testid=health-row][data-integration='{integration.pk}'] "
                                                "[data-testid=asked]").inner_text()  # fmt: skip
    [sent] = mail.outbox
    assert sent.to == [member.email] and "Member at Google" in sent.body

    link = re.search(r"http\S+/integrations/\d+/", sent.body).group(0)  # type: ignore[union-attr]
    member_context = browser.new_context(timezone_id="Europe/Berlin")
    member_page = member_context.new_page()
    member_page.set_default_timeout(15_000)
    member_page.goto(link)  # not signed in: calsync asks them to sign in first, then opens it
    member_page.fill("input[name=username]", member.email)
    member_page.fill("input[name=password]", PASSWORD)
    member_page.click("main button[type=submit]")
    member_page.wait_for_url(re.compile(rf"/integrations/{integration.pk}/$"))
    assert member_page.locator("[data-testid=integration-status]").inner_text() == "Needs reconnecting"
    assert member_page.locator("[data-testid=google-reconnect]").is_visible()  # they reconnect themselves
    member_context.close()
