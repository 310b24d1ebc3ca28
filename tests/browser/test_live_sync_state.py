"""The settings page shows a sync that a provider's change notice started, while it runs and once it ended,
without being reloaded."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from events import services as events
from integrations import registry
from integrations.models import Integration
from sync import services
from tests.factories import PASSWORD, CalendarFactory
from tests.sync.items import event

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_pushed_sync_appears_running_then_done_on_the_open_settings_page(  # type: ignore[no-untyped-def]
    page, member, calendar, monkeypatch, screenshot
) -> None:
    # A provider whose listing takes 3 s, so the running sync is there to be seen.
    monkeypatch.setitem(registry.SIDES, "google", "tests.sync.slow_provider")
    remote = CalendarFactory(owner=member, name="At Google")
    integration = Integration.objects.create(
        tenant=member.tenant, user=member, provider="google", calendar=calendar, remote_calendar_id=str(remote.pk),
        remote_calendar_name="At Google", config={"seconds": 3}, push_state=Integration.PushState.ACTIVE,
        next_sync_at=timezone.now() + timedelta(minutes=5),
    )  # fmt: skip
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto("/settings/")
    live = page.locator(f"[data-testid=live-{integration.pk}]")
    live.locator("text=Not running").wait_for()
    assert "Changes arrive at once" in live.inner_text() and "Last sync: not yet" in live.inner_text()
    page.evaluate("window.notReloaded = true")

    events.item_save(calendar=remote, item=event("pushed@test", "Pushed from Google"))
    # What Google's notification does (integrations.google.services.push_received): a sync on the push queue,
    # run here by the eager task queue in a thread of its own, as a worker would.
    pushed = threading.Thread(target=services.sync_request_push, kwargs={"integration": integration})
    pushed.start()
    live.locator("text=started by Change at the provider").wait_for()
    screenshot("running")
    pushed.join(timeout=60)
    live.locator("text=1 created in calsync").wait_for()
    assert "Not running" in live.inner_text() and "Succeeded" in live.inner_text()
    assert page.evaluate("window.notReloaded") is True
    assert calendar.events.filter(title="Pushed from Google").exists()
