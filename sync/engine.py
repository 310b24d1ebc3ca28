"""The sync engine: provider-agnostic, two-way, incremental, idempotent and crash-safe.

`sync()` reads both sides' changes since their cursors, pairs them through the
mapping status (one Mapping per synced item: both ids, both versions, the hash
of the content last synced), plans an Action per item, applies each action and
records its mapping at once, and advances the cursors only after all of that.

It does so page by page (sync.passes): a run holds one page of items at a time
and, across pages, only small facts (ids, versions, UIDs). Deletions wait until
both sides have been read, so the mass-delete guard decides before any of them.
A run ends by reading back what it wrote (the echo, skipped cheaply by sides
that take the `known` hook), so the next run finds nothing left to do.

Why this is crash-safe: a write whose mapping was not recorded comes back in the
next run's change feed (the cursor did not move) carrying the same UID, and is
paired with its source by UID instead of being created again. Echoes of our own
writes come back with the version we recorded, and are skipped.

Nothing here knows about HTTP, Django or any provider; tests run it between two
in-memory sides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from typing import Protocol

from events.ical import Component, Item

from .adapter import CalendarSide, Entry
from .controls import SHAPED, SHAPED_HELD, Controls, Flow, is_shaped


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
    # The side the item was first written on, when calsync copied it from there ("" when both sides already held
    # it, or for mappings older than this field): only copies calsync made are ever removed by a filter.
    origin: str = ""
    # The hash of the copy's content when the flow shaped it (busy-only, title-only); "" for a plain copy.
    copy_hash: str = ""

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

    def pages(self, size: int) -> Iterator[list[Mapping]]:
        """Every mapping, `size` at a time (a complete listing looks for the ones it did not list)."""
        ...

    def save(self, mapping: Mapping) -> None: ...

    def save_many(self, mappings: list[Mapping]) -> None:
        """New mappings (pk None) and changed ones, a statement or two for the lot."""
        ...

    def remove(self, mapping: Mapping) -> None: ...

    def remove_many(self, mappings: list[Mapping]) -> None: ...

    def save_cursors(self, local: str | None, remote: str | None) -> None: ...


class Report(Protocol):
    """What the run tells the user; the sync service writes it to the run log."""

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
        """A change made on `target`: `item` is what was written there (None for a deletion), `before` the version
        it overwrote or deleted (None for a creation, or where the side could not say): an undo puts it back.
        `private`: the version `title` was read from is private, which a shaped copy ("Busy") no longer says."""
        ...

    def withheld(self, side: Side, uid: str, title: str, item: Item | None = None) -> None:
        """A deletion on `side` the mass-delete guard held back (the item is still there, as `item` where known):
        logged so the stop's page can show them and an undo can copy them back where they vanished."""

    def conflict(self, winner: Side, uid: str, title: str, message: str, loser: Item | None) -> None: ...

    def unsynced(
        self, side: Side, uid: str, title: str, reason: str, source: str = "", item: Item | None = None
    ) -> None:
        """An item that could not be synced; `item` (where known) is the one `title` names, so that a private
        item's line shows to its owner only."""

    def settled(self, side: Side, ids: Sequence[str]) -> None:
        """Items `side` read or deleted this run: what kept them from syncing before is over (if it still
        does, the run reports them again)."""

    def note(self, message: str, uid: str = "", item: Item | None = None) -> None:
        """A line for the run's log; about one item (`uid`, `item`) when it names one."""

    def filtered(self, side: Side, uid: str, title: str, reason: str, item: Item | None = None) -> None:
        """An item of `side` the controls keep from the other side (shown as "filtered", not as a problem)."""


@dataclass(frozen=True)
class Settings:
    direction: Direction = Direction.BOTH
    primary: Side = Side.LOCAL
    # Stop rather than propagate the deletion of every synced item when there are at least this many.
    mass_delete_threshold: int | None = 5
    # Log each deletion a safety stop holds back ("withheld", with the item read back). False while the stop goes on
    # and a stop of it logged them (sync.undo.logged_stop): every poll since would read and log them all again.
    log_withheld: bool = True
    # Items a run holds at once: it reads, pairs and applies a page of this many before the next.
    page_size: int = 500
    # What is copied each way, the sync window and how conflicts end (sync.controls); the default copies all.
    controls: Controls = field(default_factory=Controls)

    @cached_property
    def controlled(self) -> bool:
        """The controls change what is copied (else the engine plans exactly as it did before them)."""
        return not self.controls.default


def content_hash(item: Item) -> str:
    """Same content, same hash: used to recognise echoes and convergent edits."""
    return hashlib.sha256(repr(_canonical(item)).encode()).hexdigest()


def _canonical(item: Item) -> Item:
    from events.convert import normalise_component

    return Item(
        master=normalise_component(_unmarked(item.master)),
        overrides=tuple(normalise_component(_unmarked(o)) for o in item.overrides),
    )


def _unmarked(component: Component) -> Component:
    """The component without the shaped-copy marker: a calendar that drops X- properties still holds the copy."""
    extra = component.extra_properties
    if not any(name.upper() == SHAPED for name, _, _ in extra):
        return component
    return replace(component, extra_properties=tuple(p for p in extra if p[0].upper() != SHAPED))


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
        return self.item.master.summary if self.item is not None else ""

    @property
    def item(self) -> Item | None:
        """The version `title` is read from (the log marks the pair's lines private by it)."""
        for state in (self.local, self.remote):
            if state.entry is not None:
                return state.entry.item
        return None


