"""What calsync refuses at the door: the one set of rules every calendar item passes before it is stored.

Every way in goes through here: CalDAV PUT and ICS import (`check_calendar_text` before the parser, then
`validate_item`), the web forms and every provider sync (`events.services` validates each item it writes;
a provider item it refuses is reported "Not synced" with the message).

Refused, because no calendar provider stores it and one such item could occupy a worker for hours:
rules repeating more often than hourly (FREQ=SECONDLY/MINUTELY, several BYMINUTE or BYSECOND values; Google
and Microsoft refuse them too), INTERVAL below 1, COUNT above `ICAL_MAX_INSTANCES`, rules that never occur,
dates (and a COUNT's last occurrence) outside the years `ICAL_EARLIEST_YEAR`..`ICAL_LATEST_YEAR`, more
EXDATEs or RDATEs, overrides, attendees, reminders, properties or parameters than below, over-long values,
control characters in text, components nested deeper than RFC 5545 (plus RFC 9073's participants) allows,
path-like time-zone names, and VTIMEZONE rules other than yearly (an unknown zone that the object does not
define is refused by the parser, events.ical). Stored, and expanded lazily and within a budget by the
readers: everything else, e.g. an hourly rule with no end.

A refusal is an `ItemRefused`, an `ICalError` naming the RFC 4791 precondition it breaks (section 5.3.2.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any

import icalendar
from django.conf import settings

from . import recurrence
from .ical import UTC, Component, ICalError, Item, Temporal, _short, as_utc, resolve_zone

# Not settings: protocol sanity rather than policy (RFC 5545 has no use for more).
MAX_VALUE_CHARS = 100_000  # one property value, e.g. a long DESCRIPTION
MAX_PARAMETER_CHARS = 1_000
MAX_PARAMETERS = 50  # on one property
MAX_PROPERTIES = 500  # kept verbatim on one component
MAX_SUBCOMPONENTS = 100  # kept verbatim on one component
MAX_ALARMS = 50
MAX_CATEGORIES = 100
# VCALENDAR > VEVENT/VTODO/VTIMEZONE > VALARM/STANDARD/DAYLIGHT (RFC 5545), one more for
# VEVENT > PARTICIPANT > VLOCATION (RFC 9073).
MAX_DEPTH = 4
_FREQUENT = {"SECONDLY", "MINUTELY"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # RFC 5545 3.1 CONTROL; lone surrogates


class ItemRefused(ICalError):
    """An item calsync does not store; `condition` is the RFC 4791 precondition element it breaks."""

    def __init__(self, message: str, condition: str = "valid-calendar-data") -> None:
        super().__init__(message)
        self.condition = condition


def earliest() -> datetime:
    return datetime(settings.ICAL_EARLIEST_YEAR, 1, 1, tzinfo=UTC)


def latest() -> datetime:
    return datetime(settings.ICAL_LATEST_YEAR, 12, 31, 23, 59, 59, tzinfo=UTC)


# --- the canonical item ----------------------------------------------------------------


def validate_item(item: Item) -> None:
    """Raise ICalError (ItemRefused for a limit) unless calsync stores this item as it is."""
    if len(item.overrides) > settings.ICAL_MAX_OVERRIDES:
        raise ItemRefused(
            f"The series has {len(item.overrides)} changed occurrences; calsync stores at most "
            f"{settings.ICAL_MAX_OVERRIDES}.",
            "max-instances",
        )
    for component in (item.master, *item.overrides):
        validate_component(component)


def validate_component(component: Component) -> None:
    _check_dates(component)  # first: a date at the ends of the calendar overflows in the comparisons below
    if component.kind == "VEVENT" and component.start is None:
        raise ICalError(f"The event {component.uid!r} has no start (DTSTART).")
    start, end = component.start, component.end
    if start is not None and end is not None:
        if isinstance(start, datetime) != isinstance(end, datetime):
            raise ICalError(f"The event {component.uid!r} mixes an all-day start with a timed end.")
        if as_utc(end) < as_utc(start):
            raise ICalError(f"The event {component.uid!r} ends before it starts.")
    if component.rrule and start is not None:
        validate_rrule(component.rrule, start)
    if component.priority is not None and not 0 <= component.priority <= 9:
        raise ICalError("PRIORITY must be between 0 and 9.")
    if component.percent_complete is not None and not 0 <= component.percent_complete <= 100:
        raise ICalError("PERCENT-COMPLETE must be between 0 and 100.")
    if not -(2**31) <= component.sequence < 2**31:
        raise ICalError("SEQUENCE is out of range.")
    for name, attr, limit in _COLUMNS:
        if len(getattr(component, attr)) > limit:
            raise ItemRefused(f"{name} is longer than calsync stores ({limit} characters).")
    _check_counts(component)
    _check_text(component)


# What calsync's database columns hold (events.models.Event); longer values are refused, not cut.
_COLUMNS = [
    ("UID", "uid", 255), ("SUMMARY", "summary", 500), ("LOCATION", "location", 500), ("URL", "url", 1000),
    ("RRULE", "rrule", 1000), ("STATUS", "status", 16), ("CLASS", "visibility", 12), ("TRANSP", "transparency", 11),
    ("X-CALSYNC-CLIENT", "client", 200), ("X-CALSYNC-PROJECT", "project", 200),
    ("X-CALSYNC-ACTIVITY-TYPE", "activity_type", 200),
]  # fmt: skip


def _check_dates(component: Component) -> None:
    values: list[Temporal | None] = [component.start, component.end, component.due, component.completed]
    values += [component.recurrence_id, *component.rdates, *component.exdates]
    for value in values:
        if value is not None:
            check_date(value)


def check_date(value: Temporal) -> None:
    """Refuse a date or time outside the years calsync stores (ICAL_EARLIEST_YEAR..ICAL_LATEST_YEAR)."""
    low, high = settings.ICAL_EARLIEST_YEAR, settings.ICAL_LATEST_YEAR
    if value.year < low:
        raise ItemRefused(
            f"{value.isoformat()} is before the year {low}, the earliest calsync stores.", "min-date-time"
        )
    if value.year > high:
        raise ItemRefused(f"{value.isoformat()} is after the year {high}, the latest calsync stores.", "max-date-time")


_COUNTED = [
    ("attendees", "attendees", "ICAL_MAX_ATTENDEES", "max-attendees-per-instance"),
    ("excluded dates (EXDATE)", "exdates", "ICAL_MAX_RECURRENCE_DATES", "max-instances"),
    ("extra dates (RDATE)", "rdates", "ICAL_MAX_RECURRENCE_DATES", "max-instances"),
]


def _check_counts(component: Component) -> None:
    for what, attr, setting, condition in _COUNTED:
        count, limit = len(getattr(component, attr)), getattr(settings, setting)
        if count > limit:
            raise ItemRefused(f"The item has {count} {what}; calsync stores at most {limit}.", condition)
    for what, values, limit in (
        ("reminders (VALARM)", component.alarms, MAX_ALARMS),
        ("categories", component.categories, MAX_CATEGORIES),
        ("other properties", component.extra_properties, MAX_PROPERTIES),
        ("other sub-components", component.extra_components, MAX_SUBCOMPONENTS),
    ):
        if len(values) > limit:
            raise ItemRefused(f"The item has {len(values)} {what}; calsync stores at most {limit}.")
    for name, params, _ in (*component.extra_properties, *(p for a in component.alarms for p in a.extra_properties)):
        if len(params) > MAX_PARAMETERS:
            raise ItemRefused(f"{name} has {len(params)} parameters; calsync stores at most {MAX_PARAMETERS}.")
        if any(len(value) > MAX_PARAMETER_CHARS for _, value in params):
            raise ItemRefused(f"A parameter of {name} is longer than {MAX_PARAMETER_CHARS} characters.")
    for text in component.extra_components:
        _check_nesting(text.splitlines(), depth=2)


def _check_text(component: Component) -> None:
    for text in _strings(component):
        if len(text) > MAX_VALUE_CHARS:
            raise ItemRefused(f"A value of {len(text)} characters is longer than calsync stores ({MAX_VALUE_CHARS}).")
        if _CONTROL.search(text):
            raise ItemRefused("The item contains a control character (such as NUL) that text may not hold.")


def printable(text: str) -> str:
    """`text` without what text may not hold (see _CONTROL): for recording what was refused, and why."""
    return _CONTROL.sub("", text)


def _strings(value: Any) -> Iterator[str]:
    """Every text in a canonical component, its attendees, alarms and verbatim properties."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple):
        for part in value:
            yield from _strings(part)
    elif is_dataclass(value):
        for each in fields(value):
            yield from _strings(getattr(value, each.name))


