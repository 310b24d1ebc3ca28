"""The sync engine: provider-agnostic, two-way, incremental, idempotent and crash-safe.

`sync()` reads both sides' changes since their cursors, pairs them through the
mapping status (one Mapping per synced item: both ids, both versions, the hash
of the content last synced), plans an Action per item, applies each action and
records its mapping at once, and advances the cursors only after all of that.

Why this is crash-safe: a write whose mapping was not recorded comes back in the
next run's change feed (the cursor did not move) carrying the same UID, and is
paired with its source by UID instead of being created again. Echoes of our own
writes come back with the version we recorded, and are skipped.

Nothing here knows about HTTP, Django or any provider; tests run it between two
in-memory sides.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from events.ical import Item

from .adapter import CalendarSide, Changes, Entry
from .errors import (
    AuthRevoked,
    CursorExpired,
    ItemRejected,
    NotFound,
    OwnerOnly,
    PermanentError,
    PreconditionFailed,
    SafetyStop,
)


class Direction(StrEnum):
    BOTH = "both"
    TO_LOCAL = "to_calsync"
    TO_REMOTE = "from_calsync"


class Side(StrEnum):
    LOCAL = "calsync"
    REMOTE = "remote"

    @property
    def other(self) -> Side:
        return Side.REMOTE if self is Side.LOCAL else Side.LOCAL


@dataclass
class Mapping:
    uid: str
    local_id: str
    local_version: str
    remote_id: str
    remote_version: str
    content_hash: str
    pk: object = None  # the store's own key

    def id(self, side: Side) -> str:
        return self.local_id if side is Side.LOCAL else self.remote_id

    def version(self, side: Side) -> str:
        return self.local_version if side is Side.LOCAL else self.remote_version

    def record(self, side: Side, entry: Entry) -> None:
        if side is Side.LOCAL:
            self.local_id, self.local_version = entry.id, entry.version
        else:
            self.remote_id, self.remote_version = entry.id, entry.version


class StatusStore(Protocol):
    """Where mappings and cursors live (the database in production, a dict in tests)."""

    local_cursor: str | None
    remote_cursor: str | None

    def lookup(self, local_ids: Iterable[str], remote_ids: Iterable[str], uids: Iterable[str]) -> list[Mapping]: ...

    def all(self) -> list[Mapping]: ...

    def count(self) -> int: ...

    def known(self, side: Side, pairs: Sequence[tuple[str, str]]) -> set[str]:
        """Of these (id, version) pairs on `side`, the ids whose version a mapping records."""
        ...

    def save(self, mapping: Mapping) -> None: ...

    def save_many(self, mappings: list[Mapping]) -> None: ...

    def remove(self, mapping: Mapping) -> None: ...

    def save_cursors(self, local: str | None, remote: str | None) -> None: ...


class Report(Protocol):
    """What the run tells the user; the sync service writes it to the run log."""

    def applied(self, target: Side, action: str, uid: str, title: str) -> None: ...

    def conflict(self, winner: Side, uid: str, title: str, message: str, loser: Item | None) -> None: ...

    def unsynced(self, side: Side, uid: str, title: str, reason: str, source: str = "") -> None: ...

    def settled(self, side: Side, ids: Sequence[str]) -> None:
        """Items `side` read or deleted this run: what kept them from syncing before is over (if it still
        does, the run reports them again)."""

    def note(self, message: str) -> None: ...


@dataclass(frozen=True)
class Settings:
    direction: Direction = Direction.BOTH
    primary: Side = Side.LOCAL
    # Stop rather than propagate the deletion of every synced item when there are at least this many.
    mass_delete_threshold: int | None = 5


def content_hash(item: Item) -> str:
    """Same content, same hash: used to recognise echoes and convergent edits."""
    return hashlib.sha256(repr(_canonical(item)).encode()).hexdigest()


def _canonical(item: Item) -> Item:
    from events.convert import normalise_component

    return Item(
        master=normalise_component(item.master),
        overrides=tuple(normalise_component(o) for o in item.overrides),
    )


# --- reading both sides ------------------------------------------------------------------


@dataclass
class _State:
    """What one side says about one item: changed (entry), deleted, or nothing."""

    entry: Entry | None = None
    deleted: bool = False

    @property
    def quiet(self) -> bool:
        return self.entry is None and not self.deleted


@dataclass
class _Pair:
    local: _State = field(default_factory=_State)
    remote: _State = field(default_factory=_State)
    mapping: Mapping | None = None

    def state(self, side: Side) -> _State:
        return self.local if side is Side.LOCAL else self.remote

    @property
    def uid(self) -> str:
        for state in (self.local, self.remote):
            if state.entry is not None:
                return state.entry.uid
        return self.mapping.uid if self.mapping else ""

    @property
    def title(self) -> str:
        for state in (self.local, self.remote):
            if state.entry is not None:
                return state.entry.item.master.summary
        return ""


def source_key(side: Side, item_id: str) -> str:
    """How the unsynced-items list names an item where it lives."""
    return f"{side.value}:{item_id}"


def _source(action: Action) -> str:
    """The item an action copies from, as source_key names it ("" when it copies nothing)."""
    entry = action.pair.state(action.target.other).entry
    return source_key(action.target.other, entry.id) if entry is not None else ""


def _read(side: CalendarSide, cursor: str | None, report: Report, name: Side, store: StatusStore) -> Changes:
    try:
        changes = _changes(side, cursor, store, name)
    except CursorExpired:
        report.note(f"The {name.value} side no longer knew where the last sync stopped; comparing everything.")
        changes = _changes(side, None, store, name)
    if not isinstance(changes.changed, Sequence):
        changes.changed = list(changes.changed)  # a streaming side, read whole here
    return changes


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


def _pairs(
    local: Changes, remote: Changes, store: StatusStore, objects: dict[Side, CalendarSide]
) -> tuple[list[_Pair], list[tuple[Side, Entry]]]:
    sides = {Side.LOCAL: local, Side.REMOTE: remote}
    mappings = _relevant_mappings(local, remote, store)
    pairs: dict[int, _Pair] = {}  # by id() of the mapping
    by_id = {(side, m.id(side)): m for m in mappings for side in Side}
    by_uid = {m.uid: m for m in mappings}
    unmapped: dict[str, _Pair] = {}
    duplicates: list[tuple[Side, Entry]] = []

    def pair_for(side: Side, item_id: str, uid: str | None) -> _Pair:
        # By this side's id first; else by UID, which pairs a first sync's items, adopts creates whose
        # record was lost, and treats an item re-created under a new id as an update of the old one.
        mapping = by_id.get((side, item_id)) or (by_uid.get(uid) if uid else None)
        if mapping is not None:
            return pairs.setdefault(_key(mapping), _Pair(mapping=mapping))
        return unmapped.setdefault(uid or f"{side}:{item_id}", _Pair())

    for side, changes in sides.items():
        for entry in changes.changed:
            state = pair_for(side, entry.id, entry.uid).state(side)
            if state.entry is None:
                state.entry = entry
            elif state.entry.id != entry.id:
                # Two items with one UID on one side (the same meeting twice): keep one, say so.
                duplicates.append((side, entry))
        for item_id in changes.deleted:
            pair = pair_for(side, item_id, None)
            if pair.mapping is not None and pair.state(side).entry is None:
                pair.state(side).deleted = True
        if changes.complete:
            # An item the side listed but could not read is still there: never take it for deleted.
            listed = {e.id for e in changes.changed} | {item_id for item_id, _ in changes.skipped}
            unlisted = [m for m in mappings if m.id(side) not in listed]
            outside: set[str] = set()
            if changes.window is not None and unlisted:
                outside = _outside(changes.window, objects[side.other], [m.id(side.other) for m in unlisted])
            for mapping in unlisted:
                if mapping.id(side.other) in outside:
                    continue
                state = pairs.setdefault(_key(mapping), _Pair(mapping=mapping)).state(side)
                state.deleted = state.entry is None
    return [*pairs.values(), *unmapped.values()], duplicates


def _relevant_mappings(local: Changes, remote: Changes, store: StatusStore) -> list[Mapping]:
    """All mappings after a complete listing; otherwise only those the changes touch (none for a no-op)."""
    if local.complete or remote.complete:
        return store.all()
    if not (local.changed or local.deleted or remote.changed or remote.deleted):
        return []
    return store.lookup(
        local_ids=[e.id for e in local.changed] + list(local.deleted),
        remote_ids=[e.id for e in remote.changed] + list(remote.deleted),
        uids={e.uid for c in (local, remote) for e in c.changed},
    )


def _key(mapping: Mapping) -> int:
    return id(mapping)


def _check_mass_delete(pairs: Sequence[_Pair], store: StatusStore, settings: Settings) -> None:
    if settings.mass_delete_threshold is None:
        return
    gone = {side: sum(1 for p in pairs if p.mapping is not None and p.state(side).deleted) for side in Side}
    if max(gone.values()) < settings.mass_delete_threshold:
        return  # without deletions (the usual run) the mappings need not even be counted
    total = store.count()
    for side in Side:
        if gone[side] >= total:
            raise SafetyStop(
                f"The {side.value} calendar suddenly lists none of the {total} synced items. "
                "Nothing was deleted on the other side. If the calendar really was emptied, "
                "allow the deletion in the integration's settings."
            )


# --- planning -------------------------------------------------------------------------------


@dataclass
class Action:
    """One step: copy `source`'s content to `target`, delete on `target`, or just record versions."""

    kind: str  # "write", "delete", "record", "forget", "restore"
    target: Side
    pair: _Pair
    conflict: str = ""
    bulk: bool = False  # carried out with others in one create_many


