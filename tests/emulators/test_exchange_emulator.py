"""The EWS emulator keeps Exchange's documented promises, checked through exchangelib itself (the client calsync
uses), so the adapter's tests mean something."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone, errors
from exchangelib.folders import Calendar, Root
from exchangelib.items import SEND_TO_NONE
from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

from integrations.exchange.client import Access, Server, account

BERLIN = EWSTimeZone("Europe/Berlin")


@pytest.fixture
def ann(exchange):  # type: ignore[no-untyped-def]
    """A fresh mailbox (the emulator lives for the whole session) and its calendar, as its owner sees them."""
    name = f"ann{uuid.uuid4().hex[:8]}"
    exchange.state.mailbox(f"{name}@corp.example", "Ann", password="pw-ann", username=f"CORP\\{name}")
    folder = exchange.state.folder(f"{name}@corp.example", distinguished="calendar")
    ews = account(Server(exchange.url, name, "pw-ann", "CORP"), f"{name}@corp.example")
    return ews, Calendar(root=Root(account=ews), id=folder.id)


def _item(ews, folder, subject: str, day: int = 0, **extra) -> CalendarItem:  # type: ignore[no-untyped-def]
    start = EWSDateTime(2026, 11, 23 + day, 10, tzinfo=BERLIN)
    item = CalendarItem(account=ews, folder=folder, subject=subject, start=start, end=start + dt.timedelta(hours=1),
                        **extra)  # fmt: skip
    item.save(send_meeting_invitations=SEND_TO_NONE)
    return item


def test_sync_folder_items_pages_and_reports_create_update_delete(ann) -> None:  # type: ignore[no-untyped-def]
    """SyncFolderItems pages (MaxChangesReturned, IncludesLastItemInRange) and reports Create/Update/Delete.
    https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/syncfolderitems-operation"""
    ews, folder = ann
    made = [_item(ews, folder, f"Item {n}", n % 5) for n in range(7)]
    first = list(folder.sync_items(only_fields=["changekey"], max_changes_returned=3))  # three pages
    assert [kind for kind, _ in first] == ["create"] * 7 and {i.id for _, i in first} == {m.id for m in made}
    state = folder.item_sync_state
    assert list(folder.sync_items(sync_state=state, only_fields=["changekey"])) == []
    made[0].subject = "Changed"
    made[0].save(update_fields=["subject"])
    gone = made[1].id
    made[1].delete()
    changes = list(folder.sync_items(sync_state=state, only_fields=["changekey"]))
    assert sorted((kind, item.id) for kind, item in changes) == sorted([("update", made[0].id), ("delete", gone)])


def test_a_forgotten_sync_state_is_refused(ann, exchange) -> None:  # type: ignore[no-untyped-def]
    """A sync state the server no longer accepts is ErrorInvalidSyncStateData.
    https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/syncfolderitems-operation"""
    _ews, folder = ann
    list(folder.sync_items(only_fields=["changekey"]))
    exchange.state.expire_sync_states()
    with pytest.raises(errors.ErrorInvalidSyncStateData):
        list(folder.sync_items(sync_state=folder.item_sync_state, only_fields=["changekey"]))


def test_a_stale_change_key_is_an_irresolvable_conflict(ann) -> None:  # type: ignore[no-untyped-def]
    """An UpdateItem with an old ChangeKey fails with ErrorIrresolvableConflict.
    https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/updateitem-operation"""
    ews, folder = ann
    item = _item(ews, folder, "Original")
    stale = item.changekey
    item.subject = "Someone else's edit"
    item.save(update_fields=["subject"])
    item._id = item._id.__class__(id=item.id, changekey=stale)
    item.subject = "Mine"
    with pytest.raises(errors.ErrorIrresolvableConflict):
        item.save(update_fields=["subject"], conflict_resolution="NeverOverwrite")


def test_a_series_keeps_its_exceptions_and_deletions_on_the_master(ann) -> None:  # type: ignore[no-untyped-def]
    """Modified and deleted occurrences are listed on the recurring master.
    https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/recurrence-patterns-and-ews"""
    ews, folder = ann
    pattern = Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[1], first_day_of_week=1),
                         boundary=NumberedPattern(start=EWSDate(2026, 11, 23), number=4))  # fmt: skip
    master = _item(ews, folder, "Standup", recurrence=pattern)
    before = master.changekey
    moved = master.occurrence(2)
    moved.subject, moved.start = "Moved", EWSDateTime(2026, 12, 1, 15, tzinfo=BERLIN)
    moved.end = moved.start + dt.timedelta(hours=1)
    moved.save(update_fields=["subject", "start", "end"])
    master.occurrence(3).delete()
    with pytest.raises(errors.ErrorCalendarOccurrenceIsDeletedFromRecurrence):
        master.occurrence(3).delete()
    with pytest.raises(errors.ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange):
        next(iter(ews.fetch(ids=[master.occurrence(5)], folder=folder))).subject  # noqa: B018
    fresh = next(iter(ews.fetch(ids=[(master.id, None)], folder=folder)))
    assert fresh.changekey != before and fresh.type == "RecurringMaster"
    assert [o.original_start for o in fresh.modified_occurrences] == [
        EWSDateTime(2026, 11, 30, 9, tzinfo=ews.default_timezone)
    ]
    assert [d.start for d in fresh.deleted_occurrences] == [EWSDateTime(2026, 12, 7, 9, tzinfo=ews.default_timezone)]
    exception = next(iter(ews.fetch(ids=[(fresh.modified_occurrences[0].id, None)], folder=folder)))
    assert (exception.subject, exception.type) == ("Moved", "Exception")
    # Only the master is an item of the folder: exceptions travel with it.
    assert [i.id for _, i in folder.sync_items(only_fields=["changekey"])] == [master.id]


def test_all_day_events_and_time_zones_come_back_as_written(ann) -> None:  # type: ignore[no-untyped-def]
    ews, folder = ann
    all_day = CalendarItem(account=ews, folder=folder, subject="Offsite", start=EWSDate(2026, 12, 3),
                           end=EWSDate(2026, 12, 4), is_all_day=True)  # fmt: skip
    all_day.save(send_meeting_invitations=SEND_TO_NONE)
    timed = _item(ews, folder, "Call")
    got = {i.subject: i for i in ews.fetch(ids=[(all_day.id, None), (timed.id, None)], folder=folder)}
    assert (got["Offsite"].start, got["Offsite"].end) == (EWSDate(2026, 12, 3), EWSDate(2026, 12, 4))
    assert got["Call"].start == EWSDateTime(2026, 11, 23, 10, tzinfo=BERLIN)
    assert got["Call"]._start_timezone == BERLIN


def test_logins_and_mailbox_access_are_checked(exchange) -> None:  # type: ignore[no-untyped-def]
    state = exchange.state
    state.mailbox("boss@corp.example")
    state.mailbox("sync@corp.example", password="pw-sync", username="CORP\\sync")

    def calendar(server: Server, mailbox: str) -> Calendar:
        return Calendar.get_distinguished(root=Root(account=account(server, mailbox)))

    with pytest.raises(errors.UnauthorizedError):
        calendar(Server(exchange.url, "sync", "wrong", "CORP"), "sync@corp.example")
    assert calendar(Server(exchange.url, "sync", "pw-sync", "CORP"), "sync@corp.example").name == "Calendar"
    with pytest.raises(errors.ErrorAccessDenied):
        calendar(Server(exchange.url, "sync", "pw-sync", "CORP"), "boss@corp.example")
    with pytest.raises(errors.ErrorImpersonateUserDenied):
        calendar(Server(exchange.url, "sync", "pw-sync", "CORP", Access.IMPERSONATION), "boss@corp.example")
    state.mailboxes["boss@corp.example"].delegates.add("corp\\sync")
    assert calendar(Server(exchange.url, "sync", "pw-sync", "CORP"), "boss@corp.example").name == "Calendar"
    state.logins["corp\\sync"].impersonation = True
    with pytest.raises(errors.ErrorNonExistentMailbox):
        calendar(Server(exchange.url, "sync", "pw-sync", "CORP", Access.IMPERSONATION), "ghost@corp.example")


def test_server_busy_carries_the_back_off(ann, exchange) -> None:  # type: ignore[no-untyped-def]
    """ErrorServerBusy carries BackOffMilliseconds.
    https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange"""
    _ews, folder = ann
    exchange.state.faults.update(busy=1, back_off_ms=2500)
    with pytest.raises(errors.ErrorServerBusy) as raised:
        list(folder.sync_items(only_fields=["changekey"]))
    assert raised.value.back_off == 2.5
    assert list(folder.sync_items(only_fields=["changekey"])) == []


@pytest.mark.parametrize("how", ["HardDelete", "MoveToDeletedItems", "SoftDelete"])
def test_delete_item_honours_its_delete_type(ann, exchange, how) -> None:  # type: ignore[no-untyped-def]
    """DeleteType: HardDelete removes the item for good, MoveToDeletedItems moves it to the Deleted Items folder,
    SoftDelete to the dumpster; in each case it leaves the calendar (and SyncFolderItems reports a delete).
    https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/deleteitem-operation
    https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/deletetype"""
    ews, folder = ann
    item = _item(ews, folder, f"Deleted with {how}")
    list(folder.sync_items(only_fields=["changekey"]))
    answer = ews.bulk_delete(ids=[(item.id, item.changekey)], delete_type=how, send_meeting_cancellations=SEND_TO_NONE)
    assert answer == [True]
    box = exchange.state.mailboxes[ews.primary_smtp_address.lower()]
    in_deleted_items = [i["subject"] for i in box.deleted_items.values()]
    in_dumpster = [i["subject"] for i in box.dumpster.values()]
    assert in_deleted_items == ([f"Deleted with {how}"] if how == "MoveToDeletedItems" else [])
    assert in_dumpster == ([f"Deleted with {how}"] if how == "SoftDelete" else [])
    assert item.id not in box.deleted_items  # moved items get a new id
    assert [kind for kind, _ in folder.sync_items(sync_state=folder.item_sync_state, only_fields=["changekey"])] == [
        "delete"
    ]


# --- SendMeeting* attributes, invitations, delegate deletes, schema limits -----------------------------------


def _soap(exchange, login: str, password: str, operation: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """One raw EWS request, for what exchangelib never sends (a missing or invalid attribute)."""
    import requests

    envelope = (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Body>'
        f"{operation}</s:Body></s:Envelope>"
    )
    answer = requests.post(exchange.url, data=envelope.encode(), auth=(login, password), timeout=10,
                           headers={"Content-Type": "text/xml; charset=utf-8"})  # fmt: skip
    return answer.status_code, answer.text


_NEW_ITEM = (
    "<m:Items><t:CalendarItem><t:Subject>Raw</t:Subject><t:Start>2026-11-23T10:00:00Z</t:Start>"
    "<t:End>2026-11-23T11:00:00Z</t:End></t:CalendarItem></m:Items>"
)


def test_each_write_needs_its_send_meeting_attribute(ann, exchange) -> None:  # type: ignore[no-untyped-def]
    """CreateItem needs SendMeetingInvitations, UpdateItem SendMeetingInvitationsOrCancellations and DeleteItem
    SendMeetingCancellations for calendar items; a value outside the schema's enumeration fails validation.
    https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem
    https://learn.microsoft.com/exchange/client-developer/web-service-reference/updateitem
    https://learn.microsoft.com/exchange/client-developer/web-service-reference/deleteitem
    https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode"""
    ews, folder = ann
    login = str(ews.primary_smtp_address)
    status, text = _soap(exchange, login, "pw-ann", f"<m:CreateItem>{_NEW_ITEM}</m:CreateItem>")
    assert status == 200 and 'ResponseClass="Error"' in text and "ErrorSendMeetingInvitationsRequired" in text
    status, text = _soap(exchange, login, "pw-ann", f'<m:CreateItem SendMeetingInvitations="Yes">{_NEW_ITEM}'
                                                    "</m:CreateItem>")  # fmt: skip
    assert status == 500 and "ErrorSchemaValidation" in text
    item = _item(ews, folder, "Existing")
    update = (
        f'<m:UpdateItem ConflictResolution="AutoResolve"><m:ItemChanges><t:ItemChange><t:ItemId Id="{item.id}"/>'
        '<t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:CalendarItem><t:Subject>New'
        "</t:Subject></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>"
    )
    status, text = _soap(exchange, login, "pw-ann", update)
    assert "ErrorSendMeetingInvitationsOrCancellationsRequired" in text
    delete = f'<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="{item.id}"/></m:ItemIds></m:DeleteItem>'
    status, text = _soap(exchange, login, "pw-ann", delete)
    assert 'ResponseClass="Error"' in text and "ErrorSendMeetingCancellationsRequired" in text
    stored = exchange.state.folder(login, distinguished="calendar").items[item.id]
    assert stored["subject"] == "Existing"  # nothing was changed or deleted by the refused requests


def test_exchange_mails_what_each_send_meeting_value_asks_for(ann, exchange) -> None:  # type: ignore[no-untyped-def]
    """SendToNone sends nothing; SendToAllAndSaveCopy invites every attendee; SendToChangedAndSaveCopy only those
    the change concerns; removed attendees and deletes get cancellations (organiser only).
    https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem-operation-calendar-item
    https://learn.microsoft.com/en-us/previous-versions/office/developer/exchange-server-2010/bb408651(v=exchg.140)"""
    from exchangelib.properties import Attendee, Mailbox

    ews, folder = ann
    me = str(ews.primary_smtp_address).lower()

    def guests(*names: str) -> list[Attendee]:
        return [Attendee(mailbox=Mailbox(email_address=f"{n}@example.com"), response_type="Unknown") for n in names]

    def mail() -> list[tuple[str, str]]:
        return sorted((m["method"], m["to"]) for m in exchange.state.sent_invitations if m["organizer"] == me)

    silent = _item(ews, folder, "Silent", required_attendees=guests("bob"))
    assert mail() == []
    meeting = CalendarItem(account=ews, folder=folder, subject="Loud", start=silent.start, end=silent.end,
                           required_attendees=guests("bob", "eve"))  # fmt: skip
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
    assert mail() == [("REQUEST", "bob@example.com"), ("REQUEST", "eve@example.com")]
    exchange.state.sent_invitations.clear()
    meeting.required_attendees = guests("eve", "carol")
    meeting.save(update_fields=["required_attendees"], send_meeting_invitations="SendToChangedAndSaveCopy")
    assert mail() == [("CANCEL", "bob@example.com"), ("REQUEST", "carol@example.com")]
    exchange.state.sent_invitations.clear()
    meeting.location = "Room 4"
    meeting.save(update_fields=["location"], send_meeting_invitations="SendToChangedAndSaveCopy")
    assert mail() == [("REQUEST", "carol@example.com"), ("REQUEST", "eve@example.com")]
    exchange.state.sent_invitations.clear()
    meeting.delete(send_meeting_cancellations="SendToAllAndSaveCopy")
    assert mail() == [("CANCEL", "carol@example.com"), ("CANCEL", "eve@example.com")]
    fetched = next(iter(ews.fetch(ids=[(silent.id, None)], folder=folder)))
    assert fetched.meeting_request_was_sent is False and fetched.is_meeting


