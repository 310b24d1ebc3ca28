"""Exchange calendar items (exchangelib) <-> calsync components.

Recurrence goes through the same pattern vocabulary Microsoft Graph uses (EWS and Graph describe the same
Exchange recurrence), so RRULE <-> pattern lives once, in integrations.microsoft.convert.

Reference: https://learn.microsoft.com/exchange/client-developer/web-service-reference/calendaritem
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone, ExtendedProperty, HTMLBody
from exchangelib.fields import MONTHS, WEEK_NUMBERS, WEEKDAY_NAMES
from exchangelib.properties import Attendee as EwsAttendee
from exchangelib.properties import Mailbox
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

from events.hidden import unmodelled_fields, unmodelled_text
from events.ical import Alarm, Attendee, Component, Person, alarm_minutes, resolve_zone
from integrations.microsoft.convert import Unsupported, html_to_text, pattern_from_rrule, rrule_from_pattern

__all__ = ["CalsyncUid", "Unsupported", "to_component", "to_fields"]

_DAYS = [d.lower() for d in WEEKDAY_NAMES]  # monday ... sunday, as Graph spells them
_RESPONSE = {"Accept": "ACCEPTED", "Organizer": "ACCEPTED", "Tentative": "TENTATIVE", "Decline": "DECLINED"}
_RESPONSE_TYPE = {"ACCEPTED": "Accept", "TENTATIVE": "Tentative", "DECLINED": "Decline"}


class CalsyncUid(ExtendedProperty):
    """The calsync identity, as the same MAPI named property the Graph adapter writes (one identity per event)."""

    property_set_id = "8d1f3f57-7c43-4d6d-9a0b-5c1b6c3c2a11"
    property_name = "calsyncUid"
    property_type = "String"


class _PublicString(ExtendedProperty):
    """A named string property in the PS_PUBLIC_STRINGS set, where other clients (and Outlook) leave it alone.
    https://learn.microsoft.com/exchange/client-developer/web-service-reference/extendedfielduri"""

    distinguished_property_set_id = "PublicStrings"
    property_type = "String"


class CalsyncClient(_PublicString):
    property_name = "calsyncClient"


class CalsyncProject(_PublicString):
    property_name = "calsyncProject"


class CalsyncActivity(_PublicString):
    property_name = "calsyncActivity"


class CalsyncFloating(_PublicString):
    """Set on an event calsync wrote from a time without zone: EWS keeps every time in a zone, so calsync writes
    the wall time in the calendar's zone and reads it back as floating (README "Floating times")."""

    property_name = "calsyncFloating"


class CalsyncEventType(_PublicString):
    """Google's kind of event (focus time, working location...), which Exchange has no word for."""

    property_name = "calsyncEventType"


class CalsyncUnmodelled(_PublicString):
    """iCalendar properties and sub-components calsync keeps but Exchange has no field for, as JSON."""

    property_name = "calsyncUnmodelled"


# The business fields travel on the item, so an edit in Outlook (which writes only what it changed) keeps them.
BUSINESS = {"calsync_client": ("client", CalsyncClient), "calsync_project": ("project", CalsyncProject),
            "calsync_activity": ("activity_type", CalsyncActivity)}  # fmt: skip
_OWN = (("calsync_uid", CalsyncUid), ("calsync_floating", CalsyncFloating), ("calsync_event_type", CalsyncEventType),
        ("calsync_unmodelled", CalsyncUnmodelled), *((n, p) for n, (_a, p) in BUSINESS.items()))  # fmt: skip
CARRIED = [name for name, _p in _OWN]  # what the adapter reads besides Exchange's own fields
for _name, _property in _OWN:
    if _name not in {f.name for f in CalendarItem.FIELDS}:
        CalendarItem.register(_name, _property)

# LegacyFreeBusyStatus <-> TRANSP and busy_status: Free is TRANSP:TRANSPARENT, Busy is plain opaque time; the
# others are kept by name so they are written back as they were. NoData (no status) reads as plain time.
# https://learn.microsoft.com/exchange/client-developer/web-service-reference/legacyfreebusystatus
_BUSY_READ = {"Tentative": "TENTATIVE", "OOF": "OOF", "WorkingElsewhere": "WORKINGELSEWHERE"}
_BUSY_WRITE = {v: k for k, v in _BUSY_READ.items()} | {"FREE": "Free", "BUSY": "Busy"}