def _flows(settings: Settings, side: Side) -> bool:
    """May changes flow from `side` to the other one?"""
    if settings.direction is Direction.BOTH:
        return True
    return (settings.direction is Direction.TO_LOCAL) == (side is Side.REMOTE)


def _winner(settings: Settings) -> Side:
    if settings.direction is Direction.TO_LOCAL:
        return Side.REMOTE
    if settings.direction is Direction.TO_REMOTE:
        return Side.LOCAL
    return settings.primary


def _touched(state: _State, mapping: Mapping, side: Side) -> bool:
    """A new version: possibly only a re-save of the same content."""
    return state.entry is not None and state.entry.version != mapping.version(side)


def _changed(state: _State, mapping: Mapping, side: Side) -> bool:
    """New content. A re-save of unchanged content must never win a conflict against a real edit."""
    entry = state.entry
    return entry is not None and _touched(state, mapping, side) and content_hash(entry.item) != mapping.content_hash


def plan(pair: _Pair, settings: Settings) -> Action | None:
    mapping = pair.mapping
    if mapping is None:
        return _plan_new(pair, settings)
    local_changed = _changed(pair.local, mapping, Side.LOCAL)
    remote_changed = _changed(pair.remote, mapping, Side.REMOTE)
    local_gone, remote_gone = pair.local.deleted, pair.remote.deleted
    if local_gone and remote_gone:
        return Action("forget", Side.LOCAL, pair)
    if not (local_changed or remote_changed or local_gone or remote_gone):
        touched = _touched(pair.local, mapping, Side.LOCAL) or _touched(pair.remote, mapping, Side.REMOTE)
        return Action("record", Side.LOCAL, pair) if touched else None  # new versions, same content
    if (local_changed or local_gone) and (remote_changed or remote_gone):
        return _plan_conflict(pair, settings, local_gone, remote_gone)
    source = Side.LOCAL if (local_changed or local_gone) else Side.REMOTE
    gone = local_gone or remote_gone
    if not _flows(settings, source):
        # One-way, and it is the target that changed: put the source's version back (the target mirrors it).
        return Action("restore", source, pair)
    if gone:
        return Action("delete", source.other, pair)
    return Action("write", source.other, pair)


