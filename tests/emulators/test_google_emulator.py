"""The Google emulator keeps Google's documented promises, checked through google-api-python-client itself."""

from __future__ import annotations

import json

import pytest
from googleapiclient.errors import HttpError

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
    with pytest.raises(HttpError) as deleted:
        events.get(calendarId="primary", eventId=gone["id"]).execute()
    assert _reason(deleted.value) == (410, "deleted")


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
