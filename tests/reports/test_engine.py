"""The report engine: counting rules, visibility, labels, series, drill-down and exports, on real index rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from events import services
from events.ical import parse_calendar
from reports import engine
from reports.engine import ReportQuery

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
