"""calsync's own calendars as a side of a sync: ids are UIDs, versions are change sequence numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from events import services
from events.convert import item_from_event
from events.hidden import hidden_fields_kept
from events.ical import ICalError, Item
from events.models import Calendar, Event
from events.selectors import changes_since
from events.tombstones import token_expired
from meetings.rules import OwnerOnlyEdit

from .adapter import Changes, Entry
from .errors import CursorExpired, ItemRejected, NotFound, OwnerOnly, PreconditionFailed


def _entry(event: Event) -> Entry:
    return Entry(id=event.uid, version=str(event.seq), item=item_from_event(event))


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
    # Items written here that calsync added to, which a later pass carries back (sync.services._run_engine).
    amended: int = 0

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _master(self, uid: str) -> Event | None:
        return Event.objects.filter(calendar=self.calendar, parent=None, uid=uid).prefetch_related("overrides").first()

    def changes(self, cursor: str | None) -> Changes:
        self._count("changes")
        since = 0 if cursor is None else _parse_cursor(cursor)
        if cursor is not None and token_expired(calendar=self.calendar, since=since):
            raise CursorExpired("Deletions since the last sync were compacted away (events.tombstones).")
        found = changes_since(calendar=self.calendar, since=since)
        return Changes(
            changed=[_entry(e) for e in found.changed],
            deleted=[t.uid for t in found.deleted],
            cursor=str(found.until),
            complete=cursor is None,
        )

    def get(self, id: str) -> Entry | None:
        self._count("get")
        event = self._master(id)
        return _entry(event) if event else None

    def find(self, uid: str) -> Entry | None:
        return self.get(uid)

    def spans(self, ids: list[str]) -> dict[str, tuple[datetime | None, datetime | None]]:
        """Optional part of the contract: (first start, last end) of many items, kept on their rows at each write."""
        self._count("spans")
        found: dict[str, tuple[datetime | None, datetime | None]] = {}
        for start in range(0, len(ids), 500):
            rows = Event.objects.filter(calendar=self.calendar, parent=None, uid__in=ids[start : start + 500])
            found.update((uid, (a, b)) for uid, a, b in rows.values_list("uid", "span_start", "span_end"))
        return found

    def create(self, item: Item) -> Entry:
        self._count("create")
        return self._save(item, if_none_match=True)

    def create_many(self, items: list[Item]) -> list[Entry]:
        """Optional part of the contract: many creates in one transaction, for first syncs."""
        self._count("create_many")
        try:
            with services.writes_from(self.origin):
                results = services.items_create_many(calendar=self.calendar, items=items)
        except services.PreconditionFailed as exc:
            raise PreconditionFailed(str(exc)) from exc
        except ICalError as exc:
            raise ItemRejected(str(exc)) from exc
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

    def delete(self, id: str, version: str) -> None:
        self._count("delete")
        event = Event.objects.filter(calendar=self.calendar, parent=None, uid=id).select_related("calendar").first()
        if event is None:
            raise NotFound(id)
        try:
            services.item_delete(event=event, if_match=int(version))
        except services.PreconditionFailed as exc:
            raise PreconditionFailed(str(exc)) from exc

    def _save(self, item: Item, **conditions: object) -> Entry:
        try:
            with services.writes_from(self.origin):
                result = services.item_save(calendar=self.calendar, item=item, **conditions)  # type: ignore[arg-type]
        except services.PreconditionFailed as exc:
            raise PreconditionFailed(str(exc)) from exc
        except OwnerOnlyEdit as exc:
            raise OwnerOnly(str(exc)) from exc
        except (ICalError, services.NameConflict) as exc:
            raise ItemRejected(str(exc)) from exc
        return self._written(result, item)

    def _written(self, result: services.SaveResult, item: Item) -> Entry:
        """The version of `item` as the other side gave it: where calsync added to it (assignment rules), the
        stored version is a later one, which the next run sees as calsync's change and carries back."""
        if not self.carry_back:
            return Entry(id=result.event.uid, version=str(result.event.seq), item=item)
        self.amended += result.amended
        return Entry(id=result.event.uid, version=str(result.given_seq), item=item)


def _parse_cursor(cursor: str) -> int:
    try:
        return int(cursor)
    except ValueError:
        raise CursorExpired(f"not a calsync cursor: {cursor!r}") from None
