"""Issue 18's story in a real browser, against the Google emulator with syncs run as the browser tests run them
(the task path, eagerly): an admin finds on the health board a user whose Google access lapsed and asks them to
reconnect; the user follows the email's link and reconnects through Google's consent, then connects their team
calendar, previews its first sync and confirms it; at Google, another application deletes every event in one
batch; the next sync stops for safety and deletes nothing in calsync; the user puts the events back from the
offer on the page, and they are back at Google (read through Google's API) and in calsync, and the sync after it
has nothing to do."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

import pytest
import requests
from django.core import mail

from events.models import Event
from integrations.google import services as google_services
from integrations.models import Integration
from sync import services as sync_services
from tests.factories import PASSWORD, CalendarFactory

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHIFTS = [f"Team shift {day}" for day in range(21, 27)]  # more than SYNC_MASS_DELETE_THRESHOLD (5)


class GoogleApp:
    """Another application on the user's Google calendar, speaking Calendar v3 to the emulator over HTTP (not
    through calsync's client), as Google Calendar's own web app would."""

    def __init__(self, google: Any, email: str, calendar_id: str) -> None:
        self.base = google.base_url
        self.calendar_id = calendar_id
        self.session = requests.Session()
        self.session.trust_env = False
        token = google.state.authorize(email, "google-calendar-web")["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _events_path(self) -> str:
        return f"/calendar/v3/calendars/{self.calendar_id}/events"

    def listing(self) -> list[dict[str, Any]]:
        response = self.session.get(self.base + self._events_path(), timeout=10)
        response.raise_for_status()
        return [e for e in response.json()["items"] if e.get("status") != "cancelled"]

    def titles(self) -> list[str]:
        return sorted(e["summary"] for e in self.listing())

    def times(self) -> dict[str, tuple[datetime, datetime]]:
        """Each event's start and end as instants (a rewrite may spell the offset differently)."""
        instant = datetime.fromisoformat
        return {e["summary"]: (instant(e["start"]["dateTime"]), instant(e["end"]["dateTime"])) for e in self.listing()}

    def delete_all_in_one_batch(self) -> None:
        """Every event deleted in one batch request (https://developers.google.com/calendar/api/guides/batch)."""
        boundary = "story_" + uuid.uuid4().hex
        parts = [
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <{n}>\r\n\r\n"
            f"DELETE {self._events_path()}/{e['id']} HTTP/1.1\r\n\r\n"
            for n, e in enumerate(self.listing())
        ]
        response = self.session.post(
            f"{self.base}/batch/calendar/v3", data="".join(parts) + f"--{boundary}--\r\n", timeout=10,
            headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
        )  # fmt: skip
        response.raise_for_status()
        assert response.text.count("HTTP/1.1 204") == len(parts), response.text


def lapsed_google_integration(google: Any, member: Any, calendar: Any, email: str) -> Integration:
    """The member connected Google long ago; then removed calsync's access in their Google account, and the next
    sync found out (a real sync, refused by the emulator)."""
    tokens = google.state.authorize(email, "calsync-test")
    primary = google_services.GoogleCalendar(email, email, writable=True, time_zone="Europe/Berlin", primary=True)
    integration = google_services.google_connect(user=member, account=email, auth="oauth", tokens=tokens,
                                                 remote=primary, calendar=calendar, direction="both")  # fmt: skip
    google.state.revoke_user(email)
    sync_services.sync_request_manual(integration=integration)
    integration.refresh_from_db()
    assert integration.status == Integration.Status.NEEDS_REAUTH, (integration.status, integration.last_error)
    [error_email] = mail.outbox  # the sync's own error email, to the integration's error address
    assert "needs reconnecting" in error_email.body, error_email.body
    mail.outbox.clear()
    return integration