def test_a_delegate_cannot_delete_into_deleted_items(exchange) -> None:  # type: ignore[no-untyped-def]
    """A delegate's DeleteItem with MoveToDeletedItems on the principal's item is ErrorCannotDeleteObject; other
    delete types work. https://learn.microsoft.com/exchange/client-developer/web-service-reference/deleteitem-operation"""
    state = exchange.state
    name = f"boss{uuid.uuid4().hex[:8]}"
    state.mailbox(f"{name}@corp.example")
    state.mailbox(f"{name}-sync@corp.example", password="pw-sync", username=f"CORP\\{name}-sync")
    state.mailboxes[f"{name}@corp.example"].delegates.add(f"corp\\{name}-sync")
    ews = account(Server(exchange.url, f"{name}-sync", "pw-sync", "CORP"), f"{name}@corp.example")
    folder = Calendar(root=Root(account=ews), id=state.folder(f"{name}@corp.example", distinguished="calendar").id)
    item = _item(ews, folder, "Boss's meeting")
    (answer,) = ews.bulk_delete(ids=[(item.id, item.changekey)], delete_type="MoveToDeletedItems",
                                send_meeting_cancellations=SEND_TO_NONE)  # fmt: skip
    assert isinstance(answer, errors.ErrorCannotDeleteObject)
    assert ews.bulk_delete(ids=[(item.id, item.changekey)], delete_type="SoftDelete",
                           send_meeting_cancellations=SEND_TO_NONE) == [True]  # fmt: skip
    assert [i["subject"] for i in state.mailboxes[f"{name}@corp.example"].dumpster.values()] == ["Boss's meeting"]


