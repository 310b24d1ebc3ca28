"""Exchange round trips keep what each side holds: calsync's business fields travel as EWS extended properties
(PublicStrings), free/busy status and categories come and go unchanged, an edit in Outlook (UpdateItem with
SetItemField of what it changed) keeps them, and calsync's own writes set only what changed.

https://learn.microsoft.com/exchange/client-developer/web-service-reference/updateitem-operation
https://learn.microsoft.com/exchange/client-developer/web-service-reference/extendedfielduri
https://learn.microsoft.com/exchange/client-developer/web-service-reference/legacyfreebusystatus
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from exchangelib import CalendarItem, HTMLBody
from exchangelib.properties import Attendee, Mailbox

from events import services as events
from events.models import Event
from integrations.exchange.adapter import ExchangeSide
from tests.integrations.test_exchange import connect, outlook, sync_now
from tests.sync.items import event

pytestmark = pytest.mark.django_db

PUBLIC = "PublicStrings||{}|||String"  # the emulator's key for a PublicStrings named string property
BUSINESS = {"client": "Acme Corp", "project": "Relaunch", "activity_type": "Workshop"}


def _outlook_edit(side: ExchangeSide, item_id: str, **changes: object) -> None:
    """What Outlook sends: GetItem, then UpdateItem with SetItemField of the changed properties only."""
    (item,) = side.account.fetch(ids=[(item_id, None)], folder=side.folder)
    assert isinstance(item, CalendarItem)
    for name, value in changes.items():
        setattr(item, name, value)
    item.save(update_fields=list(changes), send_meeting_invitations="SendToNone")


def _stored(exchange, address: str, uid: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    folder = exchange.state.folder(address, distinguished="calendar")
    return next(i for i in folder.items.values() if i["uid"] == uid or uid in i["extended"].values())


@pytest.mark.parametrize(
    "edit",
    [
        {"subject": "Renamed in Outlook"},
        {"start": "+1h", "end": "+1h"},
        {"required_attendees": "add"},
    ],
    ids=["title", "time", "attendee"],
)
def test_an_outlook_edit_keeps_business_fields_busy_status_and_categories(member_client, calendar, exchange,
                                                                          run_on_commit, edit) -> None:  # fmt: skip
    name = f"rt{next(iter(edit))[:5]}"
    integration = connect(member_client, exchange, calendar, run_on_commit, name=name)
    address = f"{name}@corp.example"
    item = event(
        "business@x",
        "Client workshop",
        busy_status="OOF",
        categories=("Blue category",),
        event_type="focusTime",
        extra_properties=(("X-ODD", (("X-P", "1"),), "kept"),),
        **BUSINESS,
    )
    events.item_save(calendar=calendar, item=item)
    assert sync_now(integration, run_on_commit).status == "success"
    stored = _stored(exchange, address, "business@x")
    # Written as PublicStrings named properties, one per field, and the status by its EWS name.
    assert {k: v for k, v in stored["extended"].items() if k.startswith("PublicStrings")} == {
        PUBLIC.format("calsyncClient"): "Acme Corp", PUBLIC.format("calsyncProject"): "Relaunch",
        PUBLIC.format("calsyncActivity"): "Workshop", PUBLIC.format("calsyncEventType"): "focusTime",
        PUBLIC.format("calsyncUnmodelled"): '{"properties": [["X-ODD", [["X-P", "1"]], "kept"]], '
                                            '"components": []}'}  # fmt: skip
    assert (stored["free_busy"], stored["categories"]) == ("OOF", ["Blue category"])

    side = outlook(exchange, address)
    field = next(iter(edit))
    if field == "subject":
        _outlook_edit(side, stored["id"], subject="Renamed in Outlook")
    elif field == "start":
        later = dt.timedelta(hours=1)
        (current,) = side.account.fetch(ids=[(stored["id"], None)], folder=side.folder)
        _outlook_edit(side, stored["id"], start=current.start + later, end=current.end + later)
    else:
        (current,) = side.account.fetch(ids=[(stored["id"], None)], folder=side.folder)
        added = Attendee(mailbox=Mailbox(email_address="carol@example.com", name="Carol"), response_type="Unknown")
        _outlook_edit(side, stored["id"], required_attendees=[*(current.required_attendees or []), added])
    assert sync_now(integration, run_on_commit).status == "success"

    mine = Event.objects.get(calendar=calendar, uid="business@x", parent=None)
    assert (mine.client, mine.project, mine.activity_type) == ("Acme Corp", "Relaunch", "Workshop")
    assert (mine.busy_status, mine.categories) == ("OOF", ["Blue category"])
    from events.convert import item_from_event

    again = item_from_event(mine, []).master
    assert (again.event_type, again.extra_properties) == ("focusTime", (("X-ODD", (("X-P", "1"),), "kept"),))
    if field == "subject":
        assert mine.title == "Renamed in Outlook"
    elif field == "start":
        assert mine.start == item.master.start + dt.timedelta(hours=1)
    else:
        assert [a["email"] for a in mine.attendees] == ["carol@example.com"]


@pytest.mark.parametrize("status", ["Free", "Tentative", "Busy", "OOF", "WorkingElsewhere"])
def test_free_busy_status_comes_in_and_goes_back_unchanged(exchange, exchange_mailbox, status) -> None:
    """Each LegacyFreeBusyStatus reads as calsync's status (Free as TRANSP:TRANSPARENT) and is written back as
    it was. https://learn.microsoft.com/exchange/client-developer/web-service-reference/legacyfreebusystatus"""
    address, _server = exchange_mailbox
    side = outlook_side(exchange, exchange_mailbox)
    made = side.create(event("status@x", "Status"))
    exchange.state.folder(address, distinguished="calendar").items[made.id]["free_busy"] = status
    read = side.get(made.id)
    expected = {"Free": ("TRANSPARENT", ""), "Tentative": ("", "TENTATIVE"), "Busy": ("", ""),
                "OOF": ("", "OOF"), "WorkingElsewhere": ("", "WORKINGELSEWHERE")}[status]  # fmt: skip
    assert (read.item.master.transparency, read.item.master.busy_status) == expected
    side.update(made.id, replace(read.item, master=replace(read.item.master, summary="Renamed")), read.version)
    again = exchange.state.folder(address, distinguished="calendar").items[made.id]
    assert (again["subject"], again["free_busy"]) == ("Renamed", status)


