"""'Why is this here?' from an event's page, and a deleted event found by title from the logs page, in a browser."""

from __future__ import annotations

import re

import pytest

from events import services as events
from events.models import Event
from integrations.services import integration_create
from sync import services
from tests.factories import PASSWORD, CalendarFactory
from tests.sync.items import event

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_events_story_and_a_deleted_event_found_by_title(page, member, calendar, screenshot) -> None:  # type: ignore[no-untyped-def]
    other = CalendarFactory(owner=member, name="Personal")
    events.item_save(calendar=other, item=event("kept@test", "Dentist"))
    events.item_save(calendar=other, item=event("gone@test", "Team lunch", day=1))
    integration = integration_create(user=member, provider="calsync", calendar=calendar,
                                     remote_calendar_id=str(other.pk), remote_calendar_name="Personal")  # fmt: skip
    events.item_delete(event=Event.objects.get(calendar=other, uid="gone@test"))
    services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual").pk)
    kept = Event.objects.get(calendar=calendar, uid="kept@test")

    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto(f"/events/{kept.pk}/")
    page.click("[data-testid=why-here]")
    page.wait_for_selector("[data-testid=story]")
    assert "Copied into calsync from" in page.locator("[data-testid=story-origin]").inner_text()
    assert "copied into calsync by sync" in page.locator("[data-testid=story-step]").first.inner_text()
    screenshot("story")

    page.goto(f"/integrations/{integration.pk}/logs/")
    page.fill("[data-testid=event-find] input[name=q]", "lunch")
    page.click("[data-testid=event-find] button[type=submit]")
    row = page.locator("[data-testid=found-row]")
    assert row.count() == 1 and "Team lunch" in row.inner_text() and "deleted" in row.inner_text()
    row.locator("text=Its story").click()
    page.wait_for_selector("[data-testid=story]")
    steps = page.locator("[data-testid=story-step]").all_inner_texts()
    assert "deleted at" in steps[-1] and "deleted it in calsync" in steps[-1]
    screenshot("deleted-story")