@pytest.mark.parametrize("limit", ["0", "513", ""])
def test_max_changes_returned_outside_1_to_512_fails_validation(ann, exchange, limit) -> None:  # type: ignore[no-untyped-def]
    """MaxChangesReturned is required and between 1 and 512 inclusive.
    https://learn.microsoft.com/exchange/client-developer/web-service-reference/maxchangesreturned"""
    ews, folder = ann
    sync = (
        "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId>"
        f'<t:FolderId Id="{folder.id}"/></m:SyncFolderId>'
        + (f"<m:MaxChangesReturned>{limit}</m:MaxChangesReturned>" if limit else "")
        + "</m:SyncFolderItems>"
    )
    status, text = _soap(exchange, str(ews.primary_smtp_address), "pw-ann", sync)
    assert status == 500 and "ErrorSchemaValidation" in text


def test_the_sandbox_page_changes_only_the_field_it_names(ann, exchange) -> None:  # type: ignore[no-untyped-def]
    """The sandbox page edits like Outlook (UpdateItem SetItemField of the changed property only): calsync's
    extended properties stay. https://learn.microsoft.com/exchange/client-developer/web-service-reference/updateitem"""
    import requests

    ews, folder = ann
    address = str(ews.primary_smtp_address).lower()
    base = exchange.url.rsplit("/EWS", 1)[0]
    assert address in requests.get(f"{base}/sandbox", timeout=5).text
    form = {"mailbox": address, "folder": folder.id}
    added = requests.post(f"{base}/sandbox/events", data={**form, "subject": "From the page", "date": "2026-11-24",
                                                          "time": "10:00", "minutes": "30", "free_busy": "OOF",
                                                          "attendees": "bob@example.com"}, timeout=5)  # fmt: skip
    assert added.status_code == 200 and "From the page" in added.text  # followed back to the mailbox page
    stored = next(
        i for i in exchange.state.folder(address, folder.id).items.values() if i["subject"] == "From the page"
    )
    assert (stored["free_busy"], stored["end"] - stored["start"]) == ("OOF", dt.timedelta(minutes=30))
    assert [(m["method"], m["to"]) for m in exchange.state.sent_invitations if m["event_id"] == stored["id"]] == [
        ("REQUEST", "bob@example.com")
    ]
    stored["extended"]["PublicStrings||calsyncClient|||String"] = "Acme"
    requests.post(f"{base}/sandbox/events/rename", data={**form, "item": stored["id"], "subject": "Renamed"}, timeout=5)
    requests.post(f"{base}/sandbox/events/move", data={**form, "item": stored["id"], "minutes": "60"}, timeout=5)
    assert stored["subject"] == "Renamed" and stored["start"] == dt.datetime(2026, 11, 24, 11, tzinfo=dt.UTC)
    assert stored["extended"] == {"PublicStrings||calsyncClient|||String": "Acme"}
    requests.post(f"{base}/sandbox/events/delete", data={**form, "item": stored["id"]}, timeout=5)
    assert stored["id"] not in exchange.state.folder(address, folder.id).items
    bad = requests.post(f"{base}/sandbox/events", data={**form, "subject": "x", "date": "not a date"}, timeout=5)
    assert bad.status_code == 400


