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


@pytest.fixture
def graph(microsoft, microsoft_mailbox):  # type: ignore[no-untyped-def]
    """A session on a fresh mailbox's default calendar: (session, events URL, calendar URL)."""
    upn, tokens = microsoft_mailbox
    session = requests.Session()
    session.trust_env = False
    session.verify = settings.MICROSOFT_CA_BUNDLE
    session.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    calendar = microsoft.state.mailboxes[upn].calendars[0]
    base = f"{microsoft.base_url}/v1.0/me/calendars/{calendar}"
    yield session, f"{base}/events", base
    session.close()


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
    becomes the organiser; times come back in the event's zone as Graph formats them, or in the zone
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