def _plan_new(pair: _Pair, settings: Settings) -> Action | None:
    local, remote = pair.local.entry, pair.remote.entry
    if local is not None and remote is not None:
        if content_hash(local.item) == content_hash(remote.item):
            return Action("record", Side.LOCAL, pair)
        winner = _winner(settings)
        message = f"Both calendars had this item with different content; kept the version in {_side_name(winner)}."
        return Action("write", winner.other, pair, conflict=message)
    if local is not None and _flows(settings, Side.LOCAL):
        return Action("write", Side.REMOTE, pair)
    if remote is not None and _flows(settings, Side.REMOTE):
        return Action("write", Side.LOCAL, pair)
    return None


def _plan_conflict(pair: _Pair, settings: Settings, local_gone: bool, remote_gone: bool) -> Action | None:
    winner = _winner(settings)
    loser = winner.other
    winner_gone = local_gone if winner is Side.LOCAL else remote_gone
    loser_gone = remote_gone if winner is Side.LOCAL else local_gone
    if winner_gone:
        message = f"Deleted in {_side_name(winner)} and changed in {_side_name(loser)}; the deletion won."
        return Action("delete", loser, pair, conflict=message)
    entry = pair.state(winner).entry
    other = pair.state(loser).entry
    assert entry is not None
    if loser_gone:
        message = f"Changed in {_side_name(winner)} and deleted in {_side_name(loser)}; the item was restored."
        return Action("write", loser, pair, conflict=message)
    assert other is not None
    if content_hash(entry.item) == content_hash(other.item):
        return Action("record", winner, pair)
    message = f"Changed in both calendars; the version in {_side_name(winner)} won."
    return Action("write", loser, pair, conflict=message)


def _side_name(side: Side) -> str:
    return "calsync" if side is Side.LOCAL else "the other calendar"