def outlook_side(exchange, exchange_mailbox) -> ExchangeSide:  # type: ignore[no-untyped-def]
    from integrations.exchange.client import account

    address, server = exchange_mailbox
    return ExchangeSide(account(server, address), exchange.state.folder(address, distinguished="calendar").id,
                        "Europe/Berlin")  # fmt: skip


def test_a_calsync_edit_sets_only_what_changed_so_exchange_fields_survive(exchange, exchange_mailbox) -> None:
    """An HTML body written in Outlook, NoData and an unknown extended property stay as they were when calsync
    renames the event: UpdateItem carries SetItemField for the subject only."""
    address, _server = exchange_mailbox
    side = outlook_side(exchange, exchange_mailbox)
    made = side.create(event("keep@x", "Keep", description="Agenda"))
    stored = exchange.state.folder(address, distinguished="calendar").items[made.id]
    _outlook_edit(side, made.id, body=HTMLBody("<html><body><p><b>Agenda</b></p></body></html>"))
    stored["free_busy"] = "NoData"
    stored["extended"]["PublicStrings||x-other-app|||String"] = "kept"
    read = side.get(made.id)
    assert read.item.master.description.strip() == "Agenda"
    before = exchange.state.requests
    side.update(made.id, replace(read.item, master=replace(read.item.master, summary="Renamed in calsync")),
                read.version)  # fmt: skip
    # One UpdateItem: the version is the one `get` just read (and its ChangeKey makes Exchange refuse a stale one).
    assert exchange.state.requests - before == 1
    assert stored["subject"] == "Renamed in calsync"
    assert (stored["body_type"], stored["body"]) == ("HTML", "<html><body><p><b>Agenda</b></p></body></html>")
    assert stored["free_busy"] == "NoData" and stored["extended"]["PublicStrings||x-other-app|||String"] == "kept"
    # Nothing changed: no UpdateItem at all, and no request (the version is the one `get` just read).
    read = side.get(made.id)
    before = exchange.state.requests
    assert side.update(made.id, read.item, read.version).version == read.version
    assert exchange.state.requests - before == 0


def test_an_emptied_business_field_is_removed_and_the_others_stay(exchange, exchange_mailbox) -> None:
    """DeleteItemField of one extended property removes that property only.
    https://learn.microsoft.com/exchange/client-developer/web-service-reference/deleteitemfield"""
    address, _server = exchange_mailbox
    side = outlook_side(exchange, exchange_mailbox)
    made = side.create(event("empty@x", "Business", **BUSINESS))
    read = side.get(made.id)
    assert (read.item.master.client, read.item.master.project) == ("Acme Corp", "Relaunch")
    side.update(made.id, replace(read.item, master=replace(read.item.master, project="")), read.version)
    extended = exchange.state.folder(address, distinguished="calendar").items[made.id]["extended"]
    assert PUBLIC.format("calsyncProject") not in extended
    assert extended[PUBLIC.format("calsyncClient")] == "Acme Corp"
    assert side.get(made.id).item.master.uid == "empty@x"  # the identity carrier is untouched


