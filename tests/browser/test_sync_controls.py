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
    # Confirmed removals are previewed by the sync itself before they take effect (sync.previews). This
    # integration's Google account is a placeholder, so the preview says it could not read it; nothing is saved.
    shown = page.locator("[data-testid=preview]")
    shown.wait_for()
    page.wait_for_selector("[data-testid=preview-error]")
    screenshot("previewed")
    assert "Preview: New direction or sync controls" in shown.inner_text()
    assert page.locator("[data-testid=preview-confirm]").count() == 0
    integration.refresh_from_db()
    assert integration.controls == {}
    proposed = Controls.from_json(integration.previews.get().proposed["controls"]).out_of_calsync
    assert (proposed.copy, proposed.keywords) == (Copy.BUSY, ("lunch",))
