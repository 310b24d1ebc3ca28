"""Microsoft Graph events <-> calsync items, including recurrence patterns <-> RRULEs and Windows time zones.

Reference: https://learn.microsoft.com/graph/api/resources/event and
https://learn.microsoft.com/graph/api/resources/patternedrecurrence.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from events.hidden import unmodelled_fields, unmodelled_text
from events.ical import Alarm, Attendee, Component, Person, alarm_minutes, resolve_zone

# The calsync identity of an event, as a single-value extended property (a GUID namespace of our own).
UID_PROPERTY = "String {8d1f3f57-7c43-4d6d-9a0b-5c1b6c3c2a11} Name calsyncUid"
# Business fields travel as named single-value extended properties, one per field (issue 13's carrier names):
# https://learn.microsoft.com/en-us/graph/api/resources/extended-properties-overview
# The set is PS_PUBLIC_STRINGS (MS-OXPROPS 1.3.2), what EWS calls DistinguishedPropertySetId="PublicStrings", so
# Graph and EWS read and write the same properties on one mailbox.
_FIELD_SET = "{00020329-0000-0000-C000-000000000046}"
FIELD_PROPERTIES = {
    "client": f"String {_FIELD_SET} Name calsyncClient",
    "project": f"String {_FIELD_SET} Name calsyncProject",
    "activity_type": f"String {_FIELD_SET} Name calsyncActivity",
}
# Graph's times always name a zone; a single event that had none in calsync is marked so it reads back without.
FLOATING_PROPERTY = f"String {_FIELD_SET} Name calsyncFloating"
# What Graph has no field for, under the names EWS gives them (integrations/exchange/convert.py): Google's event
# type (focus time, working location...) and the iCalendar properties calsync keeps (events.hidden), so an edit in
# Outlook, which PATCHes only what the user changed, keeps them.
KEPT_PROPERTIES = {
    "event_type": f"String {_FIELD_SET} Name calsyncEventType",
    "unmodelled": f"String {_FIELD_SET} Name calsyncUnmodelled",
}
# Extended properties come back only when $expand names them by id: the four calsync carries, in one request.
# https://learn.microsoft.com/en-us/graph/api/singlevaluelegacyextendedproperty-get
EXPAND = (
    "singleValueExtendedProperties($filter="
    + " or ".join(
        f"id eq '{i}'" for i in (UID_PROPERTY, FLOATING_PROPERTY, *FIELD_PROPERTIES.values(), *KEPT_PROPERTIES.values())
    )
    + ")"
)
# showAs <-> TRANSP and busy_status, as the Exchange side reads LegacyFreeBusyStatus: free is TRANSP:TRANSPARENT,
# busy is plain opaque time, "unknown" says nothing; the other three are kept by name and written back as they were.
# https://learn.microsoft.com/en-us/graph/api/resources/freebusystatus
_SHOW_AS = {"tentative": "TENTATIVE", "oof": "OOF", "workingElsewhere": "WORKINGELSEWHERE"}
_BUSY_STATUS = {v: k for k, v in _SHOW_AS.items()} | {"FREE": "free", "BUSY": "busy"}

_OLSON_TO_WINDOWS = {olson: windows for windows, olson in WINDOWS_TO_OLSON.items()}
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_ICAL_DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
_INDEX = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}
_RESPONSE = {"accepted": "ACCEPTED", "organizer": "ACCEPTED", "tentativelyAccepted": "TENTATIVE",
             "declined": "DECLINED", "none": "NEEDS-ACTION", "notResponded": "NEEDS-ACTION"}  # fmt: skip
_PARTSTAT = {"ACCEPTED": "accepted", "TENTATIVE": "tentativelyAccepted", "DECLINED": "declined"}


class Unsupported(ValueError):
    """calsync cannot express this in Outlook (or the other way round); the message says what."""


def windows_zone(value: datetime) -> str:
    key = getattr(value.tzinfo, "key", None) or "UTC"
    return _OLSON_TO_WINDOWS.get(key, key)


def parse_when(value: dict[str, Any], original_zone: str = "") -> datetime:
    moment = datetime.fromisoformat(value["dateTime"][:26].rstrip("Z"))
    moment = moment.replace(tzinfo=resolve_zone(value.get("timeZone")) or UTC)
    wanted = resolve_zone(original_zone) if original_zone else None
    return moment.astimezone(wanted) if wanted else moment


def when(value: datetime | date, zone_hint: str = "UTC") -> dict[str, str]:
    if not isinstance(value, datetime):
        return {"dateTime": datetime.combine(value, time()).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone_hint))
    return {"dateTime": value.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": windows_zone(value)}


# --- recurrence ----------------------------------------------------------------------------------


def _rule_parts(rrule: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in rrule.upper().split(";") if "=" in part)


def pattern_from_rrule(rrule: str, start: datetime | date) -> dict[str, Any]:
    """A Graph patternedRecurrence for an RRULE, or Unsupported for rules Outlook cannot repeat by."""
    parts = _rule_parts(rrule)
    unsupported = set(parts) - {"FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "COUNT", "UNTIL", "WKST",
                                "BYSETPOS"}  # fmt: skip
    if unsupported:
        raise Unsupported(f"Outlook cannot repeat by {', '.join(sorted(unsupported))}.")
    freq, interval = parts.get("FREQ"), int(parts.get("INTERVAL", "1"))
    local_day = start if not isinstance(start, datetime) else start.date()
    byday = [d for d in parts.get("BYDAY", "").split(",") if d]
    pattern: dict[str, Any] = {"interval": interval}
    ordinal_days = [(re.match(r"^([+-]?\d*)([A-Z]{2})$", d) or _fail(d)).groups() for d in byday]
    if freq == "DAILY" and not byday:
        pattern["type"] = "daily"
    elif freq == "WEEKLY":
        days = [d for _, d in ordinal_days] or [_ICAL_DAYS[local_day.weekday()]]
        pattern.update(type="weekly", daysOfWeek=[_DAYS[_ICAL_DAYS.index(d)] for d in days],
                       firstDayOfWeek=_DAYS[_ICAL_DAYS.index(parts.get("WKST", "MO"))])  # fmt: skip
    elif freq in ("MONTHLY", "YEARLY"):
        yearly = freq == "YEARLY"
        if yearly:
            pattern["month"] = int(parts.get("BYMONTH", local_day.month))
        if ordinal_days:
            index = int(ordinal_days[0][0] or parts.get("BYSETPOS", "0") or 0)
            if index not in _INDEX or len({o for o, _ in ordinal_days}) > 1:
                raise Unsupported("Outlook repeats on the first to fourth or the last weekday of a month only.")
            pattern.update(type="relativeYearly" if yearly else "relativeMonthly", index=_INDEX[index],
                           daysOfWeek=[_DAYS[_ICAL_DAYS.index(d)] for _, d in ordinal_days])  # fmt: skip
        else:
            day = int(parts.get("BYMONTHDAY", local_day.day))
            if day < 1:
                raise Unsupported("Outlook cannot count days from the end of a month.")
            pattern.update(type="absoluteYearly" if yearly else "absoluteMonthly", dayOfMonth=day)
    else:
        raise Unsupported(f"Outlook cannot repeat {freq or 'like this'}.")
    zone = windows_zone(start) if isinstance(start, datetime) else "UTC"
    rng: dict[str, Any] = {"startDate": local_day.isoformat(), "recurrenceTimeZone": zone}
    if "COUNT" in parts:
        rng.update(type="numbered", numberOfOccurrences=int(parts["COUNT"]))
    elif "UNTIL" in parts:
        until = parts["UNTIL"]
        end = datetime.strptime(until[:8], "%Y%m%d").date()
        if len(until) > 8 and isinstance(start, datetime) and start.tzinfo is not None:
            end = datetime.strptime(until.rstrip("Z"), "%Y%m%dT%H%M%S").replace(tzinfo=UTC).astimezone(
                start.tzinfo).date()  # fmt: skip
        rng.update(type="endDate", endDate=end.isoformat())
    else:
        rng["type"] = "noEnd"
    return {"pattern": pattern, "range": rng}


def _fail(day: str) -> Any:
    raise Unsupported(f"{day!r} is not a weekday calsync understands.")


def rrule_from_pattern(recurrence: dict[str, Any], start: datetime | date) -> str:
    pattern, rng = recurrence["pattern"], recurrence["range"]
    kind = pattern["type"]
    parts = [{"daily": "FREQ=DAILY", "weekly": "FREQ=WEEKLY", "absoluteMonthly": "FREQ=MONTHLY",
              "relativeMonthly": "FREQ=MONTHLY", "absoluteYearly": "FREQ=YEARLY",
              "relativeYearly": "FREQ=YEARLY"}[kind]]  # fmt: skip
    if int(pattern.get("interval") or 1) != 1:
        parts.append(f"INTERVAL={int(pattern['interval'])}")
    days = [_ICAL_DAYS[_DAYS.index(d)] for d in pattern.get("daysOfWeek") or []]
    if kind == "weekly":
        local_day = start if not isinstance(start, datetime) else start.date()
        if days != [_ICAL_DAYS[local_day.weekday()]]:  # the start's own weekday alone is what FREQ=WEEKLY means
            parts.append("BYDAY=" + ",".join(days))
        if pattern.get("firstDayOfWeek", "sunday") != "monday" and int(pattern.get("interval") or 1) > 1:
            parts.append("WKST=" + _ICAL_DAYS[_DAYS.index(pattern["firstDayOfWeek"])])
    elif kind in ("relativeMonthly", "relativeYearly"):
        index = {v: k for k, v in _INDEX.items()}[pattern.get("index", "first")]
        parts.append("BYDAY=" + ",".join(f"{index}{d}" for d in days))
    elif kind in ("absoluteMonthly", "absoluteYearly"):
        parts.append(f"BYMONTHDAY={int(pattern['dayOfMonth'])}")
    if kind in ("absoluteYearly", "relativeYearly"):
        parts.append(f"BYMONTH={int(pattern['month'])}")
    if rng["type"] == "numbered":
        parts.append(f"COUNT={int(rng['numberOfOccurrences'])}")
    elif rng["type"] == "endDate":
        end = date.fromisoformat(rng["endDate"])
        if isinstance(start, datetime) and start.tzinfo is not None:
            last = datetime.combine(end, time(23, 59, 59), start.tzinfo).astimezone(UTC)
            parts.append(f"UNTIL={last.strftime('%Y%m%dT%H%M%SZ')}")
        else:
            parts.append(f"UNTIL={end.strftime('%Y%m%d')}")
    return ";".join(parts)


# --- events ----------------------------------------------------------------------------------------


def _properties(event: dict[str, Any]) -> dict[str, str]:
    """The event's expanded extended properties by id (lower case); an empty value is an absent one."""
    props = event.get("singleValueExtendedProperties") or []
    return {str(p.get("id", "")).lower(): str(p["value"]) for p in props if p.get("value")}


