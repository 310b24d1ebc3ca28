"""A series split in calsync ("this and following") reaches every provider as two series: the old one ending
with UNTIL, the new one (its own UID) from the split on. Google and Microsoft through their emulators, CalDAV
against a real Radicale server, Exchange through its EWS emulator."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import caldav
import pytest

from events import services as events
from events.ical import Component, Item
from events.models import Event
from events.series import occurrence_change
from tests.integrations.test_caldav import connect as caldav_connect
from tests.integrations.test_caldav import sync_now as caldav_sync
from tests.integrations.test_exchange import connect as exchange_connect
from tests.integrations.test_exchange import outlook as exchange_outlook
from tests.integrations.test_exchange import sync_now as exchange_sync
from tests.integrations.test_google import _no_backoff_sleep, google_side  # noqa: F401 (the fixture applies here)
from tests.integrations.test_google import connect as google_connect
from tests.integrations.test_google import sync_now as google_sync
from tests.integrations.test_microsoft import (
    _no_waiting,  # noqa: F401 (the fixture applies here)
    outlook,
)
from tests.integrations.test_microsoft import connect as microsoft_connect
from tests.integrations.test_microsoft import sync_now as microsoft_sync

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 2, 10, tzinfo=BERLIN)
FIFTH = MONDAY + timedelta(weeks=4)


def _split(calendar, member) -> tuple[Event, Event]:  # type: ignore[no-untyped-def]
    """Ten Mondays at 10:00; from the fifth on, an hour later and in another room."""
    master = Component(uid="weekly@calsync", summary="Planning", start=MONDAY, end=MONDAY + timedelta(hours=1),
                       rrule="FREQ=WEEKLY;COUNT=10")  # fmt: skip
    old = events.item_save(calendar=calendar, item=Item(master=master)).event
    new = occurrence_change(
        user=member, master=old, recurrence_id=FIFTH,
        changes={"start": FIFTH + timedelta(hours=1), "end": FIFTH + timedelta(hours=2), "location": "Room 2"},
        scope="following", if_match=old.seq,
    ).event  # fmt: skip
    old.refresh_from_db()
    assert old.rrule == "FREQ=WEEKLY;UNTIL=20261123T090000Z" and new.rrule == "FREQ=WEEKLY;COUNT=6"
    return old, new


def test_a_split_series_reaches_google_as_two_series(member_client, member, calendar, google, run_on_commit) -> None:
    email = "split@example.com"
    integration = google_connect(member_client, google, email, calendar, run_on_commit)
    old, new = _split(calendar, member)
    assert google_sync(integration, run_on_commit).status == "success"
    side = google_side(google, email)
    before, after = side.find(old.uid), side.find(new.uid)
    assert before is not None and after is not None and before.id != after.id
    assert "UNTIL=20261123T090000Z" in before.item.master.rrule and after.item.master.rrule == "FREQ=WEEKLY;COUNT=6"
    first = google.state.instances(email, email, before.id, {})["items"]
    second = google.state.instances(email, email, after.id, {})["items"]
    assert [i["start"]["dateTime"][:16] for i in first] == [
        f"2026-11-{d:02d}T10:00" for d in (2, 9, 16, 23)
    ]  # fmt: skip
    assert len(second) == 6 and second[0]["start"]["dateTime"][:16] == "2026-11-30T11:00"
    assert {i.get("location") for i in second} == {"Room 2"}


def test_a_split_series_reaches_outlook_as_two_series(member_client, member, calendar, microsoft,
                                                      run_on_commit) -> None:  # fmt: skip
    login = "split@contoso.example"
    integration = microsoft_connect(member_client, microsoft, login, calendar, run_on_commit)
    old, new = _split(calendar, member)
    assert microsoft_sync(integration, run_on_commit).status == "success"
    state = microsoft.state
    remote = state.calendars[state.mailboxes[login].calendars[0]]
    side = outlook(microsoft, login)
    masters = {uid: remote.events[side.find(uid).id] for uid in (old.uid, new.uid)}  # type: ignore[union-attr]
    assert masters[old.uid]["id"] != masters[new.uid]["id"]
    window = (datetime(2026, 10, 1, tzinfo=BERLIN), datetime(2027, 3, 1, tzinfo=BERLIN))
    first = state.instances_of(remote, masters[old.uid], *window)
    second = state.instances_of(remote, masters[new.uid], *window)
    assert masters[old.uid]["recurrence"]["range"]["type"] == "endDate"
    assert masters[old.uid]["recurrence"]["range"]["endDate"] == "2026-11-23"
    assert masters[new.uid]["recurrence"]["range"] == {**masters[new.uid]["recurrence"]["range"],
                                                       "type": "numbered", "numberOfOccurrences": 6}  # fmt: skip
    assert len(first) == 4 and len(second) == 6
    assert second[0]["start"]["dateTime"].startswith("2026-11-30T11:00")


@pytest.mark.parametrize("caldav_server", ["radicale"], indirect=True)
def test_a_split_series_reaches_a_caldav_server_as_two_series(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    server, url, cal = remote
    integration = caldav_connect(member, calendar, server, url, run_on_commit)
    old, new = _split(calendar, member)
    caldav_sync(integration, run_on_commit)
    before = cal.event_by_uid(old.uid).icalendar_component
    after = cal.event_by_uid(new.uid).icalendar_component
    assert before["RRULE"].to_ical() == b"FREQ=WEEKLY;UNTIL=20261123T090000Z"
    assert after["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=6" and str(after["LOCATION"]) == "Room 2"
    assert after.decoded("DTSTART") == FIFTH + timedelta(hours=1)
    # The server itself expands both as the split says.
    found = cal.search(start=datetime(2026, 10, 1, tzinfo=BERLIN), end=datetime(2027, 3, 1, tzinfo=BERLIN),
                       event=True, expand=True)  # fmt: skip
    starts = sorted(c.icalendar_component.decoded("DTSTART").astimezone(BERLIN) for c in found)
    assert starts == [MONDAY + timedelta(weeks=i) for i in range(4)] + [
        MONDAY + timedelta(weeks=i, hours=1) for i in range(4, 10)
    ]
    assert isinstance(cal, caldav.Calendar)


def test_an_all_day_split_reaches_google_with_a_date_until(member_client, member, calendar, google,
                                                           run_on_commit) -> None:  # fmt: skip
    from datetime import date

    email = "split.allday@example.com"
    integration = google_connect(member_client, google, email, calendar, run_on_commit)
    master = Component(uid="rota@calsync", summary="On call", start=date(2026, 12, 1), end=date(2026, 12, 2),
                       rrule="FREQ=DAILY;UNTIL=20261231")  # fmt: skip
    old = events.item_save(calendar=calendar, item=Item(master=master)).event
    new = occurrence_change(user=member, master=old, recurrence_id=datetime(2026, 12, 10, tzinfo=ZoneInfo("UTC")),
                            changes={"title": "On call (Ann)"}, scope="following", if_match=old.seq).event  # fmt: skip
    assert google_sync(integration, run_on_commit).status == "success"
    side = google_side(google, email)
    assert side.find(old.uid).item.master.rrule == "FREQ=DAILY;UNTIL=20261209"  # type: ignore[union-attr]
    after = side.find(new.uid)
    assert after is not None and after.item.master.start == date(2026, 12, 10)
    assert after.item.master.rrule == "FREQ=DAILY;UNTIL=20261231" and after.item.master.summary == "On call (Ann)"


def test_a_split_series_reaches_exchange_as_two_series(member_client, member, calendar, exchange,
                                                       run_on_commit) -> None:  # fmt: skip
    integration = exchange_connect(member_client, exchange, calendar, run_on_commit, name="split")
    old, new = _split(calendar, member)
    assert exchange_sync(integration, run_on_commit).status == "success"
    side = exchange_outlook(exchange, "split@corp.example")
    before, after = side.find(old.uid), side.find(new.uid)
    assert before is not None and after is not None
    # EWS keeps only the end date (EndDateRecurrence): it reads back as the end of 23 November in Berlin.
    assert before.item.master.rrule == "FREQ=WEEKLY;UNTIL=20261123T225959Z"
    assert after.item.master.rrule == "FREQ=WEEKLY;COUNT=6" and after.item.master.location == "Room 2"
    assert after.item.master.start == FIFTH + timedelta(hours=1)
