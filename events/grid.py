"""The calendar grid's JSON: what FullCalendar reads (occurrences as event objects) and what it sends back.

Times travel as wall-clock values in the user's zone without an offset ("2026-12-01T09:00:00"), all-day
values as dates with an exclusive end, exactly as FullCalendar handles a named time zone without a time-zone
plugin. Values sent with an offset are accepted too and read as the instant they name.
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.urls import reverse

from .ical import Temporal
from .models import Calendar, Event
from .selectors import Occurrence, parse_recurrence_key

# The widest range one read may ask for: a month view shows six weeks, the agenda a month.
MAX_RANGE = timedelta(days=62)
MAX_TITLE = 500
SCOPES = ("this", "following", "all")
_EARLIEST, _LATEST = date(1900, 1, 1), date(2999, 12, 31)


class GridInputError(ValueError):
    """What the grid sent cannot be used; the message says why, for the user."""


# --- reading ------------------------------------------------------------------------------------------------


def parse_moment(text: object, zone: zoneinfo.ZoneInfo, *, all_day: bool = False) -> Temporal:
    """A date (all_day) or an aware datetime in `zone` from FullCalendar's ISO text."""
    if not isinstance(text, str) or not text:
        raise GridInputError("A start and an end are needed.")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise GridInputError(f"{text[:40]!r} is not a date and time.") from None
    if not _EARLIEST <= value.date() <= _LATEST:
        raise GridInputError("Dates must be between the years 1900 and 2999.")
    if all_day:
        return value.date()
    return value.replace(tzinfo=zone) if value.tzinfo is None else value.astimezone(zone)


def parse_range(start: str | None, end: str | None, zone: zoneinfo.ZoneInfo) -> tuple[datetime, datetime]:
    """The [start, end) the grid asks events for, at most MAX_RANGE wide."""
    first, last = (_as_datetime(parse_moment(v, zone), zone) for v in (start, end))
    if last <= first:
        raise GridInputError("The range ends before it starts.")
    if last - first > MAX_RANGE:
        raise GridInputError(f"Ask for at most {MAX_RANGE.days} days at a time.")
    return first, last


def _as_datetime(value: Temporal, zone: zoneinfo.ZoneInfo) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time(0), tzinfo=zone)


@dataclass(frozen=True)
class Timing:
    start: Temporal
    end: Temporal

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)


def parse_timing(data: dict[str, Any], zone: zoneinfo.ZoneInfo) -> Timing:
    """start/end/allDay from the grid; an all-day end is exclusive (the day after the last), as in iCalendar."""
    all_day = data.get("allDay") is True
    start = parse_moment(data.get("start"), zone, all_day=all_day)
    end = parse_moment(data.get("end") or _default_end(start), zone, all_day=all_day)
    if all_day and end <= start:  # type: ignore[operator]
        end = start + timedelta(days=1)  # type: ignore[operator]
    if end < start:  # type: ignore[operator]
        raise GridInputError("The event ends before it starts.")
    return Timing(start, end)


def _default_end(start: Temporal) -> str:
    """FullCalendar leaves out the end of an event as long as its default: an hour, or one day."""
    return (start + (timedelta(hours=1) if isinstance(start, datetime) else timedelta(days=1))).isoformat()


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise GridInputError("The request is not JSON.") from None
    if not isinstance(data, dict):
        raise GridInputError("The request is not a JSON object.")
    return data


def parse_title(value: object) -> str:
    title = value.strip() if isinstance(value, str) else ""
    if not title:
        raise GridInputError("Give the event a title.")
    if len(title) > MAX_TITLE:
        raise GridInputError(f"A title may be at most {MAX_TITLE} characters.")
    return title


def parse_if_match(header: str | None) -> int:
    """The version (Event.seq) the grid last read, from If-Match: "12" (an ETag) or 12."""
    text = (header or "").strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise GridInputError("Send the version you last read in If-Match.")
    return int(text)


def parse_occurrence(data: dict[str, Any]) -> tuple[datetime | None, str]:
    """(recurrence id, scope) of a change to a recurring event; (None, "") for a single event."""
    key = data.get("recurrenceId")
    if not key:
        return None, ""
    instant = parse_recurrence_key(str(key))
    if instant is None:
        raise GridInputError("That occurrence is not one of this series.")
    scope = data.get("scope")
    if scope not in SCOPES:
        raise GridInputError("Say whether to change this occurrence, this and following, or all.")
    return instant, str(scope)


# --- writing ------------------------------------------------------------------------------------------------


def private_to(event: Event, viewer_id: int) -> bool:
    """A private or confidential event in someone else's calendar: the viewer sees only that the time is taken."""
    return event.visibility != Event.Visibility.PUBLIC and event.calendar.owner_id != viewer_id


def event_json(occurrence: Occurrence, zone: zoneinfo.ZoneInfo, viewer_id: int) -> dict[str, Any]:
    """One occurrence as a FullCalendar event object, with what the grid needs to change it."""
    master = occurrence.event
    hidden = private_to(master, viewer_id)
    key = occurrence.recurrence_key
    detail = reverse("events:event_detail", args=[master.pk]) + (f"?occurrence={key}" if key else "")
    return {
        "id": f"{master.pk}@{key}" if key else str(master.pk),
        "eventId": master.pk,
        "recurrenceId": key or None,
        "seq": master.seq,
        "calendarId": master.calendar_id,
        "title": "Busy" if hidden else (occurrence.title or "(No title)"),
        "start": _wall_clock(occurrence.start, zone, occurrence.all_day),
        "end": _wall_clock(occurrence.end, zone, occurrence.all_day),
        "allDay": occurrence.all_day,
        "color": master.calendar.color,
        "textColor": text_color(master.calendar.color),
        "private": master.visibility != Event.Visibility.PUBLIC,
        "showAs": master.show_as,
        "recurring": occurrence.is_recurring,
        "editable": not hidden,
        "url": "" if hidden else detail,
    }


def _wall_clock(value: datetime, zone: zoneinfo.ZoneInfo, all_day: bool) -> str:
    if all_day:
        return value.date().isoformat()
    return value.astimezone(zone).replace(tzinfo=None).isoformat(timespec="seconds")


def text_color(background: str) -> str:
    """Black or white, whichever reads better on the calendar's colour (WCAG relative luminance)."""
    try:
        channels = [int(background[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    except ValueError:
        return "#ffffff"
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#000000" if luminance > 0.179 else "#ffffff"


def calendar_json(calendar: Calendar, viewer_id: int, hidden: set[int]) -> dict[str, Any]:
    owner = "" if calendar.owner_id == viewer_id else calendar.owner.display_name
    return {
        "id": calendar.pk,
        "name": calendar.name,
        "owner": owner,
        "color": calendar.color,
        "shown": calendar.pk not in hidden,
        "writable": "VEVENT" in calendar.components.split(","),
    }
