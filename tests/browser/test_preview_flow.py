"""A user connects the sandbox Google in a real browser, sees what the first sync would do, confirms it, and finds
the events synced."""

from __future__ import annotations

import re

import pytest

from events.models import Event
from integrations.models import Integration
from tests.factories import PASSWORD

from .conftest import connect_sandbox_google, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_first_sync_is_previewed_then_confirmed(page, member, calendar, google, live_server, settings,
                                                    screenshot) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    settings.SITE_URL = live_server.url
    email = "preview.user@example.com"
    google.state.account(email)
    for day, title in (("25", "Dentist (from Google)"), ("26", "Gym (from Google)")):
        google.state.insert(email, email, {
            "summary": title, "start": {"dateTime": f"2026-11-{day}T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": f"2026-11-{day}T11:00:00+01:00", "timeZone": "Europe/Berlin"},
        })  # fmt: skip
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    connect_sandbox_google(page, email)

    page.wait_for_selector("[data-testid=preview-counts]")
    assert page.inner_text("[data-side=calsync] [data-count=created]") == "2"
    assert page.inner_text("[data-side=remote] [data-count=created]") == "0"
    assert "Dentist (from Google)" in page.inner_text("[data-testid=preview-examples-calsync]")
    assert "0 invitations would go out" in page.inner_text("[data-testid=preview-invitations]")
    assert not Event.objects.filter(calendar=calendar).exists()  # nothing written before the confirmation
    integration = Integration.objects.get(provider="google")
    assert integration.awaiting_confirmation and not integration.runs.exists()
    screenshot("preview")

    page.click("[data-testid=preview-confirm]")
    page.wait_for_selector("text=Confirmed. A sync has started.")
    assert integration.runs.get().counts == {"calsync": {"created": 2}}
    page.goto("/calendar/list/?from=2026-11-20&to=2026-11-30")
    text = page.inner_text("main")
    assert "Dentist (from Google)" in text and "Gym (from Google)" in text
    screenshot("synced")