def calsync_uid(event: dict[str, Any]) -> str:
    uid = _properties(event).get(UID_PROPERTY.lower())
    if uid:
        return uid
    # Listings (delta) carry no extended properties, but they do carry the transactionId calsync set.
    return str(event.get("transactionId") or event.get("iCalUId") or event["id"])


def html_to_text(markup: str) -> str:
    """Outlook writes event bodies as HTML; calsync keeps text, one line per line break, paragraph or block."""
    return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>|</p>|</div>", "\n", markup))).strip()


def _text(body: dict[str, Any] | None) -> str:
    if not body or not body.get("content"):
        return ""
    if body.get("contentType") == "html":
        return html_to_text(body["content"])
    return str(body["content"])


def to_component(
    event: dict[str, Any], uid: str, master_start: datetime | date | None = None, zone_hint: str = "UTC"
) -> Component:
    """`zone_hint` is the zone calsync writes floating times in (to_event's): a marked event reads back in it."""
    # Graph answers in UTC unless asked otherwise; a series' own zone is also in its range, should the original
    # zone be missing (https://learn.microsoft.com/en-us/graph/api/resources/recurrencerange).
    series_zone = ((event.get("recurrence") or {}).get("range") or {}).get("recurrenceTimeZone", "")
    zone = event.get("originalStartTimeZone", "") or series_zone
    start: datetime | date = parse_when(event["start"], zone)
    end: datetime | date = parse_when(event["end"], event.get("originalEndTimeZone", "") or zone)
    props = _properties(event)
    if event.get("isAllDay"):  # dates: Graph gives them as midnight in whichever zone it answers in
        start, end = (date.fromisoformat(event[k]["dateTime"][:10]) for k in ("start", "end"))
    elif props.get(FLOATING_PROPERTY.lower()) == "1" and not event.get("recurrence"):
        local = resolve_zone(zone_hint) or UTC
        start, end = (v.astimezone(local).replace(tzinfo=None) for v in (start, end))  # type: ignore[union-attr]
    recurrence_id = None
    if event.get("type") in ("exception", "occurrence") and event.get("originalStart"):
        recurrence_id = datetime.fromisoformat(event["originalStart"].replace("Z", "+00:00"))
        if isinstance(master_start, datetime):
            recurrence_id = recurrence_id.astimezone(master_start.tzinfo)
        elif isinstance(master_start, date):
            recurrence_id = recurrence_id.date()  # type: ignore[assignment]
    organizer = (event.get("organizer") or {}).get("emailAddress") or {}
    real_attendees = tuple(
        Attendee(
            email=a["emailAddress"]["address"],
            name=a["emailAddress"].get("name", ""),
            partstat=_RESPONSE.get((a.get("status") or {}).get("response", "none"), "NEEDS-ACTION"),
            role="OPT-PARTICIPANT" if a.get("type") == "optional" else "REQ-PARTICIPANT",
        )
        for a in event.get("attendees") or []
        if (a.get("emailAddress") or {}).get("address")
        and a.get("type") != "resource"
        and a["emailAddress"]["address"].lower() != (organizer.get("address") or "").lower()
    )
    description, copied = split_meeting_text(_text(event.get("body")))
    person = Person(organizer["address"], organizer.get("name", "")) if real_attendees and organizer else None
    attendees = real_attendees
    if copied is not None:  # a copy calsync wrote: the meeting's people are in the text (see meeting_text)
        person, listed = copied
        attendees = listed + tuple(
            a for a in real_attendees if a.email.lower() not in {x.email.lower() for x in listed}
        )
    alarms = ()
    if event.get("isReminderOn"):
        alarms = (Alarm(trigger=f"-PT{int(event.get('reminderMinutesBeforeStart') or 0)}M", description="Reminder"),)
    rrule = rrule_from_pattern(event["recurrence"], start) if event.get("recurrence") else ""
    return Component(
        uid=uid,
        recurrence_id=recurrence_id,
        summary=event.get("subject") or "",
        description=description,
        location=((event.get("location") or {}).get("displayName")) or "",
        start=start,
        end=end,
        status="CANCELLED" if event.get("isCancelled") else "",
        transparency="TRANSPARENT" if event.get("showAs") == "free" else "",
        busy_status=_SHOW_AS.get(event.get("showAs") or "", ""),
        categories=tuple(event.get("categories") or ()),
        client=props.get(FIELD_PROPERTIES["client"].lower(), ""),
        project=props.get(FIELD_PROPERTIES["project"].lower(), ""),
        activity_type=props.get(FIELD_PROPERTIES["activity_type"].lower(), ""),
        event_type=props.get(KEPT_PROPERTIES["event_type"].lower(), ""),
        **unmodelled_fields(props.get(KEPT_PROPERTIES["unmodelled"].lower())),
        visibility={"private": "PRIVATE", "personal": "PRIVATE", "confidential": "CONFIDENTIAL"}.get(
            event.get("sensitivity", "normal"), ""
        ),
        rrule=rrule,
        organizer=person,
        attendees=attendees,
        alarms=alarms,
    )


