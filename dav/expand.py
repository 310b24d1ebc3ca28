"""CALDAV:expand (RFC 4791 9.6.5) and how a REPORT says the recurrence budget cut it short."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from xml.etree.ElementTree import Element

import icalendar

from events import recurrence
from events.convert import item_from_event
from events.ical import PRODID, Component, component_to_ical
from events.models import Event

from . import filters
from .caching import item_ics
from .xml import DAV, response, tag

# RFC 4791 7.8 and RFC 5323 2.3.1: a result set the server cut short ends with a 507 for the request-URI.
TRUNCATED = tag(DAV, "number-of-matches-within-limits")


def truncation(href: str) -> str:
    """The <D:response> that closes a multistatus whose answers the recurrence budget cut short."""
    return response(href, status=507, error=TRUNCATED)


class Expand:
    """CALDAV:expand: each item's occurrences in a range as separate components, in UTC."""

    def __init__(self, node: Element, budget: recurrence.Budget) -> None:
        self.start = filters.parse_time(node.get("start"), filters._FAR_PAST)
        self.end = filters.parse_time(node.get("end"), filters._FAR_FUTURE)
        self.budget = budget

    def render(self, master: Event) -> str:
        if not master.is_recurring:
            return item_ics(master)
        out = icalendar.Calendar()
        out.add("PRODID", PRODID)
        out.add("VERSION", "2.0")
        found = recurrence.occurrences(item_from_event(master), start=self.start, end=self.end, budget=self.budget)
        for occurrence in found:
            component = component_to_ical(_alone(occurrence), stamp=master.updated_at)
            for name in ("DTSTART", "DTEND", "RECURRENCE-ID", "DUE"):
                if name in component and isinstance(component[name].dt, datetime):
                    value = component.pop(name).dt
                    component.add(name, value.astimezone(UTC) if value.tzinfo else value)
            out.add_component(component)
        return out.to_ical().decode()


def _alone(occurrence: recurrence.Occurrence) -> Component:
    """The occurrence as a component of its own: its times, its RECURRENCE-ID, no rule."""
    source = occurrence.component
    times: dict[str, object] = {"start": occurrence.start, "end": occurrence.end if source.end is not None else None}
    if source.start is None:  # a task known only by its DUE
        times = {"due": occurrence.start}
    elif source.due is not None:
        times["due"], times["end"] = occurrence.end, None
    return replace(source, **times, recurrence_id=occurrence.recurrence_id, rrule="", rdates=(), exdates=())  # type: ignore[arg-type]
