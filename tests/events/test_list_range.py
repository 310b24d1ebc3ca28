"""The events list: a bounded range with earlier/later links, a clear message for any other, and each event's
expansion cached per (event, version, window) so a repeat view parses and expands nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.urls import reverse

from events import recurrence, services
from events.ical import Component, Item
from events.models import Event

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
URL = reverse("events:calendar_list")


@pytest.fixture(autouse=True)
def _empty_cache():  # type: ignore[no-untyped-def]
    cache.clear()
    yield
    cache.clear()


def _save(calendar, uid: str, title: str, start: datetime, **fields) -> Event:  # type: ignore[no-untyped-def]
    component = Component(uid=uid, summary=title, start=start, end=start + timedelta(hours=1), **fields)
    return services.item_save(calendar=calendar, item=Item(master=component)).event


def _shown(html: str) -> int:
    return html.count('data-testid="occurrence"')


def test_a_year_is_cut_to_the_longest_page_with_later_and_earlier(member_client, calendar, settings) -> None:
    _save(calendar, "in@x", "Inside", datetime(2027, 3, 1, 9, tzinfo=BERLIN))
    _save(calendar, "out@x", "Outside", datetime(2027, 6, 1, 9, tzinfo=BERLIN))
    response = member_client.get(URL, {"from": "2027-01-01", "to": "2027-12-31"})
    page = response.content.decode()
    assert response.status_code == 200 and "A page shows at most 92 days" in page
    assert 'value="2027-04-02"' in page  # the last day shown: 92 days from 1 January
    assert "Inside" in page and "Outside" not in page
    assert "?from=2027-04-03&amp;to=2027-07-03" in page or "?from=2027-04-03&to=2027-07-03" in page
    assert "?from=2026-10-01&to=2026-12-31" in page  # the 92 days before
    later = member_client.get(URL, {"from": "2027-04-03", "to": "2027-07-03"}).content.decode()
    assert "Outside" in later and 'data-testid="range-problem"' not in later
    settings.EVENTS_LIST_MAX_DAYS = 7
    assert "at most 7 days" in member_client.get(URL, {"from": "2027-01-01", "to": "2027-01-08"}).content.decode()
    assert (
        'data-testid="range-problem"'
        not in member_client.get(URL, {"from": "2027-01-01", "to": "2027-01-07"}).content.decode()
    )


@pytest.mark.parametrize(
    "query, message",
    [
        ({"from": "2027-13-01"}, "“2027-13-01” is not a date"),
        ({"from": "2027-01-01", "to": "yesterday"}, "“yesterday” is not a date"),
        ({"from": "0001-01-01"}, "is not a date"),
        ({"from": "2027-01-10", "to": "2027-01-01"}, "The range ended before it began"),
        ({"from": "x" * 5000}, "is not a date"),
    ],
)
def test_a_malformed_range_gets_a_message_not_an_error(member_client, calendar, query, message) -> None:
    response = member_client.get(URL, query)
    assert response.status_code == 200 and message in response.content.decode()


def test_the_hidden_calendars_stay_hidden_on_the_next_page(member_client, calendar) -> None:
    page = member_client.get(URL, {"from": "2027-01-01", "to": "2027-01-31", "hide": str(calendar.pk)}).content.decode()
    assert f"?from=2027-02-01&to=2027-03-03&hide={calendar.pk}" in page


def test_a_repeat_view_expands_nothing_and_a_change_shows_at_once(member_client, calendar, monkeypatch,
                                                                    django_assert_max_num_queries) -> None:  # fmt: skip
    start = datetime(2027, 1, 4, 9, tzinfo=BERLIN)
    for n in range(30):
        _save(calendar, f"one{n}@x", f"Single {n}", start + timedelta(days=n % 28, hours=n % 5))
    _save(calendar, "daily@x", "Standup", start, rrule="FREQ=DAILY;COUNT=60")
    expanded = []
    real = recurrence.occurrences
    monkeypatch.setattr(
        recurrence, "occurrences", lambda item, **kw: expanded.append(item.master.uid) or real(item, **kw)
    )
    query = {"from": "2027-01-01", "to": "2027-01-31"}

    cold = member_client.get(URL, query).content.decode()
    assert len(expanded) == 31 and _shown(cold) == 30 + 28  # the series from 4 to 31 January
    expanded.clear()
    with django_assert_max_num_queries(10):
        warm = member_client.get(URL, query).content.decode()
    assert expanded == [] and warm.count('data-testid="occurrence"') == _shown(cold)
    assert warm.count("Standup") == cold.count("Standup") == 28

    component = Component(uid="daily@x", summary="Daily standup", start=start, end=start + timedelta(minutes=15),
                          rrule="FREQ=DAILY;COUNT=60")  # fmt: skip
    services.item_save(calendar=calendar, item=Item(master=component))
    expanded.clear()  # saving reads the rule too (its span)
    after = member_client.get(URL, query).content.decode()
    assert expanded == ["daily@x"] and after.count("Daily standup") == 28 and "09:00–09:15" in after
    other_window = member_client.get(URL, {"from": "2027-02-01", "to": "2027-02-28"}).content.decode()
    assert other_window.count("Daily standup") == 28 and len(expanded) > 1  # another window, another entry


def test_the_budget_holds_on_cached_views_too(member_client, calendar, settings) -> None:
    start = datetime(2027, 1, 4, 9, tzinfo=BERLIN)
    _save(calendar, "hourly@x", "Hourly", start, rrule="FREQ=HOURLY")
    settings.RECURRENCE_MAX_OCCURRENCES = 50
    query = {"from": "2027-01-01", "to": "2027-01-31"}
    cold = member_client.get(URL, query).content.decode()
    warm = member_client.get(URL, query).content.decode()
    for page in (cold, warm):
        assert _shown(page) == 50 and 'data-testid="truncated"' in page
    settings.RECURRENCE_MAX_OCCURRENCES = 1000
    _save(calendar, "daily@x", "Daily", start, rrule="FREQ=DAILY;COUNT=3")
    small = member_client.get(URL, {"from": "2027-01-04", "to": "2027-01-04"}).content.decode()
    assert small.count("Hourly") == 15 and small.count("Daily") == 1  # 09:00 to 23:00, cached apart from the cut
