"""One pass of a sync run, page by page: a run holds one page of items at a time whatever the calendars' sizes.

1. The local side's listing is indexed (id -> version and UID); no item is kept.
2. The remote side streams page by page. Each page is paired through the mappings it touches with the local items
   that share its mappings or UIDs (fetched then), planned and applied.
3. The local items no remote page took are fetched, paired and applied a page at a time.
4. Deletions (reported, or missing from a complete listing) come last: the mass-delete guard weighs all of them
   before any is applied.
The cursors are saved only after all four (see sync.engine on crash safety).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from .adapter import CalendarSide, Changes, Entry, get_many
from .applying import Run
from .engine import Action, Mapping, Report, Settings, Side, StatusStore, _Pair, plan, side_name, source_key
from .errors import CursorExpired, SafetyStop

T = TypeVar("T")


def run_pass(
    sides: dict[Side, CalendarSide], store: StatusStore, settings: Settings, report: Report, reading: set[Side]
) -> set[Side]:
    """Read the sides in `reading` since their cursors (the others report nothing), apply what they say, save the
    cursors. Returns the sides it wrote to."""
    cursors = {Side.LOCAL: store.local_cursor, Side.REMOTE: store.remote_cursor}
    changes = {
        side: _read(sides[side], cursors[side], report, side, store)
        if side in reading
        else Changes(changed=(), deleted=(), cursor=cursors[side])  # type: ignore[arg-type]
        for side in Side
    }
    run = Run(sides, {side: changes[side].complete for side in Side}, store, report)
    one = _Pass(run, changes, settings)
    try:
        one.index_local()
        one.stream_remote()
        one.remaining_local()
        one.deletions()
    except _Expired as expired:
        # The side forgot its cursor after its first page. What this pass applied is recorded in the mappings, so
        # a pass over that side's complete listing pairs it again and duplicates nothing; no deletion was applied
        # yet (they come last), and the cursors were not moved.
        report.note(f"The {expired.side.value} side forgot where the last sync stopped partway through its changes; "
                    "comparing everything.")  # fmt: skip
        setattr(store, _CURSOR[expired.side], None)
        return run.written | run_pass(sides, store, settings, report, reading | {expired.side})
    store.save_cursors(changes[Side.LOCAL].cursor, changes[Side.REMOTE].cursor)
    return run.written


_CURSOR = {Side.LOCAL: "local_cursor", Side.REMOTE: "remote_cursor"}


class _Expired(Exception):
    """CursorExpired from a side's listing after its first item, when this pass had already applied pages."""

    def __init__(self, side: Side) -> None:
        super().__init__(side.value)
        self.side = side


def _expiry_noted(entries: Iterable[Entry], side: Side) -> Iterator[Entry]:
    try:
        yield from entries
    except CursorExpired as exc:
        raise _Expired(side) from exc


def _read(side: CalendarSide, cursor: str | None, report: Report, name: Side, store: StatusStore) -> Changes:
    try:
        changes = _changes(side, cursor, store, name)
        _peek(changes)
    except CursorExpired:
        report.note(f"The {name.value} side no longer knew where the last sync stopped; comparing everything.")
        return _changes(side, None, store, name)
    if cursor is not None:
        changes.changed = _expiry_noted(changes.changed, name)
    return changes


def _peek(changes: Changes) -> None:
    """Ask a streaming side for its first item now: a forgotten cursor shows there, before anything is applied."""
    iterator = iter(changes.changed)
    first = next(iterator, None)
    changes.changed = iterator if first is None else itertools.chain([first], iterator)


def _changes(side: CalendarSide, cursor: str | None, store: StatusStore, name: Side) -> Changes:
    if getattr(side, "takes_known", False) and cursor is not None:
        return side.changes(cursor, known=lambda pairs: store.known(name, pairs))  # type: ignore[call-arg]
    return side.changes(cursor)


def _outside(window: tuple[datetime, datetime], side: CalendarSide, ids: list[str]) -> set[str]:
    """Of these items (as `side` holds them), those wholly outside the window: a windowed listing says nothing
    of them. A side that knows its items' spans answers in one go (`spans`, optional); others item by item."""
    from events.convert import item_span

    if hasattr(side, "spans"):
        spans = side.spans(ids)
    else:
        spans = {i: item_span(entry.item) for i in ids if (entry := side.get(i)) is not None}
    return {i for i, (start, end) in spans.items()
            if start is not None and (start >= window[1] or (end is not None and end <= window[0]))}  # fmt: skip


