"""freebusy.query as Google answers it: the busy periods of each requested calendar the caller may read.

https://developers.google.com/calendar/api/v3/reference/freebusy/query
- POST /calendar/v3/freeBusy with timeMin, timeMax and items [{id}]; the answer has calendars.{id}.busy
  [{start, end}] and, for a calendar that cannot be read, calendars.{id}.errors [{domain, reason: notFound}]
  instead of failing the request.
- Only opaque, confirmed or tentative events count (transparency "transparent" and cancelled ones do not);
  periods are merged and clipped to [timeMin, timeMax]; the answer's times are UTC ("Z") unless timeZone is set.
- At most 50 calendars per query (calendarExpansionMax); timeMax before timeMin is timeRangeEmpty.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .state import ApiError, Calendar, State, _as_utc, _parse_rfc3339, instance_suffix, parse_when

MAX_CALENDARS = 50


def query(state: State, email: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        start, end = _parse_rfc3339(body["timeMin"]), _parse_rfc3339(body["timeMax"])
    except (KeyError, TypeError, ValueError):
        raise ApiError(400, "badRequest", "Bad Request: timeMin and timeMax are required RFC 3339 times.") from None
    if end < start:
        raise ApiError(400, "timeRangeEmpty", "The specified time range is empty.")
    items = body.get("items") or []
    if len(items) > MAX_CALENDARS:
        raise ApiError(400, "tooManyCalendarsRequested", "The number of calendars requested is too large.")
    zone = ZoneInfo(body.get("timeZone") or "UTC")
    with state.lock:
        calendars = {item["id"]: _calendar(state, email, item["id"], start, end, zone) for item in items}
    return {"kind": "calendar#freeBusy", "timeMin": _text(start, zone), "timeMax": _text(end, zone),
            "calendars": calendars}  # fmt: skip


def _calendar(state: State, email: str, calendar_id: str, start: datetime, end: datetime, zone: ZoneInfo) -> Any:
    try:
        calendar = state.calendar_for(email, calendar_id)
    except ApiError:
        return {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
    periods = _merge([(max(a, start), min(b, end)) for a, b in _periods(state, calendar, end) if b > start and a < end])
    return {"busy": [{"start": _text(a, zone), "end": _text(b, zone)} for a, b in periods]}


def _periods(state: State, calendar: Calendar, end: datetime) -> list[tuple[datetime, datetime]]:
    zone = ZoneInfo(calendar.time_zone)  # all-day dates are days of the calendar's zone
    found = []
    for event in calendar.events.values():
        if event.get("recurrence"):
            found += _series(state, calendar, event, end, zone)
        elif _busy(event):
            found.append((_instant(parse_when(event["start"]), zone), _instant(parse_when(event["end"]), zone)))
    return found


def _series(state: State, calendar: Calendar, master: dict[str, Any], end: datetime, zone: ZoneInfo) -> list[Any]:
    """Occurrences without an exception (an exception is an event of its own, counted where it now is)."""
    if not _busy(master):
        return []
    first = parse_when(master["start"])
    length = parse_when(master["end"]) - first  # type: ignore[operator]
    return [
        (_instant(moment, zone), _instant(moment + length, zone))
        for moment in state._occurrences(master, limit=5000, until=end)
        if f"{master['id']}_{instance_suffix(moment)}" not in calendar.events
    ]


def _busy(event: dict[str, Any]) -> bool:
    return event.get("status") != "cancelled" and event.get("transparency", "opaque") != "transparent"


def _instant(value: datetime | date, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return _as_utc(value)
    return datetime(value.year, value.month, value.day, tzinfo=zone).astimezone(UTC)


def _merge(periods: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for a, b in sorted(periods):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        elif b > a:
            merged.append((a, b))
    return merged


def _text(moment: datetime, zone: ZoneInfo) -> str:
    if zone.key == "UTC":
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.astimezone(zone).isoformat()