def test_a_floating_time_is_written_in_the_calendars_zone_and_comes_back_floating(exchange, exchange_mailbox) -> None:
    """EWS holds every time in a zone (Start in UTC plus StartTimeZone): calsync writes a floating time as that wall
    time in the calendar's zone, marks it (calsyncFloating), and reads it back without a zone, also after an
    Outlook edit. https://learn.microsoft.com/exchange/client-developer/web-service-reference/starttimezone"""
    from events.ical import Component, Item

    address, _server = exchange_mailbox
    side = outlook_side(exchange, exchange_mailbox)  # the calendar is in Europe/Berlin
    ten = dt.datetime(2026, 11, 23, 10)
    made = side.create(Item(master=Component(uid="float@x", summary="Standup", start=ten,
                                             end=ten + dt.timedelta(minutes=15), rrule="FREQ=DAILY;COUNT=5",
                                             exdates=(ten + dt.timedelta(days=2),)),
                            overrides=(Component(uid="float@x", recurrence_id=ten + dt.timedelta(days=1),
                                                 summary="Late standup", start=ten + dt.timedelta(days=1, hours=1),
                                                 end=ten + dt.timedelta(days=1, hours=1, minutes=15)),)))  # fmt: skip
    stored = exchange.state.folder(address, distinguished="calendar").items[made.id]
    assert stored["start"] == dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)  # 10:00 in Berlin
    assert stored["start_tz"] == "W. Europe Standard Time"
    assert PUBLIC.format("calsyncFloating") in stored["extended"]
    back = side.get(made.id).item
    assert (back.master.start, back.master.end) == (ten, ten + dt.timedelta(minutes=15))
    assert back.master.exdates == (ten + dt.timedelta(days=2),)
    assert [(o.recurrence_id, o.start) for o in back.overrides] == [
        (ten + dt.timedelta(days=1), ten + dt.timedelta(days=1, hours=1))
    ]
    _outlook_edit(side, made.id, subject="Daily standup")
    again = side.get(made.id).item.master
    assert (again.summary, again.start, again.start.tzinfo) == ("Daily standup", ten, None)
    # A zoned event is not marked, and comes back in its zone.
    zoned = side.create(event("zoned@x", "Zoned"))
    assert (
        PUBLIC.format("calsyncFloating")
        not in exchange.state.folder(address, distinguished="calendar").items[zoned.id]["extended"]
    )
    assert side.get(zoned.id).item.master.start.tzinfo is not None


def test_unmodelled_properties_have_a_size_limit_and_a_mangled_value_reads_as_none() -> None:
    from events.hidden import UNMODELLED_MAX, unmodelled_fields
    from events.ical import Component
    from integrations.exchange.convert import to_fields

    start = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    small = Component(uid="u", start=start, end=start, extra_properties=(("X-A", (), "b"),))
    huge = replace(small, extra_properties=(("X-A", (), "b" * UNMODELLED_MAX),))
    assert to_fields(small, "u")["calsync_unmodelled"] and to_fields(huge, "u")["calsync_unmodelled"] is None
    assert unmodelled_fields('{"properties": 3}') == unmodelled_fields("not json") == {}


def test_a_changed_exception_gets_only_its_changed_fields(exchange, exchange_mailbox) -> None:
    """Retitling a moved occurrence in calsync sets its subject alone: the HTML body Outlook gave it stays."""
    from tests.sync.items import series

    address, _server = exchange_mailbox
    side = outlook_side(exchange, exchange_mailbox)
    made = side.create(series("exc@x", "Weekly", "Moved"))
    master = exchange.state.folder(address, distinguished="calendar").items[made.id]
    exception = next(iter(master["exceptions"].values()))
    exception.update(body="<p><b>Notes</b></p>", body_type="HTML")
    read = side.get(made.id)
    retitled = tuple(replace(o, summary="Moved and renamed") for o in read.item.overrides)
    side.update(made.id, replace(read.item, overrides=retitled), read.version)
    exception = next(iter(master["exceptions"].values()))
    assert exception["subject"] == "Moved and renamed"
    assert (exception["body"], exception["body_type"]) == ("<p><b>Notes</b></p>", "HTML")