# --- applying -------------------------------------------------------------------------------


@dataclass
class _Run:
    sides: dict[Side, CalendarSide]
    complete: dict[Side, bool]
    store: StatusStore
    report: Report

    def apply(self, action: Action, settings: Settings, attempts: int = 2) -> None:
        handler: Callable[[Action], None] = getattr(self, f"_{action.kind}")
        try:
            handler(action)
        except PreconditionFailed:
            # The target changed after we read it. Read it again and decide again (now a conflict, say).
            if attempts <= 1 or not self._safe_reread(action):
                self.report.unsynced(
                    action.target, action.pair.uid, action.pair.title, "It kept changing during the sync.",
                    source=_source(action),
                )  # fmt: skip
                return
            replanned = plan(action.pair, settings)
            if replanned is not None:
                self.apply(replanned, settings, attempts - 1)
        except AuthRevoked:
            raise
        except OwnerOnly as exc:
            self._put_back(action, str(exc))
        except (ItemRejected, PermanentError) as exc:
            self.report.unsynced(action.target, action.pair.uid, action.pair.title, str(exc), source=_source(action))

    def can_bulk(self, side: Side) -> bool:
        return hasattr(self.sides[side], "create_many")

    def create_many(self, target: Side, actions: list[Action], settings: Settings) -> None:
        """Creates in batches; a batch the side refuses is retried one item at a time."""
        side = self.sides[target]
        for start in range(0, len(actions), BULK_SIZE):
            batch = actions[start : start + BULK_SIZE]
            sources = [a.pair.state(target.other).entry for a in batch]
            try:
                written = side.create_many([s.item for s in sources])  # type: ignore[attr-defined, union-attr]
            except (PreconditionFailed, ItemRejected, PermanentError):
                for action in batch:
                    self.apply(action, settings)
                continue
            mappings = []
            for action, source, entry in zip(batch, sources, written, strict=True):
                assert source is not None
                mapping = Mapping(source.uid, "", "", "", "", content_hash(source.item))
                mapping.record(target.other, source)
                mapping.record(target, entry)
                action.pair.mapping = mapping
                mappings.append(mapping)
            self.store.save_many(mappings)
            for action in batch:
                self.report.applied(target, "created", action.pair.uid, action.pair.title)

    def _safe_reread(self, action: Action) -> bool:
        try:
            return self._reread(action)
        except (ItemRejected, PermanentError, NotFound):
            return False

    def _reread(self, action: Action) -> bool:
        pair, target = action.pair, action.target
        target_id = (pair.state(target).entry.id if pair.state(target).entry else "") or (
            pair.mapping.id(target) if pair.mapping else ""
        )
        if not target_id:
            return False
        current = self.sides[target].get(target_id)
        state = pair.state(target)
        state.entry, state.deleted = current, current is None and pair.mapping is not None
        return True

    # Each handler writes, then records the mapping at once.

    def _write(self, action: Action) -> None:
        pair, target = action.pair, action.target
        source = pair.state(target.other).entry
        assert source is not None
        loser = pair.state(target).entry
        written, created = self._put(target, pair, source.item)
        mapping = pair.mapping or Mapping(source.uid, "", "", "", "", "")
        mapping.record(target.other, source)
        mapping.record(target, written)
        mapping.uid, mapping.content_hash = source.uid, content_hash(source.item)
        self.store.save(mapping)
        pair.mapping = mapping
        if action.conflict:
            self.report.conflict(target.other, pair.uid, pair.title, action.conflict, loser.item if loser else None)
        self.report.applied(target, "created" if created else "updated", pair.uid, pair.title)

    def _put(self, target: Side, pair: _Pair, item: Item) -> tuple[Entry, bool]:
        """Write `item` to `target`: update what is there, or create after making sure it is not there yet."""
        side = self.sides[target]
        current = pair.state(target).entry
        mapping = pair.mapping
        if current is None and mapping is not None and mapping.id(target):
            current = Entry(mapping.id(target), mapping.version(target), item)
        if current is None and not self.complete[target]:
            # A create whose record was lost, or the same item connected twice: adopt it, don't duplicate it.
            current = side.find(item.uid)
        if current is not None:
            try:
                return side.update(current.id, item, current.version), False
            except NotFound:
                pass
        return side.create(item), True

    def _delete(self, action: Action) -> None:
        pair, target = action.pair, action.target
        mapping = pair.mapping
        assert mapping is not None
        loser = pair.state(target).entry
        # The item as the target side reported it now (it may have been re-created under a new id).
        current = (loser.id, loser.version) if loser is not None else (mapping.id(target), mapping.version(target))
        with contextlib.suppress(NotFound):
            self.sides[target].delete(*current)
        self.store.remove(mapping)
        if action.conflict:
            self.report.conflict(target.other, pair.uid, pair.title, action.conflict, loser.item if loser else None)
        self.report.applied(target, "deleted", pair.uid, pair.title or mapping.uid)

    def _record(self, action: Action) -> None:
        pair = action.pair
        mapping = pair.mapping
        if mapping is None:
            local, remote = pair.local.entry, pair.remote.entry
            assert local is not None and remote is not None
            mapping = Mapping(local.uid, local.id, local.version, remote.id, remote.version, content_hash(local.item))
            pair.mapping = mapping
        for side in Side:
            entry = pair.state(side).entry
            if entry is not None:
                mapping.record(side, entry)
                mapping.content_hash = content_hash(entry.item)  # every entry here holds the synced content
        self.store.save(mapping)

    def _forget(self, action: Action) -> None:
        assert action.pair.mapping is not None
        self.store.remove(action.pair.mapping)

    def _restore(self, action: Action) -> None:
        """One-way sync, and the target (action.target) changed: copy the source's version back over it."""
        changed, pair = action.target, action.pair
        source = changed.other
        mapping = pair.mapping
        assert mapping is not None
        entry = self.sides[source].get(mapping.id(source))
        if entry is None:
            self.store.remove(mapping)
            return
        pair.state(source).entry = entry
        message = (
            f"Changed in {_side_name(changed)}, which this one-way sync does not copy from; "
            f"the version in {_side_name(source)} was put back."
        )
        self._write(Action("write", changed, pair, conflict=message))

    def _put_back(self, action: Action, reason: str) -> None:
        """The target keeps a version only someone else may change (a meeting's owner): the one place a sync
        refuses an edit for that. The target's version is written back over the edit, and the log says why."""
        pair, kept = action.pair, action.target
        state = pair.state(kept)
        kept_id = state.entry.id if state.entry else (pair.mapping.id(kept) if pair.mapping else pair.uid)
        current = self.sides[kept].get(kept_id)
        if current is None:
            self.report.unsynced(kept, pair.uid, pair.title, reason, source=_source(action))
            return
        state.entry, state.deleted = current, False
        message = f"{reason} Its version in {_side_name(kept)} was put back in {_side_name(kept.other)}."
        self._write(Action("write", kept.other, pair, conflict=message))