# --- recurrence rules ------------------------------------------------------------------


def validate_rrule(rrule: str, start: Temporal) -> None:
    """Raise ICalError unless `rrule` is a recurrence rule calsync stores and can expand from `start`."""
    anchor = start if isinstance(start, datetime) else as_utc(start).replace(tzinfo=None)
    try:
        parts = icalendar.vRecur.from_ical(rrule)
        rule = recurrence.parse_rule(rrule, anchor)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise ICalError(f"The repeat rule {rrule!r} is not valid ({_short(exc)}).") from exc
    _check_rule_parts(parts)
    if recurrence.never_occurs(rule):
        # dateutil would walk every day (or hour) to the year 9999 looking for one, for each reader.
        raise ItemRefused("The repeat rule never occurs: no day matches all that it names.")
    until = getattr(rule, "_until", None)
    if until is not None and isinstance(start, datetime) and (until.tzinfo is None) != (start.tzinfo is None):
        raise ICalError("The repeat rule's UNTIL must be in UTC when the event has a time zone.")
    if until is not None:
        check_date(until)
    elif parts.get("COUNT") and _runs_past_latest(rrule, start):
        raise ItemRefused(f"The repeat rule's COUNT goes on past the year {latest().year}.", "max-date-time")


def _runs_past_latest(rrule: str, start: Temporal) -> bool:
    """Whether a start the rule's COUNT allows falls after the latest year (at most ICAL_MAX_INSTANCES steps)."""
    end = latest() if isinstance(start, datetime) and start.tzinfo else latest().replace(tzinfo=None)
    budget = recurrence.Budget(max_occurrences=1, max_steps=settings.ICAL_MAX_INSTANCES + 1, seconds=5.0)
    component = Component(start=start, rrule=rrule)
    return next(recurrence.rule_starts(component, budget=budget, after=as_utc(end)), None) is not None


