"""An in-memory calendar side that behaves like a real provider: ids, etags, a change feed, expiring cursors.

Used by the engine's tests, the hypothesis state machine and the benchmark. It
can also be told to fail (a crash before a chosen write) to prove crash safety.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from copy import copy
from dataclasses import dataclass, field

from events.ical import Item

from .adapter import Changes, Entry, Known
from .engine import Mapping, Side
from .errors import CursorExpired, ItemRejected, NotFound, PreconditionFailed


@dataclass
class MemorySide:
    items: dict[str, Entry] = field(default_factory=dict)
    # (sequence, id, deleted) per change; a cursor is the last sequence a reader saw.
    log: list[tuple[int, str, bool]] = field(default_factory=list)
    forgotten_before: int = 0  # cursors older than this are expired (as after a 410 Gone)
    calls: dict[str, int] = field(default_factory=dict)
    # Called before every write; raise from it to simulate a crash at that point.
    before_write: Callable[[str], None] | None = None
    # Set, the side streams its changes this many at a time (a one-pass iterable) and takes the `known` hook.
    page_size: int | None = None
    # Set, the side refuses tasks as a provider's calendar of events does (Google, Graph, EWS).
    events_only: bool = False
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _last: int = 0

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _record(self, id: str, deleted: bool) -> str:
        self._last = next(self._seq)
        self.log.append((self._last, id, deleted))
        return str(self._last)

    def _write(self, name: str) -> None:
        self._count(name)
        if self.before_write is not None:
            self.before_write(name)

    # --- the contract --------------------------------------------------------------------

    @property
    def takes_known(self) -> bool:
        return self.page_size is not None

    def changes(self, cursor: str | None, known: Known | None = None) -> Changes:
        self._count("changes")
        if cursor is None:
            ids, gone = list(self.items), []
        else:
            ids, gone = self._since(int(cursor))
        if self.page_size is None:
            changed = [self.items[id] for id in ids]
            return Changes(changed=changed, deleted=gone, cursor=str(self._last), complete=cursor is None)
        changes = Changes(changed=(), deleted=(), cursor="", complete=cursor is None)
        changes.changed = self._stream(ids, gone, changes, known)
        return changes

    def _since(self, since: int) -> tuple[list[str], list[str]]:
        if since < self.forgotten_before:
            raise CursorExpired("cursor too old")
        latest: dict[str, bool] = {}
        # The log is in sequence order: start at the first change after the cursor, as a real feed would.
        for _, id, deleted in self.log[bisect.bisect_right(self.log, (since, "\uffff", True)) :]:
            latest[id] = deleted
        changed = [id for id, deleted in latest.items() if not deleted and id in self.items]
        return changed, [id for id, deleted in latest.items() if deleted or id not in self.items]

    def _stream(self, ids: list[str], gone: list[str], changes: Changes, known: Known | None) -> Iterator[Entry]:
        """The listing a page at a time, as a provider sends it; the cursor is the state when it began."""
        cursor, size = str(self._last), self.page_size or 1
        for start in range(0, len(ids), size):
            page = [self.items[id] for id in ids[start : start + size] if id in self.items]
            skip = known([(e.id, e.version) for e in page]) if known is not None else set()
            yield from (e for e in page if e.id not in skip)
        changes.deleted, changes.cursor = gone, cursor

    def get(self, id: str) -> Entry | None:
        self._count("get")
        return self.items.get(id)

    def get_many(self, ids: list[str]) -> dict[str, Entry]:
        self._count("get_many")
        return {id: self.items[id] for id in ids if id in self.items}

    def find(self, uid: str) -> Entry | None:
        self._count("find")
        return next((e for e in self.items.values() if e.uid == uid), None)

    def check(self, item: Item) -> Item:
        """Optional part of the contract (sync.adapter): a calendar of events refuses tasks."""
        if self.events_only and item.master.kind != "VEVENT":
            raise ItemRejected("This calendar holds events, not tasks.")
        return item

    def create(self, item: Item) -> Entry:
        self.check(item)
        self._write("create")
        id = f"m{next(self._ids)}"
        entry = Entry(id=id, version=self._record(id, False), item=item)
        self.items[id] = entry
        return entry

    def create_many(self, items: list[Item]) -> list[Entry]:
        """All or none, as a provider's batch: every item is checked before the first write."""
        for item in items:
            self.check(item)
        return [self.create(item) for item in items]

    def update(self, id: str, item: Item, version: str) -> Entry:
        self.check(item)
        self._write("update")
        current = self.items.get(id)
        if current is None:
            raise NotFound(id)
        if current.version != version:
            raise PreconditionFailed(id)
        entry = Entry(id=id, version=self._record(id, False), item=item)
        self.items[id] = entry
        return entry

    def update_many(self, writes: list[tuple[str, Item, str]]) -> list[Entry]:
        """All or none, as a transaction: every precondition is checked before the first write."""
        self._check([(id, version) for id, _, version in writes])
        for _, item, _ in writes:
            self.check(item)
        return [self.update(id, item, version) for id, item, version in writes]

    def delete_many(self, deletions: list[tuple[str, str]]) -> None:
        self._check(deletions)
        for id, version in deletions:
            self.delete(id, version)

    def _check(self, versions: list[tuple[str, str]]) -> None:
        for id, version in versions:
            if id not in self.items:
                raise NotFound(id)
            if self.items[id].version != version:
                raise PreconditionFailed(id)

    def delete(self, id: str, version: str) -> None:
        self._write("delete")
        current = self.items.get(id)
        if current is None:
            raise NotFound(id)
        if current.version != version:
            raise PreconditionFailed(id)
        del self.items[id]
        self._record(id, True)

    # --- what a user of the other calendar does (no precondition, no crash) --------------------

    def user_put(self, item: Item, id: str | None = None) -> Entry:
        id = id or next((e.id for e in self.items.values() if e.uid == item.uid), None) or f"u{next(self._ids)}"
        entry = Entry(id=id, version=self._record(id, False), item=item)
        self.items[id] = entry
        return entry

    def user_delete(self, id: str) -> None:
        if self.items.pop(id, None) is not None:
            self._record(id, True)

    def expire_cursors(self) -> None:
        self.forgotten_before = self._last + 1