def to_event(component: Component, uid: str, zone_hint: str = "UTC", invite: bool = True) -> dict[str, Any]:
    """The Graph event for a component. Without `invite`, a meeting's organiser and attendees go into the body as
    text (meeting_text), because Graph emails every attendee of an event written to the organiser's calendar."""
    start = component.start
    if start is None:
        raise Unsupported("Outlook needs a start time.")
    end = component.end
    if end is None:
        end = start + timedelta(days=1) if not isinstance(start, datetime) else start
    all_day = not isinstance(start, datetime)
    people = component.attendees if invite else ()
    text = component.description if invite or not component.attendees else meeting_text(component)
    body: dict[str, Any] = {
        "subject": component.summary,
        "body": {"contentType": "text", "content": text},
        "location": {"displayName": component.location},
        "start": when(start, zone_hint),
        "end": when(end, zone_hint),
        "isAllDay": all_day,
        "showAs": _BUSY_STATUS.get(component.busy_status)
        or ("free" if component.transparency == "TRANSPARENT" else "busy"),
        "categories": list(component.categories),
        "sensitivity": {"PRIVATE": "private", "CONFIDENTIAL": "confidential"}.get(component.visibility, "normal"),
        "attendees": [
            {
                "emailAddress": {"address": a.email, "name": a.name or a.email},
                "type": "optional" if a.role == "OPT-PARTICIPANT" else "required",
                "status": {"response": _PARTSTAT.get(a.partstat, "none"), "time": "0001-01-01T00:00:00Z"},
            }
            for a in people
        ],
        "singleValueExtendedProperties": [{"id": UID_PROPERTY, "value": uid}]
        + _floating_mark(component)
        + [
            {"id": prop, "value": getattr(component, name)}
            for name, prop in FIELD_PROPERTIES.items()
            if getattr(component, name)
        ]
        + _kept(component),
    }
    reminder = next((m for m in map(alarm_minutes, component.alarms) if m is not None), None)
    body["isReminderOn"] = reminder is not None
    if reminder is not None:
        body["reminderMinutesBeforeStart"] = reminder
    if component.recurrence_id is None and component.rrule:
        if component.rdates:
            raise Unsupported("Outlook cannot add extra dates (RDATE) to a series.")
        body["recurrence"] = pattern_from_rrule(component.rrule, start)
    elif component.recurrence_id is None:
        body["recurrence"] = None
    return body


