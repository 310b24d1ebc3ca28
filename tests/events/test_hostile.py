"""The hostile corpus (tests/events/hostile.py) through every way an item enters calsync: CalDAV PUT, ICS import,
the web form, and syncs from a real CalDAV server (Radicale) and from the Google emulator.

For each: a clear 4xx, import problem or "Not synced" reason; nothing of the item stored; and the calendar's
week view and a calendar-query still answer afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import niquests
import pytest
from defusedxml.ElementTree import fromstring
from django.urls import reverse

from dav.services import app_password_create
from events.models import Event, ImportJob
from tests.dav.conftest import Dav
from tests.events.hostile import BY_NAME, CORPUS, Hostile, hourly
from tests.events.hostile import calendar as ics

pytestmark = pytest.mark.django_db

C = "{urn:ietf:params:xml:ns:caldav}"
QUERY = (
    '<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    '<d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
    '<c:comp-filter name="VEVENT"><c:time-range start="20261101T000000Z" end="20261201T000000Z"/>'
    "</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"
)


@pytest.fixture
def dav(client, member) -> Dav:  # type: ignore[no-untyped-def]
    secret = app_password_create(user=member, label="Attacker's laptop")
    return Dav(client, secret.username, secret.secret)


@pytest.fixture(params=CORPUS, ids=lambda h: h.name)
def hostile(request) -> Hostile:  # type: ignore[no-untyped-def]
    return request.param


def cal_path(calendar) -> str:  # type: ignore[no-untyped-def]
    return f"/caldav/calendars/{calendar.owner.email}/{calendar.dav_name}/"


def assert_still_answers(member_client, dav: Dav, calendar) -> None:  # type: ignore[no-untyped-def]
    assert member_client.get(reverse("events:calendar") + "?date=2026-11-23").status_code == 200
    assert member_client.get(reverse("events:grid_events") + "?start=2026-11-23&end=2026-11-30").status_code == 200
    assert member_client.get(reverse("events:calendar_list") + "?from=2026-11-01&to=2026-12-31").status_code == 200
    report = dav.report(cal_path(calendar), QUERY)
    assert report.status_code == 207, dav.body(report)


def assert_only_good_synced(integration, corpus: dict, member_client, dav: Dav, calendar) -> None:  # type: ignore[no-untyped-def, type-arg]
    """The first sync took only "Good"; each corpus item is Not synced with words of its reason; pages answer."""
    run = integration.runs.get()
    assert run.status == "partial", run.error
    reasons = list(integration.unsynced_items.values_list("reason", flat=True))
    for name, (_, says) in corpus.items():
        assert any(says in reason for reason in reasons), (name, reasons)
    assert len(reasons) == len(corpus)
    assert list(Event.objects.filter(calendar=calendar).values_list("title", flat=True)) == ["Good"]
    assert_still_answers(member_client, dav, calendar)


def assert_nothing_hostile_stored(calendar) -> None:  # type: ignore[no-untyped-def]
    assert not Event.objects.filter(calendar=calendar, uid__startswith="hostile-").exists()


# --- CalDAV PUT -----------------------------------------------------------------------------------


def test_caldav_put_is_refused_with_its_precondition(dav, member_client, calendar, hostile) -> None:  # type: ignore[no-untyped-def]
    path = f"{cal_path(calendar)}{hostile.name}.ics"
    response = dav.put(path, hostile.text)
    assert response.status_code == 403, dav.body(response)
    root = fromstring(dav.body(response))
    assert root.find(f"{C}{hostile.condition}") is not None, dav.body(response)
    assert hostile.says in dav.body(response)
    assert_nothing_hostile_stored(calendar)
    assert_still_answers(member_client, dav, calendar)


@pytest.mark.parametrize("name", ["count", "attendees", "nul-summary", "year-9999-zoned", "overrides"])
def test_a_refused_replacement_leaves_the_stored_item_as_it_was(dav, calendar, name) -> None:  # type: ignore[no-untyped-def]
    hostile = BY_NAME[name]
    path = f"{cal_path(calendar)}{hostile.name}.ics"
    assert dav.put(path, ics(hostile.uid, "DTEND:20261123T110000Z", summary="Fine")).status_code == 201
    before = Event.objects.get(calendar=calendar)
    assert dav.put(path, hostile.text).status_code == 403
    after = Event.objects.get(calendar=calendar)  # one row: no override of the refused version either
    assert (after.title, after.seq, after.rrule) == (before.title, before.seq, "")


def test_the_calendar_tells_clients_its_limits(dav, calendar, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ICAL_MAX_ATTENDEES = 250
    names = ("min-date-time", "max-date-time", "max-instances", "max-attendees-per-instance")
    body = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop>'
    body += "".join(f"<c:{name}/>" for name in names) + "</d:prop></d:propfind>"
    answer = dav.body(dav.propfind(cal_path(calendar), body))
    found = {name: fromstring(answer).findtext(f".//{C}{name}") for name in names}
    assert found == {"min-date-time": "19000101T000000Z", "max-date-time": "22001231T235959Z",
                     "max-instances": "10000", "max-attendees-per-instance": "250"}  # fmt: skip


@pytest.mark.parametrize("name", ["nested", "vtimezone-secondly", "tzid-path"])
def test_a_hostile_calendar_timezone_is_refused(dav, calendar, name) -> None:  # type: ignore[no-untyped-def]
    """calendar-timezone (RFC 4791 5.2.2) carries a VCALENDAR too: the same text rules apply before it is read."""
    text = BY_NAME[name].text.replace("BEGIN:VEVENT", "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:VEVENT", 1)
    text = text.replace("END:VCALENDAR", "END:VTIMEZONE\r\nEND:VCALENDAR")
    body = ('<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            f"<d:set><d:prop><c:calendar-timezone>{escape(text)}</c:calendar-timezone></d:prop></d:set>"
            "</d:propertyupdate>")  # fmt: skip
    answer = dav.request("PROPPATCH", cal_path(calendar), body)
    assert answer.status_code == 207 and "403" in dav.body(answer), dav.body(answer)
    calendar.refresh_from_db()
    assert calendar.timezone != "Europe/Paris"


# --- ICS import ---------------------------------------------------------------------------------


def test_import_reports_the_item_and_keeps_the_rest(member_client, dav, calendar, hostile, on_commit) -> None:  # type: ignore[no-untyped-def]
    upload = {"file": _upload(hostile.with_good_event())}
    with on_commit():
        assert member_client.post(reverse("events:calendar_import", args=[calendar.pk]), upload).status_code == 302
    job = ImportJob.objects.get()
    page = member_client.get(reverse("events:import_status", args=[job.pk])).content.decode()
    if hostile.whole_file:
        assert job.status == "failed" and hostile.says in job.error
        assert not Event.objects.filter(calendar=calendar).exists()
    else:
        assert job.status == "done" and job.created_count == 1, (job.error, job.problems)
        assert [p["uid"] for p in job.problems] == [hostile.uid] and hostile.says in job.problems[0]["reason"]
        assert list(Event.objects.filter(calendar=calendar).values_list("uid", flat=True)) == ["good@attacker.test"]
    assert page.count(hostile.says) == 1 or hostile.says in page
    assert_nothing_hostile_stored(calendar)
    assert_still_answers(member_client, dav, calendar)


def test_an_import_report_keeps_no_control_characters(member_client, calendar, on_commit) -> None:  # type: ignore[no-untyped-def]
    """The report names a refused item by its UID: one with a NUL would stop PostgreSQL storing the report."""
    upload = {"file": _upload(ics("nul\x00uid@attacker.test", "RRULE:FREQ=SECONDLY"))}
    with on_commit():
        member_client.post(reverse("events:calendar_import", args=[calendar.pk]), upload)
    job = ImportJob.objects.get()
    assert job.status == "done" and job.problems == [
        {"uid": "nuluid@attacker.test", "reason": job.problems[0]["reason"]}
    ]
    assert "at most hourly" in job.problems[0]["reason"]


def _upload(text: str):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("hostile.ics", text.encode())


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    return lambda: django_capture_on_commit_callbacks(execute=True)


# --- the web form --------------------------------------------------------------------------------

FORM_CASES = {
    "secondly": ({"repeat": "CUSTOM", "rrule": "FREQ=SECONDLY"}, "at most hourly"),
    "minutely": ({"repeat": "CUSTOM", "rrule": "RRULE:FREQ=MINUTELY;INTERVAL=5"}, "at most hourly"),
    "every-second-by-list": ({"repeat": "CUSTOM", "rrule": "FREQ=HOURLY;BYSECOND=0,1,2"}, "at most hourly"),
    "count": ({"repeat": "CUSTOM", "rrule": "FREQ=DAILY;COUNT=1000000000"}, "COUNT is above 10000"),
    "interval-zero": ({"repeat": "CUSTOM", "rrule": "FREQ=DAILY;INTERVAL=0"}, "INTERVAL must be 1 or more"),
    "until-9999": ({"repeat": "CUSTOM", "rrule": "FREQ=HOURLY;UNTIL=99991231T000000Z"}, "after the year 2200"),
    "year-0001": ({"start_date": "0001-01-01", "end_date": "0001-01-01", "repeat": "DAILY"}, "before the year 1900"),
    "year-9999-zoned": (
        {
            "start_date": "9999-12-31",
            "end_date": "9999-12-31",
            "start_time": "22:00",
            "end_time": "23:00",
            "timezone": "America/Los_Angeles",
        },
        "after the year 2200",
    ),
    "nul-summary": ({"title": "before\x00after"}, "Null characters are not allowed"),
    "escape-summary": ({"location": "bell\x07 and escape\x1b[2J"}, "control character"),
    "huge-value": ({"description": "A" * 200_000}, "longer than calsync stores"),
    "all-day-9999": ({"all_day": "on", "start_date": "9999-12-31", "end_date": "9999-12-31"}, "after the year 2200"),
    "repeat-until-9999": (
        {"repeat": "DAILY", "repeat_until": "9999-12-31", "timezone": "America/Los_Angeles"},
        "after the year 2200",
    ),
    "attendees": ({"attendees": "\n".join(f"guest{n}@attacker.test" for n in range(1_001))}, "at most 1000"),
}


@pytest.mark.parametrize("name", sorted(FORM_CASES))
def test_the_event_form_says_why(member_client, dav, calendar, name) -> None:  # type: ignore[no-untyped-def]
    changes, message = FORM_CASES[name]
    form = {
        "calendar": str(calendar.pk), "title": "Planning", "start_date": "2026-11-23", "start_time": "10:00",
        "end_date": "2026-11-23", "end_time": "11:00", "timezone": "Europe/Berlin", "repeat": "",
        "visibility": "PUBLIC", "show_as": "BUSY", "status": "CONFIRMED", **changes,
    }  # fmt: skip
    response = member_client.post(reverse("events:event_create"), form)
    assert response.status_code == 200  # the form again, with the reason
    assert message in response.content.decode()
    assert not Event.objects.filter(calendar=calendar).exists()
    assert_still_answers(member_client, dav, calendar)


@pytest.mark.parametrize(("due", "message"), [("0001-01-01T10:00", "before the year 1900"),
                                              ("9999-12-31T23:00", "after the year 2200")])  # fmt: skip
def test_the_task_form_says_why(member_client, member, due, message) -> None:  # type: ignore[no-untyped-def]
    from events import services

    tasks = services.calendar_create(owner=member, name="Tasks")
    answer = member_client.post(reverse("events:task_create"), {"calendar": tasks.pk, "title": "Far", "due": due})
    assert answer.status_code == 200 and message in answer.content.decode()
    assert not Event.objects.filter(calendar=tasks).exists()


def test_moving_one_occurrence_out_of_range_says_why(member_client, dav, calendar) -> None:  # type: ignore[no-untyped-def]
    assert dav.put(f"{cal_path(calendar)}weekly.ics", ics("weekly@x", "DTEND:20261123T110000Z",
                                                          "RRULE:FREQ=WEEKLY")).status_code == 201  # fmt: skip
    master = Event.objects.get(calendar=calendar)
    form = {"title": "Moved", "start_date": "9999-12-31", "start_time": "22:00", "end_date": "9999-12-31",
            "end_time": "23:00", "timezone": "America/Los_Angeles", "visibility": "PUBLIC",
            "show_as": "BUSY", "status": "CONFIRMED", "version": master.seq}  # fmt: skip
    url = reverse("events:occurrence_edit", args=[master.pk, "20261130T100000Z"])
    answer = member_client.post(url, form)
    assert answer.status_code == 200 and "after the year 2200" in answer.content.decode()
    assert Event.objects.filter(calendar=calendar).count() == 1
    assert_still_answers(member_client, dav, calendar)


# --- a sync from a CalDAV server holding the corpus ----------------------------------------------

# Radicale refuses these itself (400/412), so no CalDAV server of that kind can hand them over.
RADICALE_REFUSES = {"count", "nested", "year-9999-zoned", "until-9999", "duration-overflow"}
# XML 1.0 cannot carry control characters: Radicale's REPORT leaves them out, so these arrive clean.
RADICALE_CLEANS = {"nul-summary": "beforeafter", "escape-summary": "Hostile"}


def test_a_caldav_server_holding_the_corpus_syncs_the_rest(member, member_client, dav, calendar, radicale,
                                                           run_on_commit) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    from tests.integrations.test_caldav import connect

    url = radicale.new_calendar("Hostile")
    with niquests.Session() as session:
        session.trust_env = False

        def put(name: str, text: str) -> int:
            answer = session.put(f"{url}{name}.ics", data=text.encode(), auth=(radicale.username, radicale.password),
                                 headers={"Content-Type": "text/calendar"}, timeout=60)  # fmt: skip
            return int(answer.status_code)

        statuses = {h.name: put(h.name, h.text) for h in CORPUS}
        assert put("good", ics("good@attacker.test", "DTEND:20261123T110000Z", summary="Good")) == 201
    assert {n for n, status in statuses.items() if status >= 300} == RADICALE_REFUSES, statuses
    integration = connect(member, calendar, radicale, url, run_on_commit, direction="to_calsync")
    run = integration.runs.get()
    assert run.status == "partial", run.error
    reasons = {u.uid: u.reason for u in integration.unsynced_items.all()}
    held = [h for h in CORPUS if h.name not in RADICALE_REFUSES and h.name not in RADICALE_CLEANS]
    for h in held:
        reason = next((r for uid, r in reasons.items() if uid == h.uid or uid.endswith(f"/{h.name}.ics")), None)
        assert reason is not None and h.says in reason, (h.name, reason)
    assert len(reasons) == len(held)
    stored = dict(Event.objects.filter(calendar=calendar).values_list("uid", "title"))
    assert stored == {"good@attacker.test": "Good", **{BY_NAME[n].uid: title for n, title in RADICALE_CLEANS.items()}}
    assert_still_answers(member_client, dav, calendar)


# --- a sync from Google (the emulator) holding the corpus, as far as Google's API can carry it ---------------


def _google_corpus(hours: list[str]) -> dict[str, tuple[dict, str]]:  # type: ignore[type-arg]
    when = _google_when("2026-11-23T10:00:00")
    far = {"dateTime": "9999-12-31T10:00:00Z", "timeZone": "UTC"}
    ancient = {"start": {"dateTime": "0001-01-01T10:00:00Z", "timeZone": "UTC"},
               "end": {"dateTime": "0001-01-01T11:00:00Z", "timeZone": "UTC"}}  # fmt: skip
    los_angeles = _google_when("2026-11-23T10:00:00", "America/Los_Angeles")
    guests = [{"email": f"guest{n}@attacker.test"} for n in range(10_000)]
    reminders = {"useDefault": False, "overrides": [{"method": "popup", "minutes": n} for n in range(500)]}
    return {
        "secondly": ({**when, "recurrence": ["RRULE:FREQ=SECONDLY"]}, "at most hourly"),
        "count": ({**when, "recurrence": ["RRULE:FREQ=DAILY;COUNT=1000000000"]}, "COUNT"),
        "interval-zero": ({**when, "recurrence": ["RRULE:FREQ=DAILY;INTERVAL=0"]}, "INTERVAL"),
        "exdates": ({**when, "recurrence": ["RRULE:FREQ=HOURLY", *(f"EXDATE:{h}" for h in hours)]}, "excluded"),
        "rdates": ({**when, "recurrence": [f"RDATE:{h}" for h in hours]}, "extra dates"),
        "attendees": ({**when, "attendees": guests}, "attendees"),
        "year-0001": ({**ancient, "recurrence": ["RRULE:FREQ=HOURLY"]}, "before the year 1900"),
        # Read in the series' zone, that EXDATE is before year 1: it overflowed and stopped the whole sync.
        "exdate-0001-zoned": ({**los_angeles, "recurrence": ["RRULE:FREQ=DAILY", "EXDATE:00010101T000000Z"]},
                              "out of range"),
        "year-9999": ({"start": far, "end": far}, "after the year 2200"),
        "until-9999": ({**when, "recurrence": ["RRULE:FREQ=HOURLY;UNTIL=99991231T000000Z"]}, "after the year 2200"),
        "nul-summary": ({**when, "summary": "before\x00after"}, "control character"),
        "surrogate-summary": ({**when, "summary": "half a character: \ud800"}, "control character"),
        "escape-summary": ({**when, "location": "bell\x07 and escape\x1b[2J"}, "control character"),
        "huge-value": ({**when, "description": "A" * 200_000}, "longer than"),
        "many-alarms": ({**when, "reminders": reminders}, "reminders"),
    }  # fmt: skip


def test_a_google_calendar_holding_the_corpus_syncs_the_rest(member_client, dav, calendar, google, settings,
                                                             run_on_commit) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    from tests.integrations.test_google import connect

    email = "attacked@example.com"
    state = google.state
    state.account(email)
    corpus = _google_corpus(hourly(10_000))
    for name, (body, _) in corpus.items():
        state.insert(email, email, {"summary": "Hostile", **body, "iCalUID": f"hostile-{name}@attacker.test"})
    # A series with more changed occurrences than ICAL_MAX_OVERRIDES (lowered here: the rule is the same).
    settings.ICAL_MAX_OVERRIDES = 2
    series = {"summary": "Series", "iCalUID": "hostile-overrides@attacker.test", "recurrence": ["RRULE:FREQ=DAILY"]}
    master = state.insert(email, email, {**series, **_google_when("2026-11-23T10:00:00")})
    for day in ("24", "25", "26"):
        moved = state.insert(email, email, {"summary": "Moved", "originalStartTime": _google_when(
            f"2026-11-{day}T10:00:00")["start"], **_google_when(f"2026-11-{day}T12:00:00")})  # fmt: skip
        # What Google holds for a moved occurrence: the series' iCalUID and its id (events.insert cannot make one).
        state.calendars[email].events[moved["id"]].update(recurringEventId=master["id"], iCalUID=master["iCalUID"])
    corpus["overrides"] = ({}, "changed occurrences")
    state.insert(email, email, {"summary": "Good", **_google_when("2026-11-24T10:00:00")})
    integration = connect(member_client, google, email, calendar, run_on_commit, direction="to_calsync")
    run = integration.runs.get()
    assert run.status == "partial", run.error
    reasons = {u.uid: u.reason for u in integration.unsynced_items.all()}
    for name, (_, says) in corpus.items():
        reason = reasons.get(f"hostile-{name}@attacker.test") or next(
            (r for uid, r in reasons.items() if uid == state_id(state, email, name)), None
        )
        assert reason is not None and says in reason, (name, reason)
    assert len(reasons) == len(corpus)
    assert list(Event.objects.filter(calendar=calendar).values_list("title", flat=True)) == ["Good"]
    assert_still_answers(member_client, dav, calendar)


def _google_when(start: str, zone: str = "Europe/Berlin") -> dict:  # type: ignore[type-arg]
    """An hour from `start` (wall time in `zone`), as Google's EventDateTime pair."""
    end = start[:11] + f"{int(start[11:13]) + 1:02d}" + start[13:]
    return {"start": {"dateTime": start, "timeZone": zone}, "end": {"dateTime": end, "timeZone": zone}}


