"""The Graph emulator keeps Microsoft Graph's documented promises, checked over HTTPS with a plain HTTP client,
so the Microsoft adapter's tests mean something. Each test cites the page it follows."""

from __future__ import annotations

import pytest
import requests
from django.conf import settings

WEEK = {"startDateTime": "2026-11-23T00:00:00Z", "endDateTime": "2026-11-30T00:00:00Z"}
PLANNING = {"subject": "Planning", "body": {"contentType": "text", "content": "Agenda:\nfigures & next steps"},
            "start": {"dateTime": "2026-11-23T09:00:00Z", "timeZone": "UTC"},
            "end": {"dateTime": "2026-11-23T10:00:00", "timeZone": "UTC"}}  # fmt: skip


def _follow(session, url: str, params=None) -> tuple[list[dict], str]:  # type: ignore[no-untyped-def]
    """A whole delta round: every page's items and the deltaLink that ends it."""
    items: list[dict] = []
    answer = session.get(url, params=params, headers={"Prefer": "odata.maxpagesize=2"}, timeout=10).json()
    while True:
        items += answer["value"]
        if "@odata.deltaLink" in answer:
            return items, answer["@odata.deltaLink"]
        assert len(answer["value"]) == 2 and "@odata.nextLink" in answer
        answer = session.get(_absolute(session, url, answer["@odata.nextLink"]), timeout=10).json()


def _absolute(session, url: str, link: str) -> str:  # type: ignore[no-untyped-def]
    return link if link.startswith("https://") else url.split("/v1.0/")[0] + link


def test_delta_pages_end_with_a_delta_link_that_returns_only_changes(graph) -> None:  # type: ignore[no-untyped-def]
    """calendarView/delta: a round of pages joined by @odata.nextLink ends with @odata.deltaLink; the next round
    returns what changed since, a deleted event as {"id", "@removed"}.
    https://learn.microsoft.com/en-us/graph/api/event-delta
    https://learn.microsoft.com/en-us/graph/delta-query-events"""
    session, events, calendar = graph
    made = [session.post(events, json={**PLANNING, "subject": f"Item {n}"}, timeout=10).json() for n in range(5)]
    first, delta = _follow(session, f"{calendar}/calendarView/delta", WEEK)
    assert sorted(e["subject"] for e in first) == [f"Item {n}" for n in range(5)]
    session.patch(f"{events}/{made[0]['id']}", json={"subject": "Changed"}, timeout=10)
    session.delete(f"{events}/{made[1]['id']}", timeout=10)
    changes, _ = _follow(session, _absolute(session, calendar, delta))
    assert sorted((e["id"], e.get("subject"), "@removed" in e) for e in changes) == sorted(
        [(made[0]["id"], "Changed", False), (made[1]["id"], None, True)]
    )


def test_a_forgotten_delta_token_is_410_sync_state_not_found(graph, microsoft) -> None:  # type: ignore[no-untyped-def]
    """When the service can no longer use a delta token it answers 410 Gone and the client starts a new round.
    https://learn.microsoft.com/en-us/graph/delta-query-overview#synchronization-reset"""
    session, _events, calendar = graph
    _, delta = _follow(session, f"{calendar}/calendarView/delta", WEEK)
    microsoft.state.expire_delta_tokens()
    answer = session.get(_absolute(session, calendar, delta), timeout=10)
    assert answer.status_code == 410 and answer.json()["error"]["code"] == "SyncStateNotFound"


def test_a_stale_etag_is_412_and_the_event_is_unchanged(graph) -> None:  # type: ignore[no-untyped-def]
    """Writes with If-Match and an old @odata.etag fail with 412 Precondition Failed.
    https://learn.microsoft.com/en-us/graph/errors"""
    session, events, _ = graph
    made = session.post(events, json=PLANNING, timeout=10).json()
    session.patch(f"{events}/{made['id']}", json={"subject": "Newer"}, timeout=10)
    stale = {"If-Match": made["@odata.etag"]}
    assert (
        session.patch(f"{events}/{made['id']}", json={"subject": "Lost"}, headers=stale, timeout=10).status_code == 412
    )
    assert session.delete(f"{events}/{made['id']}", headers=stale, timeout=10).status_code == 412
    assert session.get(f"{events}/{made['id']}", timeout=10).json()["subject"] == "Newer"


def test_what_is_written_comes_back_as_exchange_keeps_it(graph, microsoft_mailbox) -> None:  # type: ignore[no-untyped-def]
    """A text body comes back as HTML unless Prefer: outlook.body-content-type asks for text; the mailbox owner
    becomes the organiser; times come back as Graph formats them (7 decimals), in UTC or in the zone
    Prefer: outlook.timezone names.
    https://learn.microsoft.com/en-us/graph/api/event-get#request-headers
    https://learn.microsoft.com/en-us/graph/api/resources/event"""
    session, events, _ = graph
    made = session.post(events, json=PLANNING, timeout=10).json()
    assert made["body"]["contentType"] == "html" and "Agenda:<br>figures &amp; next steps" in made["body"]["content"]
    assert made["organizer"]["emailAddress"]["address"] == microsoft_mailbox[0]
    assert made["start"] == {"dateTime": "2026-11-23T09:00:00.0000000", "timeZone": "UTC"}
    assert made["createdDateTime"] and made["lastModifiedDateTime"] and made["iCalUId"]
    berlin = session.get(f"{events}/{made['id']}", headers={"Prefer": 'outlook.timezone="Europe/Berlin"'}, timeout=10)
    assert berlin.json()["start"] == {"dateTime": "2026-11-23T10:00:00.0000000", "timeZone": "Europe/Berlin"}