def _kept(component: Component) -> list[dict[str, str]]:
    """The event type and unmodelled properties, each only when there is one (absent is removed, like a
    business field)."""
    values = {"event_type": component.event_type, "unmodelled": unmodelled_text(component)}
    return [{"id": KEPT_PROPERTIES[name], "value": value} for name, value in values.items() if value]


def _floating_mark(component: Component) -> list[dict[str, str]]:
    """Series stay zoned: their occurrences and exceptions are matched by instant, which a floating time lacks."""
    start = component.start
    if isinstance(start, datetime) and start.tzinfo is None and not component.rrule and not component.recurrence_id:
        return [{"id": FLOATING_PROPERTY, "value": "1"}]
    return []


def patch_for(held: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The PATCH body that turns `held` into `wanted` (both made by to_event): only the properties that differ, so
    Outlook keeps everything calsync does not model (https://learn.microsoft.com/en-us/graph/api/event-update).
    Times compare as instants (Graph may answer in another zone than it was written in); text bodies without the
    trailing space Outlook's HTML drops; extended properties one by one, an emptied one written as "" (Graph has no
    call that removes a single-value extended property from an event)."""
    patch = {}
    for key, value in wanted.items():
        if key == "singleValueExtendedProperties":
            continue
        if key in ("start", "end") and held.get(key) and parse_when(held[key]) == parse_when(value):
            continue
        if key == "body" and (held.get(key) or {}).get("content", "").strip() == value["content"].strip():
            continue
        if held.get(key) != value:
            patch[key] = value
    old = {p["id"].lower(): p["value"] for p in held.get("singleValueExtendedProperties") or []}
    new = {p["id"].lower(): p for p in wanted.get("singleValueExtendedProperties") or []}
    props = [p for key, p in new.items() if old.get(key) != p["value"]]
    props += [{"id": key, "value": ""} for key in old if key not in new]
    if props:
        patch["singleValueExtendedProperties"] = props
    return patch


# --- meetings organised elsewhere, carried as text ---------------------------------------------------------

_MARK = "-- calsync copy of a meeting organised by "
_PARTSTAT_WORDS = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentative",
                   "DELEGATED": "delegated", "NEEDS-ACTION": "not answered"}  # fmt: skip
_ROLE_WORDS = {"OPT-PARTICIPANT": "optional", "CHAIR": "chair", "NON-PARTICIPANT": "for information"}
_LINE = re.compile(r"^\* (?P<name>.*?) ?<(?P<email>[^<>\s]+)> \((?P<words>[^()]*)\)$")


def _person(name: str, email: str) -> str:
    return f"{name} <{email}>" if name else f"<{email}>"


def meeting_text(component: Component) -> str:
    """The description, then the organiser and attendees as lines people can read and calsync can read back."""
    organizer = component.organizer or Person("")
    lines = [f"{_MARK}{_person(organizer.name, organizer.email)} --", "Attendees:"]
    for a in component.attendees:
        words = [_ROLE_WORDS[a.role]] if a.role in _ROLE_WORDS else []
        words.append(_PARTSTAT_WORDS.get(a.partstat, "not answered"))
        lines.append(f"* {_person(a.name, a.email)} ({', '.join(words)})")
    return "\n\n".join(p for p in (component.description, "\n".join(lines)) if p)


def split_meeting_text(text: str) -> tuple[str, tuple[Person | None, tuple[Attendee, ...]] | None]:
    """meeting_text read back: (description, (organiser, attendees)), or (text, None) when it is not a copy."""
    at = text.rfind(_MARK)
    head = text[at:].split("\n")
    match = re.match(r"^(?P<name>.*?) ?<(?P<email>[^<>\s]*)> --$", head[0][len(_MARK) :]) if at >= 0 else None
    if match is None or head[1:2] != ["Attendees:"]:
        return text, None
    partstats = {w: p for p, w in _PARTSTAT_WORDS.items()}
    roles = {w: r for r, w in _ROLE_WORDS.items()}
    attendees = []
    for line in head[2:]:
        found = _LINE.match(line.strip())
        if found is None:
            return text, None  # edited beyond recognition in Outlook: keep it as the user left it
        words = [w.strip() for w in found["words"].split(",")]
        attendees.append(Attendee(email=found["email"], name=found["name"],
                                  partstat=partstats.get(words[-1], "NEEDS-ACTION"),
                                  role=roles.get(words[0], "REQ-PARTICIPANT")))  # fmt: skip
    # A meeting made in calsync has no organiser: its text names none, and it reads back without one.
    organizer = Person(match["email"], match["name"]) if match["email"] else None
    return text[:at].rstrip(), (organizer, tuple(attendees))