def test_sync_folder_items_says_whether_the_last_item_is_in_range_and_refuses_a_forged_state(ann, exchange) -> None:  # type: ignore[no-untyped-def]
    """IncludesLastItemInRange is false while changes remain; a SyncState the server never issued is
    ErrorInvalidSyncStateData, in an error ResponseMessage that still carries the SyncState element.
    https://learn.microsoft.com/exchange/client-developer/web-service-reference/syncfolderitems-operation
    https://learn.microsoft.com/exchange/client-developer/web-service-reference/includeslastiteminrange"""
    ews, folder = ann
    for n in range(3):
        _item(ews, folder, f"Page {n}", n)

    def sync(state: str = "", limit: int = 2) -> str:
        state_xml = f"<m:SyncState>{state}</m:SyncState>" if state else ""
        return _soap(exchange, str(ews.primary_smtp_address), "pw-ann", (
            "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId>"
            f'<t:FolderId Id="{folder.id}"/></m:SyncFolderId>{state_xml}'
            f"<m:MaxChangesReturned>{limit}</m:MaxChangesReturned></m:SyncFolderItems>"))[1]  # fmt: skip

    first = sync()
    assert "<m:IncludesLastItemInRange>false</m:IncludesLastItemInRange>" in first and first.count("<t:Create>") == 2
    state = first.split("<m:SyncState>")[1].split("</m:SyncState>")[0]
    rest = sync(state)
    assert "<m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>" in rest and rest.count("<t:Create>") == 1
    forged = sync("bm90IGEgc3luYyBzdGF0ZQ==")
    assert 'ResponseClass="Error"' in forged and "ErrorInvalidSyncStateData" in forged and "<m:SyncState" in forged