def test_the_same_transaction_id_creates_one_event(graph) -> None:  # type: ignore[no-untyped-def]
    """transactionId: a create repeated with the same one (after a lost answer) does not make a second event.
    https://learn.microsoft.com/en-us/graph/api/resources/event#properties"""
    session, events, _ = graph
    first = session.post(events, json={**PLANNING, "transactionId": "calsync-1"}, timeout=10).json()
    again = session.post(events, json={**PLANNING, "transactionId": "calsync-1"}, timeout=10).json()
    assert first["id"] == again["id"] and len(session.get(events, timeout=10).json()["value"]) == 1


def test_throttling_is_429_with_retry_after(graph, microsoft) -> None:  # type: ignore[no-untyped-def]
    """Over a limit Graph answers 429 Too Many Requests with a Retry-After header (seconds), then serves again.
    https://learn.microsoft.com/en-us/graph/throttling"""
    session, events, _ = graph
    microsoft.state.faults.update(throttle=1, retry_after=7)
    answer = session.get(events, timeout=10)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
    assert answer.json()["error"]["code"] == "TooManyRequests"
    assert session.get(events, timeout=10).status_code == 200


def test_a_batch_answers_each_request_on_its_own_up_to_twenty(graph, microsoft) -> None:  # type: ignore[no-untyped-def]
    """JSON batching: up to 20 requests in one POST to /$batch, each with its own status and body.
    https://learn.microsoft.com/en-us/graph/json-batching"""
    session, events, _ = graph
    path = events.split("/v1.0", 1)[1]
    good = {"id": "1", "method": "POST", "url": path, "body": PLANNING, "headers": {"Content-Type": "application/json"}}
    bad = {"id": "2", "method": "GET", "url": f"{path}/not-an-event"}
    answer = session.post(f"{microsoft.base_url}/v1.0/$batch", json={"requests": [good, bad]}, timeout=10).json()
    statuses = {r["id"]: r["status"] for r in answer["responses"]}
    assert statuses["1"] == 201 and statuses["2"] >= 400
    too_many = [{**bad, "id": str(n)} for n in range(21)]
    assert session.post(f"{microsoft.base_url}/v1.0/$batch", json={"requests": too_many}, timeout=10).status_code == 400


# --- what a round trip depends on: extended properties, PATCH, fields calsync does not model ---------------

CLIENT = "String {00020329-0000-0000-C000-000000000046} Name calsyncClient"
PROJECT = "String {00020329-0000-0000-C000-000000000046} Name calsyncProject"


def test_extended_properties_come_back_only_when_expanded_by_id(graph) -> None:  # type: ignore[no-untyped-def]
    """A single-value extended property is returned only through $expand=singleValueExtendedProperties($filter=id eq
    '...'), one or more ids joined with `or`; ids compare without regard to case.
    https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get
    https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-post-singlevalueextendedproperties"""
    session, events, _ = graph
    props = [{"id": CLIENT, "value": "Acme"}, {"id": PROJECT, "value": "Rollout"}]
    made = session.post(events, json={**PLANNING, "singleValueExtendedProperties": props}, timeout=10).json()
    assert "singleValueExtendedProperties" not in made
    url = f"{events}/{made['id']}"
    plain = session.get(url, timeout=10).json()
    assert "singleValueExtendedProperties" not in plain
    one = session.get(url, params={"$expand": f"singleValueExtendedProperties($filter=id eq '{CLIENT.lower()}')"},
                      timeout=10).json()  # fmt: skip
    assert one["singleValueExtendedProperties"] == [{"id": CLIENT, "value": "Acme"}]
    both = f"singleValueExtendedProperties($filter=id eq '{CLIENT}' or id eq '{PROJECT}')"
    assert session.get(url, params={"$expand": both}, timeout=10).json()["singleValueExtendedProperties"] == props


def test_patch_changes_only_the_given_properties(graph) -> None:  # type: ignore[no-untyped-def]
    """PATCH: "only the properties you include are updated"; extended properties given in a PATCH are created or
    updated one by one, the others stay; fields calsync does not model (categories, importance, online meeting)
    are kept as Outlook wrote them.
    https://learn.microsoft.com/en-us/graph/api/event-update
    https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-post-singlevalueextendedproperties"""
    session, events, _ = graph
    outlook_own = {"categories": ["Red category"], "importance": "high", "isOnlineMeeting": True,
                   "onlineMeetingProvider": "teamsForBusiness", "showAs": "workingElsewhere"}  # fmt: skip
    props = [{"id": CLIENT, "value": "Acme"}, {"id": PROJECT, "value": "Rollout"}]
    made = session.post(events, json={**PLANNING, **outlook_own, "singleValueExtendedProperties": props},
                        timeout=10).json()  # fmt: skip
    url = f"{events}/{made['id']}"
    changed = [{"id": PROJECT.upper(), "value": "Phase 2"}]
    session.patch(url, json={"subject": "Renamed", "singleValueExtendedProperties": changed}, timeout=10)
    both = f"singleValueExtendedProperties($filter=id eq '{CLIENT}' or id eq '{PROJECT}')"
    after = session.get(url, params={"$expand": both}, timeout=10).json()
    assert after["subject"] == "Renamed" and {k: after[k] for k in outlook_own} == outlook_own
    assert after["body"] == made["body"] and after["start"] == made["start"]
    assert sorted(p["value"] for p in after["singleValueExtendedProperties"]) == ["Acme", "Phase 2"]


