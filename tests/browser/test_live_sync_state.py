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
from sync.models import SyncRun
from tests.conftest import wait_until
from tests.factories import PASSWORD, CalendarFactory
from tests.sync.items import event

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _slow_google(member, calendar, monkeypatch, settings) -> tuple[Integration, object]:  # type: ignore[no-untyped-def]
    """A Google integration with a live push channel, whose listing takes 3 s, so a running sync is there to be
    seen."""
    monkeypatch.setitem(registry.SIDES, "google", "tests.sync.slow_provider")
    settings.GOOGLE_WEBHOOK_BASE_URL = "https://calsync.example.com"
    remote = CalendarFactory(owner=member, name="At Google")
    integration = Integration.objects.create(
        tenant=member.tenant, user=member, provider="google", calendar=calendar, remote_calendar_id=str(remote.pk),
        remote_calendar_name="At Google", config={"seconds": 3}, push_state=Integration.PushState.ACTIVE,
        push_expires_at=timezone.now() + timedelta(days=6), next_sync_at=timezone.now() + timedelta(minutes=5),
    )  # fmt: skip
    return integration, remote


def _push(integration: Integration, remote) -> threading.Thread:  # type: ignore[no-untyped-def]
    """What Google's notification does (integrations.google.services.push_received): a sync on the push queue,
    run here by the eager task queue in a thread of its own, as a worker would."""
    events.item_save(calendar=remote, item=event("pushed@test", "Pushed from Google"))
    pushed = threading.Thread(target=services.sync_request_push, kwargs={"integration": integration})
    pushed.start()
    return pushed


def _signed_in_watching(page, member) -> list[str]:  # type: ignore[no-untyped-def]
    """Signed in; the list fills with the addresses of the integration requests the page makes from now on."""
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/integrations/" in request.url else None)
    return polls


def _look_now(page) -> None:  # type: ignore[no-untyped-def]
    """Nothing ran, so the page polls every 20 s; coming back to the tab makes it look at once."""
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")


def test_a_pushed_sync_appears_running_then_done_on_the_open_settings_page(  # type: ignore[no-untyped-def]
    page, member, calendar, monkeypatch, settings, screenshot
) -> None:
    integration, remote = _slow_google(member, calendar, monkeypatch, settings)
    polls = _signed_in_watching(page, member)
    page.goto("/settings/")
    live = page.locator(f"[data-testid=live-{integration.pk}]")
    live.locator("text=Not running").wait_for()
    assert "Changes arrive at once" in live.inner_text() and "Last sync: not yet" in live.inner_text()
    page.evaluate("window.notReloaded = true")
    page.wait_for_timeout(4500)
    assert len([url for url in polls if "/live.json" in url]) == 1  # nothing runs: no poll every 2 s

    pushed = _push(integration, remote)
    wait_until(lambda: Integration.objects.get(pk=integration.pk).is_running, None, "the pushed sync to hold its lock")
    _look_now(page)
    live.locator("text=started by Change at the provider").wait_for()
    screenshot("running")
    pushed.join(timeout=60)
    live.locator("text=1 created in calsync").wait_for()
    assert "Not running" in live.inner_text() and "Succeeded" in live.inner_text()
    assert page.evaluate("window.notReloaded") is True
    assert calendar.events.filter(title="Pushed from Google").exists()


def test_an_integration_page_opened_while_its_sync_runs_reloads_when_it_ends(  # type: ignore[no-untyped-def]
    page, member, calendar, monkeypatch, settings
) -> None:
    integration, _remote = _slow_google(member, calendar, monkeypatch, settings)
    polls = _signed_in_watching(page, member)
    services.sync_request(integration=integration, trigger="manual", queue=False)  # queued, waiting for a worker
    page.goto(f"/integrations/{integration.pk}/")
    page.locator("[data-testid=running]").wait_for()
    page.locator(f"[data-testid=live-{integration.pk}] >> text=waiting for a worker").wait_for()
    SyncRun.objects.filter(integration=integration).update(status=SyncRun.Status.SUCCESS, finished_at=timezone.now())
    page.locator("[data-testid=running]").wait_for(state="detached")  # reloaded: the page shows the result
    assert not any("/status.json" in url for url in polls)  # one poller: live.json only
    assert all(f"id={integration.pk}" in url for url in polls if "/live.json" in url)
