"""The reports page: what each person sees, drill-down, exports, bad input, and tenant isolation."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from openpyxl import load_workbook

from business.models import Client

pytestmark = pytest.mark.django_db

NOVEMBER = "range=custom&start=2026-11-01&end=2026-11-30"


def _rows(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {" / ".join(r.labels): f"{r.minutes / 60:g}" for r in response.context["page"].report.rows}


def _csv(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_an_admin_sees_everyones_hours_by_client_with_both_charts(admin_client_, november):
    response = admin_client_.get(f"/reports/?{NOVEMBER}&group_by=client")

    assert response.status_code == 200
    assert _rows(response) == {"Acme": "5", "Initech": "4", "No client": "1"}
    html = response.content.decode()
    assert 'id="hours-chart"' in html and 'id="share-chart"' in html and 'role="img"' in html
    assert "Globex" not in html
    assert "Everyone's time" in html


def test_a_member_sees_only_their_own_time(member_client, november):
    response = member_client.get(f"/reports/?{NOVEMBER}&group_by=client&then_by=user")

    assert response.status_code == 200
    assert _rows(response) == {"Acme / member@acme.test": "3", "No client / member@acme.test": "1"}
    # The organisation's client list is in the filter (members pick clients too); the figures are the member's.
    figures = response.content.decode().split('data-testid="report-scope"')[1].split('class="save-report"')[0]
    assert "Initech" not in figures and "colleague" not in figures
    assert "Your own time" in figures


def test_a_member_asking_for_a_colleagues_hours_is_refused_with_a_clear_page(member_client, colleague, november):
    for address in (f"/reports/?{NOVEMBER}&user={colleague.pk}",
                    f"/reports/events/?{NOVEMBER}&group_by=user&key_user={colleague.pk}",
                    f"/reports/export.csv?{NOVEMBER}&user={colleague.pk}"):  # fmt: skip
        response = member_client.get(address)
        assert response.status_code == 403, address
        assert "You can see only your own time" in response.content.decode()


def test_a_member_cannot_drill_into_a_colleagues_calendar(member_client, colleague_calendar, november):
    response = member_client.get(f"/reports/events/?{NOVEMBER}&group_by=calendar&key_calendar={colleague_calendar.pk}")

    assert response.status_code == 403


def test_drill_down_lists_the_events_behind_a_row_and_hides_private_titles(admin_client_, admin_user, november):
    from tests.factories import CalendarFactory

    mine = CalendarFactory(owner=admin_user, tenant=admin_user.tenant)
    page = admin_client_.get(f"/reports/?{NOVEMBER}&group_by=client")
    acme_row = next(r for r in page.context["page"].rows if r.labels == ("Acme",))

    response = admin_client_.get(f"/reports/events/?{acme_row.drill}")

    assert response.status_code == 200
    rows = response.context["page"].rows
    assert [(r.title, r.user, r.minutes) for r in rows] == [
        ("member-acme", "member@acme.test", 120),
        ("Private event", "member@acme.test", 60),
        ("colleague-acme", "colleague@acme.test", 120),
    ]
    html = response.content.decode()
    assert "member-secret" not in html
    assert "Client Acme" in html
    assert mine.pk  # the admin's own calendar holds nothing here: colleagues' events are shown without a link
    assert "/events/" not in html.split('data-testid="drill-table"')[1]


def test_the_owner_follows_a_drill_down_row_to_the_event_page(member_client, november, calendar):
    response = member_client.get(f"/reports/events/?{NOVEMBER}&group_by=client&key_client={november.pk}")

    html = response.content.decode()
    event = calendar.events.get(uid="member-acme")
    assert f'href="/events/{event.pk}/"' in html
    assert "member-secret" in html  # the owner sees their own private titles
    assert [r.title for r in response.context["page"].rows] == ["member-acme", "member-secret"]


def test_the_unassigned_row_drills_down_too(member_client, november):
    response = member_client.get(f"/reports/events/?{NOVEMBER}&group_by=client&key_client=none")

    assert [r.title for r in response.context["page"].rows] == ["member-none"]


def test_a_drill_down_is_headed_by_the_row_it_is_of_even_with_nothing_behind_it(member_client, november):
    initech = Client.objects.get(tenant=november.tenant, name="Initech")  # only the colleague's time is Initech's

    response = member_client.get(f"/reports/events/?{NOVEMBER}&group_by=client&key_client={initech.pk}")
    unassigned = member_client.get(f"/reports/events/?{NOVEMBER}&group_by=client&key_client=none")

    assert response.context["page"].rows == [] and response.context["of"] == [("Client", "Initech")]
    assert unassigned.context["of"] == [("Client", "No client")]


def test_csv_and_xlsx_exports_hold_the_table(admin_client_, november):
    response = admin_client_.get(f"/reports/export.csv?{NOVEMBER}&group_by=client")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    lines = _csv(response)
    assert lines[0][0] == "Client"
    assert {line[0]: line[1] for line in lines[1:]} == {"Acme": "5.0", "Initech": "4.0", "No client": "1.0",
                                                        "Total": "10.0"}  # fmt: skip

    workbook = admin_client_.get(f"/reports/export.xlsx?{NOVEMBER}&group_by=client")
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert [row[0] for row in sheet.iter_rows(values_only=True)] == ["Client", "Acme", "Initech", "No client", "Total"]


def test_a_members_export_holds_only_their_own_time(member_client, november):
    lines = _csv(member_client.get(f"/reports/export.csv?{NOVEMBER}&group_by=user"))

    assert [line[0] for line in lines[1:]] == ["member@acme.test", "Total"]
    assert lines[-1][1] == "4.0"


def test_another_organisation_sees_none_of_it(client, outsider, november, calendar):
    client.force_login(outsider)

    report = client.get(f"/reports/?{NOVEMBER}&group_by=client")
    assert _rows(report) == {"Globex Secret Client": "8"}
    assert "Acme" not in report.content.decode()

    exported = client.get(f"/reports/export.csv?{NOVEMBER}&group_by=user")
    assert "acme" not in exported.content.decode().lower()

    # Ids of another organisation's rows are refused, never counted or named.
    by_client = client.get(f"/reports/?{NOVEMBER}&client={november.pk}")
    assert by_client.status_code == 400
    assert "Select a valid choice" in by_client.content.decode()
    assert client.get(f"/reports/export.csv?{NOVEMBER}&calendar={calendar.pk}").status_code == 400
    drill = client.get(f"/reports/events/?{NOVEMBER}&group_by=client&key_client={november.pk}")
    assert drill.status_code == 404
    member = calendar.owner
    assert client.get(f"/reports/events/?{NOVEMBER}&group_by=user&key_user={member.pk}").status_code == 404


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("range=custom&start=2026-11-30&end=2026-11-01", "The last day comes before the first."),
        ("range=custom&start=2026-11-01", "Give both the first and the last day"),
        ("range=custom&start=yesterday&end=2026-11-01", "Enter a valid date."),
        ("range=custom&start=2020-01-01&end=2026-11-01", "at most three years"),
        ("range=forever", "Select a valid choice."),
        ("group_by=colour", "Select a valid choice."),
        ("group_by=client&then_by=client", "Choose a different grouping"),
        ("range=custom&start=2025-01-01&end=2026-11-30&period=day", "too many bars"),
        ("client=abc", "is not a valid value"),
    ],
)
def test_bad_input_gets_a_clear_message_not_an_error(member_client, query, message):
    for address in ("/reports/", "/reports/events/", "/reports/export.csv"):
        response = member_client.get(f"{address}?{query}")
        assert response.status_code == 400, address
        assert message in response.content.decode(), address


def test_a_bad_drill_down_key_is_a_clear_not_found(member_client, november):
    assert member_client.get(f"/reports/events/?{NOVEMBER}&group_by=client&key_client=abc").status_code == 404
    assert member_client.get(f"/reports/events/?{NOVEMBER}&group_by=client").status_code == 404
    odd_offset = member_client.get(f"/reports/events/?{NOVEMBER}&group_by=client&key_client=none&offset=-3")
    assert odd_offset.status_code == 200


def test_the_page_defaults_to_this_month_by_client_and_is_linked_from_the_menu(member_client):
    response = member_client.get("/reports/")

    assert response.status_code == 200
    assert response.context["form"].cleaned_data["range"] == "this_month"
    assert 'href="/reports/"' in response.content.decode()


def test_signed_out_visitors_are_sent_to_sign_in(client):
    assert client.get("/reports/").status_code == 302
    assert client.get("/reports/export.csv").status_code == 302


def test_the_share_is_by_client_whatever_the_first_grouping(admin_client_, november):
    response = admin_client_.get(f"/reports/?{NOVEMBER}&group_by=user&period=week")

    assert _rows(response) == {"colleague@acme.test": "6", "member@acme.test": "4"}
    html = response.content.decode()
    assert "Hours per week by team member" in html
    assert "Acme: 5 h (50%); Initech: 4 h (40%); No client: 1 h (10%)</desc>" in html


def test_bars_have_a_place_for_every_period_of_the_range():
    from reports.selectors import buckets

    assert buckets(date(2026, 11, 4), date(2026, 11, 20), "week") == [
        date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16)
    ]  # fmt: skip
    assert buckets(date(2026, 11, 15), date(2027, 2, 1), "month") == [
        date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)
    ]  # fmt: skip
    assert len(buckets(date(2026, 11, 1), date(2026, 11, 30), "day")) == 30


def test_a_query_the_engine_refuses_is_answered_with_its_reason(member_client, monkeypatch):
    from reports import engine

    def refuse(**_: object) -> None:
        raise engine.ReportError("Unknown time zone 'Mars/Olympus'.")

    monkeypatch.setattr(engine, "report_run", refuse)  # e.g. the organisation's zone vanished from tzdata

    response = member_client.get(f"/reports/?{NOVEMBER}")

    assert response.status_code == 400
    assert "Unknown time zone" in response.content.decode()