def _check_rule_parts(parts: dict[str, list[Any]]) -> None:
    freq = str((parts.get("FREQ") or [""])[0]).upper()
    if freq in _FREQUENT or any(len(parts.get(name, [])) > 1 for name in ("BYMINUTE", "BYSECOND")):
        raise ItemRefused("calsync repeats events at most hourly: no calendar provider stores a rule more frequent.")
    if any(int(value) < 1 for value in parts.get("INTERVAL", [])):
        raise ItemRefused("The repeat rule's INTERVAL must be 1 or more.")
    limit = settings.ICAL_MAX_INSTANCES
    if any(int(value) > limit for value in parts.get("COUNT", [])):
        raise ItemRefused(f"The repeat rule's COUNT is above {limit}, the most calsync stores.", "max-instances")


# --- the text, before the parser -------------------------------------------------------------

_UNFOLD = re.compile(r"\r?\n[ \t]")
_FREQ = re.compile(r"FREQ=([A-Z]*)")
_ITEM_BEGIN = re.compile(r"^BEGIN:(?:VEVENT|VTODO)\s*$", re.IGNORECASE | re.MULTILINE)
_TZID_PARAM = re.compile(r';TZID=("[^"]*"|[^;]*)', re.IGNORECASE)


def check_calendar_text(text: str) -> None:
    """What must be refused before icalendar reads the text: deep nesting, path-like TZIDs (icalendar hands them
    to zoneinfo), VTIMEZONE rules other than yearly. One pass over the lines: its cost is the text's length.
    An unknown TZID that the text does not define is refused per item, by the parser."""
    lines = _UNFOLD.sub("", text).splitlines()
    _check_nesting(lines, depth=0)
    used, defined = _tzids(lines)
    for tzid in used | defined:
        if _path_like(tzid):
            raise ItemRefused(f"The time zone name {tzid[:80]!r} is not a time zone name.")


def check_resource_text(text: str) -> None:
    """A calendar object resource holds one item (RFC 4791 4.1): refuse more components than one series may
    have before the parser spends seconds reading thousands of them."""
    components = len(_ITEM_BEGIN.findall(text))
    if components > settings.ICAL_MAX_OVERRIDES + 1:
        raise ItemRefused(
            f"The resource holds {components} events or tasks; a series may have at most "
            f"{settings.ICAL_MAX_OVERRIDES} changed occurrences.",
            "max-instances",
        )


def _check_nesting(lines: list[str], depth: int) -> None:
    for line in lines:
        keyword = line[:6].upper()
        if keyword == "BEGIN:":
            depth += 1
            if depth > MAX_DEPTH:
                raise ItemRefused(f"Components are nested more than {MAX_DEPTH} deep (RFC 5545 allows 3).")
        elif keyword[:4] == "END:":
            depth -= 1


def _tzids(lines: list[str]) -> tuple[set[str], set[str]]:
    """TZIDs referenced by parameters, and those defined by VTIMEZONEs (whose rules are checked on the way)."""
    used: set[str] = set()
    defined: set[str] = set()
    stack: list[str] = []
    for line in lines:
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            stack.append(upper[6:].strip())
        elif upper.startswith("END:"):
            stack = stack[:-1]
        elif "VTIMEZONE" in stack:
            _vtimezone_line(upper, line, stack, defined)
        if ";TZID=" in upper:
            used.update(value.strip('"') for value in _TZID_PARAM.findall(_parameters(line)))
    return used, defined


def _parameters(line: str) -> str:
    """The name and parameters of a content line: up to the first colon outside quotes (RFC 5545 3.1)."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[:index]
    return line


def _vtimezone_line(upper: str, line: str, stack: list[str], defined: set[str]) -> None:
    if stack[-1] == "VTIMEZONE" and upper.startswith("TZID"):
        defined.add(line.split(":", 1)[-1].strip())
    if upper.startswith("RRULE") and set(_FREQ.findall(upper)) != {"YEARLY"}:
        raise ItemRefused("A time zone (VTIMEZONE) may only change its offset yearly (FREQ=YEARLY).")


def _path_like(tzid: str) -> bool:
    """Nothing that could name a file reaches a zone lookup: absolute only as a prefix of a known zone."""
    segments = tzid.split("/")
    return (
        not tzid
        or "\\" in tzid
        or bool(_CONTROL.search(tzid))
        or any(s in (".", "..") for s in segments)
        or (tzid.startswith("/") and resolve_zone(tzid) is None)
    )