def test_get_user_availability_answers_each_mailbox_with_busy_types(ann, exchange) -> None:  # type: ignore[no-untyped-def]
    """GetUserAvailability: one FreeBusyResponse per mailbox asked, events with their BusyType in the request's
    zone, details (never a private subject) for the owner only, an unknown address an error of its own.
    https://learn.microsoft.com/exchange/client-developer/web-service-reference/getuseravailability-operation
    https://learn.microsoft.com/exchange/client-developer/web-service-reference/calendarevent"""
    from exchangelib.properties import FreeBusyViewOptions, MailboxData, TimeWindow
    from exchangelib.services import GetUserAvailability

    from integrations.exchange.freebusy import UTC_ZONE

    ews, folder = ann
    _item(ews, folder, "Review")  # 23 Nov 10:00-11:00 Berlin = 09:00 UTC
    _item(ews, folder, "Maybe", day=1, legacy_free_busy_status="Tentative")
    _item(ews, folder, "Doctor", day=2, legacy_free_busy_status="OOF", sensitivity="Private")
    thursdays = NumberedPattern(start=EWSDate(2026, 11, 26), number=3)
    weekly = _item(ews, folder, "Weekly", day=3, recurrence=Recurrence(pattern=WeeklyPattern(interval=1, weekdays=[4]),
                                                                         boundary=thursdays))  # fmt: skip
    assert weekly.id
    utc = EWSTimeZone("UTC")
    window = TimeWindow(start=EWSDateTime(2026, 11, 23, tzinfo=utc), end=EWSDateTime(2026, 12, 7, tzinfo=utc))
    options = FreeBusyViewOptions(time_window=window, merged_free_busy_interval=30, requested_view="Detailed")
    mine, unknown = GetUserAvailability(ews.protocol).call(
        tzinfo=utc, timezone=UTC_ZONE, free_busy_view_options=options,
        mailbox_data=[MailboxData(email=ews.primary_smtp_address, attendee_type="Required", exclude_conflicts=False),
                      MailboxData(email=f"nobody-{uuid.uuid4().hex[:8]}@corp.example", attendee_type="Required",
                                  exclude_conflicts=False)],
    )  # fmt: skip
    assert mine.view_type == "Detailed"
    assert [(e.start.hour, e.start.day, e.busy_type, e.details.subject) for e in mine.calendar_events] == [
        (9, 23, "Busy", "Review"), (9, 24, "Tentative", "Maybe"), (9, 25, "OOF", None), (9, 26, "Busy", "Weekly"),
        (9, 3, "Busy", "Weekly")]  # fmt: skip
    assert isinstance(unknown, errors.ErrorMailRecipientNotFound)