@pytest.mark.parametrize("show_as", ["free", "tentative", "busy", "oof", "workingElsewhere", "unknown"])
def test_show_as_keeps_each_documented_value(graph, show_as) -> None:  # type: ignore[no-untyped-def]
    """showAs is one of free, tentative, busy, oof, workingElsewhere, unknown; a new event is busy unless told.
    https://learn.microsoft.com/en-us/graph/api/resources/event#properties"""
    session, events, _ = graph
    assert session.post(events, json=PLANNING, timeout=10).json()["showAs"] == "busy"
    made = session.post(events, json={**PLANNING, "showAs": show_as}, timeout=10).json()
    assert session.get(f"{events}/{made['id']}", timeout=10).json()["showAs"] == show_as
    assert session.post(events, json={**PLANNING, "showAs": "away"}, timeout=10).status_code == 400


# --- invitations: what Graph emails when a meeting is written ------------------------------------------------

ATTENDEES = [{"emailAddress": {"address": "bob@fabrikam.example", "name": "Bob"}, "type": "required"},
             {"emailAddress": {"address": "cy@fabrikam.example", "name": "Cy"}, "type": "optional"}]  # fmt: skip


def _sent(session, microsoft, event_id: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, to) of what the emulator recorded for one event, read over its control API as tests of other
    processes would."""
    sent = session.get(f"{microsoft.base_url}/_emulator/sent_invitations", timeout=10).json()
    return sorted((m["method"], m["to"]) for m in sent if m["event_id"] == event_id)


def test_creating_a_meeting_sends_a_request_to_each_attendee(graph, microsoft, microsoft_mailbox) -> None:  # type: ignore[no-untyped-def]
    """Creating an event with attendees in the organiser's calendar sends them meeting requests.
    https://learn.microsoft.com/en-us/graph/api/user-post-events"""
    session, events, _ = graph
    made = session.post(events, json={**PLANNING, "attendees": ATTENDEES}, timeout=10).json()
    assert _sent(session, microsoft, made["id"]) == [("REQUEST", "bob@fabrikam.example"),
                                                    ("REQUEST", "cy@fabrikam.example")]  # fmt: skip
    record = next(m for m in microsoft.state.sent_invitations if m["event_id"] == made["id"])
    assert record == {"method": "REQUEST", "to": record["to"], "organizer": microsoft_mailbox[0],
                      "subject": "Planning", "event_id": made["id"], "ical_uid": made["iCalUId"]}  # fmt: skip
    alone = session.post(events, json=PLANNING, timeout=10).json()
    assert _sent(session, microsoft, alone["id"]) == []


def test_updating_a_meeting_sends_updates_as_documented(graph, microsoft) -> None:  # type: ignore[no-untyped-def]
    """An update of a meeting's details goes to every attendee; an update of only `attendees` goes to the
    attendees that changed (a removed one gets a cancellation); the organiser's own fields (categories, extended
    properties) send nothing.
    https://learn.microsoft.com/en-us/graph/api/event-update"""
    session, events, _ = graph
    made = session.post(events, json={**PLANNING, "attendees": ATTENDEES[:1]}, timeout=10).json()
    url = f"{events}/{made['id']}"
    microsoft.state.sent_invitations.clear()
    own = {"categories": ["Blue category"], "singleValueExtendedProperties": [{"id": CLIENT, "value": "Acme"}]}
    session.patch(url, json=own, timeout=10)
    assert _sent(session, microsoft, made["id"]) == []
    session.patch(url, json={"attendees": ATTENDEES[1:]}, timeout=10)
    assert _sent(session, microsoft, made["id"]) == [("CANCEL", "bob@fabrikam.example"),
                                                    ("REQUEST", "cy@fabrikam.example")]  # fmt: skip
    microsoft.state.sent_invitations.clear()
    session.patch(url, json={"subject": "Planning, later"}, timeout=10)
    assert _sent(session, microsoft, made["id"]) == [("REQUEST", "cy@fabrikam.example")]


def test_deleting_or_cancelling_a_meeting_sends_cancellations(graph, microsoft) -> None:  # type: ignore[no-untyped-def]
    """Deleting a meeting in the organiser's calendar sends a cancellation to its attendees; so does the cancel
    action, which only the organiser may call.
    https://learn.microsoft.com/en-us/graph/api/event-delete
    https://learn.microsoft.com/en-us/graph/api/event-cancel"""
    session, events, _ = graph
    deleted = session.post(events, json={**PLANNING, "attendees": ATTENDEES}, timeout=10).json()
    cancelled = session.post(events, json={**PLANNING, "attendees": ATTENDEES[:1]}, timeout=10).json()
    assert session.delete(f"{events}/{deleted['id']}", timeout=10).status_code == 204
    answer = session.post(f"{events}/{cancelled['id']}/cancel", json={"Comment": "Sorry"}, timeout=10)
    assert answer.status_code == 202
    assert session.get(f"{events}/{cancelled['id']}", timeout=10).status_code == 404
    assert _sent(session, microsoft, deleted["id"]) == [
        ("CANCEL", "bob@fabrikam.example"), ("CANCEL", "cy@fabrikam.example"),
        ("REQUEST", "bob@fabrikam.example"), ("REQUEST", "cy@fabrikam.example")]  # fmt: skip
    assert ("CANCEL", "bob@fabrikam.example") in _sent(session, microsoft, cancelled["id"])
    session.delete(f"{microsoft.base_url}/_emulator/sent_invitations", timeout=10)
    assert session.get(f"{microsoft.base_url}/_emulator/sent_invitations", timeout=10).json() == []