def sync(local: CalendarSide, remote: CalendarSide, store: StatusStore, settings: Settings, report: Report) -> None:
    """One run. Raises TransientError, AuthRevoked, PermanentError or SafetyStop for the run as a whole."""
    local_changes = _read(local, store.local_cursor, report, Side.LOCAL, store)
    remote_changes = _read(remote, store.remote_cursor, report, Side.REMOTE, store)
    for side, changes in ((Side.LOCAL, local_changes), (Side.REMOTE, remote_changes)):
        for id, reason in changes.skipped:
            report.unsynced(side, id, "", reason, source=source_key(side, id))
        if changes.changed or changes.deleted:
            report.settled(side, [e.id for e in changes.changed] + list(changes.deleted))
    pairs, duplicates = _pairs(local_changes, remote_changes, store, {Side.LOCAL: local, Side.REMOTE: remote})
    for side, entry in duplicates:
        report.note(f"“{entry.item.master.summary}” appears twice in {_side_name(side)} (same UID); synced once.")
    _check_mass_delete(pairs, store, settings)
    run = _Run(
        sides={Side.LOCAL: local, Side.REMOTE: remote},
        complete={Side.LOCAL: local_changes.complete, Side.REMOTE: remote_changes.complete},
        store=store,
        report=report,
    )
    actions = [action for pair in pairs if (action := plan(pair, settings)) is not None]
    for target, creates in _bulk_creates(actions, run).items():
        run.create_many(target, creates, settings)
    for action in actions:
        if not action.bulk:
            run.apply(action, settings)
    store.save_cursors(local_changes.cursor, remote_changes.cursor)


BULK_SIZE = 500


def _bulk_creates(actions: list[Action], run: _Run) -> dict[Side, list[Action]]:
    """Plain creates on a side that listed completely (nothing to look up first) and can take many at once."""
    groups: dict[Side, list[Action]] = {}
    for action in actions:
        pair, target = action.pair, action.target
        plain = action.kind == "write" and not action.conflict and pair.mapping is None
        if plain and pair.state(target).entry is None and run.complete[target] and run.can_bulk(target):
            groups.setdefault(target, []).append(action)
    for group in groups.values():
        for action in group:
            action.bulk = True
    return groups
