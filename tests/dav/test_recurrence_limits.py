"""CalDAV REPORTs over a calendar holding the hostile corpus: each answers within the recurrence budget,
and says so (507, DAV:number-of-matches-within-limits) when the budget cut it short."""

from __future__ import annotations

import pytest
from defusedxml.ElementTree import fromstring
from django.urls import reverse

from tests.hostile import CORPUS, store_unchecked

from .test_protocol import C, D, cal_path, prop, responses

pytestmark = pytest.mark.django_db

WEEK = ("20260316T000000Z", "20260323T000000Z")
MONTH = ("20260301T000000Z", "20260401T000000Z")


def _query(start: str, end: str, expand: bool = False) -> str:
    wanted = f'<c:calendar-data><c:expand start="{start}" end="{end}"/></c:calendar-data>' if expand else "<d:getetag/>"
    return (
        '<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
        f'<d:prop>{wanted}</d:prop><c:filter><c:comp-filter name="VCALENDAR">'
        f'<c:comp-filter name="VEVENT"><c:time-range start="{start}" end="{end}"/></c:comp-filter>'
        "</c:comp-filter></c:filter></c:calendar-query>"
    )


def _free_busy(start: str, end: str) -> str:
    return (
        '<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
        f'<c:time-range start="{start}" end="{end}"/></c:free-busy-query>'
    )


@pytest.fixture
def limits(settings):  # type: ignore[no-untyped-def]
    settings.RECURRENCE_MAX_OCCURRENCES = 500
    settings.RECURRENCE_MAX_STEPS = 5000
    return settings


def _store(calendar, *names: str) -> None:  # type: ignore[no-untyped-def]
    for name in names:
        store_unchecked(calendar, CORPUS[name]())


def test_calendar_query_over_the_whole_corpus_ends_with_507(dav, calendar, limits) -> None:  # type: ignore[no-untyped-def]
    _store(calendar, *CORPUS)
    answer = dav.report(cal_path(calendar), _query(*MONTH, expand=True))
    assert answer.status_code == 207
    root = fromstring(dav.body(answer))
    last = root.findall(f"{D}response")[-1]
    assert last.findtext(f"{D}href") == cal_path(calendar) and "507" in last.findtext(f"{D}status")
    assert last.find(f"{D}error/{D}number-of-matches-within-limits") is not None


def test_a_month_query_of_the_whole_corpus_needs_one_occurrence_per_item(dav, calendar, limits) -> None:  # type: ignore[no-untyped-def]
    _store(calendar, *CORPUS)
    found = responses(dav, dav.report(cal_path(calendar), _query(*MONTH)))
    names = {href.rsplit("/", 1)[-1].removesuffix(".ics") for href in found}
    # No 507: the answer is exact. Not year 9999, Feb 30 or INTERVAL=0 (its DTSTART is in February).
    assert names == {"secondly", "minutely", "hourly", "count", "year-1", "to-9999", "exdates-10000", "rdates-10000",
                     "overrides-5000", "attendees-10000"}  # fmt: skip


def test_calendar_query_within_the_budget_is_exact(dav, calendar, limits) -> None:  # type: ignore[no-untyped-def]
    _store(calendar, "HOURLY from year 1", "HOURLY from year 9999", "no day matches (Feb 30)", "10,000 EXDATEs",
           "5,000 overrides", "INTERVAL=0")  # fmt: skip
    found = responses(dav, dav.report(cal_path(calendar), _query(*WEEK)))
    names = {href.rsplit("/", 1)[-1] for href in found}
    # EXDATEs take out every day; Feb 30 never comes; year 9999 and INTERVAL=0's single start are elsewhere.
    assert names == {"year-1.ics", "overrides-5000.ics"}


def test_expand_of_a_secondly_rule_stops_at_the_limit(dav, calendar, limits) -> None:  # type: ignore[no-untyped-def]
    limits.RECURRENCE_MAX_STEPS = 50_000
    _store(calendar, "SECONDLY, no end")
    answer = dav.report(cal_path(calendar), _query(*WEEK, expand=True))
    root = fromstring(dav.body(answer))
    item = root.find(f"{D}response")
    data = prop(item, f"{C}calendar-data").text
    # One occurrence of the request's 500 went to deciding that the item matches at all.
    assert data.count("BEGIN:VEVENT") == 499 and "RRULE" not in data
    assert "507" in root.findall(f"{D}response")[-1].findtext(f"{D}status")


def test_expand_of_an_hourly_rule_from_year_one(dav, calendar, limits) -> None:  # type: ignore[no-untyped-def]
    _store(calendar, "HOURLY from year 1", "5,000 overrides")
    found = responses(dav, dav.report(cal_path(calendar), _query(*WEEK, expand=True)))
    texts = {href.rsplit("/", 1)[-1]: prop(node, f"{C}calendar-data").text for href, node in found.items()}
    assert texts["year-1.ics"].count("BEGIN:VEVENT") == 7 * 24
    assert texts["overrides-5000.ics"].count("SUMMARY:moved") == 7


def test_free_busy_answers_for_a_long_rule_and_refuses_a_truncated_one(dav, calendar, limits) -> None:  # type: ignore[no-untyped-def]
    _store(calendar, "HOURLY from year 1")
    answer = dav.report(cal_path(calendar), _free_busy("20260316T000000Z", "20260317T000000Z"), depth="1")
    assert answer.status_code == 200 and dav.body(answer).count("FREEBUSY;FBTYPE=BUSY") == 24
    _store(calendar, "SECONDLY, no end")
    answer = dav.report(cal_path(calendar), _free_busy("20260316T000000Z", "20260317T000000Z"), depth="1")
    assert answer.status_code == 507 and "number-of-matches-within-limits" in dav.body(answer)


def test_the_feed_serialises_rules_not_occurrences(client, calendar) -> None:  # type: ignore[no-untyped-def]
    _store(calendar, "SECONDLY, no end", "HOURLY from year 1")
    answer = client.get(reverse("dav:feed", args=[calendar.feed_token]))
    text = answer.content.decode()
    assert answer.status_code == 200 and text.count("BEGIN:VEVENT") == 2 and "RRULE:FREQ=SECONDLY" in text
