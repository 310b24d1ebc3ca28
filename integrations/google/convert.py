"""Google Calendar events <-> calsync items.

A calsync item (one UID: a master and its overridden occurrences) is, in
Google, one event plus separate "exception" events that carry
recurringEventId and originalStartTime; a cancelled occurrence is either an
EXDATE line in the series' recurrence or a cancelled exception event. Both map
to one calsync series. Reference: https://developers.google.com/calendar/api/v3/reference/events

What Google has no field for travels in the event's extendedProperties.private (properties.py): business
fields, a free/busy finer than transparency, iCalendar properties calsync keeps, and a floating time's mark.
Google's event types map to Component.event_type; an out of office event shows as busy_status OOF.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from events.ical import EVENT_TYPES, Alarm, Attendee, Component, Item, Person, alarm_minutes, as_utc, resolve_zone

from .properties import CALSYNC_UID, FLOATING, carried, floated, is_floating, private_properties, to_private, unfloat

STATUS_TYPES = ("outOfOffice", "focusTime", "workingLocation")  # Google's status events, written as such
# Written only when the event is created: Google refuses to change an event's type afterwards.
CREATE_ONLY = ("eventType", "outOfOfficeProperties", "focusTimeProperties", "workingLocationProperties")

_PARTSTAT = {"needsAction": "NEEDS-ACTION", "accepted": "ACCEPTED", "declined": "DECLINED", "tentative": "TENTATIVE"}
_RESPONSE = {v: k for k, v in _PARTSTAT.items()}
_VISIBILITY = {"public": "PUBLIC", "private": "PRIVATE", "confidential": "CONFIDENTIAL"}
_STATUS = {"confirmed": "CONFIRMED", "tentative": "TENTATIVE", "cancelled": "CANCELLED"}


# --- Google -> calsync ---------------------------------------------------------------------


def parse_when(value: dict[str, Any]) -> datetime | date:
    """An EventDateTime: a date, or a time in its timeZone (the zone is what a user sees and edits in)."""
    if value.get("date"):
        return date.fromisoformat(value["date"])
    moment = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
    zone = resolve_zone(value.get("timeZone"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone or UTC)
    if zone is not None:
        return moment.astimezone(zone)
    return moment.astimezone(UTC) if moment.utcoffset() == timedelta(0) else moment


def _recurrence(lines: list[str], start: datetime | date) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
    rrule, rdates, exdates = "", [], []
    for line in lines:
        head, _, values = line.partition(":")
        name, *params = head.split(";")
        name = name.upper()
        if name == "RRULE" and not rrule:
            rrule = values
        elif name in ("RDATE", "EXDATE"):
            parsed = [
                _ical_time(v, dict(p.split("=", 1) for p in params if "=" in p), start) for v in values.split(",")
            ]
            (rdates if name == "RDATE" else exdates).extend(parsed)
    return rrule, tuple(rdates), tuple(exdates)


def _ical_time(text: str, params: dict[str, str], start: datetime | date) -> datetime | date:
    text = text.strip()
    if params.get("VALUE") == "DATE" or len(text) == 8:
        return datetime.strptime(text[:8], "%Y%m%d").date()
    if text.endswith("Z"):
        value = datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return value.astimezone(start.tzinfo) if isinstance(start, datetime) and start.tzinfo else value
    zone = resolve_zone(params.get("TZID")) or (start.tzinfo if isinstance(start, datetime) else None) or UTC
    return datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=zone)


def _alarms(event: dict[str, Any]) -> tuple[Alarm, ...]:
    reminders = event.get("reminders") or {}
    if reminders.get("useDefault", True) and not reminders.get("overrides"):
        return ()
    return tuple(
        Alarm(
            trigger=f"-PT{int(r.get('minutes', 0))}M",
            action="EMAIL" if r.get("method") == "email" else "DISPLAY",
            description="Reminder",
        )
        for r in reminders.get("overrides") or []
    )


def to_component(event: dict[str, Any], uid: str, master_start: datetime | date | None = None) -> Component:
    start = parse_when(event["start"])
    end = parse_when(event["end"]) if event.get("end") else None
    organizer = event.get("organizer") or {}
    # The organizer can also be in the guest list (Google adds them there when they were invited by name):
    # calsync keeps them once, as the organizer, so the event never turns up twice for them.
    organizer_email = (organizer.get("email") or "").lower()
    attendees = tuple(
        Attendee(
            email=a["email"],
            name=a.get("displayName", ""),
            partstat=_PARTSTAT.get(a.get("responseStatus", ""), "NEEDS-ACTION"),
            role="OPT-PARTICIPANT" if a.get("optional") else "REQ-PARTICIPANT",
        )
        for a in event.get("attendees") or []
        if a.get("email") and not a.get("organizer") and a["email"].lower() != organizer_email and not a.get("resource")
    )
    rrule, rdates, exdates = _recurrence(event.get("recurrence") or [], start)
    recurrence_id = original_start(event, master_start, start.tzinfo if isinstance(start, datetime) else None)
    transparency = "TRANSPARENT" if event.get("transparency") == "transparent" else ""
    event_type = event.get("eventType", "")
    component = Component(
        kind="VEVENT",
        uid=uid,
        recurrence_id=recurrence_id,
        summary=event.get("summary", ""),
        description=event.get("description", ""),
        location=event.get("location", ""),
        start=start,
        end=end,
        status="" if event.get("status", "confirmed") == "confirmed" else _STATUS.get(event.get("status", ""), ""),
        transparency=transparency,
        visibility=_VISIBILITY.get(event.get("visibility", ""), ""),
        rrule=rrule,
        rdates=rdates,
        exdates=exdates,
        organizer=Person(organizer["email"], organizer.get("displayName", "")) if event.get("attendees") else None,
        attendees=attendees,
        alarms=_alarms(event),
        sequence=int(event.get("sequence") or 0),
        event_type=event_type if event_type in EVENT_TYPES else "",
        **carried(private_properties(event), transparency, event_type),
    )
    return unfloat(component) if private_properties(event).get(FLOATING) else component


def original_start(
    event: dict[str, Any], master_start: datetime | date | None, fallback: tzinfo | None = None
) -> datetime | date | None:
    """Which occurrence an exception replaces (its RECURRENCE-ID), in the zone of the series' start; a floating
    start has none: then in `fallback` (the exception's own start zone), or as Google gives it."""
    recurrence_id = parse_when(event["originalStartTime"]) if event.get("originalStartTime") else None
    if isinstance(recurrence_id, datetime) and isinstance(master_start, datetime):
        zone = master_start.tzinfo or fallback
        if zone is not None:
            recurrence_id = recurrence_id.astimezone(zone)
    return recurrence_id


def calsync_uid(event: dict[str, Any]) -> str:
    return str(private_properties(event).get(CALSYNC_UID) or event.get("iCalUID") or event["id"])


def to_item(master: dict[str, Any], exceptions: list[dict[str, Any]]) -> Item:
    """One series (or single event) and its exceptions; cancelled exceptions become EXDATEs."""
    uid = calsync_uid(master)
    component = to_component(master, uid)
    overrides, cancelled = [], []
    for exception in exceptions:
        # A cancelled exception may hold nothing but id, recurringEventId and originalStartTime.
        # https://developers.google.com/calendar/api/v3/reference/events#status
        if exception.get("status") == "cancelled":
            cancelled.append(original_start(exception, component.start))
        else:
            overrides.append(to_component(exception, uid, master_start=component.start))
    if is_floating(component):
        zone = resolve_zone((master.get("start") or {}).get("timeZone")) or UTC
        cancelled = [v.astimezone(zone).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v
                     for v in cancelled]  # fmt: skip
    known = {as_utc(v) for v in component.exdates}
    extra = tuple(v for v in cancelled if v is not None and as_utc(v) not in known)
    component = replace(component, exdates=component.exdates + extra)
    overrides.sort(key=lambda o: as_utc(o.recurrence_id))
    return Item(master=component, overrides=tuple(overrides))


# --- calsync -> Google -----------------------------------------------------------------------------


def _zone_name(value: datetime) -> str:
    zone = value.tzinfo
    key = getattr(zone, "key", None)
    if key:
        return str(key)
    return "UTC"


def when(value: datetime | date, zone_hint: str = "") -> dict[str, Any]:
    if not isinstance(value, datetime):
        return {"date": value.isoformat()}
    if value.tzinfo is None:  # floating time: Google has none; read it in the calendar's zone
        zone = zone_hint or "UTC"
        return {"dateTime": value.replace(tzinfo=ZoneInfo(zone)).isoformat(), "timeZone": zone}
    return {"dateTime": value.isoformat(), "timeZone": _zone_name(value)}


def _ical(value: datetime | date) -> str:
    if not isinstance(value, datetime):
        return f";VALUE=DATE:{value.strftime('%Y%m%d')}"
    if value.tzinfo is None:
        return f":{value.strftime('%Y%m%dT%H%M%S')}"
    zone = _zone_name(value)
    if zone == "UTC":
        return f":{value.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    return f";TZID={zone}:{value.strftime('%Y%m%dT%H%M%S')}"


def _reminders(component: Component) -> dict[str, Any]:
    overrides = []
    for alarm in component.alarms:
        total = alarm_minutes(alarm)
        if total is None:
            continue
        overrides.append({"method": "email" if alarm.action == "EMAIL" else "popup", "minutes": min(total, 40320)})
    return {"useDefault": False, "overrides": overrides[:5]}


def to_event(component: Component, uid: str, zone_hint: str = "") -> dict[str, Any]:
    """The Google event of a component. Floating times are written in zone_hint (the calendar's) and marked."""
    floating = is_floating(component)
    if floating:
        component = floated(component, zone_hint or "UTC")
    start = component.start if component.start is not None else component.due
    if start is None:
        raise ValueError("Google Calendar needs a start time.")
    end = component.end
    if end is None:
        end = start + timedelta(days=1) if not isinstance(start, datetime) else start
    body: dict[str, Any] = {
        "summary": component.summary,
        "description": component.description,
        "location": component.location,
        "start": when(start, zone_hint),
        "end": when(end, zone_hint),
        "status": {"TENTATIVE": "tentative", "CANCELLED": "cancelled"}.get(component.status.upper(), "confirmed"),
        "transparency": _transparency(component),
        "visibility": {"PRIVATE": "private", "CONFIDENTIAL": "confidential", "PUBLIC": "public"}.get(
            component.visibility, "default"
        ),
        # No "sequence": Google keeps its own and refuses a write that would lower it.
        "reminders": _reminders(component),
        "extendedProperties": {"private": to_private(component, uid, floating)},
    }
    if component.event_type in STATUS_TYPES:
        body.update(_status_event(component))
    if component.attendees:
        body["attendees"] = [
            {"email": a.email, **({"displayName": a.name} if a.name else {}),
             "responseStatus": _RESPONSE.get(a.partstat, "needsAction"),
             **({"optional": True} if a.role == "OPT-PARTICIPANT" else {})}
            for a in component.attendees
        ]  # fmt: skip
    if component.recurrence_id is None and (component.rrule or component.rdates or component.exdates):
        lines = [f"RRULE:{component.rrule}"] if component.rrule else []
        lines += [f"RDATE{_ical(v)}" for v in component.rdates]
        lines += [f"EXDATE{_ical(v)}" for v in component.exdates]
        body["recurrence"] = lines
    return body


def _transparency(component: Component) -> str:
    if component.busy_status:
        return "transparent" if component.busy_status == "FREE" else "opaque"
    return "transparent" if component.transparency == "TRANSPARENT" else "opaque"


def _status_event(component: Component) -> dict[str, Any]:
    """A new status event with the properties Google requires; calsync models only its type, so the user's own
    settings (auto-decline, chat status, which office) are Google's defaults until set there.
    https://developers.google.com/calendar/api/guides/calendar-status"""
    kind = component.event_type
    if kind == "outOfOffice":
        return {
            "eventType": kind,
            "transparency": "opaque",
            "outOfOfficeProperties": {"autoDeclineMode": "declineNone"},
        }
    if kind == "focusTime":
        return {"eventType": kind, "transparency": "opaque",
                "focusTimeProperties": {"autoDeclineMode": "declineNone", "chatStatus": "available"}}  # fmt: skip
    label = component.location or component.summary
    return {"eventType": kind, "transparency": "transparent", "visibility": "public",
            "workingLocationProperties": {"type": "customLocation", "customLocation": {"label": label}}}  # fmt: skip


def instance_id(master_id: str, recurrence_id: datetime | date) -> str:
    """Google's id of one occurrence of a series: "<series id>_<original start in UTC>" (or "_<date>")."""
    if isinstance(recurrence_id, datetime):
        return f"{master_id}_{as_utc(recurrence_id).strftime('%Y%m%dT%H%M%SZ')}"
    return f"{master_id}_{recurrence_id.strftime('%Y%m%d')}"
