"""The iCalendar text of served items, cached per (item, version).

Rendering is most of a read's cost, and a version never changes once written: the text is cached under the
item's id and change sequence, so a stale entry can only be unused, never wrong. A write through the CalDAV
server renders its new version at once (`render_written`), and every listing that carries bodies stores what
it rendered, so what a client fetches next (GET after PUT, multiget after sync-collection) is a cache hit that
needs neither the item's overridden occurrences nor any rendering.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.cache import cache
from django.db.models import Prefetch, prefetch_related_objects

from events.convert import item_from_event
from events.ical import serialise
from events.models import Event

_RENDER_TTL = 7 * 24 * 3600


def _render_key(master: Event) -> str:
    return f"dav:ics:{master.pk}:{master.seq}"


def with_overrides(masters: Iterable[Event]) -> None:
    """Load the overridden occurrences of these master rows in one query (those already loaded are kept)."""
    prefetch_related_objects(list(masters), Prefetch("overrides", queryset=Event.objects.order_by("recurrence_id")))


def rendered(masters: list[Event]) -> dict[int, str]:
    """pk -> iCalendar text for master rows; their overrides are read (in one query) only for cache misses."""
    keys = {_render_key(m): m for m in masters}
    found = cache.get_many(list(keys))
    missing = {key: m for key, m in keys.items() if key not in found}
    with_overrides(missing.values())
    fresh = {key: serialise([item_from_event(m)], stamp=m.updated_at) for key, m in missing.items()}
    if fresh:
        cache.set_many(fresh, _RENDER_TTL)
    return {m.pk: found.get(key) or fresh[key] for key, m in keys.items()}


def item_ics(master: Event) -> str:
    """The item as a client reads it; DTSTAMP is the last change, so equal ETags mean equal bytes."""
    return rendered([master])[master.pk]


def render_written(master_id: int) -> None:
    """Render a version just written, read back as any later read sees it, so the next read of it is a hit."""
    master = Event.objects.filter(pk=master_id, parent=None).first()
    if master is not None:
        rendered([master])