def test_an_attendees_copy_sends_nothing_and_cannot_be_cancelled(graph, microsoft, microsoft_mailbox) -> None:  # type: ignore[no-untyped-def]
    """Only the organiser's copy of a meeting sends mail: an attendee who changes or deletes their copy emails no one,
    and calling cancel on it is 400 "You need to be an organizer to cancel a meeting".
    https://learn.microsoft.com/en-us/graph/api/event-cancel
    https://learn.microsoft.com/en-us/graph/api/event-delete"""
    session, events, _ = graph
    login = microsoft_mailbox[0]
    invited = [*ATTENDEES, {"emailAddress": {"address": login}, "type": "required"}]
    calendar_id = microsoft.state.mailboxes[login].calendars[0]
    copy = microsoft.state.deliver(login, calendar_id, {**PLANNING, "attendees": invited}, "olga@fabrikam.example")
    assert copy["isOrganizer"] is False and copy["organizer"]["emailAddress"]["address"] == "olga@fabrikam.example"
    session.patch(f"{events}/{copy['id']}", json={"subject": "Mine now?", "attendees": ATTENDEES[:1]}, timeout=10)
    answer = session.post(f"{events}/{copy['id']}/cancel", json={}, timeout=10)
    assert answer.status_code == 400 and "need to be an organizer" in answer.json()["error"]["message"]
    assert session.delete(f"{events}/{copy['id']}", timeout=10).status_code == 204
    assert _sent(session, microsoft, copy["id"]) == []


# https://learn.microsoft.com/graph/api/calendar-getschedule
# https://learn.microsoft.com/graph/api/resources/scheduleinformation (availabilityView digits)
def test_get_schedule_answers_items_a_view_and_errors_per_address(graph, microsoft, microsoft_mailbox) -> None:  # type: ignore[no-untyped-def]
    session, events, _ = graph
    upn, _ = microsoft_mailbox
    when = lambda h, m=0: {"dateTime": f"2026-11-24T{h:02d}:{m:02d}:00", "timeZone": "UTC"}  # noqa: E731
    made = [("Review", 9, {}), ("Maybe", 10, {"showAs": "tentative"}),
            ("Doctor", 11, {"sensitivity": "private", "showAs": "oof"}), ("Lunch", 12, {"showAs": "free"}),
            ("Site", 13, {"showAs": "workingElsewhere"})]  # fmt: skip
    for subject, h, extra in made:
        session.post(events, json={"subject": subject, "start": when(h), "end": when(h, 30), **extra}, timeout=10)
    body = {"schedules": [upn, "nobody@contoso.example"], "startTime": when(9), "endTime": when(14),
            "availabilityViewInterval": 60}  # fmt: skip
    answer = session.post(f"{microsoft.base_url}/v1.0/me/calendar/getSchedule", json=body, timeout=10).json()
    mine, unknown = answer["value"]
    assert mine["scheduleId"] == upn and mine["availabilityView"] == "21300"  # working elsewhere reads as 0
    assert [(i["status"], i.get("subject"), i["isPrivate"]) for i in mine["scheduleItems"]] == [
        ("busy", "Review", False), ("tentative", "Maybe", False), ("oof", None, True), ("free", "Lunch", False),
        ("workingElsewhere", "Site", False)]  # fmt: skip
    assert mine["scheduleItems"][0]["start"] == {"dateTime": "2026-11-24T09:00:00.0000000", "timeZone": "UTC"}
    assert unknown["scheduleId"] == "nobody@contoso.example" and unknown["error"]["responseCode"]
    bad = session.post(f"{microsoft.base_url}/v1.0/me/calendar/getSchedule",
                       json={**body, "availabilityViewInterval": 2}, timeout=10)  # fmt: skip
    assert bad.status_code == 400


# --- the paths Graph documents for a mailbox's calendars -------------------------------------------------------


def _me(microsoft) -> str:  # type: ignore[no-untyped-def]
    return f"{microsoft.base_url}/v1.0/me"


