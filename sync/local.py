"""calsync's own calendars as a side of a sync: ids are UIDs, versions are change sequence numbers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from django.db.models import Q

from events import services
from events.convert import item_from_event
from events.hidden import hidden_fields_kept
from events.ical import ICalError, Item
from events.models import Calendar, Event
from events.selectors import deletions_since
from events.tombstones import token_expired
from meetings.rules import OwnerOnlyEdit

from .adapter import Changes, Entry, Known, LazyEntry
from .errors import CursorExpired, ItemRejected, NotFound, OwnerOnly, PreconditionFailed


def _entry(event: Event) -> Entry:
    """The event as the engine sees it; its item is built only if the engine reads it (an index pass does not)."""
    return LazyEntry(event.uid, str(event.seq), event.uid, lambda: item_from_event(event))


T = TypeVar("T")
PAGE = 500  # events read at once: what a sync holds of this calendar


@dataclass
class CalsyncSide:
    calendar: Calendar
    # Updates from the other side keep calsync's hidden fields where it left them all out (events.hidden).
    keep_hidden: bool = False
    # Where the other side's items come from (a provider key): stored on the events this side creates.
    origin: str = ""
    calls: dict[str, int] = field(default_factory=dict)
    # Whether what calsync adds to items it receives (assignment rules) goes back to the other side. A one-way
    # sync into calsync never writes there, so the addition stays here and is recorded as the synced version.
    carry_back: bool = True

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _master(self, uid: str) -> Event | None:
        return Event.objects.filter(calendar=self.calendar, parent=None, uid=uid).prefetch_related("overrides").first()

    # The engine hands over `known` (the versions its mappings record) when reading since a cursor.
    takes_known = True

    def changes(self, cursor: str | None, known: Known | None = None) -> Changes:
        self._count("changes")
        since = 0 if cursor is None else _parse_cursor(cursor)
        until, self.calendar.sync_floor = Calendar.objects.values_list("change_seq", "sync_floor").get(
            pk=self.calendar.pk
        )
        if cursor is not None and token_expired(calendar=self.calendar, since=since):
            raise CursorExpired("Deletions since the last sync were compacted away (events.tombstones).")
        return Changes(
            changed=self._changed(since, until, known),
            # A complete listing names every item there is: what it leaves out is gone, tombstones add nothing.
            deleted=[] if cursor is None else self._deleted(since, until),
            cursor=str(until),
            complete=cursor is None,
        )

    def _changed(self, since: int, until: int, known: Known | None) -> Iterator[Entry]:
        """Masters changed in (since, until], a page at a time by (seq, pk). With `known`, each page's (UID, seq)
        are read first and the versions the sync already records (its own writes) are never loaded."""
        changed = Event.objects.filter(calendar=self.calendar, parent=None, seq__lte=until)
        after = Q(seq__gt=since)
        while page := list(changed.filter(after).order_by("seq", "pk").values_list("pk", "uid", "seq")[:PAGE]):
            _, _, last_seq = page[-1]
            after = Q(seq__gt=last_seq) | Q(seq=last_seq, pk__gt=page[-1][0])
            skip = known([(uid, str(seq)) for _, uid, seq in page]) if known is not None else set()
            wanted = [pk for pk, uid, _ in page if uid not in skip]
            if wanted:
                rows = changed.filter(pk__in=wanted).prefetch_related("overrides").order_by("seq", "pk")
                yield from (_entry(event) for event in rows)

    def _deleted(self, since: int, until: int) -> list[str]:
        """UIDs deleted in (since, until]; a tombstone older than a re-creation of the UID is no deletion."""
        gone = deletions_since(calendar=self.calendar, since=since, until=until)
        return list(gone.values_list("uid", flat=True).distinct())

    def get(self, id: str) -> Entry | None:
        self._count("get")
        event = self._master(id)
        return _entry(event) if event else None

    def find(self, uid: str) -> Entry | None:
        return self.get(uid)

    def get_many(self, ids: list[str]) -> dict[str, Entry]:
        """Optional part of the contract: many items in two queries per 500 (the masters, their overrides)."""
        self._count("get_many")
        return {event.uid: _entry(event) for event in self._masters(ids)}

    def _masters(self, uids: list[str]) -> Iterator[Event]:
        for start in range(0, len(uids), PAGE):
            found = Event.objects.filter(calendar=self.calendar, parent=None, uid__in=uids[start : start + PAGE])
            yield from found.prefetch_related("overrides")

    def spans(self, ids: list[str]) -> dict[str, tuple[datetime | None, datetime | None]]:
        """Optional part of the contract: (first start, last end) of many items, kept on their rows at each write."""
        self._count("spans")
        found: dict[str, tuple[datetime | None, datetime | None]] = {}
        for start in range(0, len(ids), 500):
            rows = Event.objects.filter(calendar=self.calendar, parent=None, uid__in=ids[start : start + 500])
            found.update((uid, (a, b)) for uid, a, b in rows.values_list("uid", "span_start", "span_end"))
        return found

    def check(self, item: Item) -> Item:
        """Optional part of the contract (sync.adapter): refused as a save refuses it, else the item as the sync's
        read-back sees it: with what the assignment rules add, when that goes back to the other side."""
        (stored,) = self.check_many([item])
        return stored

    def check_many(self, items: list[Item]) -> list[Item]:
        """`check` of a batch, as create_many and update_many check it: the rules read once, not once an item."""
        stored = self._batch(services.items_as_stored, calendar=self.calendar, items=items)
        return stored if self.carry_back else items

    def create(self, item: Item) -> Entry:
        self._count("create")
        return self._save(item, if_none_match=True)

    def create_many(self, items: list[Item]) -> list[Entry]:
        """Optional part of the contract: many creates in one transaction, for first syncs."""
        self._count("create_many")
        results = self._batch(services.items_create_many, calendar=self.calendar, items=items)
        return [self._written(r, item) for r, item in zip(results, items, strict=True)]

    def update(self, id: str, item: Item, version: str) -> Entry:
        self._count("update")
        if id != item.uid:
            raise ItemRejected("The item's UID does not match the event it replaces.")
        stored = self._master(id)
        if stored is None:
            raise NotFound(id)
        if self.keep_hidden:
            item = hidden_fields_kept(stored=item_from_event(stored), incoming=item)
        return self._save(item, if_match=int(version))

    def update_many(self, writes: list[tuple[str, Item, str]]) -> list[Entry]:
        """Optional part of the contract: many updates in one short transaction (all or none)."""
        self._count("update_many")
        if any(id != item.uid for id, item, _ in writes):
            raise ItemRejected("An item's UID does not match the event it replaces.")
        items = [item for _, item, _ in writes]
        if self.keep_hidden:
            stored = {event.uid: event for event in self._masters([id for id, _, _ in writes])}
            if len(stored) != len(writes):
                raise NotFound("Some of these items are gone.")
            items = [hidden_fields_kept(stored=item_from_event(stored[item.uid]), incoming=item) for item in items]
        updates = [(item, int(version)) for item, (_, _, version) in zip(items, writes, strict=True)]
        results = self._batch(services.items_update_many, calendar=self.calendar, updates=updates)
        return [self._written(r, item) for r, item in zip(results, items, strict=True)]

    def delete_many(self, deletions: list[tuple[str, str]]) -> None:
        """Optional part of the contract: many deletions in one short transaction (all or none)."""
        self._count("delete_many")
        self._batch(services.items_delete_many, calendar=self.calendar, deletions=[(i, int(v)) for i, v in deletions])

    def _batch(self, write: Callable[..., T], **arguments: object) -> T:
        try:
            with services.writes_from(self.origin):
                return write(**arguments)
        except services.PreconditionFailed as exc:
            raise PreconditionFailed(str(exc)) from exc
        except OwnerOnlyEdit as exc:
            raise OwnerOnly(str(exc)) from exc
        except (ICalError, services.NameConflict) as exc:
            raise ItemRejected(str(exc)) from exc

    def delete(self, id: str, version: str) -> None:
        self._count("delete")
        event = Event.objects.filter(calendar=self.calendar, parent=None, uid=id).select_related("calendar").first()
        if event is None:
            raise NotFound(id)
        try:
            with services.writes_from(self.origin):  # the tombstone says which provider's deletion this carried
                services.item_delete(event=event, if_match=int(version))
        except services.PreconditionFailed as exc:
            raise PreconditionFailed(str(exc)) from exc

    def _save(self, item: Item, **conditions: object) -> Entry:
        return self._written(self._batch(services.item_save, calendar=self.calendar, item=item, **conditions), item)

    def _written(self, result: services.SaveResult, item: Item) -> Entry:
        """The version of `item` as the other side gave it: where calsync added to it (assignment rules), the
        stored version is a later one, which the engine's read-back pass sees as calsync's change and carries back."""
        if not self.carry_back:
            return Entry(id=result.event.uid, version=str(result.event.seq), item=item)
        return Entry(id=result.event.uid, version=str(result.given_seq), item=item)


def _parse_cursor(cursor: str) -> int:
    try:
        return int(cursor)
    except ValueError:
        raise CursorExpired(f"not a calsync cursor: {cursor!r}") from None
