"""The Google emulator keeps Google's documented promises, checked through google-api-python-client itself."""

from __future__ import annotations

import json
import re
import time

import niquests
import pytest
from google.auth import crypt, jwt
from google.oauth2 import service_account
from googleapiclient.errors import HttpError

from emulators.google.state import CALENDAR_SCOPE as CALENDAR
from emulators.google.state import READONLY_SCOPE as READONLY
from integrations.google.client import GoogleApi, user_credentials_from


@pytest.fixture
def api(google, google_account, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("googleapiclient.http.time.sleep", lambda seconds: None)
    email, tokens = google_account
    client = GoogleApi(user_credentials_from(tokens))
    client.email = email  # type: ignore[attr-defined]
    return client


def _event(summary: str, **extra: object) -> dict[str, object]:
    return {"summary": summary, "start": {"dateTime": "2026-11-23T10:00:00+01:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-11-23T11:00:00+01:00", "timeZone": "Europe/Berlin"}, **extra}  # fmt: skip


def _reason(exc: HttpError) -> tuple[int, str]:
    return exc.resp.status, json.loads(exc.content)["error"]["errors"][0]["reason"]


def test_paging_ends_with_a_sync_token_and_tokens_refuse_filters(api) -> None:  # type: ignore[no-untyped-def]
    """nextSyncToken only on the last page; a sync token refuses most filters.
    https://developers.google.com/calendar/api/guides/sync
    https://developers.google.com/calendar/api/v3/reference/events/list"""
    events = api.service.events()
    for n in range(5):
        events.insert(calendarId="primary", body=_event(f"E{n}")).execute()
    pages, token = [], None
    answer: dict = {}  # type: ignore[type-arg]
    while True:
        answer = events.list(calendarId="primary", maxResults=2, pageToken=token).execute()
        pages.append(answer)
        token = answer.get("nextPageToken")
        if not token:
            break
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    assert [bool(p.get("nextSyncToken")) for p in pages] == [False, False, True]
    with pytest.raises(HttpError) as refused:
        events.list(calendarId="primary", syncToken=answer["nextSyncToken"], iCalUID="x").execute()
    assert refused.value.resp.status == 400


def test_deletions_show_in_incremental_results_only(api) -> None:  # type: ignore[no-untyped-def]
    """Deleted events (status cancelled) are always in incremental results.
    https://developers.google.com/calendar/api/v3/reference/events/list"""
    events = api.service.events()
    kept = events.insert(calendarId="primary", body=_event("Kept")).execute()
    gone = events.insert(calendarId="primary", body=_event("Gone")).execute()
    token = events.list(calendarId="primary").execute()["nextSyncToken"]
    events.delete(calendarId="primary", eventId=gone["id"]).execute()
    changes = events.list(calendarId="primary", syncToken=token).execute()["items"]
    assert [(e["id"], e["status"]) for e in changes] == [(gone["id"], "cancelled")]
    assert [e["id"] for e in events.list(calendarId="primary").execute()["items"]] == [kept["id"]]

    # "The get method always returns them": a deleted event is status cancelled, not 404 or 410.
    # https://developers.google.com/calendar/api/v3/reference/events#status
    deleted = events.get(calendarId="primary", eventId=gone["id"]).execute()
    assert (deleted["id"], deleted["status"]) == (gone["id"], "cancelled")
    series = events.insert(calendarId="primary", body=_event("Series", recurrence=["RRULE:FREQ=DAILY;COUNT=3"]))
    series = series.execute()
    events.delete(calendarId="primary", eventId=series["id"]).execute()
    assert events.get(calendarId="primary", eventId=series["id"]).execute()["status"] == "cancelled"
    with pytest.raises(HttpError) as missing:
        events.get(calendarId="primary", eventId="neverexisted").execute()
    assert _reason(missing.value) == (404, "notFound")


def test_cancelled_events_are_listed_with_only_what_google_guarantees(api) -> None:  # type: ignore[no-untyped-def]
    """ "Cancelled exceptions are only guaranteed to have values for the id, recurringEventId and originalStartTime
    fields populated"; "Deleted events are only guaranteed to have the id field populated", but on the organizer's
    calendar they keep their details when showDeleted is set.
    https://developers.google.com/calendar/api/v3/reference/events#status"""
    events = api.service.events()
    series = events.insert(calendarId="primary", body=_event("Weekly", recurrence=["RRULE:FREQ=WEEKLY;COUNT=3"]))
    series = series.execute()
    single = events.insert(calendarId="primary", body=_event("Single")).execute()
    token = events.list(calendarId="primary").execute()["nextSyncToken"]
    events.delete(calendarId="primary", eventId=f"{series['id']}_20261130T090000Z").execute()
    events.delete(calendarId="primary", eventId=single["id"]).execute()
    bare = {e["id"]: set(e) for e in events.list(calendarId="primary", syncToken=token).execute()["items"]}
    assert bare == {f"{series['id']}_20261130T090000Z": {"kind", "etag", "id", "status", "recurringEventId",
                                                         "originalStartTime"},
                    single["id"]: {"kind", "etag", "id", "status"}}  # fmt: skip
    detailed = events.list(calendarId="primary", syncToken=token, showDeleted=True).execute()["items"]
    assert [e.get("summary") for e in detailed if e["id"] == single["id"]] == ["Single"]


def test_stale_etags_and_forgotten_tokens(api, google) -> None:  # type: ignore[no-untyped-def]
    """A stale ETag in If-Match is 412; a sync token the server forgot is 410 Gone (start a full sync).
    https://developers.google.com/calendar/api/guides/version-resources
    https://developers.google.com/calendar/api/guides/sync"""
    events = api.service.events()
    event = events.insert(calendarId="primary", body=_event("Versioned")).execute()
    events.patch(calendarId="primary", eventId=event["id"], body={"summary": "Newer"}).execute()
    stale = events.update(calendarId="primary", eventId=event["id"], body=_event("Stale"))
    stale.headers["If-Match"] = event["etag"]
    with pytest.raises(HttpError) as refused:
        stale.execute()
    assert _reason(refused.value) == (412, "conditionNotMet")
    token = events.list(calendarId="primary").execute()["nextSyncToken"]
    google.state.expire_sync_tokens(api.email)
    with pytest.raises(HttpError) as expired:
        events.list(calendarId="primary", syncToken=token).execute()
    assert _reason(expired.value) == (410, "fullSyncRequired")


def test_occurrences_are_instances_and_exceptions(api) -> None:  # type: ignore[no-untyped-def]
    """A recurring event's occurrences are instances; a changed one is an exception with originalStartTime.
    https://developers.google.com/calendar/api/guides/recurringevents
    https://developers.google.com/calendar/api/v3/reference/events/instances"""
    events = api.service.events()
    series = events.insert(
        calendarId="primary", body=_event("Weekly", recurrence=["RRULE:FREQ=WEEKLY;COUNT=3"])
    ).execute()
    instances = events.instances(calendarId="primary", eventId=series["id"]).execute()["items"]
    assert [i["id"] for i in instances] == [f"{series['id']}_20261123T090000Z", f"{series['id']}_20261130T090000Z",
                                            f"{series['id']}_20261207T090000Z"]  # fmt: skip
    events.delete(calendarId="primary", eventId=instances[1]["id"]).execute()
    listed = events.list(calendarId="primary").execute()["items"]
    cancelled = [e for e in listed if e.get("recurringEventId") == series["id"]]
    # A cancelled occurrence stays listed (singleEvents=false) as a cancelled exception with its original start.
    assert [(e["status"], e["originalStartTime"]["dateTime"][:16]) for e in cancelled] == [
        ("cancelled", "2026-11-30T10:00")
    ]
    assert len(events.instances(calendarId="primary", eventId=series["id"]).execute()["items"]) == 2


def test_rate_limits_answer_like_google_and_the_client_retries(api, google) -> None:  # type: ignore[no-untyped-def]
    """Rate limits answer 403 rateLimitExceeded or 429; the client backs off and retries.
    https://developers.google.com/calendar/api/guides/errors"""
    google.state.faults.update(rate_limit=2, rate_limit_status=403)
    assert api.execute(api.service.calendarList().list())["items"]  # retried twice, then answered
    google.state.faults.update(rate_limit=1, rate_limit_status=403)
    with pytest.raises(HttpError) as limited:
        api.service.calendarList().list().execute()  # no retries asked for
    assert _reason(limited.value) == (403, "rateLimitExceeded")


def test_batch_answers_each_request_on_its_own(api) -> None:  # type: ignore[no-untyped-def]
    """A batch is answered part by part, each with its own status.
    https://developers.google.com/calendar/api/guides/batch"""
    insert = api.service.events().insert
    results = api.batch([
        insert(calendarId="primary", body=_event("One", iCalUID="same@x")),
        insert(calendarId="primary", body=_event("Two", iCalUID="same@x")),
        insert(calendarId="primary", body=_event("Three")),
    ])  # fmt: skip
    assert [r["summary"] if r else None for r, _ in results] == ["One", None, "Three"]
    assert _reason(results[1][1]) == (409, "duplicate")  # type: ignore[arg-type]


def test_read_only_calendars_refuse_writes(api) -> None:  # type: ignore[no-untyped-def]
    """Writing to a calendar with reader access is 403 requiredAccessLevel.
    https://developers.google.com/calendar/api/guides/errors"""
    holidays = next(c for c in api.service.calendarList().list().execute()["items"] if c["summary"] == "Holidays")
    assert holidays["accessRole"] == "reader"
    with pytest.raises(HttpError) as refused:
        api.service.events().insert(calendarId=holidays["id"], body=_event("Nope")).execute()
    assert refused.value.resp.status == 403


def test_what_is_written_comes_back_as_google_keeps_it(api) -> None:  # type: ignore[no-untyped-def]
    """Google adds its own fields (etag, created, updated, htmlLink, creator, organizer: the calendar) and writes a
    dateTime back with the offset of the event's time zone.
    https://developers.google.com/calendar/api/v3/reference/events#resource"""
    body = {"summary": "Planning", "start": {"dateTime": "2026-11-23T09:00:00Z", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2026-11-23T10:00:00Z", "timeZone": "Europe/Berlin"}}  # fmt: skip
    made = api.service.events().insert(calendarId="primary", body=body).execute()
    assert made["start"] == {"dateTime": "2026-11-23T10:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert made["organizer"] == {"email": api.email, "displayName": made["organizer"]["displayName"], "self": True}
    assert {"etag", "created", "updated", "htmlLink", "creator", "iCalUID"} <= set(made)


# --- freebusy.query ------------------------------------------------------------------------------------------
# https://developers.google.com/calendar/api/v3/reference/freebusy/query


def test_freebusy_query_answers_merged_busy_periods_and_errors_per_calendar(google, google_account) -> None:  # type: ignore[no-untyped-def]
    email, tokens = google_account
    api = GoogleApi(user_credentials_from(tokens))
    events = api.service.events()
    when = lambda h, m=0: {"dateTime": f"2026-11-24T{h:02d}:{m:02d}:00Z"}  # noqa: E731
    api.execute(events.insert(calendarId=email, body={"summary": "a", "start": when(9), "end": when(10)}))
    api.execute(events.insert(calendarId=email, body={"summary": "b", "start": when(9, 30), "end": when(11)}))
    api.execute(events.insert(calendarId=email, body={"summary": "free", "start": when(12), "end": when(13),
                                                      "transparency": "transparent"}))  # fmt: skip
    daily = {"summary": "daily", "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
             "start": {"dateTime": "2026-11-23T15:00:00", "timeZone": "Europe/Berlin"},
             "end": {"dateTime": "2026-11-23T15:30:00", "timeZone": "Europe/Berlin"}}  # fmt: skip
    series = api.execute(events.insert(calendarId=email, body=daily))
    cancelled = f"{series['id']}_20261124T140000Z"
    api.execute(events.patch(calendarId=email, eventId=cancelled, body={"status": "cancelled"}))
    body = {"timeMin": "2026-11-24T00:00:00Z", "timeMax": "2026-11-26T00:00:00Z",
            "items": [{"id": email}, {"id": "someone-else@example.com"}]}  # fmt: skip
    answer = api.execute(api.service.freebusy().query(body=body))
    assert answer["kind"] == "calendar#freeBusy"
    assert answer["calendars"][email]["busy"] == [
        {"start": "2026-11-24T09:00:00Z", "end": "2026-11-24T11:00:00Z"},  # overlapping events merged
        {"start": "2026-11-25T14:00:00Z", "end": "2026-11-25T14:30:00Z"},  # the 24th's occurrence cancelled
    ]
    assert answer["calendars"]["someone-else@example.com"]["errors"] == [{"domain": "global", "reason": "notFound"}]


def test_freebusy_query_refuses_an_empty_range(google, google_account) -> None:  # type: ignore[no-untyped-def]
    email, tokens = google_account
    api = GoogleApi(user_credentials_from(tokens))
    body = {"timeMin": "2026-11-25T00:00:00Z", "timeMax": "2026-11-24T00:00:00Z", "items": [{"id": email}]}
    with pytest.raises(HttpError) as failure:
        api.service.freebusy().query(body=body).execute()
    assert failure.value.resp.status == 400 and b"timeRangeEmpty" in failure.value.content


# --- events.list as its reference page documents it ----------------------------------------------------------
# https://developers.google.com/calendar/api/v3/reference/events/list

LIST_PAGE = "https://developers.google.com/calendar/api/v3/reference/events/list"
OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _timed(summary: str, start: str, end: str, **extra: object) -> dict[str, object]:
    return {"summary": summary, "start": {"dateTime": start, "timeZone": "Europe/Berlin"},
            "end": {"dateTime": end, "timeZone": "Europe/Berlin"}, **extra}  # fmt: skip


def _summaries(answer: dict) -> list[str]:  # type: ignore[type-arg]
    return [e.get("summary", "") for e in answer["items"]]


@pytest.mark.parametrize(
    "name, value",
    [("iCalUID", "x@y"), ("orderBy", "updated"), ("privateExtendedProperty", "a=b"), ("q", "lunch"),
     ("sharedExtendedProperty", "a=b"), ("timeMin", "2026-11-23T00:00:00Z"), ("timeMax", "2026-11-23T00:00:00Z"),
     ("updatedMin", "2026-01-01T00:00:00Z")],
)  # fmt: skip
def test_a_sync_token_refuses_each_filter_the_reference_names(api, name, value) -> None:  # type: ignore[no-untyped-def]
    """syncToken: "There are several query parameters that cannot be specified together with nextSyncToken":
    iCalUID, orderBy, privateExtendedProperty, q, sharedExtendedProperty, timeMin, timeMax, updatedMin.
    https://developers.google.com/calendar/api/v3/reference/events/list
    https://developers.google.com/calendar/api/guides/sync"""
    events = api.service.events()
    token = events.list(calendarId="primary").execute()["nextSyncToken"]
    with pytest.raises(HttpError) as refused:
        events.list(calendarId="primary", syncToken=token, **{name: value}).execute()
    assert refused.value.resp.status == 400
    assert "items" in events.list(calendarId="primary", syncToken=token, showDeleted=True).execute()


def test_single_events_lists_the_instances_in_the_window_not_the_series(api) -> None:  # type: ignore[no-untyped-def]
    """singleEvents=true: "expand recurring events into instances and only return single one-off events and
    instances of recurring events, but not the underlying recurring events themselves"; a changed occurrence is
    listed as its exception, a cancelled one not at all; orderBy=startTime needs singleEvents.
    https://developers.google.com/calendar/api/v3/reference/events/list"""
    events = api.service.events()
    series = events.insert(calendarId="primary", body=_timed(
        "Daily", "2026-11-23T10:00:00+01:00", "2026-11-23T11:00:00+01:00", recurrence=["RRULE:FREQ=DAILY;COUNT=10"],
    )).execute()  # fmt: skip
    events.insert(calendarId="primary", body=_timed("One-off", "2026-11-25T08:00:00+01:00",
                                                    "2026-11-25T09:00:00+01:00")).execute()  # fmt: skip
    events.patch(calendarId="primary", eventId=f"{series['id']}_20261125T090000Z",
                 body={"summary": "Daily (moved)", "start": {"dateTime": "2026-11-25T15:00:00+01:00"},
                       "end": {"dateTime": "2026-11-25T16:00:00+01:00"}}).execute()  # fmt: skip
    events.delete(calendarId="primary", eventId=f"{series['id']}_20261126T090000Z").execute()
    window = {"timeMin": "2026-11-24T00:00:00+01:00", "timeMax": "2026-11-28T00:00:00+01:00"}
    answer = events.list(calendarId="primary", singleEvents=True, orderBy="startTime", **window).execute()
    assert [(e.get("summary"), e["start"]["dateTime"][:16], e.get("recurringEventId")) for e in answer["items"]] == [
        ("Daily", "2026-11-24T10:00", series["id"]),
        ("One-off", "2026-11-25T08:00", None),
        ("Daily (moved)", "2026-11-25T15:00", series["id"]),
        ("Daily", "2026-11-27T10:00", series["id"]),
    ]
    assert series["id"] not in [e["id"] for e in answer["items"]]
    assert [e["id"] for e in answer["items"] if e.get("summary") == "Daily"] == [
        f"{series['id']}_20261124T090000Z", f"{series['id']}_20261127T090000Z"]  # fmt: skip
    # Without singleEvents the series itself is listed once, with its exceptions.
    plain = events.list(calendarId="primary", **window).execute()["items"]
    assert [e["id"] for e in plain if "recurrence" in e] == [series["id"]]
    with pytest.raises(HttpError) as refused:
        events.list(calendarId="primary", orderBy="startTime").execute()
    assert refused.value.resp.status == 400


def test_time_min_and_time_max_are_exclusive_bounds_of_end_and_start(api) -> None:  # type: ignore[no-untyped-def]
    """timeMin: "Lower bound (exclusive) for an event's end time"; timeMax: "Upper bound (exclusive) for an event's
    start time"; both "with mandatory time zone offset", timeMin smaller than timeMax.
    https://developers.google.com/calendar/api/v3/reference/events/list"""
    events = api.service.events()
    for summary, start, end in [("Before", "09:00", "10:00"), ("Across", "09:30", "10:30"),
                                ("Inside", "10:00", "11:00"), ("After", "11:00", "12:00")]:  # fmt: skip
        events.insert(calendarId="primary", body=_timed(summary, f"2026-11-23T{start}:00+01:00",
                                                        f"2026-11-23T{end}:00+01:00")).execute()  # fmt: skip
    window = events.list(calendarId="primary", timeMin="2026-11-23T10:00:00+01:00",
                         timeMax="2026-11-23T11:00:00+01:00").execute()  # fmt: skip
    assert sorted(_summaries(window)) == ["Across", "Inside"]  # ends at timeMin, starts at timeMax: out
    assert "nextSyncToken" not in window  # a filtered listing is no starting point for a sync
    utc = events.list(calendarId="primary", timeMin="2026-11-23T09:00:00Z").execute()  # 10:00 in Berlin
    assert sorted(_summaries(utc)) == ["Across", "After", "Inside"]
    for bad in [{"timeMin": "2026-11-23T10:00:00"}, {"timeMax": "2026-11-23"},
                {"timeMin": "2026-11-23T11:00:00Z", "timeMax": "2026-11-23T10:00:00Z"}]:  # fmt: skip
        with pytest.raises(HttpError) as refused:
            events.list(calendarId="primary", **bad).execute()
        assert refused.value.resp.status == 400, bad


def test_an_all_day_events_end_date_is_exclusive(api) -> None:  # type: ignore[no-untyped-def]
    """end is "The (exclusive) end time of the event": a one-day event on the 23rd ends on the 24th, is over at
    midnight (in the calendar's zone), and an all-day event that ends on its start date is an empty range.
    https://developers.google.com/calendar/api/v3/reference/events
    https://developers.google.com/calendar/api/v3/reference/events/list"""
    events = api.service.events()
    events.insert(calendarId="primary", body={"summary": "Holiday", "start": {"date": "2026-11-23"},
                                              "end": {"date": "2026-11-24"}}).execute()  # fmt: skip
    for time_min, listed in [("2026-11-24T00:00:00+01:00", []), ("2026-11-23T23:59:00+01:00", ["Holiday"]),
                             ("2026-11-23T23:30:00Z", [])]:  # fmt: skip
        assert _summaries(events.list(calendarId="primary", timeMin=time_min).execute()) == listed, time_min
    assert _summaries(events.list(calendarId="primary", timeMax="2026-11-23T00:00:00+01:00").execute()) == []
    with pytest.raises(HttpError) as empty:
        events.insert(calendarId="primary", body={"summary": "Nothing", "start": {"date": "2026-11-23"},
                                                  "end": {"date": "2026-11-23"}}).execute()  # fmt: skip
    assert _reason(empty.value) == (400, "timeRangeEmpty")


def test_timed_events_come_back_with_an_rfc3339_offset(api) -> None:  # type: ignore[no-untyped-def]
    """EventDateTime.dateTime is "formatted according to RFC3339" (offset included), however it was written.
    https://developers.google.com/calendar/api/v3/reference/events#resource"""
    events = api.service.events()
    made = [
        events.insert(calendarId="primary", body=_timed("Naive", "2026-11-23T10:00:00", "2026-11-23T11:00:00")),
        events.insert(calendarId="primary", body={"summary": "Zulu", "start": {"dateTime": "2026-11-23T09:00:00Z"},
                                                  "end": {"dateTime": "2026-11-23T10:00:00Z"}}),
        events.insert(calendarId="primary", body=_timed("Weekly", "2026-11-23T10:00:00", "2026-11-23T11:00:00",
                                                        recurrence=["RRULE:FREQ=WEEKLY;COUNT=2"])),
    ]  # fmt: skip
    ids = [m.execute()["id"] for m in made]
    seen = [events.get(calendarId="primary", eventId=i).execute() for i in ids]
    seen += events.list(calendarId="primary").execute()["items"]
    seen += events.list(calendarId="primary", singleEvents=True).execute()["items"]
    seen += events.instances(calendarId="primary", eventId=ids[2]).execute()["items"]
    times = [e[k]["dateTime"] for e in seen for k in ("start", "end", "originalStartTime") if k in e]
    assert len(times) >= 18 and all(OFFSET.match(t) for t in times), times
    assert seen[0]["start"]["dateTime"] == "2026-11-23T10:00:00+01:00"


def test_reads_answer_times_in_the_calendars_zone_or_the_one_asked_for(api) -> None:  # type: ignore[no-untyped-def]
    """timeZone: "Time zone used in the response. Optional. The default is the time zone of the calendar." The
    event keeps its own timeZone field; only the offset of dateTime follows the response's zone.
    https://developers.google.com/calendar/api/v3/reference/events/get
    https://developers.google.com/calendar/api/v3/reference/events/list"""
    events = api.service.events()
    new_york = {"summary": "Call", "start": {"dateTime": "2026-11-23T09:00:00", "timeZone": "America/New_York"},
                "end": {"dateTime": "2026-11-23T10:00:00", "timeZone": "America/New_York"},
                "recurrence": ["RRULE:FREQ=DAILY;COUNT=2"]}  # fmt: skip
    made = events.insert(calendarId="primary", body=new_york).execute()
    got = events.get(calendarId="primary", eventId=made["id"]).execute()
    assert got["start"] == {"dateTime": "2026-11-23T15:00:00+01:00", "timeZone": "America/New_York"}
    utc = events.get(calendarId="primary", eventId=made["id"], timeZone="UTC").execute()
    assert utc["start"]["dateTime"] == "2026-11-23T14:00:00Z"
    (listed,) = events.list(calendarId="primary", timeZone="Asia/Tokyo").execute()["items"]
    assert listed["end"]["dateTime"] == "2026-11-24T00:00:00+09:00"
    instances = events.instances(calendarId="primary", eventId=made["id"]).execute()["items"]
    assert [i["originalStartTime"]["dateTime"] for i in instances] == [
        "2026-11-23T15:00:00+01:00", "2026-11-24T15:00:00+01:00"]  # fmt: skip
    with pytest.raises(HttpError) as refused:
        events.list(calendarId="primary", timeZone="Mars/Olympus").execute()
    assert refused.value.resp.status == 400


def test_extended_property_filters_are_all_matched_and_q_searches_text(api) -> None:  # type: ignore[no-untyped-def]
    """privateExtendedProperty and sharedExtendedProperty "might be repeated ... to return events that match all
    given constraints"; q searches summary, description, location, attendees and organizer.
    https://developers.google.com/calendar/api/v3/reference/events/list"""
    events = api.service.events()
    both = {"private": {"client": "acme", "project": "web"}, "shared": {"room": "1"}}
    events.insert(calendarId="primary", body=_event("Both", extendedProperties=both, location="Berlin")).execute()
    only = _event("Client only", extendedProperties={"private": {"client": "acme"}})
    events.insert(calendarId="primary", body=only).execute()
    private = events.list(calendarId="primary", privateExtendedProperty=["client=acme", "project=web"]).execute()
    assert _summaries(private) == ["Both"]
    assert _summaries(events.list(calendarId="primary", privateExtendedProperty="client=acme").execute()) == [
        "Both", "Client only"]  # fmt: skip
    assert _summaries(events.list(calendarId="primary", sharedExtendedProperty="room=1").execute()) == ["Both"]
    assert _summaries(events.list(calendarId="primary", privateExtendedProperty="room=1").execute()) == []
    assert _summaries(events.list(calendarId="primary", q="berlin both").execute()) == ["Both"]


def test_a_page_token_that_google_never_gave_and_an_empty_page_are_refused(api) -> None:  # type: ignore[no-untyped-def]
    """pageToken is a "Token specifying which result page to return" (one Google handed out); maxResults has
    minimum 1 and "can never be larger than 2500".
    https://developers.google.com/calendar/api/v3/reference/events/list"""
    events = api.service.events()
    for bad in [{"pageToken": "not-a-token!"}, {"maxResults": 0}]:
        with pytest.raises(HttpError) as refused:
            events.list(calendarId="primary", **bad).execute()
        assert refused.value.resp.status == 400, bad
    events.insert(calendarId="primary", body=_event("One")).execute()
    assert _summaries(events.list(calendarId="primary", maxResults=100000).execute()) == ["One"]


# --- events.import ---------------------------------------------------------------------------------------------


def test_import_makes_a_private_copy_with_its_own_organizer(api, google) -> None:  # type: ignore[no-untyped-def]
    """events.import "is used to add a private copy of an existing event to a calendar": start, end and iCalUID
    are required, the organizer is as given ("Read-only, except when importing an event") and so are the
    attendees; a non-default eventType is imported as default without its type's properties.
    https://developers.google.com/calendar/api/v3/reference/events/import
    https://developers.google.com/calendar/api/v3/reference/events#organizer"""
    events = api.service.events()
    with pytest.raises(HttpError) as refused:
        events.import_(calendarId="primary", body=_event("No uid")).execute()
    assert _reason(refused.value) == (400, "required")
    attendees = [{"email": "boss@elsewhere.example", "organizer": True, "responseStatus": "accepted"},
                 {"email": api.email, "self": True, "responseStatus": "needsAction"}]  # fmt: skip
    copy = events.import_(calendarId="primary", body=_event(
        "Board meeting", iCalUID="board@elsewhere.example", organizer={"email": "boss@elsewhere.example"},
        attendees=attendees, eventType="outOfOffice", outOfOfficeProperties={"autoDeclineMode": "declineNone"},
    )).execute()  # fmt: skip
    assert copy["organizer"] == {"email": "boss@elsewhere.example", "self": False}
    assert copy["attendees"] == attendees and copy["iCalUID"] == "board@elsewhere.example"
    assert copy["eventType"] == "default" and "outOfOfficeProperties" not in copy
    assert events.get(calendarId="primary", eventId=copy["id"]).execute()["organizer"]["email"] == (
        "boss@elsewhere.example")  # fmt: skip
    listed = events.list(calendarId="primary", iCalUID="board@elsewhere.example").execute()["items"]
    assert [e["id"] for e in listed] == [copy["id"]]
    assert [s for s in google.state.sent_invitations if s["ical_uid"] == "board@elsewhere.example"] == []


# --- Google Workspace: service account keys and the JWT bearer grant --------------------------------------------

KEY_FIELDS = {"type", "project_id", "private_key_id", "private_key", "client_email", "client_id", "auth_uri",
              "token_uri", "auth_provider_x509_cert_url", "client_x509_cert_url", "universe_domain"}  # fmt: skip


def _sandbox_key(google, **form: str) -> niquests.Response:  # type: ignore[no-untyped-def]
    with niquests.Session() as session:
        session.trust_env = False
        return session.post(f"{google.base_url}/sandbox/workspace/keys", data=form, timeout=30)


def _token(google, assertion: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def, type-arg]
    with niquests.Session() as session:
        session.trust_env = False
        answer = session.post(f"{google.base_url}/token", timeout=10, data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})  # fmt: skip
    return answer.status_code, answer.json()


def _assertion(key: dict, subject: str, scope: str = CALENDAR, lifetime: int = 3600) -> str:  # type: ignore[type-arg]
    now = int(time.time())
    claims = {"iss": key["client_email"], "sub": subject, "scope": scope, "aud": "https://oauth2.googleapis.com/token",
              "iat": now, "exp": now + lifetime}  # fmt: skip
    signer = crypt.RSASigner.from_service_account_info(key)
    return jwt.encode(signer, claims).decode()


def test_the_sandbox_makes_service_account_keys_in_googles_format(google) -> None:  # type: ignore[no-untyped-def]
    """A key file as Google Cloud downloads it (https://cloud.google.com/iam/docs/keys-create-delete#creating), made
    on the sandbox's Workspace page with the domain's users and domain-wide delegation of the calendar scope
    (https://developers.google.com/identity/protocols/oauth2/service-account#delegatingauthority); google-auth's
    own service account credentials then act as a user of the domain."""
    from google.auth.transport.requests import Request as AuthRequest

    answer = _sandbox_key(google, domain="corp.example", users="ann@corp.example", delegation="on")
    assert answer.status_code == 200 and answer.headers["Content-Disposition"].startswith("attachment; filename=")
    key = answer.json()
    assert set(key) == KEY_FIELDS and key["type"] == "service_account" and len(key["client_id"]) == 21
    assert key["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    info = {**key, "token_uri": f"{google.base_url}/token"}
    credentials = service_account.Credentials.from_service_account_info(info, scopes=[CALENDAR],
                                                                        subject="ann@corp.example")  # fmt: skip
    credentials.refresh(AuthRequest())
    assert google.state.user_for(credentials.token) == "ann@corp.example"
    for bad in [{"domain": "not a domain"}, {"domain": "corp.example", "users": "eve@elsewhere.example"}]:
        assert _sandbox_key(google, **bad).status_code == 400, bad


def test_the_jwt_bearer_grant_refuses_what_google_refuses(google) -> None:  # type: ignore[no-untyped-def]
    """The token endpoint's answers to a service account's JWT: an access token for a user of the domain with the
    delegated scope; unauthorized_client without delegation or for a scope not delegated; invalid_grant for someone
    not in the domain, an assertion living over an hour, or a bad signature; invalid_scope without a scope.
    https://developers.google.com/identity/protocols/oauth2/service-account#authorizingrequests
    https://developers.google.com/identity/protocols/oauth2/service-account#error-codes"""
    key = _sandbox_key(google, domain="corp.example", users="bo@corp.example", delegation="on").json()
    undelegated = _sandbox_key(google, domain="corp.example", users="").json()
    status, ok = _token(google, _assertion(key, "bo@corp.example"))
    assert status == 200 and ok["token_type"] == "Bearer" and google.state.user_for(ok["access_token"]) == (
        "bo@corp.example")  # fmt: skip
    forged = _assertion({**undelegated, "client_email": key["client_email"]}, "bo@corp.example")
    cases = [
        (_assertion(undelegated, "bo@corp.example"), 401, "unauthorized_client"),
        (_assertion(key, "bo@corp.example", scope=READONLY), 401, "unauthorized_client"),
        (_assertion(key, "nobody@corp.example"), 400, "invalid_grant"),
        (_assertion(key, "bo@corp.example", lifetime=7200), 400, "invalid_grant"),
        (forged, 400, "invalid_grant"),
        (_assertion(key, "bo@corp.example", scope=""), 400, "invalid_scope"),
    ]
    for assertion, expected_status, error in cases:
        status, answer = _token(google, assertion)
        assert (status, answer["error"]) == (expected_status, error), answer
