"""How many queries the single-item paths and a multiget cost, authentication and tenancy included.

CalDAV clients fetch and write items one request at a time, so each query here is paid per item. The render
cache is warm for what clients fetch next (the write itself renders, a listing stores what it rendered), and a
verified login is remembered for a minute, so a read is the item's row joined with its calendar, with only the
columns it needs; the login's row is read on a client's first request of the minute, the rest of an item's row
and its overridden occurrences only to render a version nobody has rendered yet.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from .conftest import vevent

pytestmark = pytest.mark.django_db

MOVED = (
    "BEGIN:VEVENT\r\nUID:standup\r\nDTSTAMP:20261101T000000Z\r\nRECURRENCE-ID:20261109T090000Z\r\n"
    "DTSTART:20261110T090000Z\r\nDTEND:20261110T100000Z\r\nSUMMARY:Standup (moved)\r\nEND:VEVENT\r\n"
)


@pytest.fixture
def base(calendar, member) -> str:  # type: ignore[no-untyped-def]
    return f"/caldav/calendars/{member.email}/{calendar.dav_name}/"


@pytest.fixture
def series_url(dav, base) -> str:  # type: ignore[no-untyped-def]
    """A weekly series with a moved occurrence: rendering it needs its override rows."""
    body = vevent("standup", "RRULE:FREQ=WEEKLY;COUNT=4").replace("END:VCALENDAR", MOVED + "END:VCALENDAR")
    assert dav.put(f"{base}standup.ics", body).status_code == 201
    dav.request("OPTIONS", base)
    dav.request("GET", f"{base}standup.ics")  # past the once-a-minute "last used" write of the login
    return f"{base}standup.ics"


class Counted:
    def __init__(self) -> None:
        self.context = CaptureQueriesContext(connection)

    def __enter__(self) -> Counted:
        self.context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.context.__exit__(*exc)

    @property
    def count(self) -> int:
        return len(self.context.captured_queries)

    @property
    def sql(self) -> str:
        return "\n".join(q["sql"] for q in self.context.captured_queries)


def test_get_and_head_after_a_write_cost_one_query_and_no_rendering(dav, series_url) -> None:
    for method in ("GET", "HEAD"):
        with Counted() as counted:
            response = dav.request(method, series_url)
        assert response.status_code == 200 and counted.count == 1, counted.sql
        assert "dav_apppassword" not in counted.sql  # the login was verified a request ago
        assert "overrides" not in counted.sql and '"parent_id" IN' not in counted.sql
    assert "Standup (moved)" in dav.request("GET", series_url).content.decode()


def test_a_cold_get_reads_the_overrides_once_and_serves_the_same_bytes(dav, series_url) -> None:
    warm = dav.request("GET", series_url)
    cache.clear()
    with Counted() as counted:
        cold = dav.request("GET", series_url)
    assert counted.count == 4, counted.sql  # login, item with its calendar; to render, its whole row and overrides
    assert cold.content == warm.content and cold["ETag"] == warm["ETag"]
    assert "RECURRENCE-ID:20261109T090000Z" in cold.content.decode()


def test_conditional_requests_are_decided_from_the_one_row(dav, series_url) -> None:
    etag = dav.request("GET", series_url)["ETag"]
    with Counted() as counted:
        assert dav.request("GET", series_url, If_None_Match=etag).status_code == 304
    assert counted.count == 1
    stale = '"12345"'  # a version this item never had
    with Counted() as counted:
        assert dav.put(series_url, vevent("standup"), If_Match=stale).status_code == 412
    assert counted.count == 1, counted.sql
    with Counted() as counted:
        assert dav.request("DELETE", series_url, If_Match=stale).status_code == 412
    assert counted.count == 1, counted.sql


def test_multiget_costs_two_queries_warm_whatever_the_number_of_items(dav, base, series_url) -> None:
    for i in range(20):
        dav.put(f"{base}e{i}.ics", vevent(f"e{i}"))
    hrefs = "".join(f"<d:href>{base}e{i}.ics</d:href>" for i in range(20)) + f"<d:href>{series_url}</d:href>"
    body = (
        '<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        f"<d:prop><d:getetag/><c:calendar-data/></d:prop>{hrefs}</c:calendar-multiget>"
    )
    with Counted() as counted:
        warm = dav.body(dav.report(base, body))
    assert counted.count == 2, counted.sql  # calendar, items: each item was rendered when it was written
    cache.clear()
    with Counted() as counted:
        cold = dav.body(dav.report(base, body))
    assert counted.count == 5, (
        counted.sql
    )  # the login again, and the whole rows and overrides of all of them, in two queries
    assert cold == warm and warm.count("BEGIN:VCALENDAR") == 21


def test_a_missing_item_costs_one_more_query_for_its_calendar(dav, base) -> None:
    dav.request("GET", f"{base}nothing.ics")
    with Counted() as counted:
        assert dav.request("GET", f"{base}nothing.ics").status_code == 404
    assert counted.count == 2