def _index(value: Any, names: tuple[str, ...] | list[str]) -> int:
    """exchangelib enum values are 1-based indexes or names; the index either way."""
    return int(value) if isinstance(value, int) else list(names).index(str(value)) + 1


# --- recurrence -------------------------------------------------------------------------------------


def _graph_pattern(recurrence: Recurrence) -> dict[str, Any]:
    p, b = recurrence.pattern, recurrence.boundary
    pattern: dict[str, Any] = {"interval": getattr(p, "interval", 1) or 1}
    if isinstance(p, DailyPattern):
        pattern["type"] = "daily"
    elif isinstance(p, WeeklyPattern):
        pattern.update(type="weekly", daysOfWeek=[_DAYS[_index(d, WEEKDAY_NAMES) - 1] for d in p.weekdays],
                       firstDayOfWeek=_DAYS[_index(p.first_day_of_week, WEEKDAY_NAMES) - 1])  # fmt: skip
    elif isinstance(p, AbsoluteMonthlyPattern | AbsoluteYearlyPattern):
        yearly = isinstance(p, AbsoluteYearlyPattern)
        pattern.update(type="absoluteYearly" if yearly else "absoluteMonthly", dayOfMonth=p.day_of_month)
        if yearly:
            pattern["month"] = _index(p.month, MONTHS)
    elif isinstance(p, RelativeMonthlyPattern | RelativeYearlyPattern):
        day = _index(p.weekday, WEEKDAY_NAMES)
        if day > 7:
            raise Unsupported("calsync cannot repeat on 'day', 'weekday' or 'weekend day' of a month.")
        yearly = isinstance(p, RelativeYearlyPattern)
        pattern.update(type="relativeYearly" if yearly else "relativeMonthly", daysOfWeek=[_DAYS[day - 1]],
                       index=WEEK_NUMBERS[_index(p.week_number, WEEK_NUMBERS) - 1].lower())  # fmt: skip
        if yearly:
            pattern["month"] = _index(p.month, MONTHS)
    else:
        raise Unsupported("calsync cannot read a regenerating (task-style) recurrence.")
    rng: dict[str, Any] = {"startDate": _date(b.start).isoformat()}
    if isinstance(b, NumberedPattern):
        rng.update(type="numbered", numberOfOccurrences=b.number)
    elif isinstance(b, EndDatePattern):
        rng.update(type="endDate", endDate=_date(b.end).isoformat())
    else:
        rng["type"] = "noEnd"
    return {"pattern": pattern, "range": rng}


