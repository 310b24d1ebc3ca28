"""Sync controls in a real browser: busy-only and a keyword filter, the removal preview, its confirmation."""

from __future__ import annotations

import re

import pytest

from events import services as events
from integrations.models import Integration
from sync.controls import Controls, Copy
from sync.models import SyncMapping
from tests.factories import PASSWORD
from tests.sync.items import event

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_busy_only_and_a_filter_previewed_confirmed_and_shown(page, member, calendar, screenshot) -> None:  # type: ignore[no-untyped-def]
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="google", calendar=calendar,
                                             remote_calendar_id="ann@example.com", remote_calendar_name="Ann",
                                             sync_enabled=False)  # fmt: skip
    for uid, title in (("lunch@x", "Lunch with Bob"), ("review@x", "Quarterly review")):
        events.item_save(calendar=calendar, item=event(uid, title))
        SyncMapping.objects.create(integration=integration, uid=uid, local_id=uid, local_version="1",
                                   remote_id=f"g-{uid}", remote_version="1", content_hash="h",
                                   origin="calsync")  # fmt: skip
    sign_in(page, member.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.goto(f"/integrations/{integration.pk}/")
    flow_out = page.locator("[data-testid=flow-out]")
    assert (
        "Out of calsync" in flow_out.inner_text()
        and "Into calsync" in page.locator("[data-testid=flow-into]").inner_text()
    )
    flow_out.locator("input[name=out_copy][value=busy]").check()
    flow_out.locator("input[name=out_keywords]").fill("lunch")
    page.click("[data-testid=save-controls]")

    preview = page.locator("[data-testid=removal-preview]")
    preview.wait_for()
    screenshot("preview")
    assert preview.inner_text().startswith(
        "This removes 1 event calsync copied into Google Calendar. Nothing you created there is touched."
    )
    integration.refresh_from_db()
    assert integration.controls == {}  # nothing saved before the confirmation
    # The page kept what was entered; the user confirms.
    assert page.locator("input[name=out_copy][value=busy]").is_checked()
    preview.locator("input[name=confirm_removals]").check()
    page.click("[data-testid=save-controls]")
    page.wait_for_selector("text=Sync controls saved.")
    screenshot("saved")
    assert page.locator("input[name=out_copy][value=busy]").is_checked()
    assert page.locator("input[name=out_keywords]").input_value() == "lunch"
    assert page.locator("[data-testid=removal-preview]").count() == 0
    integration.refresh_from_db()
    saved = Controls.from_json(integration.controls).out_of_calsync
    assert (saved.copy, saved.keywords) == (Copy.BUSY, ("lunch",))