def _pages(values: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(values)
    while page := list(itertools.islice(iterator, size)):
        yield page


class _Pairing:
    """One page's pairs, found through the mappings the page touches."""

    def __init__(self, mappings: list[Mapping], handled: set[object]) -> None:
        self.by_id = {(side, m.id(side)): m for m in mappings for side in Side}
        self.by_uid = {m.uid: m for m in mappings}
        self.handled = handled  # mappings earlier pages took
        self.pairs: dict[int, _Pair] = {}  # by id() of the mapping
        self.unmapped: dict[str, _Pair] = {}

    def _mapping(self, side: Side, item_id: str, uid: str) -> Mapping | None:
        # By this side's id first; else by UID, which pairs a first sync's items, adopts creates whose
        # record was lost, and treats an item re-created under a new id as an update of the old one.
        return self.by_id.get((side, item_id)) or self.by_uid.get(uid)

    def pair_for(self, side: Side, item_id: str, uid: str) -> _Pair | None:
        """The item's pair, or None when an earlier page already synced its mapping (the same item twice)."""
        mapping = self._mapping(side, item_id, uid)
        if mapping is None:
            return self.unmapped.setdefault(uid, _Pair())
        if mapping.pk in self.handled:
            return None
        return self.pairs.setdefault(id(mapping), _Pair(mapping=mapping))

    def existing(self, side: Side, item_id: str, uid: str) -> _Pair | None:
        mapping = self._mapping(side, item_id, uid)
        return self.unmapped.get(uid) if mapping is None else self.pairs.get(id(mapping))

    def all(self) -> list[_Pair]:
        return [*self.pairs.values(), *self.unmapped.values()]


@dataclass
class _Pass:
    run: Run
    changes: dict[Side, Changes]
    settings: Settings
    # Listed local items no page has taken yet: id -> (version, UID), and UID -> id.
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)
    waiting_uids: dict[str, str] = field(default_factory=dict)
    seen: dict[Side, dict[str, str]] = field(default_factory=lambda: {side: {} for side in Side})  # UID -> id
    listed: dict[Side, set[str]] = field(default_factory=dict)  # the ids a complete listing holds
    deleted: dict[Side, set[str]] = field(default_factory=dict)  # what a side reported deleted, once read
    handled: set[object] = field(default_factory=set)  # mappings this pass settled (their pk)
    gone: Counter[Side] = field(default_factory=Counter)
    filtered_out: Counter[Side] = field(default_factory=Counter)  # of those, copies the controls now filter out
    deferred: list[Action] = field(default_factory=list)  # deletions, applied after the mass-delete guard
    complete: frozenset[Side] = frozenset()

    def __post_init__(self) -> None:
        self.listed = {side: set() for side in Side if self.changes[side].complete}
        # The sides listed whole: under the controls, pairs that did not change are judged again against them.
        self.complete = frozenset(self.listed)
        self.run.defer = self._defer

    @property
    def store(self) -> StatusStore:
        return self.run.store

    @property
    def report(self) -> Report:
        return self.run.report

    @property
    def size(self) -> int:
        return self.settings.page_size

    # --- 1. the local side, indexed -------------------------------------------------------------

    def index_local(self) -> None:
        for page in _pages(self.changes[Side.LOCAL].changed, self.size):
            self.report.settled(Side.LOCAL, [e.id for e in page])
            for entry in page:
                if not self._twice(Side.LOCAL, entry):
                    self.waiting[entry.id] = (entry.version, entry.uid)
                    self.waiting_uids[entry.uid] = entry.id
        self._read_out(Side.LOCAL)

    def _twice(self, side: Side, entry: Entry) -> bool:
        """Two items with one UID on one side (the same meeting twice): keep the first, say so."""
        if side in self.listed:
            self.listed[side].add(entry.id)
        if self.seen[side].setdefault(entry.uid, entry.id) == entry.id:
            return False
        self._say_twice(side, entry)
        return True

    def _say_twice(self, side: Side, entry: Entry) -> None:
        message = f"“{entry.item.master.summary}” appears twice in {side_name(side)} (same UID); synced once."
        self.report.note(message, entry.uid, entry.item)

    def _read_out(self, side: Side) -> None:
        """The side's listing is exhausted: what it could not read and what it deleted are known now."""
        changes = self.changes[side]
        for item_id, reason in changes.skipped:
            self.report.unsynced(side, item_id, "", reason, source=source_key(side, item_id))
            if side in self.listed:  # listed but unreadable: still there, never taken for deleted
                self.listed[side].add(item_id)
        self.deleted[side] = set(changes.deleted)
        if changes.deleted:
            self.report.settled(side, list(changes.deleted))

    # --- 2. the remote side, page by page ----------------------------------------------------------

    def stream_remote(self) -> None:
        for page in _pages(self.changes[Side.REMOTE].changed, self.size):
            self.report.settled(Side.REMOTE, [e.id for e in page])
            entries = [e for e in page if not self._twice(Side.REMOTE, e)]
            if entries:
                self._remote_page(entries)
        self._read_out(Side.REMOTE)

    def _remote_page(self, entries: list[Entry]) -> None:
        uids = {e.uid for e in entries}
        near = [self.waiting_uids[u] for u in uids if u in self.waiting_uids]
        mappings = self.store.lookup(local_ids=near, remote_ids=[e.id for e in entries], uids=uids)
        pairing = _Pairing(mappings, self.handled)
        for entry in entries:
            pair = pairing.pair_for(Side.REMOTE, entry.id, entry.uid)
            if pair is None or (pair.remote.entry is not None and pair.remote.entry.id != entry.id):
                self._say_twice(Side.REMOTE, entry)
            elif pair.remote.entry is None:
                pair.remote.entry = entry
        by_mapping = [self.waiting_uids.get(m.uid, "") for m in mappings]
        self._take_local(pairing, [m.local_id for m in mappings] + near + by_mapping)
        self._apply(pairing.all())

    def _take_local(self, pairing: _Pairing, candidates: list[str]) -> None:
        """The waiting local items that belong to this page's pairs (by mapping or by UID), fetched now."""
        taken: dict[str, _Pair] = {}
        pairs_taken: set[int] = set()
        for local_id in candidates:
            if local_id not in self.waiting:
                continue
            uid = self.waiting[local_id][1]
            pair = pairing.existing(Side.LOCAL, local_id, uid)
            if pair is not None and id(pair) not in pairs_taken:
                taken[local_id] = pair
                pairs_taken.add(id(pair))
                del self.waiting[local_id]
                self.waiting_uids.pop(uid, None)
        fetched = get_many(self.run.sides[Side.LOCAL], list(taken))
        for local_id, pair in taken.items():
            pair.local.entry = fetched.get(local_id)  # None: deleted since it was listed, the next run hears of it

    # --- 3. the local items no remote page took ------------------------------------------------------

    def remaining_local(self) -> None:
        for page in _pages(list(self.waiting), self.size):
            facts = {item_id: self.waiting.pop(item_id) for item_id in page}
            uids = {uid for _, uid in facts.values()}
            pairing = _Pairing(self.store.lookup(local_ids=page, remote_ids=[], uids=uids), self.handled)
            fetched = get_many(self.run.sides[Side.LOCAL], page)
            for item_id, (_, uid) in facts.items():
                entry = fetched.get(item_id)
                if entry is None:
                    continue  # deleted since it was listed: the next run hears of it
                pair = pairing.pair_for(Side.LOCAL, item_id, uid)
                if pair is None or pair.local.entry is not None:
                    self._say_twice(Side.LOCAL, entry)
                else:
                    pair.local.entry = entry
            self._apply(pairing.all())
        self.waiting_uids.clear()

    # --- applying a page ----------------------------------------------------------------------------

    def _apply(self, pairs: list[_Pair]) -> None:
        self._mark_gone(pairs)
        actions = []
        for pair in pairs:
            if pair.mapping is not None:
                self.handled.add(pair.mapping.pk)
                self.gone.update(side for side in Side if pair.state(side).deleted)
            action = plan(pair, self.settings, self.complete)
            if action is not None and action.kind in ("delete", "forget"):
                self._defer(action)
            elif action is not None:
                actions.append(action)
        self.run.apply_all(actions, self.settings)
        self.handled.update(p.mapping.pk for p in pairs if p.mapping is not None)

    def _defer(self, action: Action) -> None:
        if action.reason:  # a copy the controls now filter out: weighed by the guard like any deletion
            self.gone[action.target.other] += 1
            self.filtered_out[action.target.other] += 1
        self.deferred.append(action)

    def _mark_gone(self, pairs: list[_Pair]) -> None:
        """Mapped items a side reported deleted, or left out of a complete listing, are gone from it."""
        for side in self.deleted:  # the sides read out so far
            quiet = [p for p in pairs if p.mapping is not None and p.state(side).entry is None]
            gone = [p for p in quiet if p.mapping.id(side) in self.deleted[side]]  # type: ignore[union-attr]
            unlisted = [
                p
                for p in quiet
                if side in self.listed and p.mapping.id(side) not in self.listed[side]  # type: ignore[union-attr]
            ]
            window = self.changes[side].window
            if window is not None and unlisted:
                outside = _outside(window, self.run.sides[side.other], [p.mapping.id(side.other) for p in unlisted])  # type: ignore[union-attr]
                unlisted = [p for p in unlisted if p.mapping.id(side.other) not in outside]  # type: ignore[union-attr]
            for pair in gone + unlisted:
                pair.state(side).deleted = True

    # --- 4. deletions -------------------------------------------------------------------------------

    def deletions(self) -> None:
        pairs: dict[object, _Pair] = {}
        for mapping in self._deleted_mappings():
            if mapping.pk not in self.handled:
                pairs.setdefault(mapping.pk, _Pair(mapping=mapping))
        actions = list(self.deferred)
        self.deferred.clear()
        for page in _pages(pairs.values(), self.size):
            self._mark_gone(page)
            for pair in page:
                self.gone.update(side for side in Side if pair.state(side).deleted)
                if (action := plan(pair, self.settings, self.complete)) is not None:
                    actions.append(action)
        self._check_mass_delete(actions)
        self.run.apply_all(actions, self.settings)
        while self.deferred:  # deletions planned while those were applied (a reshape's)
            actions = list(self.deferred)
            self.deferred.clear()
            self._check_mass_delete(actions)
            self.run.apply_all(actions, self.settings)

    def _deleted_mappings(self) -> Iterator[Mapping]:
        for side in Side:
            for chunk in _pages(self.deleted[side], self.size):
                ids = {
                    "local_ids": chunk if side is Side.LOCAL else [],
                    "remote_ids": chunk if side is Side.REMOTE else [],
                }
                yield from self.store.lookup(**ids, uids=[])
            if side in self.listed:
                for page in self.store.pages(self.size):
                    yield from (m for m in page if m.pk not in self.handled and m.id(side) not in self.listed[side])

    def _check_mass_delete(self, actions: list[Action]) -> None:
        threshold = self.settings.mass_delete_threshold
        if threshold is None or max(self.gone.values(), default=0) < threshold:
            return  # without deletions (the usual run) the mappings need not even be counted
        total = self.store.count() - self.run.created_mappings  # the synced items before this run
        if self.settings.log_withheld and any(self.gone[side] >= total for side in Side):
            self._withheld([a for a in actions if a.kind == "delete"])
        for side in Side:
            if self.gone[side] >= total and self.filtered_out[side]:
                raise SafetyStop(
                    f"The sync controls would remove {self.filtered_out[side]} copies of the {total} synced items "
                    f"(from {side_name(side.other)}). Nothing was deleted. If these settings are meant, "
                    "allow the deletion in the integration's settings."
                )
            if self.gone[side] >= total:
                raise SafetyStop(
                    f"The {side.value} calendar suddenly lists none of the {total} synced items. "
                    "Nothing was deleted on the other side. If the calendar really was emptied, "
                    "allow the deletion in the integration's settings."
                )

    def _withheld(self, deletions: list[Action]) -> None:
        """Before a safety stop: each deletion held back is logged with the item as its side still holds it (read
        in pages of `page_size`, one `get_many` each on that side), so the stop's page can list them and an undo
        can copy them back where they vanished."""
        for target in Side:
            mine = [a for a in deletions if a.target is target]
            for page in _pages(mine, self.size):
                ids = [a.pair.mapping.id(target) for a in page]  # type: ignore[union-attr]
                held = get_many(self.run.sides[target], ids)
                for action, item_id in zip(page, ids, strict=True):
                    entry = held.get(item_id)
                    title = entry.item.master.summary if entry is not None else action.pair.title
                    self.report.withheld(target, action.pair.uid, title, entry.item if entry is not None else None)