def state_id(state, email: str, name: str) -> str:  # type: ignore[no-untyped-def]
    """The Google event id of a corpus event: what "Not synced" names when calsync could not read it at all."""
    uid = f"hostile-{name}@attacker.test"
    events = state.calendars[email].events.items()
    return next(i for i, e in events if e["iCalUID"] == uid and "recurringEventId" not in e)


# --- a sync from Microsoft Graph (the emulator) holding what Graph can carry of the corpus -------------------


def test_an_outlook_calendar_holding_the_corpus_syncs_the_rest(member_client, dav, calendar, microsoft,
                                                               run_on_commit) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    from tests.integrations.test_microsoft import connect

    login, state = "attacked@contoso.example", microsoft.state
    day = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    when = {"start": {"dateTime": f"{day}T10:00:00.0000000", "timeZone": "UTC"},
            "end": {"dateTime": f"{day}T11:00:00.0000000", "timeZone": "UTC"}}  # fmt: skip
    guests = [{"emailAddress": {"address": f"guest{n}@attacker.test", "name": f"Guest {n}"}, "type": "required"}
              for n in range(10_000)]  # fmt: skip

    def series(**range_: object) -> dict:  # type: ignore[type-arg]
        return {"pattern": {"type": "daily", "interval": 1}, "range": {"startDate": day, **range_}}

    corpus = {
        "nul-summary": ({"subject": "before\x00after"}, "control character"),
        "surrogate-summary": ({"subject": "half a character: \ud800"}, "control character"),
        "attendees": ({"subject": "Crowd", "attendees": guests}, "attendees"),
        "huge-value": ({"subject": "Long", "body": {"contentType": "text", "content": "A" * 200_000}}, "longer than"),
        "count": ({"subject": "Forever", "recurrence": series(type="numbered", numberOfOccurrences=1_000_000_000)},
                  "COUNT"),
        "until-9999": ({"subject": "Until", "recurrence": series(type="endDate", endDate="9999-12-31")},
                       "after the year 2200"),
    }  # fmt: skip
    state.mailbox(login)
    for body, _ in corpus.values():
        state.create(login, None, {**when, **body})
    state.create(login, None, {**when, "subject": "Good"})
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    assert_only_good_synced(integration, corpus, member_client, dav, calendar)


