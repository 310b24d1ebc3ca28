"""events.list as Google documents it: which query parameters go together, the time window, recurring series
expanded into their instances with singleEvents, and the order of the results.

Every rule here is from the events.list reference
(https://developers.google.com/calendar/api/v3/reference/events/list), the Event resource
(https://developers.google.com/calendar/api/v3/reference/events) and the sync guide
(https://developers.google.com/calendar/api/guides/sync).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .state import ApiError, instance_suffix, parse_when

if TYPE_CHECKING:
    from .state import Calendar, State

# "There are several query parameters that cannot be specified together with nextSyncToken": events/list.
SYNC_EXCLUSIVE = ("iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty", "timeMin",
                  "timeMax", "updatedMin")  # fmt: skip
# timeMin/timeMax "Must be an RFC3339 timestamp with mandatory time zone offset": events/list.
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$", re.IGNORECASE)
# An emulator limit, not Google's: a series without end and a listing without timeMax stop after this many.
MAX_INSTANCES = 1000


@dataclass
class Query:
    """The events.list parameters that choose and order the results."""

    zone: ZoneInfo
    sync: str = ""
    single: bool = False
    show_deleted: bool = False
    time_min: datetime | None = None
    time_max: datetime | None = None
    updated_min: str = ""
    uid: str = ""
    text: str = ""
    order_by: str = ""
    private: list[tuple[str, str]] = field(default_factory=list)
    shared: list[tuple[str, str]] = field(default_factory=list)

    @property
    def filtered(self) -> bool:
        """Filters that end a listing without a nextSyncToken (they cannot go with one either)."""
        return bool(self.time_min or self.time_max or self.updated_min or self.uid or self.text or self.order_by
                    or self.private or self.shared)  # fmt: skip


def parse_query(params: dict[str, list[str]], calendar_zone: str) -> Query:
    """events.list's parameters, refused with 400 where the reference says they cannot be used."""
    one = {k: v[-1] for k, v in params.items() if v}
    if one.get("syncToken") and any(one.get(name) for name in SYNC_EXCLUSIVE):
        raise ApiError(400, "invalid", "Sync token cannot be used with other filters.")
    query = Query(
        zone=_zone(one.get("timeZone") or calendar_zone), sync=one.get("syncToken", ""),
        single=one.get("singleEvents") == "true", show_deleted=one.get("showDeleted") == "true",
        time_min=_bound(one.get("timeMin")), time_max=_bound(one.get("timeMax")),
        updated_min=_updated(one.get("updatedMin")), uid=one.get("iCalUID", ""), text=one.get("q", "").strip(),
        order_by=one.get("orderBy", ""), private=_properties(params.get("privateExtendedProperty")),
        shared=_properties(params.get("sharedExtendedProperty")),
    )  # fmt: skip
    if query.time_min and query.time_max and query.time_min >= query.time_max:
        raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
    if query.order_by not in ("", "startTime", "updated"):
        raise ApiError(400, "invalid", "Invalid value for orderBy.")
    if query.order_by == "startTime" and not query.single:
        # "This is only available when querying single events (i.e. the parameter singleEvents is True)".
        raise ApiError(400, "badRequest", "The requested ordering is not available for the particular query.")
    return query


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        raise ApiError(400, "invalid", "Invalid time zone definition.") from None


def _bound(text: str | None) -> datetime | None:
    if not text:
        return None
    if not _RFC3339.match(text):
        raise ApiError(400, "invalid", "Bad Request")
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))


def _updated(text: str | None) -> str:
    if not text:
        return ""
    moment = _bound(text)
    assert moment is not None
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _properties(values: list[str] | None) -> list[tuple[str, str]]:
    """propertyName=value constraints; "This parameter might be repeated" and all of them must match."""
    pairs = []
    for value in values or []:
        name, equals, wanted = value.partition("=")
        if not equals or not name:
            raise ApiError(400, "invalid", "Invalid extended property constraint.")
        pairs.append((name, wanted))
    return pairs


