"""iCalendar (RFC 5545) <-> calsync's canonical calendar items.

An `Item` is what a calendar object resource holds: every component sharing one
UID, i.e. a master (possibly recurring) and its overridden occurrences
(RECURRENCE-ID). Times keep the form they were given in: a `date` for all-day
values, a naive `datetime` for floating time, and an aware `datetime` whose
tzinfo is a `ZoneInfo` (IANA name, or "UTC") otherwise.

Properties calsync does not model are kept verbatim (name, parameters, the
value as it was on the wire) and written back, so a round trip loses nothing
a client wrote. Sub-components other than VALARM likewise.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC as STDLIB_UTC
from datetime import date, datetime, timedelta
from typing import Any

import icalendar
from icalendar.parser import Parameters, unescape_backslash
from icalendar.prop import vInline
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

PRODID = "-//calsync//calsync//EN"
UTC = zoneinfo.ZoneInfo("UTC")

Temporal = date | datetime
# (name, ((param, value), ...), value exactly as serialised)
RawProperty = tuple[str, tuple[tuple[str, str], ...], str]


class ICalError(ValueError):
    """The iCalendar data cannot be read; the message says why, for the user."""


@dataclass(frozen=True)
class Person:
    email: str
    name: str = ""


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""
    partstat: str = "NEEDS-ACTION"
    role: str = "REQ-PARTICIPANT"
    rsvp: bool = False


@dataclass(frozen=True)
class Alarm:
    """A VALARM. `trigger` is the TRIGGER value: a duration ("-PT15M") or a UTC date-time."""

    trigger: str
    action: str = "DISPLAY"
    description: str = ""
    related_end: bool = False
    extra_properties: tuple[RawProperty, ...] = ()


@dataclass(frozen=True)
class Component:
    """One VEVENT or VTODO."""

    kind: str = "VEVENT"
    uid: str = ""
    recurrence_id: Temporal | None = None
    summary: str = ""
    description: str = ""
    location: str = ""
    start: Temporal | None = None
    end: Temporal | None = None
    # The client gave the length as DURATION rather than DTEND; written back the same way.
    end_as_duration: bool = False
    due: Temporal | None = None
    completed: datetime | None = None
    priority: int | None = None
    percent_complete: int | None = None
    status: str = ""
    transparency: str = ""
    visibility: str = ""
    rrule: str = ""
    rdates: tuple[Temporal, ...] = ()
    exdates: tuple[Temporal, ...] = ()
    organizer: Person | None = None
    attendees: tuple[Attendee, ...] = ()
    alarms: tuple[Alarm, ...] = ()
    categories: tuple[str, ...] = ()
    url: str = ""
    sequence: int = 0
    client: str = ""
    project: str = ""
    activity_type: str = ""
    # How the time shows to others, finer than TRANSP: one of BUSY_STATUSES, or "" (read TRANSP alone).
    # Carried as Microsoft's X-MICROSOFT-CDO-BUSYSTATUS, which Outlook and Exchange also read in iCalendar.
    busy_status: str = ""
    # A provider's kind of event other than a plain one, in Google's words (EVENT_TYPES); "" for a plain event.
    event_type: str = ""
    extra_properties: tuple[RawProperty, ...] = ()
    extra_components: tuple[str, ...] = ()


BUSY_STATUSES = ("FREE", "TENTATIVE", "BUSY", "OOF", "WORKINGELSEWHERE")
EVENT_TYPES = ("outOfOffice", "focusTime", "workingLocation", "fromGmail", "birthday")


@dataclass(frozen=True)
class Item:
    """A master component and its overridden occurrences, all with one UID."""

    master: Component
    overrides: tuple[Component, ...] = field(default=())

    @property
    def uid(self) -> str:
        return self.master.uid

    @property
    def kind(self) -> str:
        return self.master.kind


# CLASS values (RFC 5545 §3.8.1.3) whose details only the owner sees: titles in pages and sync logs, and the copy a
# "private as busy" flow writes. Event.Visibility holds the same values.
PRIVATE_CLASSES = ("PRIVATE", "CONFIDENTIAL")


def is_private(item: Item | None) -> bool:
    """Whether the item's title is its owner's only (the master's CLASS is PRIVATE or CONFIDENTIAL)."""
    return item is not None and (item.master.visibility or "").upper() in PRIVATE_CLASSES


# --- time zones ---------------------------------------------------------------


def resolve_zone(tzid: str | None) -> zoneinfo.ZoneInfo | None:
    """The IANA zone a TZID means: IANA names, Windows names, and prefixed names like Mozilla's."""
    if not tzid:
        return None
    candidates = [tzid, WINDOWS_TO_OLSON.get(tzid, "")]
    parts = tzid.strip("/").split("/")
    candidates += ["/".join(parts[-n:]) for n in (3, 2, 1)]
    for name in candidates:
        if name and name in _available_zones():
            return zoneinfo.ZoneInfo(name)
    return None


_ZONES: set[str] = set()


def _available_zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(zoneinfo.available_timezones())
    return _ZONES


def _is_utc(tz: Any) -> bool:
    return (
        tz is not None
        and datetime(2000, 1, 1, tzinfo=tz).utcoffset() == timedelta(0)
        and (tz is STDLIB_UTC or getattr(tz, "key", None) in ("UTC", "Etc/UTC") or "utc" in repr(tz).lower())
    )


def _normalise(value: Any, tzid: str | None) -> Temporal:
    if isinstance(value, datetime):
        if value.tzinfo is None and tzid:
            # icalendar leaves the time floating when it knows no zone by that name: the instant is unknown.
            raise ICalError(f"The time zone {tzid[:80]!r} is unknown and the data does not define it (VTIMEZONE).")
        if value.tzinfo is None:
            return value
        if isinstance(value.tzinfo, zoneinfo.ZoneInfo) and value.tzinfo.key in _available_zones():
            return value
        if _is_utc(value.tzinfo) and not tzid:
            return value.astimezone(UTC)
        zone = resolve_zone(tzid)
        # An unknown zone still has a well-defined instant; keep that, in UTC.
        return value.astimezone(zone or UTC)
    if isinstance(value, date):
        return value
    raise ICalError(f"'{value}' is not a date or a date-time.")


def _one(component: icalendar.Component, name: str) -> Any:
    """A property RFC 5545 allows once: the first, when a client sent it more than once (icalendar gives a list)."""
    value = component.get(name)
    return value[0] if isinstance(value, list) and value else value


def _temporal(component: icalendar.Component, name: str) -> Temporal | None:
    prop = _one(component, name)
    if prop is None:
        return None
    try:
        value = component.decoded(name)
    except (ValueError, TypeError) as exc:
        raise ICalError(f"{name} has an invalid value.") from exc
    if isinstance(value, list):
        value = value[0]
    if isinstance(value, timedelta):
        raise ICalError(f"{name} must be a date or date-time, not a duration.")
    return _normalise(value, prop.params.get("TZID"))


def _temporal_list(component: icalendar.Component, name: str) -> tuple[tuple[Temporal, ...], list[Any]]:
    """Values of a multi-valued RDATE/EXDATE, plus any property we must keep verbatim (periods)."""
    props = component.get(name)
    if props is None:
        return (), []
    values: list[Temporal] = []
    verbatim: list[Any] = []
    for prop in props if isinstance(props, list) else [props]:
        if prop.params.get("VALUE") == "PERIOD":
            verbatim.append(prop)
            continue
        try:
            dts = prop.dts
        except ValueError as exc:  # icalendar's BrokenCalendarProperty: a value that is not a date or date-time
            raise ICalError(f"{name} has an invalid value.") from exc
        for item in dts:
            values.append(_normalise(item.dt, item.params.get("TZID") or prop.params.get("TZID")))
    return tuple(values), verbatim


# --- parsing --------------------------------------------------------------------

_MODELLED = {
    "UID", "RECURRENCE-ID", "SUMMARY", "DESCRIPTION", "LOCATION", "DTSTART", "DTEND", "DURATION",
    "DUE", "COMPLETED", "PRIORITY", "PERCENT-COMPLETE", "STATUS", "TRANSP", "CLASS", "RRULE", "RDATE",
    "EXDATE", "ORGANIZER", "ATTENDEE", "CATEGORIES", "URL", "SEQUENCE",
    "X-CALSYNC-CLIENT", "X-CALSYNC-PROJECT", "X-CALSYNC-ACTIVITY-TYPE",
    "X-MICROSOFT-CDO-BUSYSTATUS", "X-CALSYNC-EVENT-TYPE",
}  # fmt: skip
# Regenerated on every write, so not worth keeping.
_REGENERATED = {"DTSTAMP", "CREATED", "LAST-MODIFIED"}


def _raw(name: str, prop: Any) -> RawProperty:
    params = tuple(sorted((k, str(v)) for k, v in getattr(prop, "params", {}).items()))
    raw = prop.to_ical()
    return (name, params, raw.decode() if isinstance(raw, bytes) else str(raw))


def _text(component: icalendar.Component, name: str) -> str:
    value = _one(component, name)
    return "" if value is None else str(value)


def _x_text(component: icalendar.Component, name: str) -> str:
    # icalendar reads X- properties verbatim, so undo the TEXT escaping they are written with.
    return unescape_backslash(_text(component, name))


def _choice(value: str, known: tuple[str, ...]) -> str:
    """A value calsync knows, or "": an unknown one would not be understood by the providers it is written to."""
    return value if value in known else ""


def _int(component: icalendar.Component, name: str) -> int | None:
    value = _one(component, name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ICalError(f"{name} must be a whole number.") from exc


def _address(value: Any) -> str:
    text = str(value).strip()
    return text[7:] if text.lower().startswith("mailto:") else text


def _attendees(component: icalendar.Component) -> tuple[Attendee, ...]:
    props = component.get("ATTENDEE")
    if props is None:
        return ()
    return tuple(
        Attendee(
            email=_address(prop),
            name=str(prop.params.get("CN", "")),
            partstat=str(prop.params.get("PARTSTAT", "NEEDS-ACTION")).upper(),
            role=str(prop.params.get("ROLE", "REQ-PARTICIPANT")).upper(),
            rsvp=str(prop.params.get("RSVP", "FALSE")).upper() == "TRUE",
        )
        for prop in (props if isinstance(props, list) else [props])
    )


def _categories(component: icalendar.Component) -> tuple[str, ...]:
    props = component.get("CATEGORIES")
    if props is None:
        return ()
    names: list[str] = []
    for prop in props if isinstance(props, list) else [props]:
        names.extend(str(c) for c in prop.cats)
    return tuple(names)


def _alarm(sub: icalendar.Component) -> Alarm:
    trigger = _one(sub, "TRIGGER")
    if trigger is None:
        raise ICalError("A reminder (VALARM) has no TRIGGER.")
    extra = tuple(
        _raw(name, value)
        for name, value in sub.property_items(recursive=False)
        if name not in ("BEGIN", "END", "TRIGGER", "ACTION", "DESCRIPTION")
    )
    return Alarm(
        trigger=trigger.to_ical().decode(),
        action=_text(sub, "ACTION") or "DISPLAY",
        description=_text(sub, "DESCRIPTION"),
        related_end=str(trigger.params.get("RELATED", "START")).upper() == "END",
        extra_properties=extra,
    )


def _end(component: icalendar.Component, start: Temporal | None) -> Temporal | None:
    end = _temporal(component, "DTEND")
    if end is None and component.get("DURATION") is not None and start is not None:
        duration = component.decoded("DURATION")
        if not isinstance(duration, timedelta):
            raise ICalError("DURATION must be a duration.")
        end = _add_duration(start, duration)
    return end


def _add_duration(start: Temporal, duration: timedelta) -> Temporal:
    """Days are nominal (same wall time), hours and less exact (RFC 5545 3.3.6), across DST changes too."""
    if not isinstance(start, datetime) or start.tzinfo is None:
        return start + duration
    nominal = start + timedelta(days=duration.days)
    return (nominal.astimezone(UTC) + timedelta(seconds=duration.seconds)).astimezone(start.tzinfo)


def parse_component(vcomponent: icalendar.Component) -> Component:
    from .limits import validate_component  # the limits are written in terms of this module's types

    try:
        component = _component(vcomponent)
    except OverflowError as exc:  # e.g. DURATION:P99999999W added to the start
        raise ICalError("A date, time or duration is out of range.") from exc
    validate_component(component)
    return component


def _component(vcomponent: icalendar.Component) -> Component:
    uid = _text(vcomponent, "UID").strip()
    if not uid:
        raise ICalError(f"A {vcomponent.name} has no UID.")
    start = _temporal(vcomponent, "DTSTART")
    rdates, rdate_verbatim = _temporal_list(vcomponent, "RDATE")
    exdates, exdate_verbatim = _temporal_list(vcomponent, "EXDATE")
    rrules = vcomponent.get("RRULE")
    rrules = rrules if isinstance(rrules, list) else ([rrules] if rrules is not None else [])
    extra: list[RawProperty] = [_raw("RDATE", p) for p in rdate_verbatim]
    extra += [_raw("EXDATE", p) for p in exdate_verbatim]
    extra += [_raw("RRULE", p) for p in rrules[1:]]  # more than one RRULE is deprecated (RFC 5545 3.8.5.3)
    extra += [
        _raw(name, value)
        for name, value in vcomponent.property_items(recursive=False)
        if name not in _MODELLED and name not in _REGENERATED and name not in ("BEGIN", "END")
    ]
    organizer = _one(vcomponent, "ORGANIZER")
    completed = _temporal(vcomponent, "COMPLETED")
    return Component(
        kind=vcomponent.name,
        uid=uid,
        recurrence_id=_temporal(vcomponent, "RECURRENCE-ID"),
        summary=_text(vcomponent, "SUMMARY"),
        description=_text(vcomponent, "DESCRIPTION"),
        location=_text(vcomponent, "LOCATION"),
        start=start,
        end=_end(vcomponent, start),
        end_as_duration=vcomponent.get("DTEND") is None and vcomponent.get("DURATION") is not None,
        due=_temporal(vcomponent, "DUE"),
        completed=completed if isinstance(completed, datetime) else None,
        priority=_int(vcomponent, "PRIORITY"),
        percent_complete=_int(vcomponent, "PERCENT-COMPLETE"),
        status=_text(vcomponent, "STATUS").upper(),
        transparency=_text(vcomponent, "TRANSP").upper(),
        visibility=_text(vcomponent, "CLASS").upper(),
        rrule=rrules[0].to_ical().decode() if rrules else "",
        rdates=rdates,
        exdates=exdates,
        organizer=(
            Person(email=_address(organizer), name=str(organizer.params.get("CN", "")))
            if organizer is not None
            else None
        ),
        attendees=_attendees(vcomponent),
        alarms=tuple(_alarm(sub) for sub in vcomponent.subcomponents if sub.name == "VALARM"),
        categories=_categories(vcomponent),
        url=_text(vcomponent, "URL"),
        sequence=_int(vcomponent, "SEQUENCE") or 0,
        client=_x_text(vcomponent, "X-CALSYNC-CLIENT"),
        project=_x_text(vcomponent, "X-CALSYNC-PROJECT"),
        activity_type=_x_text(vcomponent, "X-CALSYNC-ACTIVITY-TYPE"),
        busy_status=_choice(_x_text(vcomponent, "X-MICROSOFT-CDO-BUSYSTATUS").upper(), BUSY_STATUSES),
        event_type=_choice(_x_text(vcomponent, "X-CALSYNC-EVENT-TYPE"), EVENT_TYPES),
        extra_properties=tuple(extra),
        extra_components=tuple(sub.to_ical().decode() for sub in vcomponent.subcomponents if sub.name != "VALARM"),
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def _calendars(data: str | bytes) -> list[icalendar.Component]:
    from .limits import check_calendar_text

    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise ICalError("This is not UTF-8 text.") from None
    if _SURROGATE.search(text):  # a str can hold them (a bad JSON \\u escape); no text encoding can
        raise ICalError("This text holds characters that are not Unicode (lone surrogates).")
    check_calendar_text(text)
    try:
        calendars = icalendar.Calendar.from_ical(_without_known_zones(text), multiple=True)
    except Exception as exc:  # the parser raises bare ValueError/KeyError/IndexError on bad input
        raise ICalError(f"This is not valid iCalendar data ({_short(exc)}).") from exc
    if not calendars or not any(cal.name == "VCALENDAR" for cal in calendars):
        raise ICalError("This is not complete iCalendar data: no BEGIN:VCALENDAR ... END:VCALENDAR found.")
    return list(calendars)


# A VTIMEZONE whose TZID is an IANA name changes nothing: icalendar then takes the zone from zoneinfo and ignores
# the definition. Reading it can cost more than the event (Europe/Berlin as icalendar writes it lists 114 RDATEs),
# so it is left out before parsing. A folded TZID line does not match, and keeps its VTIMEZONE.
_VTIMEZONE = re.compile(r"^BEGIN:VTIMEZONE\r?\n(.*?)^END:VTIMEZONE\r?(?:\n|\Z)", re.S | re.M | re.I)
_TZID_LINE = re.compile(r"^TZID:([^\r\n]*)\r?\n(?![ \t])", re.M | re.I)


def _without_known_zones(text: str) -> str:
    return _VTIMEZONE.sub(_unless_known_zone, text)


def _unless_known_zone(block: re.Match[str]) -> str:
    tzid = _TZID_LINE.search(block.group(1))
    return "" if tzid is not None and tzid.group(1) in _available_zones() else block.group(0)


def _vcomponents(calendars: list[icalendar.Component]) -> Iterator[icalendar.Component]:
    for cal in calendars:
        yield from (c for c in cal.subcomponents if c.name in ("VEVENT", "VTODO"))


def parse_calendar(data: str | bytes) -> list[Item]:
    """Every item in an iCalendar stream (one or more VCALENDARs), grouped by UID."""
    return group_items(parse_component(c) for c in _vcomponents(_calendars(data)))


def parse_calendar_lenient(data: str | bytes) -> tuple[list[Item], list[dict[str, str]]]:
    """Like parse_calendar, but an unreadable item becomes a problem report instead of an error."""
    components: list[Component] = []
    problems: list[dict[str, str]] = []
    for vcomponent in _vcomponents(_calendars(data)):
        try:
            components.append(parse_component(vcomponent))
        except ICalError as exc:
            problems.append({"uid": _text(vcomponent, "UID"), "reason": str(exc)})
    by_uid: dict[str, list[Component]] = {}
    for component in components:
        by_uid.setdefault(component.uid, []).append(component)
    items: list[Item] = []
    for uid, group in by_uid.items():
        try:
            items.extend(group_items(group))
        except ICalError as exc:
            problems.append({"uid": uid, "reason": str(exc)})
    return items, problems


def parse_item(data: str | bytes) -> Item:
    """Exactly one item, as a CalDAV resource must hold (RFC 4791 4.1)."""
    from .limits import check_resource_text

    check_resource_text(data.decode("utf-8", "replace") if isinstance(data, bytes) else data)
    items = parse_calendar(data)
    if len(items) != 1:
        raise ICalError(f"Expected one event or task (one UID), found {len(items)}.")
    return items[0]


def group_items(components: Iterable[Component]) -> list[Item]:
    by_uid: dict[str, list[Component]] = {}
    for component in components:
        by_uid.setdefault(component.uid, []).append(component)
    items = []
    for uid, group in by_uid.items():
        masters = [c for c in group if c.recurrence_id is None]
        if len(masters) != 1:
            what = "no series" if not masters else "more than one series"
            raise ICalError(f"The item with UID {uid!r} has {what} (one component without RECURRENCE-ID).")
        overrides = sorted((c for c in group if c.recurrence_id is not None), key=_recurrence_sort_key)
        if len({_recurrence_sort_key(c) for c in overrides}) != len(overrides):
            raise ICalError(f"The item with UID {uid!r} overrides the same occurrence twice.")
        items.append(Item(master=masters[0], overrides=tuple(overrides)))
    return items


def _recurrence_sort_key(component: Component) -> datetime:
    return as_utc(component.recurrence_id)


_BEFORE = re.compile(r"-P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def alarm_minutes(alarm: Alarm) -> int | None:
    """Minutes before the start, for an alarm given as a duration before it ("-PT15M", "-P1W"); else None."""
    match = _BEFORE.fullmatch(alarm.trigger)
    if not match or alarm.related_end:
        return None
    weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((weeks * 7 + days) * 24 + hours) * 60 + minutes + seconds // 60


def as_utc(value: Temporal | None) -> datetime:
    """An instant for ordering and storage: dates at midnight UTC, floating times as if UTC."""
    if value is None:
        raise ValueError("no value")
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


# --- serialising -------------------------------------------------------------------


def _add_raw(target: icalendar.Component, raw: RawProperty) -> None:
    name, params, value = raw
    target.add(name, vInline(value, params=Parameters(dict(params))), encode=False)


def _text_value(value: str) -> vInline:
    """TEXT escaped per RFC 5545 3.3.11; icalendar's own escaping turns a literal backslash-N into a line break."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return vInline(escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n"))


def _add_address(target: icalendar.Component, name: str, email: str, params: dict[str, str]) -> None:
    value = email if ":" in email else f"mailto:{email}"
    target.add(name, icalendar.vCalAddress(value, params={k: v for k, v in params.items() if v}), encode=False)


def _alarm_component(alarm: Alarm) -> icalendar.Alarm:
    sub = icalendar.Alarm()
    sub.add("ACTION", alarm.action)
    params = {"RELATED": "END"} if alarm.related_end else {}
    if not alarm.trigger.startswith(("-", "+", "P")):
        params["VALUE"] = "DATE-TIME"
    sub.add("TRIGGER", vInline(alarm.trigger, params=Parameters(params)), encode=False)
    if alarm.description or alarm.action == "DISPLAY":
        sub.add("DESCRIPTION", _text_value(alarm.description or "Reminder"), encode=False)
    for raw in alarm.extra_properties:
        _add_raw(sub, raw)
    return sub


_TEXT_FIELDS = [
    ("SUMMARY", "summary"), ("DESCRIPTION", "description"), ("LOCATION", "location"),
    ("STATUS", "status"), ("TRANSP", "transparency"), ("CLASS", "visibility"), ("URL", "url"),
    ("X-CALSYNC-CLIENT", "client"), ("X-CALSYNC-PROJECT", "project"),
    ("X-CALSYNC-ACTIVITY-TYPE", "activity_type"), ("X-MICROSOFT-CDO-BUSYSTATUS", "busy_status"),
    ("X-CALSYNC-EVENT-TYPE", "event_type"),
]  # fmt: skip
_TIME_FIELDS = [
    ("RECURRENCE-ID", "recurrence_id"), ("DTSTART", "start"), ("DTEND", "end"), ("DUE", "due"),
    ("COMPLETED", "completed"),
]  # fmt: skip


def _length(start: Temporal, end: Temporal) -> timedelta:
    """end - start, in nominal days when both are wall-clock times in one zone (P1D stays P1D across DST)."""
    if isinstance(start, datetime) and isinstance(end, datetime):
        if start.tzinfo is None or start.tzinfo != end.tzinfo:
            return as_utc(end) - as_utc(start)
        # Whole days are nominal (same wall time), the rest exact: how RFC 5545 3.3.6 reads it back.
        days = (end.replace(tzinfo=None) - start.replace(tzinfo=None)).days
        anchor = _add_duration(start, timedelta(days=days))
        return timedelta(days=days) + (as_utc(end) - as_utc(anchor))
    return end - start  # type: ignore[operator]


def component_to_ical(component: Component, stamp: datetime | None = None) -> icalendar.Component:
    target = icalendar.Event() if component.kind == "VEVENT" else icalendar.Todo()
    target.add("UID", component.uid)
    target.add("DTSTAMP", (stamp or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0))
    for name, attr in _TIME_FIELDS:
        value = getattr(component, attr)
        if value is None:
            continue
        if name == "DTEND" and (component.kind == "VTODO" or component.end_as_duration):
            # A task has no DTEND (RFC 5545 3.6.2): its length from DTSTART is a DURATION.
            if component.start is not None and component.due is None:
                target.add("DURATION", _length(component.start, value))
            continue
        target.add(name, value)
    for name, attr in _TEXT_FIELDS:
        if value := getattr(component, attr):
            target.add(name, value if name == "URL" else _text_value(value), encode=name == "URL")
    if component.rrule:
        target.add("RRULE", icalendar.vRecur.from_ical(component.rrule))
    for name, values in (("RDATE", component.rdates), ("EXDATE", component.exdates)):
        for value in values:
            target.add(name, value)
    if component.sequence:
        target.add("SEQUENCE", component.sequence)
    for name, attr in (("PRIORITY", "priority"), ("PERCENT-COMPLETE", "percent_complete")):
        if getattr(component, attr) is not None:
            target.add(name, getattr(component, attr))
    if component.categories:
        target.add("CATEGORIES", vInline(",".join(_text_value(c) for c in component.categories)), encode=False)
    if component.organizer is not None:
        _add_address(target, "ORGANIZER", component.organizer.email, {"CN": component.organizer.name})
    for attendee in component.attendees:
        params = {"CN": attendee.name, "PARTSTAT": attendee.partstat, "ROLE": attendee.role}
        if attendee.rsvp:
            params["RSVP"] = "TRUE"
        _add_address(target, "ATTENDEE", attendee.email, params)
    for raw in component.extra_properties:
        _add_raw(target, raw)
    for alarm in component.alarms:
        target.add_component(_alarm_component(alarm))
    for text in component.extra_components:
        target.add_component(icalendar.Component.from_ical(text))
    return target


def items_to_calendar(items: Iterable[Item], name: str = "", stamp: datetime | None = None) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    if name:
        calendar.add("X-WR-CALNAME", name)
    for item in items:
        for component in iter_components(item):
            calendar.add_component(component_to_ical(component, stamp))
    # VTIMEZONE for every TZID used, so clients need no zone database of their own.
    calendar.add_missing_timezones()
    return calendar


def serialise(items: Iterable[Item], name: str = "", stamp: datetime | None = None) -> str:
    return items_to_calendar(items, name, stamp).to_ical().decode()


def iter_components(item: Item) -> Iterator[Component]:
    yield item.master
    yield from item.overrides


def with_uid(item: Item, uid: str) -> Item:
    return Item(master=replace(item.master, uid=uid), overrides=tuple(replace(o, uid=uid) for o in item.overrides))


# --- storage form of single values ---------------------------------------------------


def temporal_to_text(value: Temporal) -> str:
    """'2026-11-28', '2026-11-28T10:00:00' (floating) or '2026-11-28T10:00:00;Europe/Berlin'."""
    if not isinstance(value, datetime):
        return value.isoformat()
    text = value.replace(tzinfo=None).isoformat()
    if value.tzinfo is None:
        return text
    return f"{text};{getattr(value.tzinfo, 'key', 'UTC')}"


def temporal_from_text(text: str) -> Temporal:
    wall, _, zone = text.partition(";")
    if "T" not in wall:
        return date.fromisoformat(wall)
    value = datetime.fromisoformat(wall)
    return value.replace(tzinfo=zoneinfo.ZoneInfo(zone)) if zone else value
