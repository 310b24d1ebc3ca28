"""The calendar grid's JSON endpoints (events/grid_views.py): reads, creates, moves, calendars on and off.

Isolation first: another organisation's events, and colleagues' calendars not shared to edit, never appear;
a colleague's private event in a calendar shared with the user shows only as "Busy".
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from business.models import Client
from events import services
from events.ical import Component, Item
from events.models import Event
from scheduling.models import CalendarShare
from tests.factories import CalendarFactory, UserFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
WEEK = "?start=2026-11-23T00:00:00&end=2026-11-30T00:00:00"


def make(calendar, title: str, start: datetime, hours: int = 1, **fields) -> Event:  # type: ignore[no-untyped-def]
    component = Component(uid=services.new_uid(), summary=title, start=start, end=start + timedelta(hours=hours),
                          **fields)  # fmt: skip
    return services.item_save(calendar=calendar, item=Item(master=component)).event


def feed(client, query: str = WEEK) -> dict:  # type: ignore[no-untyped-def, type-arg]
    response = client.get(reverse("events:grid_events") + query)
    assert response.status_code == 200, response.content
    return response.json()


def post(client, url: str, body: dict, **headers: str):  # type: ignore[no-untyped-def, type-arg]
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def change_url(event: Event) -> str:
    return reverse("events:grid_change", args=[event.pk])


# --- reading ---------------------------------------------------------------------------------------------------


def test_feed_gives_wall_clock_times_in_the_users_zone_with_colour_and_version(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    calendar.color = "#fde047"
    calendar.save(update_fields=["color"])
    event = make(calendar, "Planning", datetime(2026, 11, 24, 9, tzinfo=UTC))
    make(calendar, "Next week", datetime(2026, 12, 1, 9, tzinfo=UTC))
    [shown] = feed(member_client)["events"]
    assert shown["title"] == "Planning" and shown["eventId"] == event.pk and shown["seq"] == event.seq
    assert (shown["start"], shown["end"]) == ("2026-11-24T10:00:00", "2026-11-24T11:00:00")  # Berlin, UTC+1
    assert (shown["color"], shown["textColor"]) == ("#fde047", "#000000")  # dark text on a light colour
    assert shown["url"] == reverse("events:event_detail", args=[event.pk]) and shown["editable"] is True


def test_feed_expands_series_with_their_overrides(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    series = make(calendar, "Stand-up", datetime(2026, 11, 2, 8, tzinfo=UTC), rrule="FREQ=DAILY;COUNT=40")
    moved = datetime(2026, 11, 25, 8, tzinfo=UTC)
    services.occurrence_update(master=series, recurrence_id=moved, changes={"summary": "Stand-up (moved)",
                               "start": moved + timedelta(hours=3), "end": moved + timedelta(hours=4)})  # fmt: skip
    events = feed(member_client)["events"]
    assert len(events) == 7 and all(e["recurring"] for e in events)
    override = next(e for e in events if e["title"] == "Stand-up (moved)")
    assert override["recurrenceId"] == "20261125T080000Z" and override["start"] == "2026-11-25T12:00:00"


def test_all_day_events_have_dates_and_an_exclusive_end(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    component = Component(uid=services.new_uid(), summary="Offsite", start=date(2026, 11, 25), end=date(2026, 11, 27))
    services.item_save(calendar=calendar, item=Item(master=component))
    [shown] = feed(member_client)["events"]
    assert (shown["start"], shown["end"], shown["allDay"]) == ("2026-11-25", "2026-11-27", True)


def test_another_organisations_events_never_appear(member_client, calendar, outsider) -> None:  # type: ignore[no-untyped-def]
    theirs = CalendarFactory(owner=outsider, tenant=outsider.tenant)
    secret = make(theirs, "Globex merger", datetime(2026, 11, 24, 9, tzinfo=UTC))
    body = json.dumps(feed(member_client))
    assert "Globex merger" not in body and str(theirs.pk) not in json.loads(body).get("calendars", [])
    # Nor can they be moved, or created into, by id.
    moved = post(member_client, change_url(secret), {"start": "2026-11-25T09:00:00", "end": "2026-11-25T10:00:00"},
                 **{"If-Match": f'"{secret.seq}"'})  # fmt: skip
    assert moved.status_code == 404 and moved.json()["code"] == "not-found"  # JSON for the grid, not the 404 page
    created = post(member_client, reverse("events:grid_create"), {"title": "x", "calendar": theirs.pk,
                   "start": "2026-11-25T09:00:00", "end": "2026-11-25T10:00:00"})  # fmt: skip
    assert created.status_code == 400 and Event.objects.filter(calendar=theirs).count() == 1


def test_a_colleagues_calendar_shows_only_when_shared_to_edit(member_client, member, calendar) -> None:  # type: ignore[no-untyped-def]
    colleague = UserFactory(tenant=member.tenant, email="colleague@acme.test")
    theirs = CalendarFactory(owner=colleague, tenant=member.tenant, name="Colleague")
    make(theirs, "Colleague's review", datetime(2026, 11, 24, 9, tzinfo=UTC))
    assert feed(member_client)["events"] == []
    CalendarShare.objects.create(tenant=member.tenant, calendar=theirs, grantee=member, level="details")
    assert feed(member_client)["events"] == []  # "details" is for the scheduling pages only
    CalendarShare.objects.filter(calendar=theirs).update(level="edit")
    assert [e["title"] for e in feed(member_client)["events"]] == ["Colleague's review"]


def test_others_private_events_show_as_busy_without_details(member_client, member, calendar) -> None:  # type: ignore[no-untyped-def]
    colleague = UserFactory(tenant=member.tenant, email="colleague@acme.test")
    theirs = CalendarFactory(owner=colleague, tenant=member.tenant, name="Colleague")
    CalendarShare.objects.create(tenant=member.tenant, calendar=theirs, grantee=member, level="edit")
    private = make(theirs, "Doctor: results", datetime(2026, 11, 24, 9, tzinfo=UTC), location="Clinic 4",
                   description="biopsy", visibility="PRIVATE")  # fmt: skip
    make(calendar, "My own private thing", datetime(2026, 11, 25, 9, tzinfo=UTC), visibility="PRIVATE")
    response = member_client.get(reverse("events:grid_events") + WEEK)
    raw = response.content.decode()
    assert "Doctor" not in raw and "Clinic" not in raw and "biopsy" not in raw
    busy, mine = response.json()["events"]
    assert (busy["title"], busy["url"], busy["editable"]) == ("Busy", "", False)
    assert (mine["title"], mine["editable"]) == ("My own private thing", True)  # the owner sees their own
    refused = post(member_client, change_url(private), {"start": "2026-11-25T09:00:00", "end": "2026-11-25T10:00:00"},
                   **{"If-Match": f'"{private.seq}"'})  # fmt: skip
    assert refused.status_code == 403 and "private" in refused.json()["error"]


def test_a_hostile_rule_is_cut_short_not_a_hang(member_client, calendar, settings) -> None:  # type: ignore[no-untyped-def]
    # A rule the door refuses today (every second, for ever), stored before it did.
    hostile = make(calendar, "Every second", datetime(2020, 1, 1, tzinfo=UTC), hours=0)
    Event.objects.filter(pk=hostile.pk).update(rrule="FREQ=SECONDLY", span_end=None)
    make(calendar, "Ordinary", datetime(2026, 11, 24, 9, tzinfo=UTC))
    settings.RECURRENCE_MAX_OCCURRENCES = 200
    began = time.monotonic()
    data = feed(member_client)
    assert time.monotonic() - began < 5
    assert data["truncated"] is True and len(data["events"]) == 200
    assert "Ordinary" in {e["title"] for e in data["events"]}  # single events are read before any series


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?start=2026-11-23&end=2027-03-01",  # wider than a month view
        "?start=2026-11-30&end=2026-11-23",
        "?start=nonsense&end=2026-11-30",
        "?start=0001-01-01&end=0001-01-07",
    ],
)
def test_bad_ranges_are_clear_400s(member_client, calendar, query: str) -> None:  # type: ignore[no-untyped-def]
    response = member_client.get(reverse("events:grid_events") + query)
    assert response.status_code == 400 and response.json()["error"]


def test_signed_out_gets_401_json_not_a_login_page(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(reverse("events:grid_events") + WEEK)
    assert response.status_code == 401 and response.json()["code"] == "signed-out"


def _feed_queries(client) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        feed(client, "?start=2026-11-01T00:00:00&end=2026-12-13T00:00:00")
    return len(queries)


def test_the_feed_costs_the_same_queries_for_a_small_and_a_large_calendar(member_client, member, calendar) -> None:  # type: ignore[no-untyped-def]
    second = CalendarFactory(owner=member, tenant=member.tenant, name="Second")
    make(calendar, "One", datetime(2026, 11, 24, 9, tzinfo=UTC))
    small = _feed_queries(member_client)
    for i in range(60):
        make(
            second if i % 2 else calendar, f"Event {i}", datetime(2026, 11, 2, 9, tzinfo=UTC) + timedelta(hours=13 * i)
        )
    for i in range(6):
        series = make(
            calendar, f"Series {i}", datetime(2026, 10, 5, 7 + i, tzinfo=UTC), rrule="FREQ=WEEKLY;BYDAY=MO,TH"
        )
        first = datetime(2026, 11, 5, 7 + i, tzinfo=UTC)
        services.occurrence_update(master=series, recurrence_id=first, changes={"summary": "moved"})
    large = _feed_queries(member_client)
    assert small == large, f"{small} queries for one event, {large} for 66 events in two calendars"


# --- creating --------------------------------------------------------------------------------------------------


def test_quick_create_makes_an_event_in_the_chosen_calendar(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    body = {
        "title": "  Call Ana ",
        "calendar": calendar.pk,
        "start": "2026-11-24T15:30:00",
        "end": "2026-11-24T16:00:00",
    }
    response = post(member_client, reverse("events:grid_create"), body)
    assert response.status_code == 201, response.content
    event = Event.objects.get(pk=response.json()["id"])
    assert (event.title, event.calendar_id) == ("Call Ana", calendar.pk)
    assert event.start == datetime(2026, 11, 24, 14, 30, tzinfo=UTC)  # 15:30 in Berlin


def test_quick_create_takes_the_client_project_and_activity_from_the_lists(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    acme = Client.objects.create(tenant=calendar.tenant, name="Acme")
    body = {"title": "Review", "calendar": calendar.pk, "start": "2026-11-24T15:30:00", "end": "2026-11-24T16:00:00",
            "client": "acme", "project": "Website", "activity": "Design"}  # fmt: skip

    event = Event.objects.get(pk=post(member_client, reverse("events:grid_create"), body).json()["id"])

    assert event.client_ref_id == acme.pk and event.client == "Acme"
    assert (event.project_ref.client_id, event.project, event.activity_ref.name) == (acme.pk, "Website", "Design")


def test_quick_create_refuses_an_archived_client(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    Client.objects.create(tenant=calendar.tenant, name="Gone Ltd", archived_at=timezone.now())
    body = {"title": "Review", "calendar": calendar.pk, "start": "2026-11-24T15:30:00", "end": "2026-11-24T16:00:00",
            "client": "Gone Ltd"}  # fmt: skip

    response = post(member_client, reverse("events:grid_create"), body)

    assert response.status_code == 400 and "archived" in response.json()["error"]
    assert not Event.objects.exists()


def test_quick_create_all_day(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    body = {"title": "Holiday", "calendar": calendar.pk, "allDay": True, "start": "2026-12-24", "end": "2026-12-27"}
    event = Event.objects.get(pk=post(member_client, reverse("events:grid_create"), body).json()["id"])
    assert event.all_day and feed(member_client, "?start=2026-12-21&end=2026-12-28")["events"][0]["end"] == "2026-12-27"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"title": "", "start": "2026-11-24T15:00:00", "end": "2026-11-24T16:00:00"}, "title"),
        ({"title": "x" * 501, "start": "2026-11-24T15:00:00", "end": "2026-11-24T16:00:00"}, "500"),
        ({"title": "Back", "start": "2026-11-24T15:00:00", "end": "2026-11-24T14:00:00"}, "ends before"),
        ({"title": "Odd", "start": "tomorrow", "end": "2026-11-24T14:00:00"}, "not a date"),
        ({"title": "Far", "start": "9999-01-01T10:00:00", "end": "9999-01-01T11:00:00"}, "2999"),
    ],
)
def test_quick_create_refuses_bad_input_clearly(member_client, calendar, body: dict, words: str) -> None:  # type: ignore[no-untyped-def, type-arg]
    response = post(member_client, reverse("events:grid_create"), {"calendar": calendar.pk, **body})
    assert response.status_code == 400 and words in response.json()["error"]
    assert not Event.objects.exists()


def test_quick_create_refuses_a_body_that_is_not_json(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    response = member_client.post(reverse("events:grid_create"), data="title=x", content_type="text/plain")
    assert response.status_code == 400 and "JSON" in response.json()["error"]


# --- moving and resizing -----------------------------------------------------------------------------------------


def test_move_and_resize_keep_the_events_own_zone(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    event = make(calendar, "Call", datetime(2026, 11, 24, 9, tzinfo=ZoneInfo("America/New_York")))
    body = {"start": "2026-11-26T16:00:00", "end": "2026-11-26T18:30:00"}
    response = post(member_client, change_url(event), body, **{"If-Match": f'"{event.seq}"'})
    assert response.status_code == 200, response.content
    event.refresh_from_db()
    assert (event.start, event.end) == (
        datetime(2026, 11, 26, 15, tzinfo=UTC),
        datetime(2026, 11, 26, 17, 30, tzinfo=UTC),
    )
    assert event.timezone == "America/New_York" and response.json()["seq"] == event.seq


def test_a_stale_version_is_refused_with_412_and_nothing_changes(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    event = make(calendar, "Call", datetime(2026, 11, 24, 9, tzinfo=UTC))
    seen = event.seq
    make_sync_change = services.item_save(calendar=calendar, item=Item(master=Component(
        uid=event.uid, summary="Call (moved by Google)", start=datetime(2026, 11, 24, 11, tzinfo=UTC),
        end=datetime(2026, 11, 24, 12, tzinfo=UTC))))  # fmt: skip
    response = post(member_client, change_url(event), {"start": "2026-11-25T09:00:00", "end": "2026-11-25T10:00:00"},
                    **{"If-Match": f'"{seen}"'})  # fmt: skip
    assert response.status_code == 412 and response.json()["code"] == "stale"
    assert "changed elsewhere" in response.json()["error"]
    event.refresh_from_db()
    assert event.start == datetime(2026, 11, 24, 11, tzinfo=UTC) and event.seq == make_sync_change.event.seq


def test_a_change_without_if_match_is_refused(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    event = make(calendar, "Call", datetime(2026, 11, 24, 9, tzinfo=UTC))
    response = post(member_client, change_url(event), {"start": "2026-11-25T09:00:00", "end": "2026-11-25T10:00:00"})
    assert response.status_code == 400 and "If-Match" in response.json()["error"]


def test_dragging_to_the_all_day_row_makes_it_all_day(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    event = make(calendar, "Trip", datetime(2026, 11, 24, 9, tzinfo=UTC))
    body = {"start": "2026-11-26", "end": "2026-11-27", "allDay": True}
    assert post(member_client, change_url(event), body, **{"If-Match": str(event.seq)}).status_code == 200
    event.refresh_from_db()
    assert event.all_day and event.start.date() == date(2026, 11, 26)


def test_moving_one_occurrence_leaves_the_series(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    series = make(calendar, "Stand-up", datetime(2026, 11, 2, 8, tzinfo=UTC), rrule="FREQ=DAILY;COUNT=40")
    body = {"start": "2026-11-25T14:00:00", "end": "2026-11-25T15:00:00", "recurrenceId": "20261125T080000Z",
            "scope": "this"}  # fmt: skip
    response = post(member_client, change_url(series), body, **{"If-Match": f'"{series.seq}"'})
    assert response.status_code == 200, response.content
    events = feed(member_client)["events"]
    assert len(events) == 7
    assert next(e for e in events if e["recurrenceId"] == "20261125T080000Z")["start"] == "2026-11-25T14:00:00"
    assert next(e for e in events if e["recurrenceId"] == "20261124T080000Z")["start"] == "2026-11-24T09:00:00"


def test_a_series_change_needs_a_scope_and_a_real_occurrence(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    series = make(calendar, "Stand-up", datetime(2026, 11, 2, 8, tzinfo=UTC), rrule="FREQ=DAILY;COUNT=40")
    when = {"start": "2026-11-25T14:00:00", "end": "2026-11-25T15:00:00"}
    headers = {"If-Match": f'"{series.seq}"'}
    no_scope = post(member_client, change_url(series), {**when, "recurrenceId": "20261125T080000Z"}, **headers)
    assert no_scope.status_code == 400 and "this occurrence" in no_scope.json()["error"]
    bad_key = post(member_client, change_url(series), {**when, "recurrenceId": "yesterday", "scope": "this"}, **headers)
    assert bad_key.status_code == 400
    single = post(member_client, change_url(series), when, **headers)
    assert single.status_code == 400 and "repeats" in single.json()["error"]


# --- calendars on and off ----------------------------------------------------------------------------------------


def test_hiding_a_calendar_is_remembered_and_filters_the_feed(member_client, member, calendar, client) -> None:  # type: ignore[no-untyped-def]
    make(calendar, "Work thing", datetime(2026, 11, 24, 9, tzinfo=UTC))
    url = reverse("events:grid_visibility")
    assert post(member_client, url, {"calendar": calendar.pk, "shown": False}).json() == {"hidden": [calendar.pk]}
    member.refresh_from_db()
    assert member.hidden_calendars == [calendar.pk] and feed(member_client)["events"] == []
    page = member_client.get(reverse("events:calendar")).content.decode()
    assert f'data-calendar="{calendar.pk}" >' in page or f'data-calendar="{calendar.pk}">' in page  # unticked
    post(member_client, url, {"calendar": calendar.pk, "shown": True})
    assert len(feed(member_client)["events"]) == 1


def test_hiding_someone_elses_calendar_is_refused(member_client, outsider) -> None:  # type: ignore[no-untyped-def]
    theirs = CalendarFactory(owner=outsider, tenant=outsider.tenant)
    response = post(member_client, reverse("events:grid_visibility"), {"calendar": theirs.pk, "shown": False})
    assert response.status_code == 400


# --- the page ----------------------------------------------------------------------------------------------------


def test_the_page_carries_the_users_week_start_zone_and_date(member_client, member, calendar) -> None:  # type: ignore[no-untyped-def]
    member_client.post(reverse("settings"), {"first_name": "", "last_name": "", "timezone": "Europe/Berlin",
                                             "week_start": "6"})  # fmt: skip
    member.refresh_from_db()
    assert member.week_start == 6
    page = member_client.get(reverse("events:calendar") + "?date=2026-11-25").content.decode()
    assert 'data-first-day="0"' in page  # Sunday, as FullCalendar counts
    assert 'data-time-zone="Europe/Berlin"' in page and 'data-initial-date="2026-11-25"' in page
    assert "vendor/fullcalendar/index.global.min.js" in page


@pytest.mark.parametrize("query", ["?date=0001-01-01", "?week=9999-12-31", "?date=nonsense", "?week=2026-11-23"])
def test_the_page_answers_any_date_in_the_query(member_client, calendar, query: str) -> None:  # type: ignore[no-untyped-def]
    assert member_client.get(reverse("events:calendar") + query).status_code == 200


def test_this_and_following_splits_the_series_and_all_moves_it(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    series = make(calendar, "Stand-up", datetime(2026, 11, 2, 8, tzinfo=UTC), rrule="FREQ=DAILY;COUNT=40")
    body = {"start": "2026-11-25T14:00:00", "end": "2026-11-25T15:00:00", "recurrenceId": "20261125T080000Z"}
    split = post(member_client, change_url(series), {**body, "scope": "following"}, **{"If-Match": f'"{series.seq}"'})
    assert split.status_code == 200, split.content
    masters = Event.objects.filter(calendar=calendar, parent=None).order_by("start")
    assert masters.count() == 2 and "UNTIL=" in masters[0].rrule  # RFC 5545: the old series ends, a new one starts
    week = {e["start"][:10]: e["start"][11:16] for e in feed(member_client)["events"]}
    assert week["2026-11-24"] == "09:00" and week["2026-11-25"] == "14:00" and week["2026-11-27"] == "14:00"
    head = masters[0]
    moved = post(member_client, change_url(head), {"start": "2026-11-23T07:00:00", "end": "2026-11-23T07:30:00",
                 "recurrenceId": "20261123T080000Z", "scope": "all"}, **{"If-Match": f'"{head.seq}"'})  # fmt: skip
    assert moved.status_code == 200, moved.content
    week = {e["start"][:10]: e["start"][11:16] for e in feed(member_client)["events"]}
    assert week["2026-11-23"] == week["2026-11-24"] == "07:00" and week["2026-11-25"] == "14:00"
    stale = post(member_client, change_url(head), {**body, "scope": "all"}, **{"If-Match": f'"{head.seq}"'})
    assert stale.status_code == 412
