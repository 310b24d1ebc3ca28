"""The events list page's read: occurrences in a bounded range, each master's expansion cached.

The expansion is the one in events/recurrence.py (through `selectors.master_occurrences`), within the request's
budget; what it found for a master is kept in the cache under (event, version, window, zone), so a repeat
view reads one narrow row per master and the cache, and parses and expands nothing. Any write to a master or its
overrides moves its sequence, so a changed event is never served from an old entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache

from . import recurrence
from .models import Calendar, Event
from .selectors import Occurrence, Occurrences, master_occurrences, masters_for_occurrences

# What the list shows of a master besides its occurrences (events/_occurrence.html); the rest is read on a miss.
_SHOWN = ("id", "seq", "updated_at", "calendar_id", "visibility", "transparency", "busy_status", "event_type",
          "rrule", "rdates")  # fmt: skip
_Found = tuple[datetime, datetime, bool, str, str, "datetime | None", bool]


def list_occurrences(*, calendars: list[Calendar], start: datetime, end: datetime) -> Occurrences:
    """Like `selectors.occurrences` over [start, end) with details, from the cache where it holds the master."""
    held = {c.pk: c for c in calendars}
    heads = list(masters_for_occurrences(calendars, start, end).prefetch_related(None).only(*_SHOWN))
    keys = {head.pk: _key(head, start, end) for head in heads}
    cached: dict[str, list[_Found]] = cache.get_many(list(keys.values())) if heads else {}
    full = _full_rows([h.pk for h in heads if keys[h.pk] not in cached], calendars, start, end)
    budget = recurrence.Budget.for_request()
    result, fresh = Occurrences(), {}
    # Single events first, as selectors.occurrences: a hostile series spends the budget only on series.
    for head in sorted(heads, key=lambda m: m.is_recurring):
        if keys[head.pk] in cached:
            head.calendar = held[head.calendar_id]
            result.extend(_from_cache(head, cached[keys[head.pk]], budget))
            continue
        master = full.get(head.pk)
        if master is None:  # deleted since the first read
            continue
        master.calendar = held[master.calendar_id]
        found = list(master_occurrences(master, start=start, end=end, budget=budget))
        result.extend(found)
        if not budget.truncated:  # a cut expansion is not the whole answer: not kept
            fresh[keys[head.pk]] = [_compact(o) for o in found]
    if fresh:
        cache.set_many(fresh, settings.EVENTS_LIST_CACHE_SECONDS)
    result.truncated = budget.truncated
    result.sort(key=lambda o: (o.start, o.title))
    return result


def _key(master: Event, start: datetime, end: datetime) -> str:
    # updated_at too: a test database rolled back hands the same id and sequence to another event
    version = f"{master.seq}.{master.updated_at.timestamp()}"
    return f"listocc:{master.pk}:{version}:{start.isoformat()}:{end.isoformat()}:{start.tzinfo}"


def _full_rows(pks: list[int], calendars: list[Calendar], start: datetime, end: datetime) -> dict[int, Event]:
    if not pks:
        return {}
    return {m.pk: m for m in masters_for_occurrences(calendars, start, end).filter(pk__in=pks)}


def _compact(o: Occurrence) -> _Found:
    return (o.start, o.end, o.all_day, o.title, o.location, o.recurrence_id, o.is_override)


def _from_cache(head: Event, found: list[Any], budget: recurrence.Budget) -> list[Occurrence]:
    """The cached occurrences of a master, each still counted against the request's budget."""
    shown = []
    for start, end, all_day, title, location, recurrence_id, is_override in found:
        if not budget.take():
            break
        shown.append(Occurrence(head, start, end, all_day, title, location, recurrence_id, is_override))
    return shown
