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
    """pk -> iCalendar text for master rows, which may be read with only LISTING_FIELDS: a cache miss reads its
    whole row and overrides (two queries for all the misses together). The text is the version the row names; an
    item changed since its row was read is given its newer version and the row moved on to it (so its ETag and
    text agree); an item deleted since is left out."""
    keys = {_render_key(m): m for m in masters}
    found = cache.get_many(list(keys))
    texts = {m.pk: found[key] for key, m in keys.items() if key in found}
    missing = [m for key, m in keys.items() if key not in found]
    fresh: dict[str, str] = {}
    for row in whole_rows(missing):
        fresh[_render_key(row)] = texts[row.pk] = serialise([item_from_event(row)], stamp=row.updated_at)
    if fresh:
        cache.set_many(fresh, _RENDER_TTL)
    return texts


# What a listing reads of each item when the render cache holds its text: the rest is read only on a miss.
LISTING_FIELDS = ("id", "name", "seq", "kind", "updated_at", "uid")


def whole_rows(masters: list[Event]) -> list[Event]:
    """These master rows with every field and their overrides: as given where they are, else read again."""
    if not masters:
        return []
    if not any(m.get_deferred_fields() for m in masters):
        with_overrides(masters)
        return masters
    by_pk = {m.pk: m for m in masters}
    rows = list(Event.objects.filter(pk__in=list(by_pk), parent=None))
    with_overrides(rows)
    for row in rows:  # a newer version than the listing read: the listing tells that one
        by_pk[row.pk].seq, by_pk[row.pk].updated_at = row.seq, row.updated_at
    return rows


def item_ics(master: Event) -> str:
    """The item as a client reads it; DTSTAMP is the last change, so equal ETags mean equal bytes."""
    return rendered([master])[master.pk]


def render_written(master_id: int) -> None:
    """Render a version just written, read back as any later read sees it, so the next read of it is a hit."""
    master = Event.objects.filter(pk=master_id, parent=None).first()
    if master is not None:
        rendered([master])