def _date(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def recurrence_for(rrule: str, start: dt.datetime | dt.date) -> Recurrence:
    graph = pattern_from_rrule(rrule, start)
    p, rng = graph["pattern"], graph["range"]
    interval = int(p.get("interval") or 1)
    days = [_DAYS.index(d) + 1 for d in p.get("daysOfWeek") or []]
    kind = p["type"]
    if kind == "daily":
        pattern: Any = DailyPattern(interval=interval)
    elif kind == "weekly":
        pattern = WeeklyPattern(interval=interval, weekdays=days,
                                first_day_of_week=_DAYS.index(p.get("firstDayOfWeek", "monday")) + 1)  # fmt: skip
    elif kind == "absoluteMonthly":
        pattern = AbsoluteMonthlyPattern(interval=interval, day_of_month=p["dayOfMonth"])
    elif kind in ("absoluteYearly", "relativeYearly") and interval != 1:
        raise Unsupported("Exchange repeats a yearly series every year only.")
    elif kind == "absoluteYearly":
        pattern = AbsoluteYearlyPattern(day_of_month=p["dayOfMonth"], month=p["month"])
    else:
        if len(days) != 1:
            raise Unsupported("Exchange repeats on one weekday of the month only.")
        week = WEEK_NUMBERS.index(p["index"].title()) + 1
        if kind == "relativeMonthly":
            pattern = RelativeMonthlyPattern(interval=interval, weekday=days[0], week_number=week)
        else:
            pattern = RelativeYearlyPattern(weekday=days[0], week_number=week, month=p["month"])
    first = EWSDate.from_date(dt.date.fromisoformat(rng["startDate"]))
    if rng["type"] == "numbered":
        boundary: Any = NumberedPattern(start=first, number=int(rng["numberOfOccurrences"]))
    elif rng["type"] == "endDate":
        boundary = EndDatePattern(start=first, end=EWSDate.from_date(dt.date.fromisoformat(rng["endDate"])))
    else:
        boundary = NoEndPattern(start=first)
    return Recurrence(pattern=pattern, boundary=boundary)


# --- items --------------------------------------------------------------------------------------------


def _zone(tz: Any) -> ZoneInfo | None:
    key = getattr(tz, "key", None)
    return resolve_zone(key) if key else None


def local_time(moment: Any, tz: Any) -> dt.datetime:
    """A UTC EWSDateTime as a plain aware datetime in the event's own zone."""
    value = dt.datetime.fromtimestamp(moment.timestamp(), dt.UTC)
    zone = _zone(tz)
    return value.astimezone(zone) if zone else value


def calsync_uid(item: CalendarItem) -> str:
    return str(item.calsync_uid or item.uid or item.id)


def _body(item: CalendarItem) -> str:
    """calsync keeps text; Exchange hands back HTML for events written in Outlook."""
    if isinstance(item.body, HTMLBody):
        return html_to_text(str(item.body))
    return str(item.body or "")


def to_component(item: CalendarItem, uid: str, master_start: dt.datetime | dt.date | None = None) -> Component:
    start: dt.datetime | dt.date
    end: dt.datetime | dt.date
    if item.is_all_day:
        start = dt.date(item.start.year, item.start.month, item.start.day)
        # exchangelib reports an all-day end as the last day; calsync (like iCalendar) as the day after.
        end = dt.date(item.end.year, item.end.month, item.end.day) + dt.timedelta(days=1)
    else:
        start, end = local_time(item.start, item._start_timezone), local_time(item.end, item._end_timezone)
    # A series' exceptions float with their master (only the master carries the marker).
    floating = not item.is_all_day and (
        bool(item.calsync_floating) or (isinstance(master_start, dt.datetime) and master_start.tzinfo is None)
    )
    if floating:
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)  # type: ignore[call-arg]
    recurrence_id: dt.datetime | dt.date | None = None
    if item.original_start is not None:
        recurrence_id = dt.datetime.fromtimestamp(item.original_start.timestamp(), dt.UTC)
        if floating:
            recurrence_id = local_time(item.original_start, item._start_timezone).replace(tzinfo=None)
        elif isinstance(master_start, dt.datetime):
            recurrence_id = recurrence_id.astimezone(master_start.tzinfo)
        elif isinstance(master_start, dt.date):
            recurrence_id = local_time(item.original_start, item._start_timezone).date()
    organizer = item.organizer
    attendees = tuple(
        Attendee(
            email=a.mailbox.email_address,
            name=a.mailbox.name or "",
            partstat=_RESPONSE.get(a.response_type or "", "NEEDS-ACTION"),
            role="OPT-PARTICIPANT" if optional else "REQ-PARTICIPANT",
        )
        for optional, people in ((False, item.required_attendees), (True, item.optional_attendees))
        for a in people or ()
        if a.mailbox
        and a.mailbox.email_address
        and not (organizer and a.mailbox.email_address.lower() == (organizer.email_address or "").lower())
    )
    alarms = ()
    if item.reminder_is_set:
        alarms = (Alarm(trigger=f"-PT{int(item.reminder_minutes_before_start or 0)}M", description="Reminder"),)
    rrule = ""
    if item.recurrence is not None and item.original_start is None:
        rrule = rrule_from_pattern(_graph_pattern(item.recurrence), start)
    return Component(
        uid=uid,
        recurrence_id=recurrence_id,
        summary=item.subject or "",
        description=_body(item),
        location=item.location or "",
        start=start,
        end=end,
        status="CANCELLED" if item.is_cancelled else "",
        transparency="TRANSPARENT" if item.legacy_free_busy_status == "Free" else "",
        busy_status=_BUSY_READ.get(item.legacy_free_busy_status or "", ""),
        categories=tuple(item.categories or ()),
        event_type=item.calsync_event_type or "",
        **unmodelled_fields(item.calsync_unmodelled),
        client=item.calsync_client or "",
        project=item.calsync_project or "",
        activity_type=item.calsync_activity or "",
        visibility={"Private": "PRIVATE", "Personal": "PRIVATE", "Confidential": "CONFIDENTIAL"}.get(
            item.sensitivity or "Normal", ""
        ),
        rrule=rrule,
        organizer=Person(organizer.email_address, organizer.name or "")
        if attendees and organizer and organizer.email_address else None,
        attendees=attendees,
        alarms=alarms,
    )  # fmt: skip


