"""The time index holds one row per occurrence, in step with every write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from events import services
from events.ical import parse_calendar
from reports.models import TimeEntry

pytestmark = pytest.mark.django_db

_HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"


def _event(body: str) -> str:
    return f"BEGIN:VEVENT\r\nDTSTAMP:20261101T000000Z\r\n{body}END:VEVENT\r\n"


def _save(calendar, *events: str):  # type: ignore[no-untyped-def]
    item = parse_calendar(_HEAD + "".join(events) + "END:VCALENDAR\r\n")[0]
    return services.item_save(calendar=calendar, item=item).event


def test_a_series_is_indexed_occurrence_by_occurrence_with_its_exceptions(calendar):
    master = _save(
        calendar,
        _event("UID:s\r\nDTSTART:20261102T090000Z\r\nDTEND:20261102T100000Z\r\nRRULE:FREQ=DAILY;COUNT=4\r\n"
               "EXDATE:20261103T090000Z\r\nSUMMARY:Stand-up\r\nX-CALSYNC-CLIENT:Acme\r\n"),
        _event("UID:s\r\nRECURRENCE-ID:20261104T090000Z\r\nDTSTART:20261104T140000Z\r\nDTEND:20261104T160000Z\r\n"
               "SUMMARY:Long one\r\nX-CALSYNC-CLIENT:Globex\r\n"),
    )  # fmt: skip

    rows = list(TimeEntry.objects.filter(event=master).order_by("start"))

    assert [(r.start.day, r.start.hour, (r.end - r.start).seconds // 3600) for r in rows] == [
        (2, 9, 1), (4, 14, 2), (5, 9, 1)
    ]  # fmt: skip
    assert [r.client.name for r in rows] == ["Acme", "Globex", "Acme"]
    assert {r.user_id for r in rows} == {calendar.owner_id}


def test_a_rewrite_replaces_the_rows_and_a_delete_removes_them(calendar):
    master = _save(calendar, _event("UID:a\r\nDTSTART:20261102T090000Z\r\nDTEND:20261102T100000Z\r\nSUMMARY:A\r\n"))
    master = _save(calendar, _event("UID:a\r\nDTSTART:20261102T090000Z\r\nDTEND:20261102T113000Z\r\nSUMMARY:B\r\n"))

    row = TimeEntry.objects.get(event=master)
    assert (row.title, row.end) == ("B", datetime(2026, 11, 2, 11, 30, tzinfo=UTC))

    services.item_delete(event=master)
    assert not TimeEntry.objects.exists()


def test_what_does_not_count_is_marked(calendar):
    owner = calendar.owner.email
    _save(
        calendar,
        _event(f"UID:d\r\nDTSTART:20261102T090000Z\r\nDTEND:20261102T100000Z\r\nSUMMARY:Declined\r\n"
               f"ORGANIZER:mailto:boss@elsewhere.test\r\nATTENDEE;PARTSTAT=DECLINED:mailto:{owner}\r\n"),
    )  # fmt: skip
    _save(calendar, _event("UID:f\r\nDTSTART:20261102T090000Z\r\nDTEND:20261102T100000Z\r\nTRANSP:TRANSPARENT\r\n"))
    _save(calendar, _event("UID:p\r\nDTSTART:20261102T090000Z\r\nDTEND:20261102T100000Z\r\nCLASS:PRIVATE\r\n"))
    _save(calendar, _event("UID:w\r\nDTSTART;VALUE=DATE:20261102\r\nDTEND;VALUE=DATE:20261104\r\n"))

    rows = {r.event.uid: r for r in TimeEntry.objects.select_related("event")}

    assert rows["d"].declined and rows["f"].free and rows["p"].private
    assert rows["w"].all_day
    assert (rows["w"].start, rows["w"].end) == (datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))
