"""Exchange on-premises end to end against the project's EWS emulator, through exchangelib: connect with
"Test Exchange Settings", syncs through the Celery task, series, sync state expiry, server busy, a changed
password, Update credentials, and the organisation's sync account (impersonation and delegate access)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.urls import reverse

from emulators.exchange.state import State
from events import services as events
from events.models import Event
from integrations import quota
from integrations.exchange.adapter import ExchangeSide
from integrations.exchange.client import Server, account, gate
from integrations.exchange.services import server_for
from integrations.models import ExchangeServer, Integration
from sync import services as sync_services
from sync.errors import PreconditionFailed
from sync.models import SyncRun
from tests.previews import confirm_first_sync
from tests.sync.items import event
from tests.sync.items import series as calsync_series

from .reads import assert_read_as_get

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
PASSWORD = "s3cret-pass"
SETTINGS = {"sync_enabled": "on", "direction": "both", "primary": "calsync", "automatic": "true",
            "error_email": "alerts@acme.test"}  # fmt: skip


def _login(exchange, name: str) -> str:  # type: ignore[no-untyped-def]
    address = f"{name}@corp.example"
    exchange.state.mailbox(address, name.title(), password=PASSWORD, username=f"CORP\\{name}")
    return address


def connect(member_client, exchange, calendar, run_on_commit, name: str = "ann", folder: str = "Calendar"):  # type: ignore[no-untyped-def]
    address = (
        _login(exchange, name) if f"{name}@corp.example" not in exchange.state.mailboxes else f"{name}@corp.example"
    )
    answer = member_client.post(reverse("integrations:exchange_connect"), {
        "url": exchange.url, "domain": "corp", "username": name, "password": PASSWORD, "mailbox": address})  # fmt: skip
    assert answer.status_code == 302 and answer["Location"] == reverse("integrations:exchange_choose"), (
        answer.content.decode()[-3000:]
    )
    box = exchange.state.mailboxes[address]
    remote = next(f.id for f in box.folders.values() if f.name == folder)
    with run_on_commit():
        done = member_client.post(reverse("integrations:exchange_choose"),
                                  {"remote": remote, "calendar": calendar.pk, **SETTINGS})  # fmt: skip
    assert done.status_code == 302, done.content.decode()[-3000:]
    integration = Integration.objects.get(provider="exchange", remote_calendar_id=remote)
    return confirm_first_sync(member_client, integration, run_on_commit)


def outlook(exchange, address: str, folder: str = "Calendar") -> ExchangeSide:  # type: ignore[no-untyped-def]
    """Another client on the same Exchange calendar (the user in Outlook)."""
    name = address.split("@")[0]
    box = exchange.state.mailboxes[address]
    folder_id = next(f.id for f in box.folders.values() if f.name == folder)
    return ExchangeSide(account(Server(exchange.url, name, PASSWORD, "CORP"), address), folder_id, "Europe/Berlin")


def sync_now(integration, run_on_commit) -> SyncRun:  # type: ignore[no-untyped-def]
    with run_on_commit():
        run = sync_services.sync_request(integration=integration, trigger="manual")
    run.refresh_from_db()
    return run


def test_test_exchange_settings_then_choose_and_first_sync(member_client, calendar, exchange, run_on_commit) -> None:
    events.item_save(calendar=calendar, item=event("from-calsync@x", "From calsync"))
    exchange.state.mailbox("ann@corp.example", "Ann", password=PASSWORD, username="CORP\\ann")
    exchange.state.add_folder("ann@corp.example", "Team")
    exchange.state.add_folder("ann@corp.example", "Holidays", writable=False)
    integration = connect(member_client, exchange, calendar, run_on_commit)
    assert integration.config == {"auth": "password", "account": "ann@corp.example", "url": exchange.url,
                                  "domain": "CORP", "username": "ann"}  # fmt: skip
    assert PASSWORD not in integration.credentials_encrypted and integration.credentials == {"password": PASSWORD}
    run = integration.runs.get()
    assert run.status == "success", run.error
    assert [e.item.master.summary for e in outlook(exchange, "ann@corp.example").changes(None).changed] == [
        "From calsync"
    ]
    # The choice listed every calendar folder, the read-only one marked as syncing into calsync only.
    member_client.post(reverse("integrations:exchange_connect"), {
        "url": exchange.url, "domain": "CORP", "username": "ann", "password": PASSWORD,
        "mailbox": "ann@corp.example"})  # fmt: skip
    page = member_client.get(reverse("integrations:exchange_choose")).content.decode()
    assert "Holidays (read only: syncs into calsync only)" in page and "Team" in page
    assert PASSWORD not in str(dict(member_client.session))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password": "wrong"}, "refused the username or password"),
        ({"url": "http://127.0.0.1:9/EWS/Exchange.asmx"}, "could not reach 127.0.0.1"),
        ({"mailbox": "nobody@corp.example"}, "denied access to this calendar"),
        ({"url": "ftp://mail.corp.example"}, "Enter the server address"),
    ],
)
def test_test_exchange_settings_says_what_is_wrong_and_stores_nothing(member_client, exchange, change,
                                                                       message) -> None:  # fmt: skip
    _login(exchange, "bob")
    exchange.state.mailbox("nobody@corp.example")
    form = {"url": exchange.url, "domain": "CORP", "username": "bob", "password": PASSWORD,
            "mailbox": "bob@corp.example", **change}  # fmt: skip
    page = member_client.post(reverse("integrations:exchange_connect"), form).content.decode()
    assert message in page
    assert form["password"] not in page
    assert "exchange_pending" not in member_client.session and not Integration.objects.exists()


def test_https_is_required_outside_development(member_client, exchange, settings) -> None:
    settings.EXCHANGE_ALLOW_HTTP = False
    _login(exchange, "carl")
    form = {"url": exchange.url, "username": "carl", "password": PASSWORD, "mailbox": "carl@corp.example"}
    page = member_client.post(reverse("integrations:exchange_connect"), form).content.decode()
    assert "Use an https:// address" in page


def test_the_page_points_office_365_to_graph(member_client, exchange) -> None:
    page = member_client.get(reverse("integrations:exchange_connect")).content.decode()
    assert "outlook.office365.com" in page and reverse("integrations:microsoft_connect") in page


def test_two_way_create_edit_delete(member_client, calendar, exchange, run_on_commit) -> None:
    integration = connect(member_client, exchange, calendar, run_on_commit, name="twoway")
    remote = outlook(exchange, "twoway@corp.example")
    created = remote.create(event("in-outlook@x", "Made in Outlook"))
    local = events.item_save(calendar=calendar, item=event("in-calsync@x", "Made in calsync", day=1)).event
    assert sync_now(integration, run_on_commit).status == "success"
    assert Event.objects.get(calendar=calendar, uid="in-outlook@x", parent=None).title == "Made in Outlook"
    remote.update(created.id, event("in-outlook@x", "Edited in Outlook"), remote.get(created.id).version)
    local.refresh_from_db()
    events.item_save(calendar=calendar, item=event("in-calsync@x", "Edited in calsync", day=1), name=local.name)
    assert sync_now(integration, run_on_commit).status == "success"
    assert Event.objects.get(calendar=calendar, uid="in-outlook@x", parent=None).title == "Edited in Outlook"
    assert remote.find("in-calsync@x").item.master.summary == "Edited in calsync"
    remote.delete(created.id, remote.get(created.id).version)
    events.item_delete(event=Event.objects.get(calendar=calendar, uid="in-calsync@x", parent=None))
    assert sync_now(integration, run_on_commit).status == "success"
    assert not Event.objects.filter(calendar=calendar).exists()
    assert list(remote.changes(None).changed) == []
    # calsync's delete went to Deleted Items, where the user can still get it back, not gone for good.
    deleted = exchange.state.mailboxes["twoway@corp.example"].deleted_items.values()
    assert "Edited in calsync" in [i["subject"] for i in deleted]


def test_a_weekly_series_with_an_edited_and_a_cancelled_occurrence(member_client, calendar, exchange,
                                                                   run_on_commit) -> None:  # fmt: skip
    integration = connect(member_client, exchange, calendar, run_on_commit, name="series")
    state = exchange.state
    folder = state.folder("series@corp.example", distinguished="calendar")
    login = state.logins["corp\\series"]
    start = dt.datetime(2026, 11, 23, 9, 30, tzinfo=BERLIN)
    series = state.create("series@corp.example", folder.id, {
        "subject": "Standup", "start": start, "end": start + dt.timedelta(minutes=15),
        "start_tz": "W. Europe Standard Time", "recurrence": {
            "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "monday"},
            "range": {"type": "numbered", "numberOfOccurrences": 5, "startDate": "2026-11-23"}}})  # fmt: skip
    second = state.occurrence("series@corp.example", login, series["id"], 2)
    moved = dt.datetime(2026, 12, 1, 14, 0, tzinfo=BERLIN)
    changes = {"subject": "Standup (moved)", "start": moved, "end": moved + dt.timedelta(minutes=15)}
    state.update("series@corp.example", login, second, changes, set(), None)
    state.delete("series@corp.example", login, series["id"], index=4)
    assert sync_now(integration, run_on_commit).status == "success"
    master = Event.objects.get(calendar=calendar, title="Standup", parent=None)
    assert master.rrule == "FREQ=WEEKLY;COUNT=5" and master.timezone == "Europe/Berlin"
    assert [(o.title, o.start) for o in master.overrides.all()] == [("Standup (moved)", moved)]
    assert master.exdates == ["2026-12-14T09:30:00;Europe/Berlin"]

    # Back the other way: cancel the first occurrence in calsync.
    events.occurrence_cancel(master=master, recurrence_id=start)
    assert sync_now(integration, run_on_commit).status == "success"
    stored = folder.items[series["id"]]
    assert sorted(stored["deleted"]) == [start.astimezone(dt.UTC).isoformat(),
                                         (start + dt.timedelta(weeks=3)).astimezone(dt.UTC).isoformat()]  # fmt: skip
    assert [e["subject"] for e in stored["exceptions"].values()] == ["Standup (moved)"]
    entry = outlook(exchange, "series@corp.example").get(series["id"])
    assert len(entry.item.overrides) == 1 and len(entry.item.master.exdates) == 2


def test_a_series_made_in_calsync_arrives_whole(member_client, calendar, exchange, run_on_commit) -> None:
    integration = connect(member_client, exchange, calendar, run_on_commit, name="whole")
    events.item_save(calendar=calendar, item=calsync_series("weekly@x", "Weekly review"))
    assert sync_now(integration, run_on_commit).status == "success"
    entry = outlook(exchange, "whole@corp.example").find("weekly@x")
    assert entry is not None and entry.item.master.rrule
    mine = Event.objects.get(calendar=calendar, uid="weekly@x", parent=None)
    assert len(entry.item.overrides) == mine.overrides.count() and entry.item.master.summary == "Weekly review"


def test_sync_state_expiry_means_a_full_resync_without_duplicates(member_client, calendar, exchange,
                                                                  run_on_commit) -> None:  # fmt: skip
    integration = connect(member_client, exchange, calendar, run_on_commit, name="expired")
    remote = outlook(exchange, "expired@corp.example")
    for n in range(3):
        remote.create(event(f"o{n}@x", f"Outlook {n}", day=n))
    exchange.state.expire_sync_states()
    assert sync_now(integration, run_on_commit).status == "success"
    assert sync_now(integration, run_on_commit).status == "success"
    assert Event.objects.filter(calendar=calendar, parent=None).count() == 3
    assert len(list(remote.changes(None).changed)) == 3


def test_a_busy_server_is_retried_after_the_back_off_it_asked_for(member_client, calendar, exchange,
                                                                 run_on_commit, monkeypatch) -> None:  # fmt: skip
    integration = connect(member_client, exchange, calendar, run_on_commit, name="busy")
    events.item_save(calendar=calendar, item=event("b@x", "Local"))
    asked: list[float] = []
    real = sync_services.sync_request

    def record(**kwargs):  # type: ignore[no-untyped-def]
        asked.append(kwargs.get("delay", 0))
        quota.resume(gate(server_for(integration)))  # the retry comes after the back-off: Exchange serves again
        return real(**{**kwargs, "delay": 0})

    monkeypatch.setattr(sync_services, "sync_request", record)
    exchange.state.faults.update(busy=1, back_off_ms=90_000)
    run = sync_now(integration, run_on_commit)
    assert run.status == "retrying" and "busy" in run.error
    # The manual run, then its retry after Exchange's BackOffMilliseconds (longer than calsync's own first wait).
    assert asked == [0, 90.0]
    assert integration.runs.order_by("-pk").first().status == "success"
    assert [e.item.master.summary for e in outlook(exchange, "busy@corp.example").changes(None).changed] == ["Local"]


def test_a_changed_password_needs_update_credentials(member_client, calendar, exchange, run_on_commit) -> None:
    integration = connect(member_client, exchange, calendar, run_on_commit, name="moved")
    exchange.state.logins["corp\\moved"].password = "new-password"
    mail.outbox.clear()
    run = sync_now(integration, run_on_commit)
    integration.refresh_from_db()
    assert run.status == "failed" and integration.status == "needs_reauth"
    assert "Update credentials" in run.error and len(mail.outbox) == 1
    page = member_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert reverse("integrations:exchange_credentials", args=[integration.pk]) in page
    url = reverse("integrations:exchange_credentials", args=[integration.pk])
    wrong = member_client.post(url, {"url": exchange.url, "domain": "CORP", "username": "moved",
                                     "password": "still-wrong"}).content.decode()  # fmt: skip
    assert "refused the username or password" in wrong
    # The server moved too (Scoro asks people to write in for that; here it is one more field).
    moved = State()
    moved.mailboxes = exchange.state.mailboxes
    moved.add_login("CORP\\moved", "new-password", "moved@corp.example")
    from emulators.exchange.app import serve

    _app, server, new_url = serve(state=moved)
    try:
        with run_on_commit():
            done = member_client.post(url, {"url": new_url, "domain": "CORP", "username": "moved",
                                            "password": "new-password"})  # fmt: skip
        assert done.status_code == 302, done.content.decode()[-2000:]
        integration.refresh_from_db()
        assert integration.status == "ok" and integration.config["url"] == new_url
        assert integration.credentials == {"password": "new-password"}
        assert integration.runs.order_by("-pk").first().status == "success"
    finally:
        server.shutdown()


def test_a_crash_between_create_and_mapping_is_found_not_duplicated(exchange, exchange_mailbox) -> None:
    address, server = exchange_mailbox
    side = ExchangeSide(account(server, address), exchange.state.folder(address, distinguished="calendar").id)
    first = side.create(event("once@x", "Once"))
    assert side.find("once@x").id == first.id  # what the engine asks before creating again
    assert side.find("never@x") is None


# --- organisation-wide (the sync account) -----------------------------------------------------------------


def _organisation(admin_client_, exchange, access: str = "impersonation", password: str = "sync-pass",  # noqa: S107
                  aliases: str = "corp.example"):  # type: ignore[no-untyped-def]  # fmt: skip
    data = {"url": exchange.url, "domain": "CORP", "username": "calsync-sync", "password": password,
            "sync_email": "calsync-sync@corp.example", "access": access, "enabled": "on", "aliases": aliases,
            "test": "1"}  # fmt: skip
    return admin_client_.post(reverse("integrations:exchange_organisation"), data, follow=True).content.decode()


@pytest.fixture
def sync_account(exchange):  # type: ignore[no-untyped-def]
    exchange.state.mailbox("calsync-sync@corp.example")
    exchange.state.mailbox("admin@corp.example")  # admin@acme.test in calsync
    return exchange.state.add_login("CORP\\calsync-sync", "sync-pass", "calsync-sync@corp.example")


def test_test_exchange_settings_explains_each_failure(admin_client_, exchange, sync_account) -> None:
    assert "refused the username or password" in _organisation(admin_client_, exchange, password="nope")
    assert "nope" not in ExchangeServer.objects.get().password_encrypted
    assert "ApplicationImpersonation role" in _organisation(admin_client_, exchange)
    sync_account.impersonation = True
    assert "No mailbox of admin@acme.test could be reached" in _organisation(admin_client_, exchange, aliases="")
    works = _organisation(admin_client_, exchange)
    assert "Works: calsync logged in as CORP\\calsync-sync" in works and "admin@corp.example" in works
    assert ExchangeServer.objects.get().test_ok
    # Delegate access instead: the admin has not given the sync account access to their calendar yet.
    assert "denied access" in _organisation(admin_client_, exchange, access="delegate")
    exchange.state.mailboxes["admin@corp.example"].delegates.add("corp\\calsync-sync")
    assert "Works:" in _organisation(admin_client_, exchange, access="delegate")


def test_the_sync_account_is_used_only_as_tested_and_only_outside_calsync(admin_client_, exchange, sync_account,
                                                                           settings, member) -> None:  # fmt: skip
    from integrations.exchange.services import server_for

    sync_account.impersonation = True
    assert "Works:" in _organisation(admin_client_, exchange)
    integration = Integration(tenant=member.tenant, user=member, provider="exchange",
                              config={"auth": "organisation", "account": "member@corp.example"})  # fmt: skip
    assert server_for(integration).login == "CORP\\calsync-sync"
    assert "calsync-sync" in repr(server_for(integration)) and "sync-pass" not in repr(server_for(integration))
    # Saved but not tested: nobody's login goes to the changed server until an admin tests it.
    form = {"url": exchange.url, "domain": "CORP", "username": "someone-else", "password": "", "access":
            "impersonation", "sync_email": "calsync-sync@corp.example", "enabled": "on", "aliases": "corp.example",
            "save": "1"}  # fmt: skip
    admin_client_.post(reverse("integrations:exchange_organisation"), form)
    from sync.errors import PermanentError

    with pytest.raises(PermanentError, match="Test Exchange Settings"):
        server_for(integration)
    # An address inside calsync's own network is refused where that is switched off (production).
    settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = False
    page = admin_client_.post(reverse("integrations:exchange_organisation"), {**form, "url": "http://127.0.0.1/EWS"})
    assert "inside its own network" in page.content.decode()


def test_a_user_on_an_alias_domain_connects_through_the_sync_account(admin_client_, client, member, calendar,
                                                                      exchange, sync_account,
                                                                      run_on_commit) -> None:  # fmt: skip
    sync_account.impersonation = True
    box = exchange.state.mailbox("member@corp.example")  # member@acme.test in calsync
    exchange.state.mailbox("someone.else@corp.example")
    assert "Works:" in _organisation(admin_client_, exchange)
    client.force_login(member)
    assert "connect-exchange-organisation" in client.get(reverse("settings")).content.decode()
    assert client.get(reverse("integrations:exchange_connect_organisation"))["Location"] == reverse(
        "integrations:exchange_choose"
    )
    events.item_save(calendar=calendar, item=event("via-org@x", "Via the organisation"))
    folder = next(iter(box.folders.values()))
    with run_on_commit():
        client.post(reverse("integrations:exchange_choose"), {"remote": folder.id, "calendar": calendar.pk,
                                                               **SETTINGS})  # fmt: skip
    integration = confirm_first_sync(client, Integration.objects.get(provider="exchange"), run_on_commit)
    assert integration.config == {"auth": "organisation", "account": "member@corp.example"}
    assert integration.credentials == {}
    run = integration.runs.get()
    assert run.status == "success", run.error
    assert [i["subject"] for i in folder.items.values()] == ["Via the organisation"]
    # Nobody else's calendar: the session's pending choice is the member's own mailbox only.
    other = next(iter(exchange.state.mailboxes["someone.else@corp.example"].folders.values()))
    client.get(reverse("integrations:exchange_connect_organisation"))
    page = client.post(reverse("integrations:exchange_choose"), {"remote": other.id, "calendar": calendar.pk,
                                                                  **SETTINGS}).content.decode()  # fmt: skip
    assert "Select a valid choice" in page
    assert not Integration.objects.filter(remote_calendar_id=other.id).exists()


def test_all_day_private_free_events_with_guests_and_a_reminder_round_trip(exchange, exchange_mailbox) -> None:
    from events.ical import Alarm, Attendee, Component, Item
    from sync.engine import content_hash

    address, server = exchange_mailbox
    folder = exchange.state.folder(address, distinguished="calendar")
    side = ExchangeSide(account(server, address), folder.id, "Europe/Berlin")
    item = Item(master=Component(
        uid="offsite@x", summary="Offsite", description="Bring <laptops> & chargers", start=dt.date(2026, 12, 3),
        end=dt.date(2026, 12, 5), visibility="PRIVATE", transparency="TRANSPARENT",
        attendees=(Attendee("bob@example.com", "Bob", "ACCEPTED"),
                   Attendee("eve@example.com", "Eve", "DECLINED", "OPT-PARTICIPANT")),
        alarms=(Alarm(trigger="-PT30M", description="Reminder"),),
    ))  # fmt: skip
    created = side.create(item)
    stored = folder.items[created.id]
    assert stored["is_all_day"] and stored["sensitivity"] == "Private" and stored["free_busy"] == "Free"
    assert stored["end"] - stored["start"] == dt.timedelta(days=2)  # two whole days, as in calsync
    assert stored["reminder_is_set"] and stored["reminder_minutes"] == 30
    assert [(a, r) for a, _n, r in stored["required"] + stored["optional"]] == [
        ("bob@example.com", "Accept"), ("eve@example.com", "Decline")]  # fmt: skip
    again = side.get(created.id).item
    assert (again.master.start, again.master.end) == (dt.date(2026, 12, 3), dt.date(2026, 12, 5))
    assert [a.partstat for a in again.master.attendees] == ["ACCEPTED", "DECLINED"]
    assert content_hash(Item(master=again.master.__class__(**{**again.master.__dict__, "organizer": None}))) == (
        content_hash(item)
    )
    # A time in Berlin comes back in Berlin, and what Exchange cannot hold is refused for that one item.
    timed = side.create(event("berlin@x", "Call"))
    assert side.get(timed.id).item.master.start == event("berlin@x").master.start
    assert str(side.get(timed.id).item.master.start.tzinfo) == str(event("b@x").master.start.tzinfo)
    from sync.errors import ItemRejected

    with pytest.raises(ItemRejected, match="RDATE"):
        side.create(event("rdate@x", rrule="FREQ=WEEKLY", rdates=(dt.datetime(2026, 12, 24, 10, tzinfo=BERLIN),)))
    with pytest.raises(ItemRejected, match="tasks"):
        side.create(Item(master=Component(kind="VTODO", uid="task@x", summary="Task")))


def _series_side(exchange, exchange_mailbox, zone: str = "Europe/Berlin"):  # type: ignore[no-untyped-def]
    address, server = exchange_mailbox
    folder = exchange.state.folder(address, distinguished="calendar")
    return ExchangeSide(account(server, address), folder.id, zone), folder


def test_an_all_day_series_keeps_its_days_where_the_calendar_is(exchange, exchange_mailbox) -> None:
    from events.ical import Component, Item

    side, folder = _series_side(exchange, exchange_mailbox)
    first = dt.date(2026, 12, 7)
    item = Item(master=Component(uid="allday@x", summary="Home office", start=first, end=first + dt.timedelta(days=1),
                                 rrule="FREQ=WEEKLY;COUNT=4", exdates=(dt.date(2026, 12, 14),)))  # fmt: skip
    created = side.create(item)
    stored = folder.items[created.id]
    # Midnight in Berlin, not in UTC: Outlook in Berlin shows whole days.
    assert (
        stored["start"] == dt.datetime(2026, 12, 7, tzinfo=BERLIN) and stored["start_tz"] == "W. Europe Standard Time"
    )
    back = side.get(created.id).item.master
    assert (back.start, back.end, back.exdates) == (first, first + dt.timedelta(days=1), (dt.date(2026, 12, 14),))


def test_a_cancelled_occurrence_brought_back_in_calsync_comes_back_in_exchange(exchange, exchange_mailbox) -> None:
    from dataclasses import replace

    side, folder = _series_side(exchange, exchange_mailbox)
    start = dt.datetime(2026, 11, 23, 9, 30, tzinfo=BERLIN)
    moved = dt.datetime(2026, 12, 1, 14, tzinfo=BERLIN)
    from events.ical import Component, Item

    master = Component(uid="restore@x", summary="Standup", start=start, end=start + dt.timedelta(minutes=15),
                       rrule="FREQ=WEEKLY;COUNT=5", exdates=(start + dt.timedelta(weeks=3),))  # fmt: skip
    override = Component(uid="restore@x", recurrence_id=start + dt.timedelta(weeks=1), summary="Moved", start=moved,
                         end=moved + dt.timedelta(minutes=15))  # fmt: skip
    created = side.create(Item(master=master, overrides=(override,)))
    assert len(folder.items[created.id]["deleted"]) == 1
    exception_id = next(iter(folder.items[created.id]["exceptions"].values()))["id"]
    # A new title only: the series' timing is not written again, so Exchange keeps its exception as it was.
    retitled = side.update(created.id, Item(master=replace(master, summary="Daily standup"), overrides=(override,)),
                           created.version)  # fmt: skip
    assert next(iter(folder.items[created.id]["exceptions"].values()))["id"] == exception_id
    # The cancelled occurrence comes back: Exchange can only do that by writing the pattern again.
    restored = side.update(created.id, Item(master=replace(master, summary="Daily standup", exdates=()),
                                            overrides=(override,)), retitled.version)  # fmt: skip
    assert folder.items[created.id]["deleted"] == []
    assert restored.item.master.exdates == () and [o.summary for o in restored.item.overrides] == ["Moved"]


def test_what_exchange_refuses_for_one_event_does_not_stop_the_others(member_client, calendar, exchange,
                                                                      run_on_commit) -> None:  # fmt: skip
    from events.ical import Component, Item

    integration = connect(member_client, exchange, calendar, run_on_commit, name="refused")
    start = dt.datetime(2026, 11, 23, 9, tzinfo=BERLIN)
    # Outlook keeps occurrences in order: the second may not move past the third (ErrorOccurrenceCrossingBoundary).
    crossing = Item(master=Component(uid="cross@x", summary="Weekly", start=start, end=start + dt.timedelta(hours=1),
                                     rrule="FREQ=WEEKLY;COUNT=4"),
                    overrides=(Component(uid="cross@x", recurrence_id=start + dt.timedelta(weeks=1), summary="Late",
                                         start=start + dt.timedelta(weeks=2, days=1),
                                         end=start + dt.timedelta(weeks=2, days=1, hours=1)),))  # fmt: skip
    events.item_save(calendar=calendar, item=crossing)
    events.item_save(calendar=calendar, item=event("long@x", "x" * 300, day=1))  # longer than Exchange's 255
    events.item_save(calendar=calendar, item=event("fine@x", "Fine", day=2))
    run = sync_now(integration, run_on_commit)
    assert run.status == "partial", run.error  # done, with two events listed as not synced
    remote = outlook(exchange, "refused@corp.example")
    assert remote.find("fine@x") is not None
    page = member_client.get(reverse("integrations:detail", args=[integration.pk])).content.decode()
    assert "OccurrenceCrossingBoundary" in page and "exceeds length 255" in page
    assert remote.find("cross@x") is None  # not half a series: nothing, and the reason on the page


def test_a_refused_event_in_a_first_sync_batch_leaves_no_duplicates(member_client, calendar, exchange,
                                                                    run_on_commit) -> None:  # fmt: skip
    from events.ical import Component, Item

    for n in range(120):
        events.item_save(calendar=calendar, item=event(f"bulk{n}@x", f"Bulk {n}", day=n % 20))
    start = dt.datetime(2026, 11, 23, 9, tzinfo=BERLIN)
    events.item_save(calendar=calendar, item=Item(master=Component(  # Exchange holds at most 999 occurrences
        uid="many@x", summary="Too many", start=start, end=start + dt.timedelta(hours=1),
        rrule="FREQ=DAILY;COUNT=1500")))  # fmt: skip
    integration = connect(member_client, exchange, calendar, run_on_commit, name="bulk")
    assert integration.runs.get().status == "partial"  # the one series listed as not synced
    stored = exchange.state.folder("bulk@corp.example", distinguished="calendar").items.values()
    subjects = sorted(i["subject"] for i in stored)
    assert len(subjects) == 120 and len(set(subjects)) == 120 and "Too many" not in subjects


def test_a_yearly_series_every_other_year_is_refused_not_changed(exchange, exchange_mailbox) -> None:
    from sync.errors import ItemRejected

    side, _folder = _series_side(exchange, exchange_mailbox)
    with pytest.raises(ItemRejected, match="every year only"):
        side.create(event("biennial@x", "Biennial", rrule="FREQ=YEARLY;INTERVAL=2"))


def test_a_pending_connection_whose_secret_cannot_be_read_starts_over(member_client, calendar, exchange) -> None:
    address = _login(exchange, "stale")
    form = {"url": exchange.url, "domain": "CORP", "username": "stale", "password": PASSWORD, "mailbox": address}
    member_client.post(reverse("integrations:exchange_connect"), form)
    session = member_client.session
    session["exchange_pending"]["secret"] = "gAAAAAB-made-with-a-key-calsync-no-longer-has"
    session.save()
    folder = exchange.state.folder(address, distinguished="calendar")
    answer = member_client.post(reverse("integrations:exchange_choose"),
                                {"remote": folder.id, "calendar": calendar.pk, **SETTINGS}, follow=True)  # fmt: skip
    assert answer.redirect_chain[-1][0] == reverse("integrations:exchange_connect")
    assert "expired" in answer.content.decode() and not Integration.objects.exists()
    assert "exchange_pending" not in member_client.session


def test_writes_cost_only_the_requests_they_need(exchange, exchange_mailbox) -> None:
    address, server = exchange_mailbox
    side = ExchangeSide(account(server, address), exchange.state.folder(address, distinguished="calendar").id)
    list(side.changes(None).changed)  # the session is open; from here on every request counts

    def requests(write):  # type: ignore[no-untyped-def]
        before = exchange.state.requests
        result = write()
        return exchange.state.requests - before, result

    cost, created = requests(lambda: side.create(event("cost@x", "Cost")))
    assert cost == 1  # CreateItem; its answer carries the id and ChangeKey
    cost, updated = requests(lambda: side.update(created.id, event("cost@x", "Cost (renamed)"), created.version))
    assert cost == 2 and updated.version != created.version  # GetItem to check the version, UpdateItem
    assert (
        side.get(created.id).item.master.summary == "Cost (renamed)" and side.get(created.id).version == updated.version
    )
    cost, _ = requests(lambda: side.delete(created.id, updated.version))
    assert cost == 2  # GetItem (the ChangeKey only), DeleteItem
    cost, series_entry = requests(lambda: side.create(calsync_series("cost-series@x", "Weekly", "Moved")))
    # CreateItem, UpdateItem of the moved occurrence, then the read back: the master and its exception.
    assert cost == 4 and len(series_entry.item.overrides) == 1


def test_get_many_reads_items_and_series_in_two_requests_and_the_update_after_it_reads_nothing_again(
    exchange, exchange_mailbox
) -> None:  # type: ignore[no-untyped-def]
    """What the engine reads before it overwrites or deletes (the versions an undo puts back): singles and a series
    with an exception, as `get` reads them, in one GetItem for the items and one for the exceptions; an id Exchange
    no longer holds is left out; the update that follows takes the item (its ChangeKey) from that read."""
    address, server = exchange_mailbox
    side = ExchangeSide(account(server, address), exchange.state.folder(address, distinguished="calendar").id)
    single = side.create(event("single@x", "Single"))
    series = side.create(calsync_series("many-series@x", "Weekly", "Moved"))
    gone = side.create(event("gone@x", "Gone"))
    side.delete(gone.id, gone.version)
    before = exchange.state.requests
    found = side.get_many([single.id, series.id, gone.id])
    assert exchange.state.requests - before == 2  # GetItem of the three, GetItem of the series' exception
    assert set(found) == {single.id, series.id} and len(found[series.id].item.overrides) == 1
    assert_read_as_get(side, found)
    side.get_many([single.id])
    before = exchange.state.requests
    updated = side.update(single.id, event("single@x", "Single, renamed"), found[single.id].version)
    assert exchange.state.requests - before == 1  # the UpdateItem alone
    read = side.get(single.id)
    assert (read.version, read.item.master.summary) == (updated.version, "Single, renamed")


def test_an_update_from_a_stale_read_is_refused_and_a_deletion_reads_afresh(exchange, exchange_mailbox) -> None:  # type: ignore[no-untyped-def]
    """What get_many kept may be stale by the time the write comes: UpdateItem refuses its ChangeKey, and the
    engine reads again. DeleteItem ignores ChangeKeys, so a deletion never trusts a kept read."""
    address, server = exchange_mailbox
    side = ExchangeSide(account(server, address), exchange.state.folder(address, distinguished="calendar").id)
    other = ExchangeSide(account(server, address), side.folder.id)
    created = side.create(event("stale@x", "Stale"))
    read = side.get_many([created.id])[created.id]
    changed = other.update(created.id, event("stale@x", "Changed in Outlook"), read.version)
    with pytest.raises(PreconditionFailed):
        side.update(created.id, event("stale@x", "From calsync"), read.version)
    side.get_many([created.id])
    other.update(created.id, event("stale@x", "Changed again"), changed.version)
    with pytest.raises(PreconditionFailed):
        side.delete(created.id, changed.version)
    assert side.get(created.id).item.master.summary == "Changed again"


def test_a_delegate_deletes_into_recoverable_items(exchange) -> None:
    """DeleteItem refuses a delegate's MoveToDeletedItems (ErrorCannotDeleteObject, deleteitem-operation page); the
    organisation's delegate sync account deletes with SoftDelete instead, still recoverable, and only asks once."""
    from integrations.exchange.client import Access

    state = exchange.state
    state.mailbox("lead@corp.example")
    state.mailbox("calsync-del@corp.example", password=PASSWORD, username="CORP\\calsync-del")
    state.mailboxes["lead@corp.example"].delegates.add("corp\\calsync-del")
    server = Server(exchange.url, "calsync-del", PASSWORD, "CORP", Access.DELEGATE)
    side = ExchangeSide(
        account(server, "lead@corp.example"), state.folder("lead@corp.example", distinguished="calendar").id
    )
    first, second = side.create(event("d1@x", "One")), side.create(event("d2@x", "Two", day=1))
    side.delete(first.id, first.version)
    before = state.requests
    side.delete(second.id, second.version)
    assert state.requests - before == 2  # GetItem, DeleteItem (SoftDelete straight away)
    assert sorted(i["subject"] for i in state.mailboxes["lead@corp.example"].dumpster.values()) == ["One", "Two"]
    assert list(side.changes(None).changed) == []


