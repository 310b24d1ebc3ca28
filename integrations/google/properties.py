"""What a Google event carries for calsync in extendedProperties.private, where Google has no field of its own.

Private properties belong to this calendar's copy of the event and stay through edits made in Google Calendar,
which keeps what it does not show (https://developers.google.com/calendar/api/guides/extended-properties).
Keys start with "calsync", so a patch can remove calsync's own and leave other applications' alone. A value
holds at most 1024 characters, so the kept iCalendar properties are split over numbered keys.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from events.ical import BUSY_STATUSES, Component

PREFIX = "calsync"
CALSYNC_UID = "calsyncUid"  # calsync's identity of the event (its UID)
_FIELDS = {"client": "calsyncClient", "project": "calsyncProject", "activity_type": "calsyncActivity"}
BUSY = "calsyncBusyStatus"  # tentative, working elsewhere...: finer than Google's transparency
EXTRA = "calsyncExtra"  # iCalendar properties, categories and URL calsync keeps (JSON, in chunks)
FLOATING = "calsyncFloating"  # the times were floating in calsync: written in the calendar's zone
_CHUNK = 1000


def private_properties(event: dict[str, Any]) -> dict[str, str]:
    return dict((event.get("extendedProperties") or {}).get("private") or {})


def to_private(component: Component, uid: str, floating: bool) -> dict[str, str]:
    """calsync's private properties of one component; an empty field is left out (removed from Google)."""
    found = {CALSYNC_UID: uid}
    found.update({key: getattr(component, name) for name, key in _FIELDS.items() if getattr(component, name)})
    if component.busy_status and not (component.busy_status == "OOF" and component.event_type == "outOfOffice"):
        found[BUSY] = component.busy_status
    extra = {"x": [[n, [list(p) for p in params], v] for n, params, v in component.extra_properties],
             "c": list(component.categories), "u": component.url}  # fmt: skip
    if any(extra.values()):
        text = json.dumps({k: v for k, v in extra.items() if v}, separators=(",", ":"))
        for n, start in enumerate(range(0, len(text), _CHUNK)):
            found[f"{EXTRA}{n or ''}"] = text[start : start + _CHUNK]
    if floating:
        found[FLOATING] = "1"
    return found


def carried(private: dict[str, str], transparency: str, event_type: str) -> dict[str, Any]:
    """Component fields from the private properties (and Google's own fields they must agree with)."""
    fields: dict[str, Any] = {name: private.get(key, "") for name, key in _FIELDS.items()}
    stored = private.get(BUSY, "")
    # A free/busy changed in Google since (free <-> busy) wins over the finer one calsync carried.
    if event_type == "outOfOffice":
        fields["busy_status"] = "OOF"
    elif stored in BUSY_STATUSES and (stored == "FREE") == (transparency == "TRANSPARENT"):
        fields["busy_status"] = stored
    extra = _extra(private)
    fields["extra_properties"] = tuple(
        (str(n), tuple((str(k), str(v)) for k, v in params), str(v)) for n, params, v in extra.get("x", [])
    )
    fields["categories"] = tuple(str(c) for c in extra.get("c", []))
    fields["url"] = str(extra.get("u", ""))
    return fields


def _extra(private: dict[str, str]) -> dict[str, Any]:
    text, n = private.get(EXTRA, ""), 1
    while f"{EXTRA}{n}" in private:
        text, n = text + private[f"{EXTRA}{n}"], n + 1
    try:
        value = json.loads(text) if text else {}
    except ValueError:  # cut short by someone else's write: what calsync cannot read it does not invent
        return {}
    return value if isinstance(value, dict) else {}


def floated(component: Component, zone: str) -> Component:
    """Floating times as times of `zone` (Google holds no floating time), to be written with FLOATING."""

    def fix(value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            return value.replace(tzinfo=ZoneInfo(zone))
        return value

    return _each_time(component, fix)


def unfloat(component: Component) -> Component:
    """Back to floating times: the wall-clock times in the zone the event's start is shown in."""
    zone = component.start.tzinfo if isinstance(component.start, datetime) else None

    def fix(value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(zone).replace(tzinfo=None)
        return value

    return _each_time(component, fix)


def _each_time(component: Component, fix: Any) -> Component:
    return replace(component, start=fix(component.start), end=fix(component.end),
                   recurrence_id=fix(component.recurrence_id), rdates=tuple(fix(v) for v in component.rdates),
                   exdates=tuple(fix(v) for v in component.exdates))  # fmt: skip


def is_floating(component: Component) -> bool:
    return isinstance(component.start, datetime) and component.start.tzinfo is None
