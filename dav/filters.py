"""CALDAV:filter (RFC 4791 9.7): parsed once, narrowed in the database, then tested exactly.

The database narrows by component kind, by the item's occurrence span (indexed)
and by UID; what survives is tested against the item's iCalendar with every
rule of the RFC: nested comp-filters, prop- and param-filters, text-match with
its collations, is-not-defined, and time ranges over expanded recurrences,
including alarm trigger times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element

import icalendar
from django.db.models import Q, QuerySet

from events import recurrence
from events.ical import Item, as_utc, group_items, parse_component
from events.models import Event
from events.recurrence import Budget
from events.selectors import span_overlaps

from .xml import CALDAV, tag

_COLLATIONS = {"i;ascii-casemap", "i;octet", "i;unicode-casemap"}
_MATCH_TYPES = {"equals", "contains", "starts-with", "ends-with"}
# An open end of a time-range; far enough for any calendar, near enough for date arithmetic.
_FAR_PAST = datetime(1000, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)


class FilterError(Exception):
    """A filter the server cannot use: `condition` is the CalDAV precondition it breaks."""

    def __init__(self, condition: str, message: str) -> None:
        super().__init__(message)
        self.condition = condition


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime

    def overlaps(self, start: datetime, end: datetime) -> bool:
        # RFC 4791 9.9: zero-length components match at their instant.
        if start == end:
            return self.start <= start < self.end
        return start < self.end and end > self.start


@dataclass(frozen=True)
class TextMatch:
    text: str
    collation: str = "i;ascii-casemap"
    negate: bool = False
    match_type: str = "contains"

    def test(self, value: str) -> bool:
        needle, haystack = self.text, value
        if self.collation == "i;ascii-casemap":
            needle, haystack = _ascii_lower(needle), _ascii_lower(haystack)
        elif self.collation == "i;unicode-casemap":
            needle, haystack = needle.casefold(), haystack.casefold()
        found = {
            "equals": haystack == needle,
            "contains": needle in haystack,
            "starts-with": haystack.startswith(needle),
            "ends-with": haystack.endswith(needle),
        }[self.match_type]
        return found != self.negate


@dataclass(frozen=True)
class ParamFilter:
    name: str
    is_not_defined: bool = False
    text_match: TextMatch | None = None


@dataclass(frozen=True)
class PropFilter:
    name: str
    is_not_defined: bool = False
    time_range: TimeRange | None = None
    text_match: TextMatch | None = None
    param_filters: tuple[ParamFilter, ...] = ()


@dataclass(frozen=True)
class CompFilter:
    name: str
    is_not_defined: bool = False
    time_range: TimeRange | None = None
    prop_filters: tuple[PropFilter, ...] = ()
    comp_filters: tuple[CompFilter, ...] = field(default=())


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


# --- parsing ------------------------------------------------------------------


def parse_time(value: str | None, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        parsed = datetime.strptime(value, "%Y%m%dT%H%M%SZ")
    except ValueError as exc:
        raise FilterError("valid-filter", f"{value!r} is not a UTC date-time such as 20260101T000000Z.") from exc
    return parsed.replace(tzinfo=UTC)


def parse_time_range(node: Element) -> TimeRange:
    if "start" not in node.attrib and "end" not in node.attrib:
        raise FilterError("valid-filter", "A time-range needs a start, an end or both.")
    start = parse_time(node.get("start"), _FAR_PAST)
    end = parse_time(node.get("end"), _FAR_FUTURE)
    if end <= start:
        raise FilterError("valid-filter", "A time-range must end after it starts.")
    return TimeRange(start, end)


def _text_match(node: Element) -> TextMatch:
    collation = node.get("collation", "i;ascii-casemap")
    if collation not in _COLLATIONS:
        raise FilterError("supported-collation", f"The collation {collation!r} is not supported.")
    match_type = node.get("match-type", "contains")
    if match_type not in _MATCH_TYPES:
        raise FilterError("valid-filter", f"The match-type {match_type!r} is not supported.")
    negate = node.get("negate-condition", "no") == "yes"
    return TextMatch(node.text or "", collation, negate, match_type)


def _children(node: Element, name: str) -> list[Element]:
    return [child for child in node if child.tag == tag(CALDAV, name)]


def _one(node: Element, name: str) -> Element | None:
    found = _children(node, name)
    return found[0] if found else None


def _name(node: Element) -> str:
    name = node.get("name")
    if not name:
        raise FilterError("valid-filter", f"A {node.tag.split('}')[-1]} needs a name attribute.")
    return name.upper()


def _param_filter(node: Element) -> ParamFilter:
    text = _one(node, "text-match")
    return ParamFilter(
        _name(node), _one(node, "is-not-defined") is not None, _text_match(text) if text is not None else None
    )


def _prop_filter(node: Element) -> PropFilter:
    time_range, text = _one(node, "time-range"), _one(node, "text-match")
    return PropFilter(
        name=_name(node),
        is_not_defined=_one(node, "is-not-defined") is not None,
        time_range=parse_time_range(time_range) if time_range is not None else None,
        text_match=_text_match(text) if text is not None else None,
        param_filters=tuple(_param_filter(p) for p in _children(node, "param-filter")),
    )


def _comp_filter(node: Element) -> CompFilter:
    time_range = _one(node, "time-range")
    return CompFilter(
        name=_name(node),
        is_not_defined=_one(node, "is-not-defined") is not None,
        time_range=parse_time_range(time_range) if time_range is not None else None,
        prop_filters=tuple(_prop_filter(p) for p in _children(node, "prop-filter")),
        comp_filters=tuple(_comp_filter(c) for c in _children(node, "comp-filter")),
    )


def parse_filter(node: Element | None) -> CompFilter:
    """The query's filter; a missing filter matches everything (some clients send none)."""
    if node is None:
        return CompFilter("VCALENDAR")
    top = _children(node, "comp-filter")
    if len(top) != 1 or _name(top[0]) != "VCALENDAR":
        raise FilterError("valid-filter", "A filter must hold exactly one comp-filter named VCALENDAR.")
    root = _comp_filter(top[0])
    if root.time_range is not None:
        # RFC 4791 9.7.1: a time-range belongs to VEVENT, VTODO, VJOURNAL, VFREEBUSY or VALARM.
        raise FilterError("valid-filter", "A time-range cannot apply to VCALENDAR; put it in a VEVENT or VTODO filter.")
    return root