@dataclass
class MemoryStore:
    """Mappings and cursors in a dict; what survives a crash is what was saved before it."""

    mappings: dict[int, Mapping] = field(default_factory=dict)
    local_cursor: str | None = None
    remote_cursor: str | None = None
    _keys: itertools.count[int] = field(default_factory=itertools.count)

    def lookup(self, local_ids: Iterable[str], remote_ids: Iterable[str], uids: Iterable[str]) -> list[Mapping]:
        local, remote, uid_set = set(local_ids), set(remote_ids), set(uids)
        return [
            copy(m) for m in self.mappings.values() if m.local_id in local or m.remote_id in remote or m.uid in uid_set
        ]

    def all(self) -> list[Mapping]:
        return [copy(m) for m in self.mappings.values()]

    def pages(self, size: int) -> Iterator[list[Mapping]]:
        everything = self.all()
        for start in range(0, len(everything), size):
            yield everything[start : start + size]

    def count(self) -> int:
        return len(self.mappings)

    def known(self, side: Side, pairs: Sequence[tuple[str, str]]) -> set[str]:
        recorded = {(m.id(side), m.version(side)) for m in self.mappings.values()}
        return {item_id for item_id, version in pairs if version and (item_id, version) in recorded}

    def save(self, mapping: Mapping) -> None:
        if mapping.pk is None:
            mapping.pk = next(self._keys)
        self.mappings[mapping.pk] = copy(mapping)  # type: ignore[index]

    def save_many(self, mappings: list[Mapping]) -> None:
        for mapping in mappings:
            self.save(mapping)

    def remove(self, mapping: Mapping) -> None:
        self.mappings.pop(mapping.pk, None)  # type: ignore[arg-type]

    def remove_many(self, mappings: list[Mapping]) -> None:
        for mapping in mappings:
            self.remove(mapping)

    def save_cursors(self, local: str | None, remote: str | None) -> None:
        self.local_cursor, self.remote_cursor = local, remote


@dataclass
class ListReport:
    """Collects what a run reports, for tests and the benchmark."""

    lines: list[tuple[str, ...]] = field(default_factory=list)

    def applied(
        self,
        target: Side,
        action: str,
        uid: str,
        title: str,
        item: Item | None = None,
        before: Item | None = None,
        private: bool = False,
    ) -> None:
        self.lines.append(("applied", target.value, action, uid))

    def withheld(self, side: Side, uid: str, title: str, item: Item | None = None) -> None:
        self.lines.append(("withheld", side.value, uid))

    def conflict(self, winner: Side, uid: str, title: str, message: str, loser: Item | None) -> None:
        self.lines.append(("conflict", winner.value, uid, message))

    def unsynced(
        self, side: Side, uid: str, title: str, reason: str, source: str = "", item: Item | None = None
    ) -> None:
        self.lines.append(("unsynced", side.value, uid, reason))

    def settled(self, side: Side, ids: Sequence[str]) -> None:
        pass

    def note(self, message: str, uid: str = "", item: Item | None = None) -> None:
        self.lines.append(("note", message))

    def filtered(self, side: Side, uid: str, title: str, reason: str, item: Item | None = None) -> None:
        self.lines.append(("filtered", side.value, uid, reason))

    def of(self, kind: str) -> list[tuple[str, ...]]:
        return [line for line in self.lines if line[0] == kind]
