"""The Exchange emulator's XML vocabulary: namespaces, and calendar items between EWS XML and the state's dicts.

Element names and their order follow the CalendarItem reference; exchangelib reads them by name.
https://learn.microsoft.com/exchange/client-developer/web-service-reference/calendaritem
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element

from .state import EwsError, owner_of

S = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
NS = f'xmlns:s="{S}" xmlns:m="{M}" xmlns:t="{T}"'
VERSION = (
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


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def child_text(elem: Element | None, name: str, default: str = "") -> str:
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


def extended_key(uri: Element) -> str:
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
        people.append(
            (child_text(box, "EmailAddress"), child_text(box, "Name"), child_text(attendee, "ResponseType", "Unknown"))
        )
    return people


def _recurrence(elem: Element) -> dict[str, Any]:
    pattern: dict[str, Any] = {}
    rng: dict[str, Any] = {}
    for child in elem:
        name = child.tag.split("}")[1]
        if name in _PATTERNS:
            pattern["type"] = _PATTERNS[name]
            pattern["interval"] = int(child_text(child, "Interval", "1"))
            days = child_text(child, "DaysOfWeek").split()
            if days:
                pattern["daysOfWeek"] = [d.lower() for d in days if d in _DAYS]
                if len(pattern["daysOfWeek"]) != len(days):
                    raise EwsError("ErrorSchemaValidation", "Day, Weekday and WeekendDay are not supported here.")
            if child_text(child, "FirstDayOfWeek"):
                pattern["firstDayOfWeek"] = child_text(child, "FirstDayOfWeek").lower()
            if child_text(child, "DayOfMonth"):
                pattern["dayOfMonth"] = int(child_text(child, "DayOfMonth"))
            if child_text(child, "DayOfWeekIndex"):
                pattern["index"] = child_text(child, "DayOfWeekIndex").lower()
            if child_text(child, "Month"):
                pattern["month"] = _MONTHS.index(child_text(child, "Month")) + 1
        elif name in _RANGES:
            rng["type"] = _RANGES[name]
            rng["startDate"] = _day(child_text(child, "StartDate"))
            if name == "EndDateRecurrence":
                rng["endDate"] = _day(child_text(child, "EndDate"))
            if name == "NumberedRecurrence":
                rng["numberOfOccurrences"] = int(child_text(child, "NumberOfOccurrences"))
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
            fields["body"], fields["body_type"] = value, child.get("BodyType", "Text")
        elif name == "Categories":
            fields["categories"] = [c.text or "" for c in child.findall(t("String"))]
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
                fields.setdefault("extended", {})[extended_key(uri)] = child_text(child, "Value")
    return fields


FIELD_FOR_URI = {
    "item:Subject": "subject",
    "item:Body": "body",
    "item:Categories": "categories",
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
        f"<t:{tag}><t:Mailbox><t:Name>{esc(name or address)}</t:Name><t:EmailAddress>{esc(address)}"
        "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Mailbox>"
    )


def item_xml(item: dict[str, Any], extended: list[Element], ids_only: bool = False) -> str:
    kind = item.get("kind") or ("RecurringMaster" if item.get("recurrence") else "Single")
    mine = item["organizer"][0] == owner_of(item["id"])
    id_xml = f'<t:ItemId Id="{esc(item["id"])}" ChangeKey="{esc(item["changekey"])}"/>'
    if ids_only:
        return f"<t:CalendarItem>{id_xml}</t:CalendarItem>"
    parts = [
        id_xml,
        "<t:ItemClass>IPM.Appointment</t:ItemClass>",
        f"<t:Subject>{esc(item['subject'])}</t:Subject>",
        f"<t:Sensitivity>{esc(item['sensitivity'])}</t:Sensitivity>",
        f'<t:Body BodyType="{esc(item["body_type"])}">{esc(item["body"])}</t:Body>',
    ]
    if item["categories"]:
        parts.append(
            "<t:Categories>" + "".join(f"<t:String>{esc(c)}</t:String>" for c in item["categories"]) + "</t:Categories>"
        )
    parts += [
        f"<t:DateTimeCreated>{_stamp(item['created'])}</t:DateTimeCreated>",
        f"<t:ReminderIsSet>{str(item['reminder_is_set']).lower()}</t:ReminderIsSet>",
        f"<t:ReminderMinutesBeforeStart>{item['reminder_minutes']}</t:ReminderMinutesBeforeStart>",
        f"<t:LastModifiedTime>{_stamp(item['modified'])}</t:LastModifiedTime>",
    ]
    for uri in extended:
        value = item["extended"].get(extended_key(uri))
        if value is not None:
            attrs = " ".join(f'{k}="{esc(v)}"' for k, v in uri.attrib.items())
            parts.append(
                f"<t:ExtendedProperty><t:ExtendedFieldURI {attrs}/><t:Value>{esc(value)}</t:Value></t:ExtendedProperty>"
            )
    parts += [
        f"<t:UID>{esc(item['uid'])}</t:UID>",
        f"<t:Start>{_stamp(item['start'])}</t:Start>",
        f"<t:End>{_stamp(item['end'])}</t:End>",
    ]
    if item.get("original_start"):
        parts.append(f"<t:OriginalStart>{_stamp(item['original_start'])}</t:OriginalStart>")
    parts += [
        f"<t:IsAllDayEvent>{str(item['is_all_day']).lower()}</t:IsAllDayEvent>",
        f"<t:LegacyFreeBusyStatus>{esc(item['free_busy'])}</t:LegacyFreeBusyStatus>",
        f"<t:Location>{esc(item['location'])}</t:Location>",
        f"<t:IsMeeting>{str(bool(item['required'] or item['optional'])).lower()}</t:IsMeeting>",
        "<t:IsCancelled>false</t:IsCancelled>",
        f"<t:IsRecurring>{str(kind != 'Single').lower()}</t:IsRecurring>",
        f"<t:MeetingRequestWasSent>{str(item.get('request_sent', False)).lower()}</t:MeetingRequestWasSent>",
        f"<t:CalendarItemType>{kind}</t:CalendarItemType>",
        f"<t:MyResponseType>{'Organizer' if mine else 'NoResponseReceived'}</t:MyResponseType>",
        _mailbox_xml("Organizer", *item["organizer"]) + "</t:Organizer>",
    ]
    for tag, people in (("RequiredAttendees", item["required"]), ("OptionalAttendees", item["optional"])):
        if people:
            parts.append(
                f"<t:{tag}>"
                + "".join(
                    _mailbox_xml("Attendee", a, n) + f"<t:ResponseType>{esc(r)}</t:ResponseType></t:Attendee>"
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
                f'<t:Occurrence><t:ItemId Id="{esc(e["id"])}" ChangeKey="{esc(e["changekey"])}"/>'
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
    parts.append(f'<t:StartTimeZone Id="{esc(item["start_tz"])}"/><t:EndTimeZone Id="{esc(item["end_tz"])}"/>')
    return "<t:CalendarItem>" + "".join(parts) + "</t:CalendarItem>"