def test_me_calendar_is_the_default_calendar(graph, microsoft, microsoft_mailbox) -> None:  # type: ignore[no-untyped-def]
    """GET /me/calendar and /users/{id | userPrincipalName}/calendar return the user's default calendar;
    /me/calendars/{id} any of them, another mailbox's calendar is not found.
    https://learn.microsoft.com/graph/api/calendar-get"""
    session, _events, _ = graph
    upn = microsoft_mailbox[0]
    default, team, _holidays = microsoft.state.mailboxes[upn].calendars
    mine = session.get(f"{_me(microsoft)}/calendar", timeout=10)
    assert mine.status_code == 200 and mine.json()["id"] == default and mine.json()["isDefaultCalendar"] is True
    assert mine.json()["owner"]["address"] == upn
    by_user = session.get(f"{microsoft.base_url}/v1.0/users/{upn}/calendar", timeout=10).json()
    assert by_user["id"] == default
    other = session.get(f"{_me(microsoft)}/calendars/{team}", timeout=10).json()
    assert other["id"] == team and other["name"] == "Team" and other["isDefaultCalendar"] is False
    stranger = microsoft.state.mailbox("someone.else@contoso.example").calendars[0]
    missing = session.get(f"{_me(microsoft)}/calendars/{stranger}", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"


def _all_pages(session, url: str, params=None) -> tuple[list[dict], list[str]]:  # type: ignore[no-untyped-def]
    answer = session.get(url, params=params, timeout=10).json()
    items, links = list(answer["value"]), []
    while "@odata.nextLink" in answer:
        links.append(answer["@odata.nextLink"])
        answer = session.get(answer["@odata.nextLink"], timeout=10).json()
        items += answer["value"]
    return items, links


def test_calendar_view_on_each_documented_path_pages_by_ten(graph, microsoft, microsoft_mailbox) -> None:  # type: ignore[no-untyped-def]
    """calendarView needs startDateTime and endDateTime and lists the window's events at /me/calendarView (the
    default calendar), /me/calendar/calendarView and /me/calendars/{id}/calendarView; Outlook collections come in
    pages of 10 joined by an absolute @odata.nextLink, and $top asks for another size.
    https://learn.microsoft.com/graph/api/calendar-list-calendarview
    https://learn.microsoft.com/graph/api/user-list-calendarview
    https://learn.microsoft.com/graph/paging"""
    session, events, calendar = graph
    for n in range(12):
        session.post(events, json={**PLANNING, "subject": f"Item {n:02}"}, timeout=10)
    team = microsoft.state.mailboxes[microsoft_mailbox[0]].calendars[1]
    session.post(f"{_me(microsoft)}/calendars/{team}/events", json={**PLANNING, "subject": "Team only"}, timeout=10)
    for path in (
        f"{_me(microsoft)}/calendarView",
        f"{_me(microsoft)}/calendar/calendarView",
        f"{calendar}/calendarView",
    ):
        items, links = _all_pages(session, path, WEEK)
        assert sorted(e["subject"] for e in items) == [f"Item {n:02}" for n in range(12)], path
        assert len(links) == 1 and links[0].startswith(f"{microsoft.base_url}/v1.0/me/"), links
    first = session.get(f"{calendar}/calendarView", params=WEEK, timeout=10).json()
    assert len(first["value"]) == 10
    assert len(session.get(f"{calendar}/calendarView", params={**WEEK, "$top": "50"}, timeout=10).json()["value"]) == 12
    team_items, _ = _all_pages(session, f"{_me(microsoft)}/calendars/{team}/calendarView", WEEK)
    assert [e["subject"] for e in team_items] == ["Team only"]
    no_window = session.get(f"{_me(microsoft)}/calendar/calendarView", timeout=10)
    assert no_window.status_code == 400 and no_window.json()["error"]["code"] == "ErrorInvalidParameter"


def test_a_series_instances_page_by_ten(graph) -> None:  # type: ignore[no-untyped-def]
    """GET /events/{id}/instances lists occurrences in pages like every Outlook collection.
    https://learn.microsoft.com/graph/api/event-list-instances
    https://learn.microsoft.com/graph/paging"""
    session, events, _ = graph
    weekly = {"pattern": {"type": "daily", "interval": 1},
              "range": {"type": "numbered", "numberOfOccurrences": 25, "startDate": "2026-11-23"}}  # fmt: skip
    series = session.post(events, json={**PLANNING, "recurrence": weekly}, timeout=10).json()
    window = {"startDateTime": "2026-11-01T00:00:00Z", "endDateTime": "2027-01-31T00:00:00Z"}
    items, links = _all_pages(session, f"{events}/{series['id']}/instances", window)
    assert len(items) == 25 and len(links) == 2 and len({i["id"] for i in items}) == 25


def test_delta_links_are_absolute_and_continue_the_path_asked(graph, microsoft, microsoft_mailbox) -> None:  # type: ignore[no-untyped-def]
    """calendarView/delta works on /me/calendarView, /me/calendar/calendarView, /me/calendars/{id}/calendarView
    and under /users/{id}; @odata.nextLink and @odata.deltaLink are complete URLs the client calls as they are.
    https://learn.microsoft.com/graph/api/event-delta
    https://learn.microsoft.com/graph/delta-query-events"""
    session, events, calendar = graph
    upn = microsoft_mailbox[0]
    for n in range(3):
        session.post(events, json={**PLANNING, "subject": f"Item {n}"}, timeout=10)
    users = f"{microsoft.base_url}/v1.0/users/{upn}"
    paths = [f"{_me(microsoft)}/calendarView/delta", f"{_me(microsoft)}/calendar/calendarView/delta",
             f"{calendar}/calendarView/delta", f"{users}/calendar/calendarView/delta"]  # fmt: skip
    for path in paths:
        first = session.get(path, params=WEEK, headers={"Prefer": "odata.maxpagesize=2"}, timeout=10).json()
        assert first["@odata.nextLink"].startswith(path + "?"), (path, first["@odata.nextLink"])
        rest = session.get(first["@odata.nextLink"], timeout=10).json()
        assert len(first["value"]) + len(rest["value"]) == 3
        assert rest["@odata.deltaLink"].startswith(path + "?")
        assert session.get(rest["@odata.deltaLink"], timeout=10).json()["value"] == []


# --- time zones -------------------------------------------------------------------------------------------


BERLIN_TEN = {"subject": "Berlin", "start": {"dateTime": "2026-11-24T10:00:00", "timeZone": "W. Europe Standard Time"},
              "end": {"dateTime": "2026-11-24T11:00:00", "timeZone": "W. Europe Standard Time"}}  # fmt: skip


def test_times_come_back_in_utc_unless_prefer_names_a_zone(graph) -> None:  # type: ignore[no-untyped-def]
    """Without `Prefer: outlook.timezone` start and end are returned in UTC, with it in that zone (Windows or
    IANA name); the zone the event was written in stays as originalStartTimeZone / originalEndTimeZone. The
    same holds for calendarView and its delta.
    https://learn.microsoft.com/graph/api/event-get#request-headers
    https://learn.microsoft.com/graph/api/resources/datetimetimezone
    https://learn.microsoft.com/graph/api/resources/event#properties"""
    session, events, calendar = graph
    made = session.post(events, json=BERLIN_TEN, timeout=10).json()
    plain = session.get(f"{events}/{made['id']}", timeout=10).json()
    assert plain["start"] == {"dateTime": "2026-11-24T09:00:00.0000000", "timeZone": "UTC"}
    assert plain["originalStartTimeZone"] == plain["originalEndTimeZone"] == "W. Europe Standard Time"
    pacific = {"Prefer": 'outlook.timezone="Pacific Standard Time"'}
    there = session.get(f"{events}/{made['id']}", headers=pacific, timeout=10).json()
    assert there["start"] == {"dateTime": "2026-11-24T01:00:00.0000000", "timeZone": "Pacific Standard Time"}
    view = session.get(f"{calendar}/calendarView", params=WEEK, timeout=10).json()["value"]
    assert view[0]["start"]["timeZone"] == "UTC" and view[0]["start"]["dateTime"].startswith("2026-11-24T09:00")
    delta = session.get(f"{calendar}/calendarView/delta", params=WEEK, headers=pacific, timeout=10).json()["value"]
    assert delta[0]["end"] == {"dateTime": "2026-11-24T02:00:00.0000000", "timeZone": "Pacific Standard Time"}


def test_an_all_day_event_stays_at_midnight_in_any_zone(graph) -> None:  # type: ignore[no-untyped-def]
    """An all-day event's start and end are midnight dates; asked in another zone they stay those dates.
    https://learn.microsoft.com/graph/api/resources/event#properties (isAllDay)"""
    session, events, _ = graph
    day = {"subject": "Holiday", "isAllDay": True,
           "start": {"dateTime": "2026-11-25T00:00:00", "timeZone": "Tokyo Standard Time"},
           "end": {"dateTime": "2026-11-26T00:00:00", "timeZone": "Tokyo Standard Time"}}  # fmt: skip
    made = session.post(events, json=day, timeout=10).json()
    for prefer in ({}, {"Prefer": 'outlook.timezone="Pacific Standard Time"'}):
        got = session.get(f"{events}/{made['id']}", headers=prefer, timeout=10).json()
        assert got["start"]["dateTime"] == "2026-11-25T00:00:00.0000000"
        assert got["end"]["dateTime"] == "2026-11-26T00:00:00.0000000"


# --- JSON batching ----------------------------------------------------------------------------------------


def _batch(session, microsoft, requests_: list[dict]):  # type: ignore[no-untyped-def]
    return session.post(f"{microsoft.base_url}/v1.0/$batch", json={"requests": requests_}, timeout=10)


def test_a_batch_with_the_same_id_twice_fails_whole(graph, microsoft) -> None:  # type: ignore[no-untyped-def]
    """Each request's id must be unique in the batch (compared without case), otherwise the whole batch fails
    with 400 and none of it runs. https://learn.microsoft.com/graph/json-batching#creating-a-batch-request"""
    session, events, _ = graph
    path = events.split("/v1.0", 1)[1]
    create = {"method": "POST", "url": path, "body": PLANNING, "headers": {"Content-Type": "application/json"}}
    answer = _batch(session, microsoft, [{**create, "id": "a"}, {**create, "id": "A"}])
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "BadRequest"
    assert session.get(events, timeout=10).json()["value"] == []


def test_a_batch_body_needs_its_content_type(graph, microsoft) -> None:  # type: ignore[no-untyped-def]
    """headers are required when a request has a body: it must say its Content-Type, or the batch is refused.
    https://learn.microsoft.com/graph/json-batching#creating-a-batch-request"""
    session, events, _ = graph
    path = events.split("/v1.0", 1)[1]
    answer = _batch(session, microsoft, [{"id": "1", "method": "POST", "url": path, "body": PLANNING}])
    assert answer.status_code == 400 and "Content-Type" in answer.json()["error"]["message"]
    assert session.get(events, timeout=10).json()["value"] == []


def test_depends_on_orders_requests_and_a_failed_dependency_is_424(graph, microsoft) -> None:  # type: ignore[no-untyped-def]
    """dependsOn runs a request after the ones it names; when one of those fails, the dependent request is answered
    424 Failed Dependency without running; naming an id the batch does not have fails the batch with 400.
    https://learn.microsoft.com/graph/json-batching#sequencing-requests-with-the-dependson-property"""
    session, events, _ = graph
    path = events.split("/v1.0", 1)[1]
    json_ = {"Content-Type": "application/json"}
    answer = _batch(session, microsoft, [
        {"id": "3", "method": "POST", "url": path, "body": {**PLANNING, "subject": "After"}, "headers": json_,
         "dependsOn": ["2"]},
        {"id": "2", "method": "GET", "url": f"{path}/not-an-event"},
        {"id": "1", "method": "POST", "url": path, "body": {**PLANNING, "subject": "First"}, "headers": json_},
    ]).json()["responses"]  # fmt: skip
    statuses = {r["id"]: r["status"] for r in answer}
    assert statuses == {"1": 201, "2": 404, "3": 424}
    assert [r["id"] for r in answer].index("2") < [r["id"] for r in answer].index("3")
    assert [e["subject"] for e in session.get(events, timeout=10).json()["value"]] == ["First"]
    unknown = _batch(session, microsoft, [{"id": "1", "method": "GET", "url": path, "dependsOn": ["9"]}])
    assert unknown.status_code == 400


def test_a_throttled_request_in_a_batch_has_its_own_429_and_retry_after(graph, microsoft) -> None:  # type: ignore[no-untyped-def]
    """Requests in a batch are throttled one by one: each throttled one answers 429 with its own Retry-After
    header inside the batch response, the batch itself 200.
    https://learn.microsoft.com/graph/throttling#throttling-and-batching"""
    session, events, _ = graph
    path = events.split("/v1.0", 1)[1]
    microsoft.state.faults.update(throttle=1, retry_after=5)
    answer = _batch(session, microsoft, [{"id": "1", "method": "GET", "url": path},
                                         {"id": "2", "method": "GET", "url": path}])  # fmt: skip
    assert answer.status_code == 200
    by_id = {r["id"]: r for r in answer.json()["responses"]}
    assert by_id["1"]["status"] == 429 and by_id["1"]["headers"]["Retry-After"] == "5"
    assert by_id["1"]["body"]["error"]["code"] == "TooManyRequests" and by_id["2"]["status"] == 200


def test_a_batch_needs_a_token(microsoft) -> None:  # type: ignore[no-untyped-def]
    """The batch is one authenticated request; without a token it is 401 with Graph's error body.
    https://learn.microsoft.com/graph/errors#error-resource-type"""
    answer = requests.post(f"{microsoft.base_url}/v1.0/$batch", json={"requests": []},
                           verify=settings.MICROSOFT_CA_BUNDLE, timeout=10)  # fmt: skip
    assert answer.status_code == 401 and set(answer.json()["error"]) >= {"code", "message"}


# --- errors and app-only access -----------------------------------------------------------------------------


def test_errors_are_json_with_code_and_message(graph, microsoft) -> None:  # type: ignore[no-untyped-def]
    """Every error is {"error": {"code", "message", "innerError"}} with the HTTP status; a missing item is 404
    ErrorItemNotFound, an expired or absent token 401 InvalidAuthenticationToken.
    https://learn.microsoft.com/graph/errors"""
    session, events, _ = graph
    missing = session.get(f"{events}/AAMkAnotthere", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"
    assert missing.json()["error"]["message"] and "innerError" in missing.json()["error"]
    anonymous = requests.get(events, verify=settings.MICROSOFT_CA_BUNDLE, timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "InvalidAuthenticationToken"


def _app_session(microsoft, tenant: str, client_id: str, scope: str = "https://graph.microsoft.com/.default"):  # type: ignore[no-untyped-def]
    session = requests.Session()
    session.trust_env, session.verify = False, settings.MICROSOFT_CA_BUNDLE
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "app-secret", "scope": scope}
    answer = session.post(f"{microsoft.base_url}/{tenant}/oauth2/v2.0/token", data=form, timeout=10)
    if answer.status_code == 200:
        session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return session, answer


def test_an_app_reaches_mailboxes_with_the_application_permission_consented(microsoft) -> None:  # type: ignore[no-untyped-def]
    """Client credentials: the token request names the tenant by id or domain and asks for
    https://graph.microsoft.com/.default; the app then reads /users/{id}/calendars with Calendars.Read or
    Calendars.ReadWrite (an application permission an admin consented to), writes only with ReadWrite, and
    gets 403 without either.
    https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
    https://learn.microsoft.com/graph/api/user-list-calendars#permissions
    https://learn.microsoft.com/graph/api/user-post-events#permissions"""
    upn = "admin@fabrikam.example"
    tenant = microsoft.state.mailbox(upn).tenant
    for client_id, permissions in (("reader-app", {"Calendars.Read"}), ("mail-app", {"Mail.Read"})):
        microsoft.state.apps[client_id] = "app-secret"
        microsoft.state.app_permissions[client_id] = permissions
        microsoft.state.admin_consent.add((tenant, client_id))
    _, wrong_scope = _app_session(microsoft, tenant, "reader-app", scope="Calendars.Read")
    assert wrong_scope.status_code == 400 and wrong_scope.json()["error"] == "invalid_scope"
    reader, token = _app_session(microsoft, "fabrikam.example", "reader-app")  # by domain
    assert token.status_code == 200
    users = f"{microsoft.base_url}/v1.0/users/{upn}"
    assert reader.get(f"{users}/calendars", timeout=10).status_code == 200
    denied = reader.post(f"{users}/calendar/events", json=PLANNING, timeout=10)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "ErrorAccessDenied"
    mail_only, _ = _app_session(microsoft, tenant, "mail-app")
    assert mail_only.get(f"{users}/calendars", timeout=10).status_code == 403
    assert reader.get(f"{microsoft.base_url}/v1.0/me/calendars", timeout=10).status_code == 400


def test_admin_consent_is_for_the_tenant_of_the_admin_who_signs_in(microsoft) -> None:  # type: ignore[no-untyped-def]
    """The admin consent endpoint: an administrator signs in, grants the app for their tenant and is sent back
    with admin_consent=True and the tenant's id.
    https://learn.microsoft.com/entra/identity-platform/v2-admin-consent"""
    microsoft.state.apps["consent-app"] = "app-secret"
    query = {"client_id": "consent-app", "redirect_uri": "https://calsync.test/back", "state": "s1",
             "decision": "accept", "login": "boss@northwind.example"}  # fmt: skip
    answer = requests.get(f"{microsoft.base_url}/common/adminconsent", params=query, allow_redirects=False,
                          verify=settings.MICROSOFT_CA_BUNDLE, timeout=10)  # fmt: skip
    tenant = microsoft.state.mailboxes["boss@northwind.example"].tenant
    assert answer.status_code == 302 and f"tenant={tenant}" in answer.headers["Location"]
    assert (
        "admin_consent=True" in answer.headers["Location"] and (tenant, "consent-app") in microsoft.state.admin_consent
    )
    _, token = _app_session(microsoft, tenant, "consent-app")
    assert token.status_code == 200


# --- the sandbox page -------------------------------------------------------------------------------------


def test_the_sandbox_page_adds_edits_and_deletes_as_outlook_would(graph, microsoft, microsoft_mailbox) -> None:  # type: ignore[no-untyped-def]
    """Changes made on the sandbox page are Outlook-side changes: the delta reports each of them."""
    session, _events, calendar = graph
    upn = microsoft_mailbox[0]
    calendar_id = microsoft.state.mailboxes[upn].calendars[0]
    _, delta = _follow(session, f"{calendar}/calendarView/delta", WEEK)
    page = requests.Session()
    page.trust_env, page.verify = False, settings.MICROSOFT_CA_BUNDLE
    form = {"mailbox": upn, "calendar": calendar_id, "subject": "From the sandbox", "date": "2026-11-26",
            "time": "14:00", "minutes": "30", "zone": "W. Europe Standard Time"}  # fmt: skip
    added = page.post(f"{microsoft.base_url}/sandbox/events", data=form, allow_redirects=False, timeout=10)
    assert added.status_code == 302
    listing = page.get(f"{microsoft.base_url}/sandbox", params={"mailbox": upn}, timeout=10).text
    assert "From the sandbox" in listing and "2026-11-26 14:00 W. Europe Standard Time" in listing
    changes, delta = _follow(session, _absolute(session, calendar, delta))
    assert [(c["subject"], c["start"]["dateTime"]) for c in changes] == [
        ("From the sandbox", "2026-11-26T13:00:00.0000000")
    ]
    event_id = changes[0]["id"]
    page.post(f"{microsoft.base_url}/sandbox/events/edit", timeout=10,
              data={**form, "event": event_id, "subject": "Renamed", "time": "15:00"})  # fmt: skip
    changes, delta = _follow(session, _absolute(session, calendar, delta))
    assert [(c["subject"], c["start"]["dateTime"]) for c in changes] == [("Renamed", "2026-11-26T14:00:00.0000000")]
    page.post(f"{microsoft.base_url}/sandbox/events/delete", data={**form, "event": event_id}, timeout=10)
    changes, _ = _follow(session, _absolute(session, calendar, delta))
    assert [(c["id"], "@removed" in c) for c in changes] == [(event_id, True)]
    bad = page.post(f"{microsoft.base_url}/sandbox/events", data={**form, "date": "not a date"}, timeout=10)
    assert bad.status_code == 400 and "Invalid input" in bad.text


def _more_calendars(microsoft, upn: str, n: int) -> None:  # type: ignore[no-untyped-def]
    from emulators.microsoft.state import Calendar

    box = microsoft.state.mailboxes[upn]
    for i in range(n):
        calendar = Calendar(f"AAMkAextra{i}-{box.id}", f"Project {i:02}", upn)
        microsoft.state.calendars[calendar.id] = calendar
        box.calendars.append(calendar.id)


def test_a_mailbox_with_many_calendars_lists_them_in_pages(graph, microsoft, microsoft_mailbox) -> None:  # type: ignore[no-untyped-def]
    """GET /me/calendars is an Outlook collection: 10 a page unless $top asks for more, then @odata.nextLink.
    https://learn.microsoft.com/graph/api/user-list-calendars https://learn.microsoft.com/graph/paging"""
    session, _events, _ = graph
    _more_calendars(microsoft, microsoft_mailbox[0], 9)
    first = session.get(f"{_me(microsoft)}/calendars", timeout=10).json()
    assert len(first["value"]) == 10 and first["@odata.nextLink"].startswith(f"{_me(microsoft)}/calendars?")
    items, _ = _all_pages(session, f"{_me(microsoft)}/calendars")
    assert len(items) == 12 and sum(c["isDefaultCalendar"] for c in items) == 1
