"""calendar: getSchedule as Graph answers it: the availability of mailboxes of the caller's organisation.

https://learn.microsoft.com/graph/api/calendar-getschedule
- POST /me/calendar/getSchedule (or /users/{id}/calendar/getSchedule) with schedules [SMTP addresses],
  startTime and endTime (dateTimeTimeZone) and availabilityViewInterval (minutes, 5 to 1440, default 30).
- One scheduleInformation per address, in the order asked; an address that cannot be read carries `error`
  (freeBusyError: message, responseCode) instead of failing the request.
https://learn.microsoft.com/graph/api/resources/scheduleinformation
- availabilityView: one digit per interval, 0 free or working elsewhere, 1 tentative, 2 busy, 3 out of office.
https://learn.microsoft.com/graph/api/resources/scheduleitem
- scheduleItems: the events of the mailbox's default calendar in the range, with status (free, tentative,
  busy, oof, workingElsewhere, unknown), isPrivate, and the subject only where the event is not private.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .state import GraphError, State, format_when, parse_when

MAX_SCHEDULES = 100
_DIGITS = {"free": 0, "workingElsewhere": 0, "tentative": 1, "busy": 2, "oof": 3}


def get_schedule(state: State, upn: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        start, end = parse_when(body["startTime"]), parse_when(body["endTime"])
        interval = int(body.get("availabilityViewInterval") or 30)
    except (KeyError, TypeError, ValueError):
        raise GraphError(400, "ErrorInvalidRequest", "startTime and endTime are required.") from None
    schedules = body.get("schedules") or []
    if not 5 <= interval <= 1440 or end <= start or not schedules or len(schedules) > MAX_SCHEDULES:
        raise GraphError(400, "ErrorInvalidParameter", "The request is invalid.")
    zone_name = body["startTime"].get("timeZone") or "UTC"
    with state.lock:
        tenant = state.mailboxes[upn].tenant
        return {"value": [_one(state, tenant, address, start, end, interval, zone_name) for address in schedules]}


def _one(state: State, tenant: str, address: str, start: datetime, end: datetime, interval: int,
         zone_name: str) -> dict[str, Any]:  # fmt: skip
    box = state.mailboxes.get(address.lower())
    if box is None or box.tenant != tenant or not box.calendars:
        error = {"message": "The user was not found or cannot be read.", "responseCode": "ErrorMailRecipientNotFound"}
        return {"scheduleId": address, "availabilityView": "", "error": error}
    calendar = state.calendars[box.calendars[0]]  # the default calendar
    events = [e for e in state.view(calendar, start, end) if not e.get("isCancelled")]
    items = [_item(e, zone_name) for e in events]
    return {"scheduleId": address, "availabilityView": _view(events, start, end, interval),
            "scheduleItems": items, "workingHours": {}}  # fmt: skip


def _item(event: dict[str, Any], zone_name: str) -> dict[str, Any]:
    private = event.get("sensitivity") in ("private", "confidential")
    item = {"isPrivate": private, "status": event.get("showAs") or "busy",
            "start": format_when(parse_when(event["start"]), zone_name),
            "end": format_when(parse_when(event["end"]), zone_name)}  # fmt: skip
    if not private:
        item["subject"] = event.get("subject", "")
        item["location"] = (event.get("location") or {}).get("displayName", "")
    return item


def _view(events: list[dict[str, Any]], start: datetime, end: datetime, interval: int) -> str:
    step, digits = timedelta(minutes=interval), []
    moment = start
    while moment < end:
        finish = moment + step
        overlapping = [e for e in events if parse_when(e["start"]) < finish and parse_when(e["end"]) > moment]
        digits.append(max((_DIGITS.get(e.get("showAs") or "busy", 2) for e in overlapping), default=0))
        moment = finish
    return "".join(str(d) for d in digits)