# --- narrowing in the database -----------------------------------------------------


def narrow(masters: QuerySet[Event], root: CompFilter) -> QuerySet[Event]:
    """A superset of the matching items, found with indexed columns; `matches` decides exactly."""
    if root.is_not_defined:
        return masters.none()
    wanted = [c for c in root.comp_filters if not c.is_not_defined]
    if len(wanted) != 1:
        return masters
    component = wanted[0]
    if component.name not in ("VEVENT", "VTODO"):
        return masters.none()  # calsync stores no journals or free-busy components
    masters = masters.filter(kind=component.name)
    if component.time_range is not None:
        rng = component.time_range
        span = span_overlaps(rng.start, rng.end)
        if component.name == "VTODO":
            span |= Q(span_start__isnull=True)  # a task with no dates matches any range
        masters = masters.filter(span)
    for prop in component.prop_filters:
        text = prop.text_match
        if prop.name == "UID" and text is not None and not text.negate and not prop.param_filters:
            masters = masters.filter(uid__icontains=text.text)
    return masters


def needs_test(root: CompFilter, master: Event) -> bool:
    """Whether `narrow` alone decided this item: a lone kind + time-range on a single event is exact."""
    wanted = root.comp_filters
    if root.is_not_defined or root.prop_filters:
        return True
    if not wanted:
        return False  # no filter: every item
    if len(wanted) != 1:
        return True
    component = wanted[0]
    if component.is_not_defined or component.prop_filters or component.comp_filters or component.name != master.kind:
        return True
    if component.time_range is None:
        return False
    return master.kind != "VEVENT" or master.is_recurring


# --- the exact test -------------------------------------------------------------------


def time_range_only(root: CompFilter) -> TimeRange | None:
    """The time-range, when it is all the filter asks of a VEVENT (what clients send): tested on the item as stored,
    without building its iCalendar (5,000 overrides take seconds to build)."""
    wanted = root.comp_filters
    if root.is_not_defined or root.prop_filters or len(wanted) != 1:
        return None
    component = wanted[0]
    if component.name != "VEVENT" or component.is_not_defined or component.prop_filters or component.comp_filters:
        return None
    return component.time_range


def occurs(item: Item, rng: TimeRange, budget: Budget) -> bool:
    """Whether any occurrence of the item overlaps the range (RFC 4791 9.9)."""
    return next(recurrence.occurrences(item, start=rng.start, end=rng.end, budget=budget), None) is not None


def matches(calendar: icalendar.Calendar, root: CompFilter, budget: Budget | None = None) -> bool:
    """Whether the item passes; recurrences expand within `budget` (the request's), which says when it ran out."""
    scope = _Scope(calendar, budget or Budget.for_request())
    return _component_matches(calendar, root, scope) != root.is_not_defined


@dataclass(frozen=True)
class _Scope:
    calendar: icalendar.Calendar
    budget: Budget
    items: dict[tuple[str, str], Item] = field(default_factory=dict)  # read once, not once per component
    occurs: dict[tuple[str, str, datetime, datetime], bool] = field(default_factory=dict)