def test_test_exchange_settings_succeeds_against_the_sandbox(admin_client_, settings) -> None:
    """`make run`'s sandbox Exchange, with the sync account its organisation page names: an admin trying calsync
    sees Test Exchange Settings succeed, for whatever their own address is."""
    from emulators.exchange.app import serve
    from emulators.exchange.sandbox import sandbox_state
    from integrations.exchange.views import _sandbox

    state = sandbox_state("SANDBOX", "ann", "calsync-sandbox", "ann@sandbox.calsync.invalid")
    _app, server, url = serve(state=state)
    try:
        settings.EXCHANGE_SANDBOX_URL, settings.EXCHANGE_ALLOW_HTTP = url, True
        settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = True
        sandbox = _sandbox()
        assert sandbox is not None
        page = admin_client_.get(reverse("integrations:exchange_organisation")).content.decode()
        assert sandbox["sync_username"] in page and sandbox["sync_email"] in page and sandbox["page"] in page
        form = {"url": url, "domain": sandbox["domain"], "username": sandbox["sync_username"],
                "password": sandbox["password"], "sync_email": sandbox["sync_email"], "access": "impersonation",
                "enabled": "on", "aliases": "", "test": "1"}  # fmt: skip
        answer = admin_client_.post(reverse("integrations:exchange_organisation"), form, follow=True).content.decode()
        assert "Works: calsync logged in as SANDBOX\\calsync-sync" in answer, answer[-2000:]
        assert ExchangeServer.objects.get().test_ok
        assert "admin@acme.test" in state.mailboxes  # the admin's own sandbox mailbox, reached by impersonation
    finally:
        server.shutdown()