def ask_to_reconnect(browser: Any, base_url: str, admin: Any, integration: Integration) -> str:
    """The admin, in their own browser, finds the integration on the health board and asks its owner: the link
    the email gives them."""
    page = browser.new_context(base_url=base_url, timezone_id="Europe/Berlin").new_page()
    page.set_default_timeout(15_000)
    sign_in(page, admin.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.click("text=Manage")
    page.click("[data-testid=health-board-link]")
    page.click("[data-testid=count-needs_reconnecting]")
    row = page.locator(f"[data-testid=health-row][data-integration='{integration.pk}']")
    assert "Needs reconnecting" in row.locator("[data-testid=board-status]").inner_text()
    row.locator("[data-testid=ask-reconnect]").click()
    page.wait_for_selector(".flash.success")
    assert "Asked to reconnect" in page.locator(f"[data-testid=health-row][data-integration='{integration.pk}'] "
                                                "[data-testid=asked]").inner_text()  # fmt: skip
    page.context.close()
    [sent] = mail.outbox
    assert sent.to == [integration.user.email]
    return re.search(r"http\S+/integrations/\d+/", sent.body).group(0)  # type: ignore[union-attr,no-any-return]


def consent(page: Any, google: Any, email: str) -> None:
    """The emulator's Google consent page: sign in as `email` and allow calsync."""
    page.wait_for_url(re.compile(re.escape(google.base_url) + "/o/oauth2/auth"))
    page.fill("input[name=email]", email)
    page.click("button[value=allow]")


def last_run(page: Any, status: str) -> str:
    """The integration page's last run once its status reads `status` (the page polls while one runs)."""
    summary = page.locator("[data-testid=last-run]")
    summary.locator(f".run-status:text-is('{status}')").wait_for()
    return summary.inner_text()  # type: ignore[no-any-return]


def test_reconnect_preview_safety_stop_and_undo(browser, page, live_server, google, admin_user, member, calendar,
                                                settings, screenshot) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    settings.SITE_URL = live_server.url  # Google's redirect and the email's link come back here
    email = f"ann-{uuid.uuid4().hex[:8]}@example.com"  # the emulator lives for the whole session
    google.state.account(email)
    work = lapsed_google_integration(google, member, calendar, email)
    team_at_google = next(c["id"] for c in google.state.calendar_list(email) if c["summary"] == "Team")
    for day, title in zip(range(21, 27), SHIFTS, strict=True):
        google.state.insert(email, team_at_google, {
            "summary": title, "start": {"dateTime": f"2026-11-{day}T08:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": f"2026-11-{day}T16:00:00+01:00", "timeZone": "Europe/Berlin"},
        })  # fmt: skip
    team = CalendarFactory(owner=member, tenant=member.tenant, name="Team")
    google_app = GoogleApp(google, email, team_at_google)

    link = ask_to_reconnect(browser, live_server.url, admin_user, work)

    # The member follows the link, signs in, and reconnects through Google's consent.
    page.goto(link)
    page.fill("input[name=username]", member.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(rf"/integrations/{work.pk}/$"))
    assert page.locator("[data-testid=integration-status]").inner_text() == "Needs reconnecting"
    page.click("[data-testid=google-reconnect]")
    consent(page, google, email)
    page.wait_for_url(re.compile(rf"/integrations/{work.pk}/$"))
    page.wait_for_selector("text=Reconnected to Google.")
    assert page.locator("[data-testid=integration-status]").inner_text() == "Working"
    assert "Succeeded" in last_run(page, "Succeeded")

    # Then connects the team calendar: the first sync is previewed, counted against what Google holds.
    page.goto("/settings/")
    page.click("[data-testid=connect-google]")
    consent(page, google, email)
    page.wait_for_url(re.compile(r"/integrations/connect/google/calendar/"))
    page.select_option("select[name=remote]", team_at_google)
    page.select_option("select[name=calendar]", label="Team")
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r"/integrations/\d+/$"))
    page.wait_for_selector("[data-testid=preview-counts]")
    at_google = google_app.titles()
    assert at_google == SHIFTS
    assert page.inner_text("[data-side=calsync] [data-count=created]") == str(len(at_google))
    for side, action in (("calsync", "updated"), ("calsync", "deleted"), ("remote", "created"), ("remote", "deleted")):
        assert page.inner_text(f"[data-side={side}] [data-count={action}]") == "0", (side, action)
    examples = page.inner_text("[data-testid=preview-examples-calsync]")
    assert any(title in examples for title in SHIFTS), examples
    assert not Event.objects.filter(calendar=team).exists()  # nothing written before the confirmation
    screenshot("preview")
    page.click("[data-testid=preview-confirm]")
    page.wait_for_selector("text=Confirmed. A sync has started.")
    assert f"{len(SHIFTS)} created in calsync" in last_run(page, "Succeeded")
    integration = Integration.objects.get(calendar=team)
    page.goto("/calendar/list/?from=2026-11-20&to=2026-11-30")
    listed = page.inner_text("main")
    assert all(title in listed for title in SHIFTS), listed

    # At Google, another application deletes every event of the team calendar in one batch.
    before = google_app.times()
    google_app.delete_all_in_one_batch()
    assert google_app.titles() == []

    page.goto(f"/integrations/{integration.pk}/")
    page.click("[data-testid=sync-now]")
    page.wait_for_selector("text=Sync started.")
    last_run(page, "Stopped for safety")
    assert "Stopped for safety" in page.inner_text("[data-testid=integration-status]")
    assert f"suddenly lists none of the {len(SHIFTS)} synced items" in page.inner_text("#sync-status [role=alert]")
    assert sorted(Event.objects.filter(calendar=team).values_list("title", flat=True)) == SHIFTS
    offer = page.locator("[data-testid=undo-offer]")
    assert offer.inner_text() == f"Put back the {len(SHIFTS)} items deleted at Google Calendar"
    screenshot("safety-stop")

    offer.locator("a").click()
    page.wait_for_url(re.compile(r"/sync-runs/\d+/undo/"))
    assert page.inner_text("[data-testid=put-back]") == str(len(SHIFTS))
    page.click("[data-testid=confirm-undo]")
    page.wait_for_url(re.compile(rf"/integrations/{integration.pk}/$"))
    page.wait_for_selector("text=The undo has started")
    assert f"{len(SHIFTS)} put back in the other calendar" in last_run(page, "Succeeded")
    assert page.locator("[data-testid=integration-status]").inner_text() == "Working"
    assert google_app.titles() == SHIFTS and google_app.times() == before  # back at Google, read through its API
    assert sorted(Event.objects.filter(calendar=team).values_list("title", flat=True)) == SHIFTS
    screenshot("undone")

    undo_run = integration.runs.order_by("-pk").first()
    page.click("[data-testid=sync-now]")
    page.wait_for_selector("text=Sync started.")
    page.locator("[data-testid=last-run]", has_text="no changes").wait_for()
    quiet = integration.runs.order_by("-pk").first()
    assert quiet.pk != undo_run.pk and quiet.counts == {} and quiet.status == "success", (quiet.counts, quiet.error)
    assert google_app.titles() == SHIFTS
    assert sorted(Event.objects.filter(calendar=team).values_list("title", flat=True)) == SHIFTS