def _component_matches(component: Any, flt: CompFilter, scope: _Scope) -> bool:
    """Whether `component` (already known to have flt.name) passes the filter's inner tests."""
    if flt.time_range is not None and not _in_range(component, flt, scope):
        return False
    for prop in flt.prop_filters:
        if not _prop_matches(component, prop):
            return False
    for child in flt.comp_filters:
        present = [sub for sub in component.subcomponents if sub.name == child.name]
        if child.is_not_defined:
            if present:
                return False
            continue
        if not any(_component_matches(sub, child, scope) for sub in present):
            return False
    return True


def _in_range(component: Any, flt: CompFilter, scope: _Scope) -> bool:
    rng = flt.time_range
    assert rng is not None
    if flt.name == "VALARM":
        return _alarm_in_range(component, rng, scope)
    if flt.name not in ("VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY"):
        return True
    if flt.name == "VTODO" and not any(k in component for k in ("DTSTART", "DUE")):
        return _todo_without_dates(component, rng)
    return _occurs(scope, component, rng.start, rng.end)


def _occurs(scope: _Scope, component: Any, start: datetime, end: datetime) -> bool:
    # Every component of an item (5,000 overrides) asks the same question of the same item: answer it once.
    key = (component.name, str(component.get("UID", "")), start, end)
    if key not in scope.occurs:
        scope.occurs[key] = occurs(_item(scope, component), TimeRange(start, end), scope.budget)
    return scope.occurs[key]


def _item(scope: _Scope, component: Any) -> Item:
    """The item `component` belongs to (its master and overrides), as events.recurrence expands it."""
    key = (component.name, str(component.get("UID", "")))
    if key not in scope.items:
        parts = [parse_component(sub) for sub in scope.calendar.subcomponents
                 if (sub.name, str(sub.get("UID", ""))) == key]  # fmt: skip
        scope.items[key] = group_items(parts)[0]
    return scope.items[key]


def _todo_without_dates(component: Any, rng: TimeRange) -> bool:
    completed, created = component.get("COMPLETED"), component.get("CREATED")
    if completed is not None and created is not None:
        return (rng.start <= _utc(completed) and rng.end >= _utc(created)) or rng.start <= _utc(created) < rng.end
    if completed is not None:
        return rng.start <= _utc(completed) <= rng.end
    if created is not None:
        return rng.end > _utc(created)
    return True


def _alarm_in_range(alarm: Any, rng: TimeRange, scope: _Scope) -> bool:
    trigger = alarm.get("TRIGGER")
    if trigger is None:
        return False
    moment = getattr(trigger, "dt", None)
    if moment is None:  # kept verbatim as text: parse it now
        try:
            moment = icalendar.vDDDTypes.from_ical(str(trigger))
        except ValueError:
            return False
    if isinstance(moment, datetime):
        return rng.start <= _utc(moment) < rng.end
    if not isinstance(moment, timedelta):
        return False
    offset = moment
    related_end = getattr(trigger, "params", {}).get("RELATED", "START").upper() == "END"
    owners = (c for c in scope.calendar.walk() if c.name in ("VEVENT", "VTODO"))
    parent = next((c for c in owners if any(s is alarm for s in c.subcomponents)), None)
    if parent is None:
        return False
    # An alarm fires at occurrence start (or end) + offset: look for occurrences shifted back by the offset.
    try:
        start, end = rng.start - offset, rng.end - offset
    except OverflowError:
        return False
    for occurrence in recurrence.occurrences(_item(scope, parent), start=start, end=end, budget=scope.budget):
        anchor = occurrence.end if related_end else occurrence.start
        if rng.start <= _utc(anchor) + offset < rng.end:
            return True
    return False


def _values(component: Any, name: str) -> list[Any]:
    value = component.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    if isinstance(value, icalendar.prop.vCategory):
        return ",".join(str(c) for c in value.cats)
    if isinstance(value, str):
        return str(value)
    try:
        return value.to_ical().decode()
    except AttributeError:
        return str(value)


def _prop_matches(component: Any, flt: PropFilter) -> bool:
    values = _values(component, flt.name)
    if flt.is_not_defined:
        return not values
    if not values:
        return False
    return any(_value_matches(value, flt) for value in values)


def _value_matches(value: Any, flt: PropFilter) -> bool:
    if flt.time_range is not None:
        moment = getattr(value, "dt", None)
        if not isinstance(moment, (datetime, date)) or not flt.time_range.overlaps(_utc(value), _utc(value)):
            return False
    if flt.text_match is not None and not flt.text_match.test(_text(value)):
        return False
    for param in flt.param_filters:
        params = getattr(value, "params", {})
        present = param.name in params
        if param.is_not_defined:
            if present:
                return False
        elif not present or (param.text_match is not None and not param.text_match.test(str(params[param.name]))):
            return False
    return True


def _utc(value: Any) -> datetime:
    """An icalendar property's (or a plain) date or time as an instant; floating time read as UTC (RFC 4791)."""
    return as_utc(getattr(value, "dt", value))
