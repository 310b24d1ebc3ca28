"""The report engine: counting rules, visibility, labels, series, drill-down and exports, on real index rows."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied

from business.services import settings_for
from events import services
from events.ical import parse_calendar
from reports import engine
from reports.engine import ReportError, ReportQuery
from tests.factories import CalendarFactory, UserFactory

pytestmark = pytest.mark.django_db

_HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"


def _save(calendar, *lines: str):  # type: ignore[no-untyped-def]
    body = "".join(f"BEGIN:VEVENT\r\nDTSTAMP:20261101T000000Z\r\n{line}END:VEVENT\r\n" for line in lines)
    return services.item_save(calendar=calendar, item=parse_calendar(_HEAD + body + "END:VCALENDAR\r\n")[0]).event


def _timed(uid: str, start: str, end: str, extra: str = "") -> str:
    return f"UID:{uid}\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{uid}\r\n{extra}"


def _query(viewer, **kw) -> ReportQuery:  # type: ignore[no-untyped-def]
    base = dict(tenant_id=viewer.tenant_id, viewer_id=viewer.pk, start=date(2026, 11, 1), end=date(2026, 11, 30),
                zone="Europe/Berlin")  # fmt: skip
    base.update(kw)
    return ReportQuery(**base)  # type: ignore[arg-type]


def _by_label(report) -> dict[tuple[str, ...], tuple[int, int]]:  # type: ignore[no-untyped-def]
    return {r.labels: (r.minutes, r.count) for r in report.rows}


def test_time_is_grouped_by_client_with_totals(calendar, admin_user):
    _save(calendar, _timed("a", "20261102T090000Z", "20261102T103000Z", "X-CALSYNC-CLIENT:Acme\r\n"))
    _save(calendar, _timed("b", "20261103T090000Z", "20261103T100000Z", "X-CALSYNC-CLIENT:Acme\r\n"))
    _save(calendar, _timed("c", "20261104T090000Z", "20261104T091500Z"))

    report = engine.report_run(query=_query(admin_user))

    assert _by_label(report) == {("Acme",): (150, 2), ("No client",): (15, 1)}
    assert [r.labels for r in report.rows] == [("Acme",), ("No client",)]
    assert (report.total_minutes, report.total_count) == (165, 3)


def test_a_night_is_cut_at_midnight_in_the_report_zone_and_clipped_to_the_range(calendar, admin_user):
    # 22:00-02:00 Berlin (UTC+1) from Nov 30 into Dec 1: two hours in the day series, and only two in November.
    _save(calendar, _timed("n", "20261130T210000Z", "20261201T010000Z", "X-CALSYNC-CLIENT:Acme\r\n"))

    report = engine.report_run(query=_query(admin_user, start=date(2026, 11, 30), end=date(2026, 12, 1), period="day"))
    november = engine.report_run(query=_query(admin_user))

    assert [(d, m) for d, _, m in report.series] == [(date(2026, 11, 30), 120), (date(2026, 12, 1), 120)]
    assert report.total_minutes == 240
    assert (november.total_minutes, november.total_count) == (120, 1)


def test_drill_down_lists_the_occurrences_behind_a_number(calendar, admin_user):
    _save(calendar, _timed("a", "20261102T090000Z", "20261102T103000Z", "X-CALSYNC-CLIENT:Acme\r\n"))
    _save(calendar, _timed("b", "20261103T090000Z", "20261103T100000Z", "CLASS:PRIVATE\r\nX-CALSYNC-CLIENT:Acme\r\n"))
    _save(calendar, _timed("c", "20261104T090000Z", "20261104T091500Z"))
    acme = engine.report_run(query=_query(admin_user)).rows[0].key[0]

    rows, total = engine.drill_down(query=_query(admin_user), key={"client": acme})

    assert total == 2
    assert [(r.title, r.minutes, r.client) for r in rows] == [("a", 90, "Acme"), ("Private event", 60, "Acme")]
    assert rows[0].start == datetime(2026, 11, 2, 9, tzinfo=UTC)


def _rules(tenant, **values) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(tenant)
    for name, value in values.items():
        setattr(settings, name, value)
    settings.save()


def test_overlapping_time_counts_once_to_the_occurrence_that_started_first(calendar, admin_user):
    # 09:00-11:00 Acme and 10:00-12:00 Globex: under "once" Globex gets 11:00-12:00; a meeting wholly inside
    # another still counts as an occurrence, with no time.
    _save(calendar, _timed("a", "20261102T090000Z", "20261102T110000Z", "X-CALSYNC-CLIENT:Acme\r\n"))
    _save(calendar, _timed("g", "20261102T100000Z", "20261102T120000Z", "X-CALSYNC-CLIENT:Globex\r\n"))
    _save(calendar, _timed("i", "20261102T093000Z", "20261102T100000Z", "X-CALSYNC-CLIENT:Initech\r\n"))

    each = engine.report_run(query=_query(admin_user))
    _rules(admin_user.tenant, overlap_rule="once")
    once = engine.report_run(query=_query(admin_user))

    assert _by_label(each) == {("Acme",): (120, 1), ("Globex",): (120, 1), ("Initech",): (30, 1)}
    assert _by_label(once) == {("Acme",): (120, 1), ("Globex",): (60, 1), ("Initech",): (0, 1)}
    assert (once.total_minutes, once.total_count) == (180, 3)


def test_a_tie_goes_to_the_lower_event_id_and_other_people_never_overlap(calendar, admin_user, tenant):
    colleague = CalendarFactory(owner=UserFactory(tenant=tenant), tenant=tenant)
    _save(calendar, _timed("first", "20261102T090000Z", "20261102T100000Z", "X-CALSYNC-CLIENT:Acme\r\n"))
    _save(calendar, _timed("second", "20261102T090000Z", "20261102T103000Z", "X-CALSYNC-CLIENT:Globex\r\n"))
    _save(colleague, _timed("theirs", "20261102T090000Z", "20261102T100000Z", "X-CALSYNC-CLIENT:Globex\r\n"))
    _rules(tenant, overlap_rule="once")

    report = engine.report_run(query=_query(admin_user))

    assert _by_label(report) == {("Acme",): (60, 1), ("Globex",): (90, 2)}


def test_all_day_events_follow_the_organisations_rule(calendar, admin_user, tenant):
    # Two days (Nov 29-30) inside the range and one (Dec 1) outside it.
    _save(calendar, "UID:w\r\nDTSTART;VALUE=DATE:20261129\r\nDTEND;VALUE=DATE:20261202\r\nSUMMARY:Workshop\r\n")
    found = {}
    for rule in ("skip", "workday", "full"):
        _rules(tenant, all_day_rule=rule, all_day_hours=Decimal("7.50"))
        report = engine.report_run(query=_query(admin_user))
        found[rule] = (report.total_minutes, report.total_count)

    assert found == {"skip": (0, 0), "workday": (2 * 450, 1), "full": (2 * 1440, 1)}


def test_what_is_free_declined_or_cancelled_does_not_count(calendar, admin_user):
    owner = calendar.owner.email
    _save(calendar, _timed("free", "20261102T090000Z", "20261102T100000Z", "TRANSP:TRANSPARENT\r\n"))
    declined = f"ORGANIZER:mailto:boss@elsewhere.test\r\nATTENDEE;PARTSTAT=DECLINED:mailto:{owner}\r\n"
    _save(calendar, _timed("no", "20261102T090000Z", "20261102T100000Z", declined))
    _save(calendar, _timed("off", "20261102T090000Z", "20261102T100000Z", "STATUS:CANCELLED\r\n"))
    _save(calendar, _timed("on", "20261103T090000Z", "20261103T100000Z"))

    report = engine.report_run(query=_query(admin_user))

    assert (report.total_minutes, report.total_count) == (60, 1)


def test_minutes_are_rounded_once_per_row(calendar, admin_user):
    # Three 20.5-minute meetings: 61.5 minutes, rounded once to 62 (not 3 x 21 = 63, nor 3 x 20 = 60).
    for n in range(3):
        _save(calendar, _timed(f"m{n}", f"2026110{n + 2}T090000Z", f"2026110{n + 2}T092030Z"))

    assert engine.report_run(query=_query(admin_user)).total_minutes == 62


def test_a_member_sees_only_their_own_time_and_an_admin_everyones(calendar, member, admin_user, tenant):
    colleague = CalendarFactory(owner=UserFactory(tenant=tenant, email="colleague@acme.test"), tenant=tenant)
    _save(calendar, _timed("mine", "20261102T090000Z", "20261102T100000Z"))
    _save(colleague, _timed("theirs", "20261102T090000Z", "20261102T113000Z", "CLASS:PRIVATE\r\n"))

    as_member = engine.report_run(query=_query(member, group_by=("user",)))
    as_admin = engine.report_run(query=_query(admin_user, group_by=("user",)))
    asked_for_colleague = engine.report_run(query=_query(member, filters={"user": (colleague.owner_id,)}))
    their_rows, total = engine.drill_down(query=_query(member), key={"user": colleague.owner_id})

    assert _by_label(as_member) == {("member@acme.test",): (60, 1)}
    assert _by_label(as_admin) == {("colleague@acme.test",): (150, 1), ("member@acme.test",): (60, 1)}
    assert (asked_for_colleague.rows, their_rows, total) == ([], [], 0)


def test_private_titles_are_shown_to_their_owner_only(calendar, member, admin_user):
    _save(calendar, _timed("Doctor", "20261102T090000Z", "20261102T100000Z", "CLASS:PRIVATE\r\n"))

    owner_sees = engine.drill_down(query=_query(member), key={"client": None})[0]
    admin_sees = engine.drill_down(query=_query(admin_user), key={"client": None})[0]

    assert [r.title for r in owner_sees] == ["Doctor"]
    assert [(r.title, r.minutes, r.user) for r in admin_sees] == [("Private event", 60, "member@acme.test")]


def test_reports_and_drill_downs_never_reach_another_tenant(calendar, admin_user, outsider):
    _save(calendar, _timed("a", "20261102T090000Z", "20261102T100000Z", "X-CALSYNC-CLIENT:Acme\r\n"))
    acme = engine.report_run(query=_query(admin_user)).rows[0].key[0]
    theirs = _query(outsider)
    # The other organisation's admin, asking with this organisation's ids, finds nothing.
    report = engine.report_run(query=replace(theirs, filters={"client": (acme,)}))
    rows, total = engine.drill_down(query=theirs, key={"client": acme})

    assert (report.rows, report.total_minutes, rows, total) == ([], 0, [], 0)
    assert engine.export_csv(report).splitlines() == ["Client,Hours,Minutes,Events", "Total,0.0,0,0"]
    book = openpyxl.load_workbook(io.BytesIO(engine.export_xlsx(report)))
    assert [[c.value for c in row] for row in book["Report"].iter_rows()] == [
        ["Client", "Hours", "Minutes", "Events"],
        ["Total", 0.0, 0, 0],
    ]
    assert book["Over time"].max_row == 1
    # Nor can anyone read a tenant as a person of another.
    with pytest.raises(PermissionDenied):
        engine.report_run(query=replace(theirs, tenant_id=admin_user.tenant_id))
    with pytest.raises(PermissionDenied):
        engine.drill_down(query=replace(theirs, tenant_id=admin_user.tenant_id), key={})


def test_filters_labels_and_groupings(calendar, admin_user):
    fields = "X-CALSYNC-CLIENT:Acme\r\nX-CALSYNC-PROJECT:Site\r\nX-CALSYNC-ACTIVITY-TYPE:Design\r\n"
    _save(calendar, _timed("a", "20261102T090000Z", "20261102T100000Z", fields))
    _save(calendar, _timed("b", "20261103T090000Z", "20261103T093000Z", "X-CALSYNC-CLIENT:Acme\r\n"))
    acme = engine.report_run(query=_query(admin_user)).rows[0].key[0]

    by_all = engine.report_run(
        query=_query(admin_user, group_by=("project", "activity", "calendar", "provider"), filters={"client": (acme,)})
    )
    unassigned = engine.report_run(query=_query(admin_user, group_by=("project",), filters={"project": (None,)}))

    assert _by_label(by_all) == {
        ("Site", "Design", "Work (member@acme.test)", "calsync"): (60, 1),
        ("No project", "No activity", "Work (member@acme.test)", "calsync"): (30, 1),
    }
    assert _by_label(unassigned) == {("No project",): (30, 1)}


def test_the_series_is_cut_into_weeks_and_months_in_the_zone(calendar, admin_user):
    # 23:30 UTC on Sunday Nov 29 is 00:30 Monday Nov 30 in Berlin (a new week), 18:30 Sunday in New York.
    _save(calendar, _timed("late", "20261129T233000Z", "20261130T003000Z", "X-CALSYNC-CLIENT:Acme\r\n"))

    berlin = engine.report_run(query=_query(admin_user, period="week"))
    new_york = engine.report_run(query=_query(admin_user, period="week", zone="America/New_York"))

    assert [(d, m) for d, _, m in berlin.series] == [(date(2026, 11, 30), 60)]
    assert [(d, m) for d, _, m in new_york.series] == [(date(2026, 11, 23), 60)]


def test_drill_down_pages_through_the_occurrences(calendar, admin_user):
    _save(calendar, "UID:s\r\nDTSTART:20261102T090000Z\r\nDTEND:20261102T100000Z\r\nRRULE:FREQ=DAILY;COUNT=5\r\n"
                    "SUMMARY:Stand-up\r\n")  # fmt: skip

    first, total = engine.drill_down(query=_query(admin_user), key={"client": None}, limit=2)
    last, _ = engine.drill_down(query=_query(admin_user), key={"client": None}, offset=4, limit=2)

    assert total == 5
    assert [r.start.day for r in first] == [2, 3] and [r.start.day for r in last] == [6]
    assert first[0].recurrence_id == datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"zone": "Mars/Olympus"}, "Unknown time zone"),
        ({"group_by": ("colour",)}, "Unknown grouping"),
        ({"group_by": ()}, "Group by"),
        ({"period": "year"}, "Unknown period"),
        ({"end": date(2026, 10, 1)}, "ends before it starts"),
        ({"filters": {"mood": (1,)}}, "Unknown grouping"),
    ],
)
def test_a_bad_query_is_refused_with_a_clear_error(admin_user, change, message):
    with pytest.raises(ReportError, match=message):
        engine.report_run(query=replace(_query(admin_user), **change))


def test_exports_hold_the_table_and_the_totals(calendar, admin_user):
    _save(calendar, _timed("a", "20261102T090000Z", "20261102T103000Z", "X-CALSYNC-CLIENT:=HYPERLINK(1)\r\n"))
    _save(calendar, _timed("b", "20261103T090000Z", "20261103T091500Z"))
    report = engine.report_run(query=_query(admin_user, group_by=("client", "user")))

    lines = list(csv.reader(io.StringIO(engine.export_csv(report))))
    book = openpyxl.load_workbook(io.BytesIO(engine.export_xlsx(report)))
    cells = [[c.value for c in row] for row in book["Report"].iter_rows()]

    assert lines == [
        ["Client", "Team member", "Hours", "Minutes", "Events"],
        ["'=HYPERLINK(1)", "member@acme.test", "1.5", "90", "1"],
        ["No client", "member@acme.test", "0.25", "15", "1"],
        ["Total", "", "1.75", "105", "2"],
    ]
    # The workbook keeps the name as it is, stored as text: a spreadsheet never runs it.
    assert book["Report"]["A2"].data_type == "s"
    assert cells == [
        ["Client", "Team member", "Hours", "Minutes", "Events"],
        ["=HYPERLINK(1)", "member@acme.test", 1.5, 90, 1],
        ["No client", "member@acme.test", 0.25, 15, 1],
        ["Total", None, 1.75, 105, 2],
    ]
    assert [[c.value for c in row] for row in book["Over time"].iter_rows()][1:] == [
        [datetime(2026, 11, 1), "=HYPERLINK(1)", 1.5, 90],
        [datetime(2026, 11, 1), "No client", 0.25, 15],
    ]


def test_two_equal_nights_are_both_cut_into_the_series(calendar, admin_user):
    for uid in ("one", "two"):
        _save(calendar, _timed(uid, "20261102T220000Z", "20261103T020000Z", "X-CALSYNC-CLIENT:Acme\r\n"))

    report = engine.report_run(query=_query(admin_user, zone="UTC", period="day"))

    assert [(d.day, m) for d, _, m in report.series] == [(2, 240), (3, 240)]
    assert report.total_minutes == 480
