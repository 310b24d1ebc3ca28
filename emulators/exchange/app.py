"""The Exchange emulator's SOAP surface: the EWS operations calsync's exchangelib adapter uses.

GetFolder, FindFolder, SyncFolderItems, GetItem, FindItem, CreateItem, UpdateItem and DeleteItem. Requests
are read by element name in the EWS message and type namespaces; answers carry the shapes the EWS reference
documents. An unauthenticated request gets 401 with the schemes offered, which is how clients pick one.
"""

from __future__ import annotations

import base64
import html
import threading
from datetime import UTC, datetime
from typing import Any
from wsgiref.simple_server import make_server
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from emulators.http import Emulator, QuietHandler, Request, Response, ThreadingServer

from . import availability
from .state import EwsError, Login, State

S = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
_NS = f'xmlns:s="{S}" xmlns:m="{M}" xmlns:t="{T}"'
_VERSION = (
    '<h:ServerVersionInfo xmlns:h="' + T + '" MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" '
    'MinorBuildNumber="6" Version="V2017_07_11"/>'
)
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_INDEX = ["First", "Second", "Third", "Fourth", "Last"]
_PATTERNS = {
    "DailyRecurrence": "daily",
    "WeeklyRecurrence": "weekly",
    "AbsoluteMonthlyRecurrence": "absoluteMonthly",
    "RelativeMonthlyRecurrence": "relativeMonthly",
    "AbsoluteYearlyRecurrence": "absoluteYearly",
    "RelativeYearlyRecurrence": "relativeYearly",
}
_RANGES = {"NoEndRecurrence": "noEnd", "EndDateRecurrence": "endDate", "NumberedRecurrence": "numbered"}


def t(name: str) -> str:
    return f"{{{T}}}{name}"


def m(name: str) -> str:
    return f"{{{M}}}{name}"


