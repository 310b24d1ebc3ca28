"""Live free/busy from connected provider calendars, through their own free/busy APIs on the emulators and a
real CalDAV server, merged with calsync's calendars; a provider that cannot answer is reported, not read as free."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.models import Integration
from integrations.services import integration_create
from scheduling import freebusy, selectors
from tests.factories import CalendarFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 24, tzinfo=UTC)
END = START + timedelta(days=2)


def _busy(viewer, person):  # type: ignore[no-untyped-def]
    access = selectors.access(viewer=viewer, people=[person])
    policy = selectors.policy_for(viewer.tenant)
    return freebusy.busy_for(people=[person], access=access, start=START, end=END, policy=policy)[person.pk]


def _connect(person, provider: str, remote: str, config=None, credentials=None) -> Integration:  # type: ignore[no-untyped-def]
    calendar = CalendarFactory(owner=person)
    return integration_create(user=person, provider=provider, calendar=calendar, remote_calendar_id=remote,
                              remote_calendar_name=remote, config=config or {}, credentials=credentials or {},
                              automatic=False)  # fmt: skip


# https://developers.google.com/calendar/api/v3/reference/freebusy/query
def test_google_busy_time_arrives_live_before_any_sync(member, tenant, google, google_account) -> None:  # type: ignore[no-untyped-def]
    from integrations.google.client import GoogleApi, user_credentials_from

    email, tokens = google_account
    _connect(member, "google", email, credentials=tokens)
    api = GoogleApi(user_credentials_from(tokens))
    body = {"summary": "Only in Google", "start": {"dateTime": "2026-11-24T09:00:00Z"},
            "end": {"dateTime": "2026-11-24T10:00:00Z"}}  # fmt: skip
    api.execute(api.service.events().insert(calendarId=email, body=body))
    [block] = _busy(member, member).blocks
    assert (block.start, block.end, block.kind, block.title, block.source) == (
        datetime(2026, 11, 24, 9, tzinfo=UTC),
        datetime(2026, 11, 24, 10, tzinfo=UTC),
        "busy",
        "",
        "Google Calendar",
    )


def test_a_google_calendar_that_cannot_be_read_is_reported_not_taken_as_free(member, google, google_account) -> None:  # type: ignore[no-untyped-def]
    _, tokens = google_account
    _connect(member, "google", "not-shared-with-me@example.com", credentials=tokens)
    busy = _busy(member, member)
    assert busy.blocks == [] and "notFound" in busy.problems[0]


def _put(server, url: str, uid: str, lines: str) -> None:  # type: ignore[no-untyped-def]
    import niquests

    body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\n{lines}END:VEVENT\r\nEND:VCALENDAR\r\n")  # fmt: skip
    with niquests.Session() as session:
        session.trust_env = False
        answer = session.put(f"{url}{uid}.ics", data=body.encode(), auth=(server.username, server.password),
                             headers={"Content-Type": "text/calendar"}, timeout=10)  # fmt: skip
    assert answer.status_code in (201, 204), answer.status_code


@pytest.fixture
def caldav_busy(caldav_server, member):  # type: ignore[no-untyped-def]
    """A CalDAV calendar on a real server with a daily series, a tentative event and a free one."""
    url = caldav_server.new_calendar("Busy")
    _put(caldav_server, url, "daily", "SUMMARY:Standup\r\nDTSTART:20261123T090000Z\r\nDTEND:20261123T093000Z\r\n"
                                      "RRULE:FREQ=DAILY;COUNT=5\r\nEXDATE:20261125T090000Z\r\n")  # fmt: skip
    _put(caldav_server, url, "maybe", "SUMMARY:Maybe\r\nSTATUS:TENTATIVE\r\nDTSTART:20261124T130000Z\r\n"
                                      "DTEND:20261124T140000Z\r\n")  # fmt: skip
    _put(caldav_server, url, "free", "SUMMARY:Free\r\nTRANSP:TRANSPARENT\r\nDTSTART:20261124T150000Z\r\n"
                                     "DTEND:20261124T160000Z\r\n")  # fmt: skip
    _connect(member, "caldav", url, config={"url": caldav_server.base_url, "username": caldav_server.username},
             credentials={"password": caldav_server.password})  # fmt: skip
    return member


EXPECTED = [
    (datetime(2026, 11, 24, 9, tzinfo=UTC), "busy"),
    (datetime(2026, 11, 24, 13, tzinfo=UTC), "tentative"),  # the 25th's standup was excluded
]


# RFC 4791 §7.10 free-busy-query, on Radicale and Xandikos as they answer it.
def test_caldav_busy_time_from_a_real_server(caldav_busy) -> None:  # type: ignore[no-untyped-def]
    busy = _busy(caldav_busy, caldav_busy)
    assert busy.problems == []
    assert [(b.start, b.kind) for b in busy.blocks] == EXPECTED


# RFC 4791 §7.8: a server that does not answer free-busy-query is asked for the events in the range instead.
def test_caldav_falls_back_to_a_time_range_query(caldav_busy, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("integrations.caldav.freebusy._ANSWERED", ())
    busy = _busy(caldav_busy, caldav_busy)
    assert [(b.start, b.kind) for b in busy.blocks] == EXPECTED


# https://learn.microsoft.com/graph/api/calendar-getschedule
def test_microsoft_busy_time_arrives_live_with_its_statuses(
    member_client, member, calendar, microsoft, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    from tests.integrations.test_microsoft import connect, outlook

    login = "member@contoso.example"
    connect(member_client, microsoft, login, calendar, run_on_commit)
    side = outlook(microsoft, login)
    for subject, hour, show_as in [("Busy one", 9, "busy"), ("Away", 12, "oof"), ("Lunch", 13, "free")]:
        start, end = f"2026-11-24T{hour:02d}:00:00", f"2026-11-24T{hour:02d}:30:00"
        side.client.call("POST", f"{side.calendar_path}/events", json={
            "subject": subject, "showAs": show_as, "start": {"dateTime": start, "timeZone": "UTC"},
            "end": {"dateTime": end, "timeZone": "UTC"}})  # fmt: skip
    busy = _busy(member, member)
    remote = [(b.start.hour, b.kind) for b in busy.blocks if b.source == "Microsoft 365 / Outlook"]
    assert busy.problems == [] and remote == [(9, "busy"), (12, "oof")]


# https://learn.microsoft.com/exchange/client-developer/web-service-reference/getuseravailability-operation
def test_exchange_busy_time_arrives_live_with_its_busy_types(member, exchange, exchange_mailbox) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from exchangelib import CalendarItem, EWSDateTime, EWSTimeZone
    from exchangelib.folders import Calendar, Root
    from exchangelib.items import SEND_TO_NONE

    from integrations.exchange.client import account

    address, server = exchange_mailbox
    folder = exchange.state.folder(address, distinguished="calendar")
    _connect(member, "exchange", folder.id, config={"url": server.ews_url, "username": server.username,
                                                    "domain": "CORP", "account": address},
             credentials={"password": server.password})  # fmt: skip
    ews = account(server, address)
    calendar = Calendar(root=Root(account=ews), id=folder.id)
    utc = EWSTimeZone("UTC")
    for subject, hour, status in (("Review", 9, "Busy"), ("Away", 12, "OOF"), ("Lunch", 13, "Free")):
        start = EWSDateTime(2026, 11, 24, hour, tzinfo=utc)
        CalendarItem(account=ews, folder=calendar, subject=subject, start=start, end=start + dt.timedelta(hours=1),
                     legacy_free_busy_status=status).save(send_meeting_invitations=SEND_TO_NONE)  # fmt: skip
    busy = _busy(member, member)
    assert busy.problems == []
    assert [(b.start.hour, b.kind, b.source) for b in busy.blocks] == [
        (9, "busy", "Exchange on-premises"),
        (12, "oof", "Exchange on-premises"),
    ]