def _ews_zone(name: str) -> EWSTimeZone:
    try:
        return EWSTimeZone(name)
    except Exception:  # a zone Exchange has no Windows name for
        return EWSTimeZone("UTC")


def _ews_moment(value: dt.datetime | dt.date, zone_hint: str) -> EWSDateTime | EWSDate:
    if not isinstance(value, dt.datetime):
        return EWSDate.from_date(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone_hint))
    key = getattr(value.tzinfo, "key", None)
    try:
        zone = EWSTimeZone(key) if key else EWSTimeZone("UTC")
    except Exception:  # a zone Exchange has no Windows name for: send the instant in UTC
        zone, value = EWSTimeZone("UTC"), value.astimezone(dt.UTC)
    local = value.astimezone(zone)  # an EWSDateTime already: the zone's fromutc makes one
    return local if isinstance(local, EWSDateTime) else EWSDateTime.from_datetime(local)


def to_fields(component: Component, uid: str, zone_hint: str = "UTC") -> dict[str, Any]:
    """The exchangelib CalendarItem fields for a component (a master, or one occurrence's changes)."""
    start = component.start
    if start is None:
        raise Unsupported("Exchange needs a start time.")
    end = component.end
    if end is None:
        end = start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else start
    all_day = not isinstance(start, dt.datetime)
    if all_day:
        end = end - dt.timedelta(days=1)  # exchangelib adds the day back when it writes
    reminder = next((m for m in map(alarm_minutes, component.alarms) if m is not None), None)
    fields: dict[str, Any] = {
        "subject": component.summary,
        "body": component.description,
        "location": component.location,
        "start": _ews_moment(start, zone_hint),
        "end": _ews_moment(max(end, start) if all_day else end, zone_hint),
        "is_all_day": all_day,
        "legacy_free_busy_status": _BUSY_WRITE.get(
            component.busy_status, "Free" if component.transparency == "TRANSPARENT" else "Busy"
        ),
        "categories": list(component.categories) or None,
        "sensitivity": {"PRIVATE": "Private", "CONFIDENTIAL": "Confidential"}.get(component.visibility, "Normal"),
        "reminder_is_set": reminder is not None,
        "reminder_minutes_before_start": reminder or 0,
        "required_attendees": [_attendee(a) for a in component.attendees if a.role != "OPT-PARTICIPANT"] or None,
        "optional_attendees": [_attendee(a) for a in component.attendees if a.role == "OPT-PARTICIPANT"] or None,
    }
    if all_day:
        # An all-day event is midnight to midnight where the calendar is: exchangelib turns the dates into times
        # in this zone, and Outlook shows whole days there.
        fields["_start_timezone"] = fields["_end_timezone"] = _ews_zone(zone_hint)
    if component.recurrence_id is None:
        fields["calsync_uid"] = uid
        fields["calsync_floating"] = "1" if isinstance(start, dt.datetime) and start.tzinfo is None else None
        fields["calsync_event_type"] = component.event_type or None
        fields["calsync_unmodelled"] = unmodelled_text(component)
        # An empty business field is removed (DeleteItemField), not written as "".
        fields.update({name: getattr(component, attr) or None for name, (attr, _p) in BUSINESS.items()})
        if component.rrule:
            if component.rdates:
                raise Unsupported("Exchange cannot add extra dates (RDATE) to a series.")
            fields["recurrence"] = recurrence_for(component.rrule, start)
        else:
            fields["recurrence"] = None
    return fields


def _attendee(a: Attendee) -> EwsAttendee:
    return EwsAttendee(mailbox=Mailbox(email_address=a.email, name=a.name or a.email),
                       response_type=_RESPONSE_TYPE.get(a.partstat, "Unknown"))  # fmt: skip
