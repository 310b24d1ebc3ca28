"""calsync's CalDAV server against clients nobody here wrote: the caldav library, vdirsyncer, caldav-server-tester.

Each runs over real HTTP against Django's live server, as a user's device would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import caldav
import pytest
from caldav.lib.error import AuthorizationError, ETagMismatchError
from django.utils import timezone

from dav.services import app_password_create
from events.ical import parse_calendar, parse_item
from events.models import Calendar, Event, Tombstone
from events.services import item_delete, item_save
from events.tombstones import tombstones_prune

from .conftest import vevent

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture
def device(member, live_server):  # type: ignore[no-untyped-def]
    """What a user types into their calendar app: only the host, their email, an app password."""
    created = app_password_create(user=member, label="laptop")
    client = caldav.DAVClient(url=live_server.url + "/", username=created.username, password=created.secret)
    client.session.trust_env = False  # the machine's proxy and CA settings are not for localhost
    return client, created


WEEKLY = vevent(
    "standup-series",
    "RRULE:FREQ=WEEKLY;COUNT=6",
    start="20261102T090000Z",
    end="20261102T093000Z",
    summary="Standup",
)
MOVED = (
    "BEGIN:VEVENT\r\nUID:standup-series\r\nDTSTAMP:20261101T000000Z\r\nRECURRENCE-ID:20261116T090000Z\r\n"
    "DTSTART:20261118T140000Z\r\nDTEND:20261118T143000Z\r\nSUMMARY:Standup (moved)\r\nEND:VEVENT\r\n"
)


def _week(calendar: caldav.Calendar, monday: str) -> list[str]:
    """Start dates of the occurrences the server finds in the week starting on `monday`."""
    start = datetime.fromisoformat(monday).replace(tzinfo=UTC)
    found = calendar.search(start=start, end=start + timedelta(days=7), event=True, expand=True)
    return sorted(str(e.icalendar_component["DTSTART"].dt.date()) for e in found)


def test_caldav_library_round_trip(device, member) -> None:
    client, _ = device
    principal = client.principal()  # discovered from the bare host
    assert str(principal.url).endswith(f"/caldav/principals/{member.email}/")
    assert principal.calendars() == []  # this member has no calendar yet

    work = principal.make_calendar(name="Work")
    assert Calendar.objects.get(owner=member, name="Work").dav_name in str(work.url)
    assert [c.get_display_name() for c in principal.calendars()] == ["Work"]

    series = work.save_event(WEEKLY.replace("END:VCALENDAR", MOVED + "END:VCALENDAR"))
    assert Event.objects.get(uid="standup-series", parent=None).overrides.count() == 1
    assert _week(work, "2026-11-09") == ["2026-11-09"]
    assert _week(work, "2026-11-16") == ["2026-11-18"]  # the moved occurrence, in the week it moved to
    assert _week(work, "2026-12-07") == ["2026-12-07"]  # the sixth and last
    assert _week(work, "2026-12-14") == []  # after COUNT=6

    token = work.objects_by_sync_token().sync_token

    # Edit with the ETag we hold; the server refuses an edit based on a stale one.
    series.load()
    stale = work.event_by_url(series.url)  # another device read the same version
    stale.load()
    series.icalendar_component["SUMMARY"] = "Daily standup"
    series.save()
    assert Event.objects.get(uid="standup-series", parent=None).title == "Daily standup"
    stale.icalendar_component["SUMMARY"] = "Lost update"
    with pytest.raises(ETagMismatchError):
        stale.save()  # sent with If-Match and the old ETag: 412
    assert Event.objects.get(uid="standup-series", parent=None).title == "Daily standup"

    lunch = work.save_event(vevent("lunch", summary="Lunch"))
    changes = work.objects_by_sync_token(token, load_objects=True)
    assert {str(o.url).rsplit("/", 1)[1] for o in changes} == {
        str(series.url).rsplit("/", 1)[1],
        str(lunch.url).rsplit("/", 1)[1],
    }
    token = changes.sync_token

    lunch.delete()
    assert not Event.objects.filter(uid="lunch").exists()
    gone = work.objects_by_sync_token(token, load_objects=True)
    assert [o.url for o in gone] == [lunch.url]  # reported, as deleted

    # Changes made in calsync (the web pages, a sync from Google) show up for the device too.
    item_save(calendar=Calendar.objects.get(owner=member, name="Work"), item=parse_item(vevent("from-web")))
    assert [e.icalendar_component["UID"] for e in work.search(event=True, uid="from-web")] == ["from-web"]


def test_caldav_library_tasks(device, member) -> None:
    client, _ = device
    tasks = client.principal().make_calendar(name="Reminders", supported_calendar_component_set=["VTODO"])
    tasks.save_todo(summary="Call back", uid="task-1", due=datetime(2026, 11, 25, 12, tzinfo=UTC))
    (todo,) = tasks.todos()
    todo.complete()
    stored = Event.objects.get(uid="task-1")
    assert stored.kind == "VTODO" and stored.status == "COMPLETED" and stored.calendar.components == "VTODO"


def test_caldav_library_recovers_from_a_token_below_the_sync_floor(device, member) -> None:
    client, _ = device
    work = client.principal().make_calendar(name="Work")
    for uid in ("one", "two", "three"):
        work.save_event(vevent(uid))
    token = work.get_objects_by_sync_token().sync_token
    work.event_by_uid("one").delete()
    Tombstone.objects.update(deleted_at=timezone.now() - timedelta(days=365))
    assert tombstones_prune() == 1

    with pytest.raises(AuthorizationError) as refused:  # RFC 6578 3.2: the token expired, not the password
        work.get_objects_by_sync_token(token, disable_fallback=True)
    assert "{DAV:}valid-sync-token" in refused.value.preconditions
    # The library's own recovery: it lists the calendar in full, which holds exactly what is left.
    recovered = work.get_objects_by_sync_token(token, load_objects=True)
    assert sorted(str(o.icalendar_component["UID"]) for o in recovered) == ["three", "two"]
    # A client starting over with no token gets a real one again, and incremental syncs go on from it.
    fresh = work.get_objects_by_sync_token()
    work.save_event(vevent("four"))
    later = work.get_objects_by_sync_token(fresh.sync_token, load_objects=True)
    assert [str(o.icalendar_component["UID"]) for o in later] == ["four"]


# --- vdirsyncer ---------------------------------------------------------------------------------


def _vdirsyncer(config: Path, *args: str) -> None:
    result = subprocess.run(
        [str(BIN / "vdirsyncer"), "-c", str(config), *args], capture_output=True, text=True, timeout=120, input="y\n"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in result.stderr.lower(), result.stderr


def _local_uids(folder: Path) -> dict[str, str]:
    return {parse_calendar(p.read_text())[0].uid: p.read_text() for p in folder.glob("*.ics")}


def test_vdirsyncer_two_way(device, member, calendar, tmp_path, live_server) -> None:
    _, created = device
    local = tmp_path / "local"
    local.mkdir()
    config = tmp_path / "config"
    config.write_text(
        f"""[general]