def in_zone(event: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """A copy of the event as a read answers it: every dateTime written with the offset of the response's zone,
    "The default is the time zone of the calendar" (events.list and events.get, parameter timeZone); the
    event's own timeZone field stays as it is."""
    shown = dict(event)
    for name in ("start", "end", "originalStartTime"):
        value = event.get(name) or {}
        # Stored times are written in their own timeZone already (state.py): most need no work.
        if value.get("dateTime") and value.get("timeZone") != zone.key:
            moment = parse_when(value)
            assert isinstance(moment, datetime)
            text = moment.astimezone(zone).isoformat()
            shown[name] = {**value, "dateTime": text[:-6] + "Z" if text.endswith("+00:00") else text}
    return shown


def as_listed(event: dict[str, Any], query: Query) -> dict[str, Any]:
    """What a listing shows of a cancelled event: "Cancelled exceptions are only guaranteed to have values for the
    id, recurringEventId and originalStartTime fields populated" and "Deleted events are only guaranteed to have the
    id field populated", except on the organizer's calendar with showDeleted, where a deleted event keeps its
    details so that it can be restored. The emulator gives no more than is guaranteed, so that nobody relies on it.
    https://developers.google.com/calendar/api/v3/reference/events#status"""
    if event.get("status") != "cancelled":
        return in_zone(event, query.zone)
    if "recurringEventId" in event:
        kept = ("kind", "etag", "id", "status", "recurringEventId", "originalStartTime")
    elif query.show_deleted and (event.get("organizer") or {}).get("self"):
        return in_zone(event, query.zone)
    else:
        kept = ("kind", "etag", "id", "status")
    return in_zone({k: event[k] for k in kept if k in event}, query.zone)


def response_zone(params: dict[str, str], calendar_zone: str) -> ZoneInfo:
    return _zone(params.get("timeZone") or calendar_zone)


# --- choosing events ---------------------------------------------------------------------------------------


def listing(state: State, calendar: Calendar, query: Query, since: int | None, until: int) -> list[dict[str, Any]]:
    """The events (and with singleEvents the instances) a listing returns, in their order, before paging."""
    found: list[dict[str, Any]] = []
    for event_id, event in calendar.events.items():
        seq = calendar.changed_at.get(event_id, 0)
        if seq > until or (since is not None and seq <= since):
            continue  # changed after this listing began, or before the sync token: not in this listing
        if not _visible(calendar, event, query, incremental=since is not None) or not _matches(event, query):
            continue
        if query.single and event.get("recurrence"):
            if event.get("status") != "cancelled":
                found.extend(_instances(state, calendar, event, query))
            continue  # "but not the underlying recurring events themselves"
        if event.get("recurrence"):
            if _series_meets(state, event, query):
                found.append(event)
        elif _meets(event, query):
            found.append(event)
    if since is not None:
        found.sort(key=lambda e: calendar.changed_at.get(e["id"], 0))
    elif query.order_by == "startTime":
        found.sort(key=lambda e: _instant(e["start"], query.zone))
    elif query.order_by == "updated":
        found.sort(key=lambda e: e.get("updated", ""))
    return found


def _visible(calendar: Calendar, event: dict[str, Any], query: Query, incremental: bool) -> bool:
    """Cancelled events: always in incremental results and since updatedMin; otherwise as showDeleted says,
    except that cancelled instances of a series stay listed when showDeleted and singleEvents are both false."""
    if event.get("status") != "cancelled":
        master = calendar.events.get(event.get("recurringEventId", ""))
        # Instances of a deleted series are not listed as instances when singleEvents is on.
        return not (query.single and master is not None and master.get("status") == "cancelled"
                    and not (incremental or query.show_deleted))  # fmt: skip
    if incremental or query.show_deleted:
        return not (query.single and event.get("recurrence"))  # deleted series: only its instances
    if query.updated_min and event.get("updated", "") >= query.updated_min:
        return True
    return "recurringEventId" in event and not query.single


def _matches(event: dict[str, Any], query: Query) -> bool:
    if query.uid and event.get("iCalUID") != query.uid:
        return False
    if query.updated_min and event.get("updated", "") < query.updated_min:
        return False
    properties = event.get("extendedProperties") or {}
    for scope, wanted in (("private", query.private), ("shared", query.shared)):
        if any((properties.get(scope) or {}).get(name) != value for name, value in wanted):
            return False
    return not query.text or _text_matches(event, query.text)


def _text_matches(event: dict[str, Any], text: str) -> bool:
    """q: every term found in summary, description, location, attendees' or the organizer's name or email."""
    people = [*(event.get("attendees") or []), event.get("organizer") or {}]
    haystack = " ".join([event.get("summary", ""), event.get("description", ""), event.get("location", ""),
                         *(f"{p.get('displayName', '')} {p.get('email', '')}" for p in people)]).lower()  # fmt: skip
    return all(term in haystack for term in text.lower().split())


# --- the time window ---------------------------------------------------------------------------------------


def _instant(value: dict[str, Any], zone: ZoneInfo) -> datetime:
    """An EventDateTime as an instant; a date is midnight in the listing's zone (the calendar's by default)."""
    moment = parse_when(value)
    if isinstance(moment, datetime):
        return moment
    return datetime.combine(moment, time(), tzinfo=zone)


def _overlaps(start: datetime, end: datetime, query: Query) -> bool:
    """timeMin is the lower bound (exclusive) for the end, timeMax the upper bound (exclusive) for the start;
    the end of an event is itself exclusive, and so is an all-day event's end date."""
    if query.time_min is not None and end <= query.time_min:
        return False
    return query.time_max is None or start < query.time_max


def _meets(event: dict[str, Any], query: Query) -> bool:
    if query.time_min is None and query.time_max is None:
        return True
    if "start" not in event or "end" not in event:
        return False  # a cancelled exception may hold nothing but its id and original start
    return _overlaps(_instant(event["start"], query.zone), _instant(event["end"], query.zone), query)


def _occurrences(state: State, master: dict[str, Any], query: Query) -> Iterator[tuple[datetime | date, datetime,
                                                                                        datetime]]:  # fmt: skip
    """(original start, start, end) of each occurrence of a series that meets the window, in order."""
    first, last = parse_when(master["start"]), parse_when(master["end"])
    length = _instant(master["end"], query.zone) - _instant(master["start"], query.zone)
    if isinstance(first, date) and not isinstance(first, datetime):
        length = timedelta(days=(last - first).days)  # type: ignore[operator]
    found = 0
    for original in state.each_occurrence(master):
        start = original if isinstance(original, datetime) else datetime.combine(original, time(), query.zone)
        if query.time_max is not None and start >= query.time_max:
            return
        # A timed occurrence lasts the exact time of the first (RFC 5545), a day-long one whole days.
        end = (
            start + length
            if isinstance(original, date) and not isinstance(original, datetime)
            else ((start.astimezone(UTC) + length).astimezone(start.tzinfo))
        )
        if _overlaps(start, end, query):
            yield original, start, end
            found += 1
            if query.time_max is None and found >= MAX_INSTANCES:
                return


def _series_meets(state: State, master: dict[str, Any], query: Query) -> bool:
    """Without singleEvents a series is listed when one of its occurrences falls in the window."""
    if query.time_min is None and query.time_max is None:
        return True
    return next(_occurrences(state, master, query), None) is not None


def _instances(state: State, calendar: Calendar, master: dict[str, Any], query: Query) -> Iterator[dict[str, Any]]:
    """The series' occurrences that are not exceptions; its exceptions are listed as events of their own."""
    for original, _start, _end in _occurrences(state, master, query):
        if f"{master['id']}_{instance_suffix(original)}" not in calendar.events:
            yield state.occurrence(master, original)
