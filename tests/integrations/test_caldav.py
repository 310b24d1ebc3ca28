"""The CalDAV provider end to end, against real Radicale and Xandikos servers, through the sync task."""

from __future__ import annotations

import io
import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import caldav
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from events import services as events
from events.convert import item_from_event
from events.models import Event
from events.selectors import occurrences
from integrations.caldav.adapter import CalDAVSide
from integrations.caldav.client import CalDAVClient, ConnectError
from integrations.caldav.services import caldav_connect, caldav_discover
from integrations.models import Integration
from sync import services as sync_services
from tests.previews import confirm_first_sync
from tests.sync.items import event, series

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")

SERIES_WITH_EXCEPTIONS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//plain caldav client//EN
BEGIN:VEVENT
UID:standup@server
DTSTAMP:20261101T000000Z
DTSTART;TZID=Europe/Berlin:20261123T093000
DTEND;TZID=Europe/Berlin:20261123T094500
RRULE:FREQ=WEEKLY;COUNT=5
EXDATE;TZID=Europe/Berlin:20261207T093000
SUMMARY:Standup
X-SERVER-ONLY;FOO=bar:kept as is
END:VEVENT
BEGIN:VEVENT
UID:standup@server
DTSTAMP:20261101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20261130T093000
DTSTART;TZID=Europe/Berlin:20261201T140000
DTEND;TZID=Europe/Berlin:20261201T141500
SUMMARY:Standup (moved)
END:VEVENT
END:VCALENDAR
"""


def connect(member, calendar, server, url, run_on_commit, **settings) -> Integration:  # type: ignore[no-untyped-def]
    remote_cal = next(c for c in caldav_discover(url=server.base_url, username=server.username,
                                                 password=server.password) if c.url == url)  # fmt: skip
    with run_on_commit():
        return caldav_connect(user=member, url=server.base_url, username=server.username, password=server.password,
                              remote=remote_cal, calendar=calendar, **settings)  # fmt: skip


def sync_now(integration, run_on_commit):  # type: ignore[no-untyped-def]
    with run_on_commit():
        run = sync_services.sync_request(integration=integration, trigger="manual")
    run.refresh_from_db()
    assert run.status in ("success", "partial"), run.error
    return run


def server_uids(cal) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(str(obj.icalendar_component["UID"]) for obj in [*cal.events(), *cal.todos()])


def titles(calendar) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(Event.objects.filter(calendar=calendar, parent=None).values_list("title", flat=True))


def test_two_way_create_edit_delete_both_sides(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    server, url, cal = remote
    cal.add_event(SERIES_WITH_EXCEPTIONS)
    events.item_save(calendar=calendar, item=event("planning@calsync", "Planning"))
    integration = connect(member, calendar, server, url, run_on_commit)
    first = integration.runs.get()
    assert first.to_calsync["created"] == 1 and first.to_remote["created"] == 1
    assert server_uids(cal) == ["planning@calsync", "standup@server"]

    # The series arrived whole: four occurrences (one cancelled), one moved, the unknown property kept.
    master = Event.objects.get(calendar=calendar, uid="standup@server", parent=None)
    window = (datetime(2026, 11, 20, tzinfo=BERLIN), datetime(2027, 1, 1, tzinfo=BERLIN))
    found = occurrences(calendars=calendar.__class__.objects.filter(pk=calendar.pk), start=window[0], end=window[1])
    starts = [o.start.astimezone(BERLIN) for o in found if o.event == master]
    assert [s.date() for s in starts] == [date(2026, 11, 23), date(2026, 12, 1), date(2026, 12, 14), date(2026, 12, 21)]
    assert ["X-SERVER-ONLY", [["FOO", "bar"]], "kept as is"] in master.extra_properties

    # Edit on the server; delete in calsync.
    obj = cal.event_by_uid("standup@server")
    obj.icalendar_instance.walk("VEVENT")[0]["SUMMARY"] = "Daily standup"
    obj.save()
    events.item_delete(event=Event.objects.get(calendar=calendar, uid="planning@calsync", parent=None))
    sync_now(integration, run_on_commit)
    assert titles(calendar) == ["Daily standup"]
    assert server_uids(cal) == ["standup@server"]

    # Edit the moved occurrence in calsync; it reaches the server as the same series.
    master = Event.objects.get(calendar=calendar, uid="standup@server", parent=None)
    events.occurrence_update(master=master, recurrence_id=datetime(2026, 11, 30, 9, 30, tzinfo=BERLIN),
                             changes={"summary": "Standup (in room 4)"})  # fmt: skip
    sync_now(integration, run_on_commit)
    components = cal.event_by_uid("standup@server").icalendar_instance.walk("VEVENT")
    assert sorted(str(c["SUMMARY"]) for c in components) == ["Daily standup", "Standup (in room 4)"]
    assert "X-SERVER-ONLY" in components[0] or "X-SERVER-ONLY" in components[1]


def test_a_no_op_sync_finds_nothing_and_writes_nothing(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    server, url, _ = remote
    for i in range(20):
        events.item_save(calendar=calendar, item=event(f"e{i}@calsync", f"Event {i}"))
    integration = connect(member, calendar, server, url, run_on_commit)
    sync_now(integration, run_on_commit)  # its own writes come back once
    integration.refresh_from_db()
    side = CalDAVSide(CalDAVClient(server.base_url, server.username, server.password), url)
    changes = side.changes(integration.remote_cursor)
    assert list(changes.changed) == [] and list(changes.deleted) == []
    run = sync_now(integration, run_on_commit)
    assert run.counts == {}


@pytest.mark.parametrize(("primary", "winner"), [("calsync", "calsync edit"), ("remote", "server edit")])
def test_conflicts_go_to_the_primary(member, calendar, remote, run_on_commit, primary, winner) -> None:  # type: ignore[no-untyped-def]
    server, url, cal = remote
    events.item_save(calendar=calendar, item=event("m@calsync", "Meeting"))
    integration = connect(member, calendar, server, url, run_on_commit, primary=primary)
    events.item_save(calendar=calendar, item=event("m@calsync", "calsync edit"))
    obj = cal.event_by_uid("m@calsync")
    obj.icalendar_instance.walk("VEVENT")[0]["SUMMARY"] = "server edit"
    obj.save()
    run = sync_now(integration, run_on_commit)
    assert run.conflicts == 1
    assert titles(calendar) == [winner]
    assert str(cal.event_by_uid("m@calsync").icalendar_component["SUMMARY"]) == winner


def test_one_way_modes_leave_the_other_side_untouched(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    server, url, cal = remote
    cal.add_event(event_ics("server@x", "On the server"))
    events.item_save(calendar=calendar, item=event("local@calsync", "In calsync"))
    integration = connect(member, calendar, server, url, run_on_commit, direction="to_calsync")
    assert server_uids(cal) == ["server@x"] and titles(calendar) == ["In calsync", "On the server"]
    other = events.calendar_create(owner=member, name="Outbox")
    events.item_save(calendar=other, item=event("out@calsync", "Outgoing"))
    second_url = server.new_calendar("Second")
    second = connect(member, other, server, second_url, run_on_commit, direction="from_calsync")
    second_cal = caldav.DAVClient(url=server.base_url, username=server.username,
                                  password=server.password).calendar(url=second_url)  # fmt: skip
    second_cal.add_event(event_ics("extra@x", "Only on the server"))
    sync_now(second, run_on_commit)
    assert titles(other) == ["Outgoing"]
    assert server_uids(second_cal) == ["extra@x", "out@calsync"]
    sync_now(integration, run_on_commit)
    assert server_uids(cal) == ["server@x"]  # the one-way-in integration still wrote nothing out


def test_a_killed_sync_reruns_without_duplicates(member, calendar, remote, run_on_commit, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    server, url, cal = remote
    integration = connect(member, calendar, server, url, run_on_commit, sync_enabled=False)
    for i in range(5):
        events.item_save(calendar=calendar, item=event(f"e{i}@calsync", f"Event {i}"))
    integration.sync_enabled = True
    integration.save()
    original = CalDAVSide.create
    created = []

    def die_after_three(self, item):  # type: ignore[no-untyped-def]
        if len(created) == 3:
            raise SystemExit("worker killed")  # not an Exception: nothing gets to record anything
        created.append(item.uid)
        return original(self, item)

    monkeypatch.setattr(CalDAVSide, "create", die_after_three)
    run = sync_services.sync_request(integration=integration, trigger="manual")
    with pytest.raises(SystemExit):
        sync_services.sync_execute(run_id=run.pk)
    monkeypatch.setattr(CalDAVSide, "create", original)
    # The killed run left its lock; once it expires, the next run finishes the job.
    Integration.objects.filter(pk=integration.pk).update(lock_expires_at=datetime(2000, 1, 1, tzinfo=BERLIN))
    sync_now(integration, run_on_commit)
    sync_now(integration, run_on_commit)
    assert server_uids(cal) == [f"e{i}@calsync" for i in range(5)]
    assert Event.objects.filter(calendar=calendar, parent=None).count() == 5


def test_an_expired_sync_token_means_a_clean_full_resync(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    server, url, cal = remote
    for i in range(3):
        cal.add_event(event_ics(f"s{i}@x", f"Server {i}"))
    integration = connect(member, calendar, server, url, run_on_commit)
    cal.add_event(event_ics("new@x", "Added while expired"))
    Integration.objects.filter(pk=integration.pk).update(remote_cursor=integration.remote_cursor[:-8] + "0" * 8)
    run = sync_now(integration, run_on_commit)
    assert run.entries.filter(message__contains="comparing everything").exists()
    assert run.to_calsync == {"created": 1, "updated": 0, "deleted": 0} and run.to_remote["created"] == 0
    assert titles(calendar) == ["Added while expired", "Server 0", "Server 1", "Server 2"]
    assert len(server_uids(cal)) == 4


def test_tasks_sync_where_the_calendar_takes_them(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    from events.ical import Component, Item

    server, url, cal = remote
    events.item_save(
        calendar=calendar,
        item=Item(master=Component(kind="VTODO", uid="todo@calsync", summary="File report", priority=1)),
    )
    connect(member, calendar, server, url, run_on_commit)
    assert "File report" in [str(t.icalendar_component["SUMMARY"]) for t in cal.todos()]


def event_ics(uid: str, summary: str) -> str:
    from events.ical import serialise

    return serialise([event(uid, summary)])


# --- connecting -----------------------------------------------------------------------------------


def test_connect_flow_checks_credentials_and_picks_the_only_calendar(
    client, member, calendar, radicale, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    client.force_login(member)
    form = {"url": radicale.base_url, "username": "alice", "password": "wrong"}
    page = client.post(reverse("integrations:caldav_connect"), form).content.decode()
    assert "refused the username or app password" in page
    assert 'value="wrong"' not in page  # the password is never rendered back
    page = client.post(reverse("integrations:caldav_connect"), {**form, "url": "http://127.0.0.1:9/"}).content.decode()
    assert "Could not reach 127.0.0.1:9" in page
    page = client.post(
        reverse("integrations:caldav_connect"), {**form, "username": "bob", "password": "bobs-password"}
    ).content.decode()
    assert "has no calendars" in page
    url = radicale.new_calendar("Only one")  # alice may have others from other tests: pick this one
    response = client.post(reverse("integrations:caldav_connect"), {**form, "password": "app-password-1"})
    assert response.status_code == 302
    assert "app-password-1" not in json.dumps(client.session["caldav_pending"])
    page = client.get(reverse("integrations:caldav_choose")).content.decode()
    assert "Only one" in page
    settings = {"remote": url, "calendar": calendar.pk, "sync_enabled": "on", "direction": "both",
                "primary": "calsync", "automatic": "true", "error_email": member.email}  # fmt: skip
    with run_on_commit():
        response = client.post(reverse("integrations:caldav_choose"), settings)
    integration = Integration.objects.get(provider="caldav")
    assert response["Location"] == reverse("integrations:detail", args=[integration.pk])
    assert not integration.runs.exists()  # the first sync waits for its preview's confirmation
    confirm_first_sync(client, integration, run_on_commit)
    assert integration.runs.get().status == "success"
    assert (
        "app-password-1" not in integration.credentials_encrypted
        and integration.credentials["password"] == "app-password-1"
    )
    detail = client.get(response["Location"]).content.decode()
    assert "app-password-1" not in detail and "Update credentials" in detail
    again = client.post(reverse("integrations:caldav_connect"), {**form, "password": "app-password-1"})
    assert again.status_code == 302
    assert "already connected" in client.post(reverse("integrations:caldav_choose"), settings).content.decode()


def test_update_credentials_replaces_the_password(client, member, calendar, radicale, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    url = radicale.new_calendar()
    integration = connect(member, calendar, radicale, url, run_on_commit)
    integration.set_credentials({"password": "revoked"})
    integration.save()
    run = sync_services.sync_execute(run_id=sync_services.sync_request(integration=integration, trigger="manual").pk)
    integration.refresh_from_db()
    assert run.status == "failed" and integration.status == "needs_reauth"
    client.force_login(member)
    page = client.post(reverse("integrations:caldav_credentials", args=[integration.pk]),
                       {"username": "alice", "password": "nope"}).content.decode()  # fmt: skip
    assert "refused the username or app password" in page
    with run_on_commit():
        client.post(reverse("integrations:caldav_credentials", args=[integration.pk]),
                    {"username": "alice", "password": "app-password-1"})  # fmt: skip
    integration.refresh_from_db()
    assert integration.status == "ok" and integration.runs.first().status == "success"


def test_tls_failures_are_named(tls_server) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConnectError) as info:
        caldav_discover(url=tls_server, username="a", password="b")
    assert info.value.kind == "tls" and "certificate" in str(info.value)


def test_connect_command_prints_the_integration(member, calendar, radicale, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url = radicale.new_calendar("Scripted")
    monkeypatch.setenv("CALDAV_PW", "app-password-1")
    out = io.StringIO()
    call_command("connect_caldav", "--tenant", "acme", "--user", member.email, "--url", radicale.base_url,
                 "--username", "alice", "--password-env", "CALDAV_PW", "--calendar", url, "--direction",
                 "to_calsync", "--manual", "--json", stdout=out)  # fmt: skip
    data = json.loads(out.getvalue())
    assert data["remote_calendar"] == {"url": url, "name": "Scripted"} and data["automatic"] is False
    assert data["direction"] == "to_calsync" and "app-password-1" not in out.getvalue()
    with pytest.raises(CommandError, match="refused the username"):
        monkeypatch.setenv("CALDAV_PW", "bad")
        call_command("connect_caldav", "--tenant", "acme", "--user", member.email, "--url", radicale.base_url,
                     "--username", "alice", "--password-env", "CALDAV_PW", "--calendar", url)  # fmt: skip


def test_an_item_the_server_refuses_is_reported_and_the_rest_syncs(member, calendar, radicale, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    """Radicale keeps the component set given at MKCALENDAR (Xandikos accepts every component)."""
    from events.ical import Component, Item

    caldav_server = radicale
    url = caldav_server.new_calendar("Events only", components=("VEVENT",))
    events.item_save(calendar=calendar, item=Item(master=Component(kind="VTODO", uid="t@calsync", summary="A task")))
    events.item_save(calendar=calendar, item=event("e@calsync", "An event"))
    integration = connect(member, calendar, caldav_server, url, run_on_commit)
    run = integration.runs.get()
    assert run.status == "partial" and run.to_remote["created"] == 1
    unsynced = integration.unsynced_items.get()
    assert unsynced.uid == "t@calsync" and "does not accept tasks" in unsynced.reason


def test_series_round_trip_keeps_every_field(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    server, url, _ = remote
    events.item_save(calendar=calendar, item=series("weekly@calsync", "Weekly", moved_summary="Moved"))
    connect(member, calendar, server, url, run_on_commit)
    original = item_from_event(Event.objects.get(calendar=calendar, parent=None))
    side = CalDAVSide(CalDAVClient(server.base_url, server.username, server.password), url)
    assert side.find("weekly@calsync").item == original


@pytest.mark.parametrize("supports_sync", [True, False])
def test_a_no_op_read_is_one_request_whatever_the_size(radicale, supports_sync) -> None:  # type: ignore[no-untyped-def]
    url = radicale.new_calendar()
    client = CalDAVClient(radicale.base_url, radicale.username, radicale.password)
    side = CalDAVSide(client, url, supports_sync=supports_sync)
    for i in range(30):
        side.create(event(f"e{i}@calsync"))
    cursor = side.changes(None).cursor
    sent = []
    original = client.request
    client.request = lambda *args, **kwargs: sent.append(args[0]) or original(*args, **kwargs)  # type: ignore[method-assign]
    changes = side.changes(cursor)
    assert list(changes.changed) == [] and len(sent) == 1
    side.create(event("one-more@calsync"))
    assert [e.uid for e in side.changes(cursor).changed] == ["one-more@calsync"]


def test_disconnect_forgets_the_password_and_keeps_the_events(
    client, member, calendar, radicale, run_on_commit
) -> None:  # type: ignore[no-untyped-def]
    url = radicale.new_calendar()
    caldav.DAVClient(url=radicale.base_url, username="alice", password="app-password-1").calendar(url=url).add_event(
        event_ics("kept@x", "Kept after disconnect")
    )
    integration = connect(member, calendar, radicale, url, run_on_commit)
    client.force_login(member)
    client.post(reverse("integrations:disconnect", args=[integration.pk]))
    assert not Integration.objects.filter(pk=integration.pk).exists()
    assert titles(calendar) == ["Kept after disconnect"]


def test_rotating_the_encryption_key_keeps_credentials_readable(
    member, calendar, radicale, run_on_commit, settings
) -> None:  # type: ignore[no-untyped-def]
    from cryptography.fernet import Fernet

    from calsync import crypto

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [old]
    crypto.reset_cache()
    try:
        integration = connect(member, calendar, radicale, radicale.new_calendar(), run_on_commit)
        before = Integration.objects.get(pk=integration.pk).credentials_encrypted
        # An organisation-wide secret too: it is encrypted with the same keys.
        from integrations.models import ExchangeServer

        server = ExchangeServer.objects.create(
            tenant=member.tenant, ews_url="https://mail.example.com/EWS/Exchange.asmx", username="sync",
            password_encrypted=crypto.encrypt({"password": "sync-pass"}), sync_email="sync@example.com",
        )  # fmt: skip
        settings.ENCRYPTION_KEYS = [new, old]
        crypto.reset_cache()
        call_command("rotate_encryption_keys", stdout=io.StringIO())
        settings.ENCRYPTION_KEYS = [new]
        crypto.reset_cache()
        after = Integration.objects.get(pk=integration.pk)
        assert after.credentials_encrypted != before and after.credentials == {"password": "app-password-1"}
        assert ExchangeServer.objects.get(pk=server.pk).password == "sync-pass"
        settings.ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
        crypto.reset_cache()
        run = sync_services.sync_execute(run_id=sync_services.sync_request(integration=after, trigger="manual").pk)
        assert run.status == "failed" and "cannot be decrypted" in run.error
    finally:
        crypto.reset_cache()


def test_a_uid_unlike_its_resource_name_is_updated_in_place(member, calendar, remote, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    import niquests

    server, url, cal = remote
    with niquests.Session() as session:
        session.trust_env = False
        response = session.put(f"{url}named-by-the-client.ics", data=event_ics("a-quite-different-uid@x", "Odd name"),
                               auth=(server.username, server.password),
                               headers={"Content-Type": "text/calendar"})  # fmt: skip
    assert response.status_code == 201
    integration = connect(member, calendar, server, url, run_on_commit)
    events.item_save(calendar=calendar, item=event("a-quite-different-uid@x", "Renamed in calsync"))
    sync_now(integration, run_on_commit)
    [obj] = cal.events()
    assert str(obj.url).endswith("/named-by-the-client.ics")
    assert str(obj.icalendar_component["SUMMARY"]) == "Renamed in calsync"


@pytest.mark.parametrize(
    ("url", "allow", "message"),
    [
        ("https://alice:secret@caldav.example.com/", True, "Leave the username and password out"),
        ("http://caldav.example.com/", False, "Use an https:// address"),
        ("https://127.0.0.1:5232/", False, "inside its own network"),
        ("https://10.1.2.3/", False, "inside its own network"),
        ("not a url at all://", True, "Enter the server address"),
    ],
)
def test_server_addresses_that_are_refused(settings, url, allow, message) -> None:  # type: ignore[no-untyped-def]
    settings.CALDAV_ALLOW_HTTP = settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = allow
    with pytest.raises(ConnectError, match=message):
        caldav_discover(url=url, username="alice", password="secret")


def test_discovery_reads_every_successful_propstat() -> None:
    from lxml import etree

    from integrations.caldav.client import _calendar

    response = etree.fromstring(
        '<d:response xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:href>/cal/</d:href>'
        "<d:propstat><d:prop><ic:calendar-color xmlns:ic='http://apple.com/ns/ical/'/></d:prop>"
        "<d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>"
        "<d:propstat><d:prop><d:resourcetype><d:collection/><c:calendar/></d:resourcetype>"
        "<d:displayname>Team</d:displayname><d:current-user-privilege-set><d:privilege><d:read/></d:privilege>"
        "</d:current-user-privilege-set></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
    )
    calendar = _calendar(response, "https://dav.example.com/")
    assert calendar is not None and calendar.name == "Team" and calendar.writable is False


def test_a_server_that_now_points_inside_calsyncs_network_is_not_synced(member, calendar, radicale, run_on_commit,
                                                                         settings) -> None:  # fmt: skip
    integration = connect(member, calendar, radicale, radicale.new_calendar(), run_on_commit)
    settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = False  # production: Radicale's 127.0.0.1 is calsync's own network
    run = sync_services.sync_execute(run_id=sync_services.sync_request(integration=integration, trigger="manual").pk)
    assert run.status == "failed" and "inside its own network" in run.error
