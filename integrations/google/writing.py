"""How calsync writes to Google: only the fields that changed, and emails to guests only when meant.

- An update is an events.patch holding the fields whose value differs from the event as Google holds it; a
  field calsync no longer has is sent as null, which deletes it, and calsync's private properties are
  compared key by key so other applications' keys stay
  (https://developers.google.com/calendar/api/guides/performance#patch).
- sendUpdates: Google emails the guests of a write only when asked ("all"); the default sends nothing
  (https://developers.google.com/calendar/api/v3/reference/events/insert#sendUpdates). calsync asks only for
  the account's own meetings, and only when a change touches what guests see.
- A copy of someone else's meeting is created with events.import, which keeps its organizer and emails
  nobody (https://developers.google.com/calendar/api/v3/reference/events/import).
"""

from __future__ import annotations

from typing import Any

from events.ical import Component

from .convert import CREATE_ONLY

# What a guest sees of a meeting: a change to one of these is news to them; a business field is not.
_GUEST_VISIBLE = ("summary", "description", "location", "start", "end", "recurrence", "attendees", "status")
_SECONDARY = ("@group.calendar.google.com", "@group.v.calendar.google.com", "@resource.calendar.google.com")


def changed_fields(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """The patch that turns `old` into `new` for the fields calsync writes (both as calsync would write them)."""
    changes: dict[str, Any] = {}
    for key in sorted(new.keys() | old.keys()):
        if key in CREATE_ONLY or key == "iCalUID":
            continue
        if key == "extendedProperties":
            mine, theirs = new.get(key, {}).get("private", {}), old.get(key, {}).get("private", {})
            private = {k: mine.get(k) for k in sorted(mine.keys() | theirs.keys()) if mine.get(k) != theirs.get(k)}
            if private:
                changes[key] = {"private": private}
        elif new.get(key) != old.get(key):
            changes[key] = new.get(key)
    return changes


def guest_visible(changes: dict[str, Any]) -> bool:
    return any(key in changes for key in _GUEST_VISIBLE)


def _guests(event: dict[str, Any], own: set[str]) -> bool:
    return any(
        a.get("email", "").lower() not in own and not a.get("organizer") and not a.get("self") and not a.get("resource")
        for a in event.get("attendees") or []
    )


def send_updates(event: dict[str, Any], own: set[str], guests_now: bool = False) -> str:
    """sendUpdates for a change calsync makes to this Google event: "all" for a meeting this account organises
    that has (or gets) guests, else "none" (a copy of someone else's meeting is never sent)."""
    organizer = event.get("organizer") or {}
    mine = bool(organizer.get("self")) or (organizer.get("email") or "").lower() in own
    return "all" if mine and (guests_now or _guests(event, own)) else "none"


def import_body(body: dict[str, Any], component: Component) -> dict[str, Any]:
    """events.import of a meeting organised elsewhere: the organizer as the meeting has it."""
    assert component.organizer is not None
    organizer = {"email": component.organizer.email}
    if component.organizer.name:
        organizer["displayName"] = component.organizer.name
    return {key: value for key, value in body.items() if key not in CREATE_ONLY} | {"organizer": organizer}


def primary_calendar(calendar_id: str) -> bool:
    """A user's primary calendar has their address as its id; calendars they add get Google-made group ids
    (https://developers.google.com/calendar/api/concepts/events-calendars#calendar_and_calendar_list)."""
    return calendar_id == "primary" or ("@" in calendar_id and not calendar_id.endswith(_SECONDARY))