def source_key(side: Side, item_id: str) -> str:
    """How the unsynced-items list names an item where it lives."""
    return f"{side.value}:{item_id}"


def source_of(action: Action) -> str:
    """The item an action copies from, as source_key names it ("" when it copies nothing)."""
    entry = action.pair.state(action.target.other).entry
    return source_key(action.target.other, entry.id) if entry is not None else ""


# --- planning -------------------------------------------------------------------------------


@dataclass
class Action:
    """One step: copy `source`'s content to `target`, delete on `target`, or just record versions."""

    kind: str  # "write", "delete", "record", "forget", "restore", "reshape", "filtered"
    target: Side
    pair: _Pair
    conflict: str = ""
    bulk: bool = False  # carried out with others in one create_many
    # The flow a write goes through when the copy is a mirror (sync.controls): what is written is its shape of
    # the source, and the mapping records the copy's hash apart. None: the source's content as it is.
    shape: Flow | None = None
    reason: str = ""  # why the controls filter the item out ("filtered"; "delete" of a copy they now filter)
    keep: Item | None = None  # the losing version of a conflict, kept as a new item in calsync (keep both)


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


def plan(pair: _Pair, settings: Settings, complete: frozenset[Side] = frozenset()) -> Action | None:
    """The action for one pair. `complete`: the sides whose complete listing this pass reads (the controls then
    judge again the pairs that did not change)."""
    if settings.controlled or (pair.mapping is not None and pair.mapping.copy_hash):
        # (A mirror left from controls since reset is judged there too: it becomes a plain pair again.)
        from .judging import plan_controlled

        return plan_controlled(pair, settings, complete)
    mapping = pair.mapping
    if mapping is None:
        return _plan_new(pair, settings)
    if not mapping.origin and (held := shaped_held(pair, mapping)):
        return held
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
        if held := shaped_held(pair, None):
            return held
        winner = _winner(settings)
        message = f"Both calendars had this item with different content; kept the version in {side_name(winner)}."
        return Action("write", winner.other, pair, conflict=message)
    if local is not None and _flows(settings, Side.LOCAL):
        return Action("write", Side.REMOTE, pair)
    if remote is not None and _flows(settings, Side.REMOTE):
        return Action("write", Side.LOCAL, pair)
    return None


def shaped_held(pair: _Pair, mapping: Mapping | None) -> Action | None:
    """Another integration's shaped copy (it carries sync.controls.SHAPED) is never written over an item that is
    not one, at the first pairing (both sides held the UID, with different content) nor later while the pair has
    no origin: each side keeps its own, and the shaped side's edits are held back (said, as "filtered"; a deletion
    goes on as in any pair). A shaped copy with no counterpart flows as any item."""
    for side in Side:
        state, other = pair.state(side), pair.state(side.other)
        if state.entry is None:
            continue
        # Versions first: an unchanged entry of a mapped pair is not parsed for the marker (a streamed listing
        # parses only what it copies).
        if mapping is not None and (other.deleted or not _changed(state, mapping, side)):
            continue
        if not is_shaped(state.entry.item) or (other.entry is not None and is_shaped(other.entry.item)):
            continue
        return Action("held", side, pair, reason=SHAPED_HELD)
    return None


def _plan_conflict(pair: _Pair, settings: Settings, local_gone: bool, remote_gone: bool) -> Action | None:
    winner = _winner(settings)
    loser = winner.other
    winner_gone = local_gone if winner is Side.LOCAL else remote_gone
    loser_gone = remote_gone if winner is Side.LOCAL else local_gone
    if winner_gone:
        message = f"Deleted in {side_name(winner)} and changed in {side_name(loser)}; the deletion won."
        return Action("delete", loser, pair, conflict=message)
    entry = pair.state(winner).entry
    other = pair.state(loser).entry
    assert entry is not None
    if loser_gone:
        message = f"Changed in {side_name(winner)} and deleted in {side_name(loser)}; the item was restored."
        return Action("write", loser, pair, conflict=message)
    assert other is not None
    if content_hash(entry.item) == content_hash(other.item):
        return Action("record", winner, pair)
    message = f"Changed in both calendars; the version in {side_name(winner)} won."
    return Action("write", loser, pair, conflict=message)


def side_name(side: Side) -> str:
    return "calsync" if side is Side.LOCAL else "the other calendar"


# --- one run ------------------------------------------------------------------------------------

# Passes after the first that read back what the run wrote; the second carries back what calsync added to items
# it received (assignment rules), the third absorbs that write's echo.
ECHO_PASSES = 2


def sync(local: CalendarSide, remote: CalendarSide, store: StatusStore, settings: Settings, report: Report) -> None:
    """One run, finished when it returns: what it wrote is recorded and its echo already absorbed.

    Raises TransientError, AuthRevoked, PermanentError or SafetyStop for the run as a whole."""
    from .passes import run_pass

    sides = {Side.LOCAL: local, Side.REMOTE: remote}
    written = run_pass(sides, store, settings, report, reading=set(Side))
    for _ in range(ECHO_PASSES):
        if not written:
            return
        written = run_pass(sides, store, settings, report, reading=written)
