"""The reports page in a real browser: an admin builds last month's report by client, drills into one client,
and exports the report as CSV, whose rows are the table's."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from events import services
from events.ical import Component, Item
from reports.forms import range_dates
from tests.factories import PASSWORD, CalendarFactory, UserFactory

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _save(calendar, uid: str, start: datetime, hours: float, client: str, private: bool = False) -> None:  # type: ignore[no-untyped-def]
    component = Component(uid=uid, summary=uid, start=start, end=start + timedelta(hours=hours), client=client,
                          visibility="PRIVATE" if private else "")  # fmt: skip
    services.item_save(calendar=calendar, item=Item(master=component))


def test_report_by_client_for_last_month_drill_down_and_csv(page, admin_user, member, calendar, screenshot) -> None:  # type: ignore[no-untyped-def]
    first, last = range_dates("last_month", timezone.now().date())  # the tenant's zone is UTC
    day = datetime(first.year, first.month, first.day, 9, tzinfo=UTC)
    colleague = UserFactory(tenant=member.tenant, email="colleague@acme.test")
    theirs = CalendarFactory(owner=colleague, tenant=member.tenant, name="Colleague's")
    _save(calendar, "Acme kickoff", day + timedelta(days=2), 2, "Acme")
    _save(calendar, "Acme review", day + timedelta(days=9), 1.5, "Acme", private=True)
    _save(theirs, "Acme workshop", day + timedelta(days=4), 3, "Acme")
    _save(theirs, "Initech audit", day + timedelta(days=5), 4, "Initech")
    _save(calendar, "Out of range", day - timedelta(days=3), 6, "Acme")

    sign_in(page, admin_user.email, PASSWORD)
    page.wait_for_url(re.compile(r"/calendar/"))
    page.get_by_role("link", name="Reports").click()
    page.select_option("select[name=range]", "last_month")
    page.select_option("select[name=group_by]", "client")
    page.click("[data-testid=show-report]")
    page.wait_for_selector("[data-testid=report-table]")
    screenshot("by-client-last-month")

    rows = page.locator("[data-testid=report-row]")
    table = [[cell.strip() for cell in row.locator("td").all_inner_texts()[:3]] for row in rows.all()]
    assert table == [["Acme", "6.5", "3"], ["Initech", "4", "1"]]
    assert page.locator("[data-testid=total-hours]").inner_text() == "10.5"
    assert page.locator("svg#hours-chart rect[data-minutes]").count() == 4  # one segment per event's day
    assert page.locator("svg#share-chart desc").text_content() == "Acme: 6.5 h (62%); Initech: 4 h (38%)"

    rows.filter(has_text="Acme").get_by_test_id("drill").click()
    page.wait_for_selector("[data-testid=drill-table]")
    screenshot("drill-acme")
    assert "Client Acme" in page.locator("h1").inner_text()
    drilled = page.locator("[data-testid=drill-row]")
    assert [r.locator("td").nth(1).inner_text() for r in drilled.all()] == [
        "Acme kickoff", "Acme workshop", "Private event"
    ]  # fmt: skip
    assert "Acme review" not in page.content()

    page.click("[data-testid=back-to-report]")
    with page.expect_download() as download_info:
        page.click("[data-testid=export-csv]")
    download = download_info.value
    assert download.suggested_filename == f"report-{first:%Y%m%d}-{last:%Y%m%d}-client.csv"
    lines = list(csv.reader(Path(download.path()).read_text().splitlines()))
    assert lines == [
        ["Client", "Hours", "Minutes", "Events"],
        ["Acme", "6.5", "390", "3"],
        ["Initech", "4.0", "240", "1"],
        ["Total", "10.5", "630", "4"],
    ]
