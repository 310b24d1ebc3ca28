"""How the Google emulator applies a write, as Google documents it: patch semantics, what an event of a
status type must hold, and the emails Google sends to guests (recorded instead of sent).

- events.patch merges: fields left out stay as they are, nested objects are merged field by field, an array
  given replaces the array, and null deletes a field
  (https://developers.google.com/calendar/api/guides/performance#patch,
  https://developers.google.com/calendar/api/v3/reference/events/patch).
- eventType "cannot be modified after the event is created"; focus time, out of office and working location
  events exist only on primary calendars, focus time and out of office are timed and opaque, working location
  is public and transparent (https://developers.google.com/calendar/api/v3/reference/events#eventType,
  https://developers.google.com/calendar/api/guides/calendar-status).
- sendUpdates (all | externalOnly | none) says who is emailed about an insert, update, patch or delete; "The
  default is false", i.e. nobody; the deprecated sendNotifications=true means all
  (https://developers.google.com/calendar/api/v3/reference/events/insert#sendUpdates).
- extendedProperties: a key longer than 44 characters is dropped and a value longer than 1024 characters is
  truncated (https://developers.google.com/calendar/api/guides/extended-properties).
"""

from __future__ import annotations

from typing import Any

from .state import ApiError

STATUS_TYPES = ("outOfOffice", "focusTime", "workingLocation")
EVENT_TYPES = ("default", "birthday", "fromGmail", *STATUS_TYPES)
TYPE_PROPERTIES = {"outOfOffice": "outOfOfficeProperties", "focusTime": "focusTimeProperties",
                   "workingLocation": "workingLocationProperties", "birthday": "birthdayProperties"}  # fmt: skip
_SECONDARY = ("@group.calendar.google.com", "@group.v.calendar.google.com", "@resource.calendar.google.com")


def merge_patch(event: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The event after a patch: objects merged, arrays and values replaced, null removing the field."""
    merged = dict(event)
    for key, value in body.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = value
    return merged


def is_primary(calendar_id: str) -> bool:
    """A user's primary calendar has their address as its id; other calendars have Google-made group ids."""
    return "@" in calendar_id and not calendar_id.endswith(_SECONDARY)


def check_event_type(calendar_id: str, event: dict[str, Any], before: dict[str, Any] | None) -> None:
    """Refuse what Google refuses for the eventType of an event being written (before: the stored one)."""
    kind = event.get("eventType") or "default"
    if kind not in EVENT_TYPES:
        raise ApiError(400, "invalid", "Invalid event type.")
    if before is not None:
        if kind != (before.get("eventType") or "default"):
            raise ApiError(400, "eventTypeRestriction", "The event type cannot be changed.")
        return
    if kind in ("birthday", "fromGmail"):
        raise ApiError(400, "eventTypeRestriction", f"Events of type {kind} cannot be created using the API.")
    if kind not in STATUS_TYPES:
        return
    if not is_primary(calendar_id):
        raise ApiError(400, "eventTypeRestriction", f"An event of type {kind} can only be created on a primary "
                       "calendar.")  # fmt: skip
    if kind != "workingLocation" and "date" in (event.get("start") or {}):
        raise ApiError(400, "eventTypeRestriction", f"An event of type {kind} cannot be an all-day event.")
    if event.get("attendees"):
        raise ApiError(400, "eventTypeRestriction", f"An event of type {kind} cannot have attendees.")


def apply_type_defaults(event: dict[str, Any]) -> None:
    """What Google sets on a status event: its free/busy and, for working location, public visibility."""
    kind = event.get("eventType") or "default"
    event["eventType"] = kind
    if kind in ("outOfOffice", "focusTime"):
        event["transparency"] = "opaque"
    elif kind == "workingLocation":
        event.update(transparency="transparent", visibility="public")


def limit_properties(event: dict[str, Any]) -> None:
    for scope, values in (event.get("extendedProperties") or {}).items():
        if isinstance(values, dict):
            event["extendedProperties"][scope] = {k: str(v)[:1024] for k, v in values.items() if len(k) <= 44}


# --- the emails Google would send ----------------------------------------------------------------------


def send_updates(params: dict[str, Any]) -> str:
    """The sendUpdates of a request (query parameters as strings or lists of strings)."""

    def one(name: str) -> str:
        value = params.get(name) or ""
        return str(value[-1] if isinstance(value, list) and value else value)

    wanted = one("sendUpdates") or ("all" if one("sendNotifications") == "true" else "none")
    if wanted not in ("all", "externalOnly", "none"):
        raise ApiError(400, "invalidParameter", "Invalid value for: sendUpdates.")
    return wanted


def guests(event: dict[str, Any], own: str) -> list[str]:
    """Who Google emails about an event: its attendees but the organizer, the calendar's own owner and rooms."""
    organizer = ((event.get("organizer") or {}).get("email") or "").lower()
    skip = {organizer, own.lower()}
    return [
        a["email"].lower()
        for a in event.get("attendees") or []
        if a.get("email") and a["email"].lower() not in skip and not a.get("self") and not a.get("resource")
    ]


def invitations(own: str, before: dict[str, Any] | None, after: dict[str, Any] | None, wanted: str,
                is_external: Any) -> list[dict[str, Any]]:  # fmt: skip
    """The REQUESTs and CANCELs of one write: a new or changed event goes to its guests, a deleted event and
    a guest taken off the list get a cancellation. externalOnly: guests who do not use Google Calendar."""
    if wanted == "none":
        return []
    event = after if after is not None else before
    assert event is not None
    now = guests(after, own) if after is not None and after.get("status") != "cancelled" else []
    gone = [g for g in guests(before, own) if g not in now] if before is not None else []
    sent = [("REQUEST", g) for g in now] + [("CANCEL", g) for g in gone]
    organizer = ((event.get("organizer") or {}).get("email") or "").lower()
    return [
        {"method": method, "to": to, "organizer": organizer, "subject": event.get("summary", ""),
         "event_id": event["id"], "ical_uid": event.get("iCalUID", "")}
        for method, to in sent
        if wanted == "all" or is_external(to)
    ]  # fmt: skip