status_path = "{tmp_path / "status"}/"

[pair calsync]
a = "local"
b = "remote"
collections = null
conflict_resolution = "a wins"

[storage local]
type = "filesystem"
path = "{local}/"
fileext = ".ics"

[storage remote]
type = "caldav"
url = "{live_server.url}/caldav/calendars/{member.email}/{calendar.dav_name}/"
username = "{created.username}"
password = "{created.secret}"
"""
    )
    from_calsync = item_save(calendar=calendar, item=parse_item(vevent("from-calsync", summary="Review"))).event
    _vdirsyncer(config, "discover")
    _vdirsyncer(config, "sync")
    assert "SUMMARY:Review" in _local_uids(local)["from-calsync"]

    # A new file on the local side arrives in calsync.
    (local / "from-folder.ics").write_text(vevent("from-folder", summary="Dentist"))
    _vdirsyncer(config, "sync")
    assert Event.objects.get(calendar=calendar, uid="from-folder").title == "Dentist"

    # Edits on each side travel to the other.
    path = next(p for p in local.glob("*.ics") if "from-calsync" in p.read_text())
    path.write_text(path.read_text().replace("SUMMARY:Review", "SUMMARY:Review (moved)"))
    folder_item = Event.objects.get(calendar=calendar, uid="from-folder")
    item_save(calendar=calendar, item=parse_item(vevent("from-folder", summary="Dentist at 10")), name=folder_item.name)
    _vdirsyncer(config, "sync")
    assert Event.objects.get(pk=from_calsync.pk).title == "Review (moved)"
    assert "SUMMARY:Dentist at 10" in _local_uids(local)["from-folder"]

    # Deletes too, both ways.
    path.unlink()
    item_delete(event=Event.objects.get(calendar=calendar, uid="from-folder"))
    _vdirsyncer(config, "sync")
    assert not Event.objects.filter(calendar=calendar).exists()
    assert _local_uids(local) == {}


# --- caldav-server-tester -------------------------------------------------------------------------

# Every feature caldav-server-tester finds short of 'full', and why. README.md ("Standards and deliberate
# deviations") explains each to users; a new deviation fails this test until it is chosen and written down.
DELIBERATE = {
    "save-load.journal",  # events and tasks only; VJOURNAL gets supported-calendar-component
    "scheduling",  # no RFC 6638 inbox/outbox; invitations travel through the providers
    "search.time-range.comp-type-optional",  # time-range under VCALENDAR: valid-filter, RFC 4791 9.7.1
    "search.text.comp-type-optional",  # prop-filter under VCALENDAR tests VCALENDAR's own properties
    "url.encode-at.identity",  # '@' and '%40' are one resource (RFC 3986)
    "well-known",  # not probed on localhost
}


def test_caldav_server_tester_finds_only_deliberate_deviations(device, calendar, live_server) -> None:
    # `calendar`: like every real user, this one has a calendar of their own besides those the tester makes.
    _, created = device
    result = subprocess.run(
        [str(BIN / "caldav-server-tester"), "--caldav-url", live_server.url + "/", "--caldav-username",
         created.username, "--caldav-password", created.secret, "--format", "json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    features = json.loads(result.stdout)["features"]
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    (ROOT / "test-artifacts" / "caldav-server-tester.json").write_text(json.dumps(features, indent=2))
    report = {name: f.get("support", "full") for name, f in features.items()}  # no level given: as expected
    deviations = {name for name, support in report.items() if support != "full"}
    assert deviations <= DELIBERATE, {name: features[name] for name in deviations - DELIBERATE}
    for essential in ("save.no-uid-conflict", "calendar-color", "calendar-order"):  # probed, and fully there
        assert essential in features and report[essential] == "full", essential
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in DELIBERATE), "document every deliberate deviation in the README"