# --- a sync from Exchange (the EWS emulator) holding what EWS can carry of the corpus --------------------------


def test_an_exchange_calendar_holding_the_corpus_syncs_the_rest(member_client, dav, calendar, exchange,
                                                                run_on_commit) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    from tests.integrations.test_exchange import _login, connect

    address = _login(exchange, "attacked")
    start = datetime(2026, 11, 24, 9, tzinfo=UTC)
    hour = {"start": start, "end": start + timedelta(hours=1)}
    guests = [(f"guest{n}@attacker.test", f"Guest {n}", "Unknown") for n in range(10_000)]
    corpus = {
        "attendees": ({**hour, "subject": "Crowd", "required": guests}, "attendees"),
        "huge-value": ({**hour, "subject": "Long", "body": "A" * 200_000}, "longer than"),
        "year-1800": ({"subject": "Old", "start": datetime(1800, 1, 1, 9, tzinfo=UTC),
                       "end": datetime(1800, 1, 1, 10, tzinfo=UTC)}, "before the year 1900"),
        "year-9999": ({"subject": "Far", "start": datetime(9999, 12, 31, 9, tzinfo=UTC),
                       "end": datetime(9999, 12, 31, 10, tzinfo=UTC)}, "after the year 2200"),
    }  # fmt: skip
    for fields, _ in corpus.values():
        exchange.state.create(address, None, fields)
    exchange.state.create(address, None, {**hour, "subject": "Good"})
    integration = connect(member_client, exchange, calendar, run_on_commit, name="attacked")
    assert_only_good_synced(integration, corpus, member_client, dav, calendar)