def _x(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _text(elem: Element | None, name: str, default: str = "") -> str:
    if elem is None:
        return default
    found = elem.find(t(name))
    return (found.text or "") if found is not None else default


def _bool(value: str) -> bool:
    return value.strip().lower() in ("true", "1")


def _moment(value: str) -> datetime:
    """An xs:dateTime; without an offset it is in the request's time zone context, which is UTC for calsync."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(value: str) -> str:
    return value.strip()[:10]  # xs:date may carry an offset: "2026-11-23+01:00"


# --- calendar items: XML <-> the emulator's dicts ------------------------------------------------------


def _extended_key(uri: Element) -> str:
    return "|".join(
        uri.get(a, "")
        for a in (
            "DistinguishedPropertySetId",
            "PropertySetId",
            "PropertyName",
            "PropertyTag",
            "PropertyId",
            "PropertyType",
        )
    )


def _attendees(elem: Element) -> list[tuple[str, str, str]]:
    people = []
    for attendee in elem.findall(t("Attendee")):
        box = attendee.find(t("Mailbox"))
        people.append((_text(box, "EmailAddress"), _text(box, "Name"), _text(attendee, "ResponseType", "Unknown")))
    return people


def _recurrence(elem: Element) -> dict[str, Any]:
    pattern: dict[str, Any] = {}
    rng: dict[str, Any] = {}
    for child in elem:
        name = child.tag.split("}")[1]
        if name in _PATTERNS:
            pattern["type"] = _PATTERNS[name]
            pattern["interval"] = int(_text(child, "Interval", "1"))
            days = _text(child, "DaysOfWeek").split()
            if days:
                pattern["daysOfWeek"] = [d.lower() for d in days if d in _DAYS]
                if len(pattern["daysOfWeek"]) != len(days):
                    raise EwsError("ErrorSchemaValidation", "Day, Weekday and WeekendDay are not supported here.")
            if _text(child, "FirstDayOfWeek"):
                pattern["firstDayOfWeek"] = _text(child, "FirstDayOfWeek").lower()
            if _text(child, "DayOfMonth"):
                pattern["dayOfMonth"] = int(_text(child, "DayOfMonth"))
            if _text(child, "DayOfWeekIndex"):
                pattern["index"] = _text(child, "DayOfWeekIndex").lower()
            if _text(child, "Month"):
                pattern["month"] = _MONTHS.index(_text(child, "Month")) + 1
        elif name in _RANGES:
            rng["type"] = _RANGES[name]
            rng["startDate"] = _day(_text(child, "StartDate"))
            if name == "EndDateRecurrence":
                rng["endDate"] = _day(_text(child, "EndDate"))
            if name == "NumberedRecurrence":
                rng["numberOfOccurrences"] = int(_text(child, "NumberOfOccurrences"))
                if not 1 <= rng["numberOfOccurrences"] <= 999:
                    raise EwsError("ErrorCalendarInvalidRecurrence", "A series has at most 999 occurrences.")
    if "type" not in pattern or "type" not in rng:
        raise EwsError("ErrorSchemaValidation", "A Recurrence needs a pattern and a range.")
    return {"pattern": pattern, "range": rng}


def _recurrence_xml(recurrence: dict[str, Any]) -> str:
    pattern, rng = recurrence["pattern"], recurrence["range"]
    name = {v: k for k, v in _PATTERNS.items()}[pattern["type"]]
    parts = []
    if pattern["type"] in ("daily", "weekly", "absoluteMonthly", "relativeMonthly"):
        parts.append(f"<t:Interval>{pattern.get('interval', 1)}</t:Interval>")
    if pattern.get("daysOfWeek"):
        parts.append("<t:DaysOfWeek>" + " ".join(d.title() for d in pattern["daysOfWeek"]) + "</t:DaysOfWeek>")
    if pattern["type"] == "weekly":
        parts.append(f"<t:FirstDayOfWeek>{pattern.get('firstDayOfWeek', 'sunday').title()}</t:FirstDayOfWeek>")
    if "index" in pattern:
        parts.append(f"<t:DayOfWeekIndex>{pattern['index'].title()}</t:DayOfWeekIndex>")
    if "dayOfMonth" in pattern:
        parts.append(f"<t:DayOfMonth>{pattern['dayOfMonth']}</t:DayOfMonth>")
    if "month" in pattern:
        parts.append(f"<t:Month>{_MONTHS[pattern['month'] - 1]}</t:Month>")
    range_name = {v: k for k, v in _RANGES.items()}[rng["type"]]
    extra = ""
    if rng["type"] == "endDate":
        extra = f"<t:EndDate>{rng['endDate']}Z</t:EndDate>"
    elif rng["type"] == "numbered":
        extra = f"<t:NumberOfOccurrences>{rng['numberOfOccurrences']}</t:NumberOfOccurrences>"
    return (
        f"<t:Recurrence><t:{name}>{''.join(parts)}</t:{name}><t:{range_name}><t:StartDate>{rng['startDate']}Z"
        f"</t:StartDate>{extra}</t:{range_name}></t:Recurrence>"
    )


def read_fields(item: Element) -> dict[str, Any]:
    """A t:CalendarItem element from a request, as the emulator's fields."""
    fields: dict[str, Any] = {}
    for child in item:
        name = child.tag.split("}")[1]
        value = child.text or ""
        if name == "Subject":
            fields["subject"] = value
        elif name == "Body":
            fields["body"] = value
        elif name == "Location":
            fields["location"] = value
        elif name == "Sensitivity":
            fields["sensitivity"] = value
        elif name == "LegacyFreeBusyStatus":
            fields["free_busy"] = value
        elif name == "ReminderIsSet":
            fields["reminder_is_set"] = _bool(value)
        elif name == "ReminderMinutesBeforeStart":
            fields["reminder_minutes"] = int(value)
        elif name == "UID":
            fields["uid"] = value
        elif name in ("Start", "End"):
            fields[name.lower()] = _moment(value)
        elif name == "IsAllDayEvent":
            fields["is_all_day"] = _bool(value)
        elif name in ("RequiredAttendees", "OptionalAttendees"):
            fields["required" if name.startswith("Req") else "optional"] = _attendees(child)
        elif name == "Recurrence":
            fields["recurrence"] = _recurrence(child)
        elif name in ("StartTimeZone", "EndTimeZone", "MeetingTimeZone"):
            key = "end_tz" if name == "EndTimeZone" else "start_tz"
            fields[key] = child.get("Id") or "UTC"
        elif name == "ExtendedProperty":
            uri = child.find(t("ExtendedFieldURI"))
            if uri is not None:
                fields.setdefault("extended", {})[_extended_key(uri)] = _text(child, "Value")
    return fields


_FIELD_FOR_URI = {
    "item:Subject": "subject",
    "item:Body": "body",
    "calendar:Location": "location",
    "item:Sensitivity": "sensitivity",
    "calendar:LegacyFreeBusyStatus": "free_busy",
    "item:ReminderIsSet": "reminder_is_set",
    "item:ReminderMinutesBeforeStart": "reminder_minutes",
    "calendar:Start": "start",
    "calendar:End": "end",
    "calendar:IsAllDayEvent": "is_all_day",
    "calendar:RequiredAttendees": "required",
    "calendar:OptionalAttendees": "optional",
    "calendar:Recurrence": "recurrence",
    "calendar:StartTimeZone": "start_tz",
    "calendar:EndTimeZone": "end_tz",
    "calendar:UID": "uid",
}


def _mailbox_xml(tag: str, address: str, name: str) -> str:
    return (
        f"<t:{tag}><t:Mailbox><t:Name>{_x(name or address)}</t:Name><t:EmailAddress>{_x(address)}"
        "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox>"
    )


def item_xml(item: dict[str, Any], extended: list[Element], ids_only: bool = False) -> str:
    kind = item.get("kind") or ("RecurringMaster" if item.get("recurrence") else "Single")
    id_xml = f'<t:ItemId Id="{_x(item["id"])}" ChangeKey="{_x(item["changekey"])}"/>'
    if ids_only:
        return f"<t:CalendarItem>{id_xml}</t:CalendarItem>"
    parts = [
        id_xml,
        "<t:ItemClass>IPM.Appointment</t:ItemClass>",
        f"<t:Subject>{_x(item['subject'])}</t:Subject>",
        f"<t:Sensitivity>{_x(item['sensitivity'])}</t:Sensitivity>",
        f'<t:Body BodyType="Text">{_x(item["body"])}</t:Body>',
        f"<t:DateTimeCreated>{_stamp(item['created'])}</t:DateTimeCreated>",
        f"<t:ReminderIsSet>{str(item['reminder_is_set']).lower()}</t:ReminderIsSet>",
        f"<t:ReminderMinutesBeforeStart>{item['reminder_minutes']}</t:ReminderMinutesBeforeStart>",
        f"<t:LastModifiedTime>{_stamp(item['modified'])}</t:LastModifiedTime>",
    ]
    for uri in extended:
        value = item["extended"].get(_extended_key(uri))
        if value is not None:
            attrs = " ".join(f'{k}="{_x(v)}"' for k, v in uri.attrib.items())
            parts.append(
                f"<t:ExtendedProperty><t:ExtendedFieldURI {attrs}/><t:Value>{_x(value)}</t:Value></t:ExtendedProperty>"
            )
    parts += [
        f"<t:UID>{_x(item['uid'])}</t:UID>",
        f"<t:Start>{_stamp(item['start'])}</t:Start>",
        f"<t:End>{_stamp(item['end'])}</t:End>",
    ]
    if item.get("original_start"):
        parts.append(f"<t:OriginalStart>{_stamp(item['original_start'])}</t:OriginalStart>")
    parts += [
        f"<t:IsAllDayEvent>{str(item['is_all_day']).lower()}</t:IsAllDayEvent>",
        f"<t:LegacyFreeBusyStatus>{_x(item['free_busy'])}</t:LegacyFreeBusyStatus>",
        f"<t:Location>{_x(item['location'])}</t:Location>",
        f"<t:IsMeeting>{str(bool(item['required'] or item['optional'])).lower()}</t:IsMeeting>",
        "<t:IsCancelled>false</t:IsCancelled>",
        f"<t:IsRecurring>{str(kind != 'Single').lower()}</t:IsRecurring>",
        f"<t:CalendarItemType>{kind}</t:CalendarItemType>",
        "<t:MyResponseType>Organizer</t:MyResponseType>",
        _mailbox_xml("Organizer", *item["organizer"]) + "</t:Organizer>",
    ]
    for tag, people in (("RequiredAttendees", item["required"]), ("OptionalAttendees", item["optional"])):
        if people:
            parts.append(
                f"<t:{tag}>"
                + "".join(
                    _mailbox_xml("Attendee", a, n) + f"<t:ResponseType>{_x(r)}</t:ResponseType></t:Attendee>"
                    for a, n, r in people
                )
                + f"</t:{tag}>"
            )
    if item.get("recurrence"):
        parts.append(_recurrence_xml(item["recurrence"]))
    if item.get("exceptions"):
        parts.append(
            "<t:ModifiedOccurrences>"
            + "".join(
                f'<t:Occurrence><t:ItemId Id="{_x(e["id"])}" ChangeKey="{_x(e["changekey"])}"/>'
                f"<t:Start>{_stamp(e['start'])}</t:Start><t:End>{_stamp(e['end'])}</t:End>"
                f"<t:OriginalStart>{_stamp(e['original_start'])}</t:OriginalStart></t:Occurrence>"
                for e in sorted(item["exceptions"].values(), key=lambda e: e["original_start"])
            )
            + "</t:ModifiedOccurrences>"
        )
    if item.get("deleted"):
        parts.append(
            "<t:DeletedOccurrences>"
            + "".join(
                f"<t:DeletedOccurrence><t:Start>{_stamp(datetime.fromisoformat(d))}</t:Start></t:DeletedOccurrence>"
                for d in sorted(item["deleted"])
            )
            + "</t:DeletedOccurrences>"
        )
    parts.append(f'<t:StartTimeZone Id="{_x(item["start_tz"])}"/><t:EndTimeZone Id="{_x(item["end_tz"])}"/>')
    return "<t:CalendarItem>" + "".join(parts) + "</t:CalendarItem>"


# --- the SOAP endpoint ----------------------------------------------------------------------------------


class ExchangeEmulator(Emulator):
    def __init__(self, state: State | None = None) -> None:
        self.state = state or State()

    def handle(self, request: Request) -> Response:
        if request.path == "/_emulator/faults" and request.method == "POST":
            data = request.json()
            with self.state.lock:
                self.state.faults.update({k: int(v) for k, v in data.items() if k in self.state.faults})
                if data.get("expire_sync_states"):
                    self.state.expire_sync_states()
            return Response.json(self.state.faults)
        if request.path.rstrip("/").lower() != "/ews/exchange.asmx":
            return Response(404, "Not found", "text/plain")
        if request.method != "POST":
            return Response(405, "EWS takes SOAP requests over POST.", "text/plain", {"Allow": "POST"})
        login = self._login(request)
        if login is None:
            # Clients read the offered schemes from this answer; this emulator offers Basic over the loopback.
            return Response(401, "", "text/plain", {"WWW-Authenticate": 'Basic realm="calsync Exchange emulator"'})
        try:
            envelope = ElementTree.fromstring(request.body, forbid_dtd=True)
        except ElementTree.ParseError as exc:
            return _fault("ErrorSchemaValidation", f"The request failed schema validation: {exc}.")
        header, body = envelope.find(f"{{{S}}}Header"), envelope.find(f"{{{S}}}Body")
        if body is None or len(body) == 0:
            return _fault("ErrorSchemaValidation", "The request has no SOAP body.")
        operation = body[0]
        name = operation.tag.split("}")[1]
        try:
            self.state.check_faults()
            impersonate = None
            if header is not None:
                smtp = header.find(f"{t('ExchangeImpersonation')}/{t('ConnectingSID')}/{t('PrimarySmtpAddress')}")
                impersonate = smtp.text if smtp is not None else None
            principal = self.state.target(login, impersonate, None) if impersonate else login.address
            if name == "GetUserAvailabilityRequest":  # the one operation named so; its answer has no ResponseMessages
                return _envelope(availability.answer(self.state, operation, login))
            handler = getattr(self, f"_op_{name}", None)
            if handler is None:
                raise EwsError("ErrorInvalidRequest", f"The operation {name} is not offered by this emulator.", True)
            messages = handler(operation, login, principal)
        except EwsError as exc:
            if exc.fault:
                return _fault(exc.code, exc.text, exc.back_off_ms)
            messages = [_error_message(name, exc)]
        return _envelope(
            f"<m:{name}Response><m:ResponseMessages>{''.join(messages)}</m:ResponseMessages></m:{name}Response>"
        )

    def _login(self, request: Request) -> Login | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(token).decode().partition(":")
        except ValueError:
            return None
        return self.state.authenticate(username, password)

    # --- folders ------------------------------------------------------------------------------------

    def _folder_ids(self, ids: Element | None, login: Login, principal: str) -> list[tuple[str, str]]:
        """(mailbox, folder id) for each FolderId / DistinguishedFolderId."""
        found = []
        for elem in ids if ids is not None else ():
            if elem.tag == t("FolderId"):
                owner = self.state.check_access(principal, login, elem.get("Id", ""))
                found.append((owner, elem.get("Id", "")))
            elif elem.tag == t("DistinguishedFolderId"):
                box = elem.find(f"{t('Mailbox')}/{t('EmailAddress')}")
                address = (
                    self.state.target(login, None, box.text) if box is not None and box.text != principal else principal
                )
                which = elem.get("Id", "")
                if which == "root":
                    found.append((address, "root"))
                else:
                    found.append((address, self.state.folder(address, distinguished=which).id))
        return found

    def _folder_xml(self, address: str, folder_id: str) -> str:
        if folder_id == "root":
            return (
                f'<t:Folder><t:FolderId Id="{_x(_root_id(address))}" ChangeKey="AQAAAA=="/>'
                "<t:DisplayName>Root</t:DisplayName><t:TotalCount>0</t:TotalCount>"
                "<t:ChildFolderCount>1</t:ChildFolderCount></t:Folder>"
            )
        folder = self.state.folder(address, folder_id)
        parent = self.state.folder(address, distinguished="calendar")
        rights = str(folder.writable).lower()
        return (
            f'<t:CalendarFolder><t:FolderId Id="{_x(folder.id)}" ChangeKey="AgAAAA=="/>'
            f'<t:ParentFolderId Id="{_x(parent.id if folder is not parent else _root_id(address))}"/>'
            f"<t:FolderClass>IPF.Appointment</t:FolderClass><t:DisplayName>{_x(folder.name)}</t:DisplayName>"
            f"<t:TotalCount>{len(folder.items)}</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount>"
            f"<t:EffectiveRights><t:CreateAssociated>{rights}</t:CreateAssociated><t:CreateContents>{rights}"
            f"</t:CreateContents><t:CreateHierarchy>{rights}</t:CreateHierarchy><t:Delete>{rights}</t:Delete>"
            f"<t:Modify>{rights}</t:Modify><t:Read>true</t:Read><t:ViewPrivateItems>true</t:ViewPrivateItems>"
            "</t:EffectiveRights></t:CalendarFolder>"
        )

    def _op_GetFolder(self, op: Element, login: Login, principal: str) -> list[str]:
        messages = []
        for elem in op.find(m("FolderIds")) or []:
            try:
                ((address, folder_id),) = self._folder_ids([elem], login, principal)  # type: ignore[arg-type]
                messages.append(_ok("GetFolder", f"<m:Folders>{self._folder_xml(address, folder_id)}</m:Folders>"))
            except EwsError as exc:
                if exc.fault:
                    raise
                messages.append(_error_message("GetFolder", exc))
        return messages

    def _op_FindFolder(self, op: Element, login: Login, principal: str) -> list[str]:
        messages = []
        for address, folder_id in self._folder_ids(op.find(m("ParentFolderIds")), login, principal):
            default = self.state.folder(address, distinguished="calendar")
            if folder_id == "root":
                children = list(self.state.mailboxes[address].folders.values())
                if op.get("Traversal") != "Deep":
                    children = [default]
            elif folder_id == default.id:
                children = [f for f in self.state.mailboxes[address].folders.values() if f is not default]
            else:
                children = []
            body = "".join(self._folder_xml(address, f.id) for f in children)
            messages.append(
                _ok(
                    "FindFolder",
                    f'<m:RootFolder TotalItemsInView="{len(children)}" '
                    f'IncludesLastItemInRange="true"><t:Folders>{body}</t:Folders></m:RootFolder>',
                )
            )
        return messages

    # --- items ----------------------------------------------------------------------------------------

    @staticmethod
    def _shape(op: Element) -> tuple[bool, list[Element]]:
        shape = op.find(m("ItemShape"))
        base = _text(shape, "BaseShape", "IdOnly")
        extra = shape.find(t("AdditionalProperties")) if shape is not None else None
        extended = list(extra.iter(t("ExtendedFieldURI"))) if extra is not None else []
        return base == "IdOnly" and (extra is None or len(extra) == 0), extended

    def _op_SyncFolderItems(self, op: Element, login: Login, principal: str) -> list[str]:
        ((address, folder_id),) = self._folder_ids(op.find(m("SyncFolderId")), login, principal)
        state_elem = op.find(m("SyncState"))
        limit = int((op.findtext(m("MaxChangesReturned")) or "100").strip())
        if not 1 <= limit <= 512:
            raise EwsError("ErrorInvalidArgument", "MaxChangesReturned must be between 1 and 512.")
        ids_only, extended = self._shape(op)
        answer = self.state.sync(address, folder_id, state_elem.text if state_elem is not None else None, limit)
        changes = []
        for kind, item_id, item in answer["changes"]:
            if kind == "Delete":
                changes.append(f'<t:Delete><t:ItemId Id="{_x(item_id)}"/></t:Delete>')
            else:
                changes.append(f"<t:{kind}>{item_xml(item, extended, ids_only)}</t:{kind}>")
        return [
            _ok(
                "SyncFolderItems",
                f"<m:SyncState>{answer['state']}</m:SyncState><m:IncludesLastItemInRange>"
                f"{str(answer['last']).lower()}</m:IncludesLastItemInRange><m:Changes>{''.join(changes)}"
                "</m:Changes>",
            )
        ]

    def _target(self, elem: Element, login: Login, principal: str) -> dict[str, Any]:
        if elem.tag == t("OccurrenceItemId"):
            return self.state.occurrence(
                principal, login, elem.get("RecurringMasterId", ""), int(elem.get("InstanceIndex", "0"))
            )
        if elem.tag == t("ItemId"):
            return self.state.get(principal, login, elem.get("Id", ""))
        raise EwsError("ErrorInvalidRequest", f"{elem.tag.split('}')[1]} is not offered by this emulator.")

    def _op_GetItem(self, op: Element, login: Login, principal: str) -> list[str]:
        ids_only, extended = self._shape(op)
        messages = []
        for elem in op.find(m("ItemIds")) or []:
            try:
                item = self._target(elem, login, principal)
                messages.append(_ok("GetItem", f"<m:Items>{item_xml(item, extended, ids_only)}</m:Items>"))
            except EwsError as exc:
                messages.append(_error_message("GetItem", exc))
        return messages

    def _op_FindItem(self, op: Element, login: Login, principal: str) -> list[str]:
        ids_only, extended = self._shape(op)
        equal = op.find(f"{m('Restriction')}/{t('IsEqualTo')}")
        uri = equal.find(t("ExtendedFieldURI")) if equal is not None else None
        constant = equal.find(f"{t('FieldURIOrConstant')}/{t('Constant')}") if equal is not None else None
        if uri is None or constant is None:
            raise EwsError("ErrorUnsupportedQueryFilter", "This emulator filters on one extended property only.")
        messages = []
        for address, folder_id in self._folder_ids(op.find(m("ParentFolderIds")), login, principal):
            found = self.state.find(address, folder_id, _extended_key(uri), constant.get("Value", ""))
            body = "".join(item_xml(i, extended, ids_only) for i in found)
            messages.append(
                _ok(
                    "FindItem",
                    f'<m:RootFolder TotalItemsInView="{len(found)}" '
                    f'IncludesLastItemInRange="true"><t:Items>{body}</t:Items></m:RootFolder>',
                )
            )
        return messages

    def _op_CreateItem(self, op: Element, login: Login, principal: str) -> list[str]:
        target = op.find(m("SavedItemFolderId"))
        address, folder_id = (self._folder_ids(target, login, principal) or [(principal, "")])[0]
        if op.get("SendMeetingInvitations") is None:
            raise EwsError(
                "ErrorSendMeetingInvitationsRequired", "SendMeetingInvitations is required for calendar items."
            )
        messages = []
        for elem in op.find(m("Items")) or []:
            if elem.tag != t("CalendarItem"):
                messages.append(
                    _error_message(
                        "CreateItem", EwsError("ErrorInvalidItemForOperation", "Only calendar items are offered here.")
                    )
                )
                continue
            try:
                item = self.state.create(address, folder_id or None, read_fields(elem))
                messages.append(_ok("CreateItem", f"<m:Items>{item_xml(item, [], True)}</m:Items>"))
            except EwsError as exc:
                messages.append(_error_message("CreateItem", exc))
        return messages

    def _op_UpdateItem(self, op: Element, login: Login, principal: str) -> list[str]:
        check = op.get("ConflictResolution", "AutoResolve") == "NeverOverwrite"
        messages = []
        for change in op.find(m("ItemChanges")) or []:
            try:
                id_elem = change[0]
                target = self._target(id_elem, login, principal)
                changes: dict[str, Any] = {}
                deletions: set[str] = set()
                for update in change.find(t("Updates")) or []:
                    kind = update.tag.split("}")[1]
                    field_uri = update.find(t("FieldURI"))
                    name = _FIELD_FOR_URI.get(field_uri.get("FieldURI", "")) if field_uri is not None else None
                    if update.find(t("ExtendedFieldURI")) is not None:
                        name = "extended"
                    if name is None:
                        continue  # a property the emulator does not keep
                    if kind == "DeleteItemField":
                        deletions.add(name)
                        continue
                    values = read_fields(update.find(t("CalendarItem")))  # type: ignore[arg-type]
                    if name in values:
                        changes[name] = values[name]
                sent_key = id_elem.get("ChangeKey") if check and id_elem.tag == t("ItemId") else None
                updated = self.state.update(principal, login, target, changes, deletions, sent_key)
                messages.append(
                    _ok(
                        "UpdateItem",
                        f"<m:Items>{item_xml(updated, [], True)}</m:Items>"
                        "<m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>",
                    )
                )
            except EwsError as exc:
                messages.append(_error_message("UpdateItem", exc))
        return messages

    def _op_DeleteItem(self, op: Element, login: Login, principal: str) -> list[str]:
        messages = []
        how = op.get("DeleteType", "")
        for elem in op.find(m("ItemIds")) or []:
            try:
                if elem.tag == t("OccurrenceItemId"):
                    self.state.delete(
                        principal, login, elem.get("RecurringMasterId", ""), int(elem.get("InstanceIndex", "0")), how
                    )
                else:
                    self.state.delete(principal, login, elem.get("Id", ""), how=how)
                messages.append(_ok("DeleteItem", ""))
            except EwsError as exc:
                messages.append(_error_message("DeleteItem", exc))
        return messages


def _root_id(address: str) -> str:
    return "AAMk" + base64.urlsafe_b64encode(f"root:{address}:0".encode()).decode().rstrip("=")


def _ok(name: str, content: str) -> str:
    return (
        f'<m:{name}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>{content}'
        f"</m:{name}ResponseMessage>"
    )


def _error_message(name: str, exc: EwsError) -> str:
    # A SyncFolderItems answer carries its (empty) sync state even when it fails, as the schema has it.
    extra = (
        "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>" if name.startswith("Sync") else ""
    )
    return (
        f'<m:{name}ResponseMessage ResponseClass="Error"><m:MessageText>{_x(exc.text)}</m:MessageText>'
        f"<m:ResponseCode>{exc.code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{extra}"
        f"</m:{name}ResponseMessage>"
    )


def _envelope(body: str) -> Response:
    text = (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope {_NS}><s:Header>{_VERSION}</s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )
    return Response(200, text, "text/xml; charset=utf-8")


def _fault(code: str, text: str, back_off_ms: int = 0) -> Response:
    extra = ""
    if back_off_ms:
        extra = f'<t:MessageXml><t:Value Name="BackOffMilliseconds">{back_off_ms}</t:Value></t:MessageXml>'
    body = (
        f'<s:Fault><faultcode xmlns:a="{T}">a:{code}</faultcode><faultstring xml:lang="en-US">{_x(text)}'
        f'</faultstring><detail><e:ResponseCode xmlns:e="{T[:-5]}errors">{code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{T[:-5]}errors">{_x(text)}</e:Message>{extra}</detail></s:Fault>'
    )
    text_out = f'<?xml version="1.0" encoding="utf-8"?><s:Envelope {_NS}><s:Body>{body}</s:Body></s:Envelope>'
    return Response(500, text_out, "text/xml; charset=utf-8")


def serve(
    host: str = "127.0.0.1", port: int = 0, state: State | None = None
) -> tuple[ExchangeEmulator, ThreadingServer, str]:
    """Start the emulator in a thread; returns it, its server and its EWS URL."""
    app = ExchangeEmulator(state)
    server = make_server(host, port, app, server_class=ThreadingServer, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, server, f"http://{host}:{server.server_port}/EWS/Exchange.asmx"  # type: ignore[return-value]
