"""Undoing sync runs, provider-free: which version each item goes back to, and putting it there on both sides.

A run logs each change it made with the side it made it on, the version it overwrote or deleted there (`before`)
and the hash of what it left (`after_hash`). Undoing a run R (or every run since a moment: then, for each item,
the EARLIEST change among them) makes both calendars hold again what the item was before R:

- "updated" or "deleted" on a side: `before` is written back there (re-created if missing, found by UID first so
  nothing is duplicated), and the other side is brought along as a sync would bring it: the same content, the
  flow's shape of it (busy-only, title-only: a mirror), or nothing where the direction or the controls carry
  nothing that way (a read-only or one-way calendar is never written; a shaped copy is never written over the
  user's own item, and never carried back to its origin);
- "withheld" (a deletion a safety stop held back): the item is still on that side, and is carried back the same
  way to the other side, where it vanished;
- "restored" (put back by an undo): removed again from the sides the direction writes, so an undo of an undo
  returns to after it;
- "created": left alone, unless the user asks to remove what the run created (then removed the same way).

Over several runs, an item goes back to its earliest change that can be put back: a safety stop's "withheld" line
keeps no version, so when a later run deleted the item (the user allowed the deletion), that deletion's is used.

An item changed again since on EITHER side (what the runs left there is no longer there: the side they wrote holds
other content than they left, the other side another version than the mapping records, a deleted item's UID
exists again somewhere, or a later run changed it) is left alone unless the user picks it. Each change the undo
makes is reported like a sync's (re-creations as "restored"), with the version it overwrote: an undo is undoable.
A write a side refuses leaves the item's mapping as it was, so the next sync sees the difference and retries it.

Nothing here knows about Django: sync.undo reads the log and runs this under the integration's lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from events.ical import Item, is_private

from .adapter import CalendarSide, Entry, get_many
from .applying import BULK_SIZE
from .controls import is_shaped
from .engine import Mapping, Report, Settings, Side, StatusStore, _flows, content_hash
from .errors import ItemRejected, NotFound, OwnerOnly, PermanentError, PreconditionFailed
from .passes import _pages

PAGE = 500  # items an undo holds at once
FIND_LIMIT = 50  # more items than this to look for by UID, and a side is listed once instead of asked item by item
_REFUSED = (PreconditionFailed, NotFound, ItemRejected, OwnerOnly, PermanentError)


@dataclass(frozen=True)
class Logged:
    """A change a run logged (sync.models.SyncLogEntry), in log order."""

    action: str  # "created", "updated", "deleted", "restored", "withheld"
    side: Side
    uid: str
    title: str
    before: Item | None = None
    after_hash: str = ""
    private: bool = False
    kept: bool | None = None  # whether the log kept `before` (known without parsing it); None: `before` says

    @property
    def has_before(self) -> bool:
        return self.kept if self.kept is not None else self.before is not None


@dataclass
class Step:
    """What undoing does to one item: `content` on both sides ("put_back", "overwrite"), the item as `first.side`
    holds it copied to the other ("copy_back"), or the item removed from both ("remove")."""

    kind: str
    first: Logged  # the earliest change the runs made to it: what it goes back to
    last: Logged  # the latest: what they left, to tell whether it changed since
    later: bool = False  # a later run changed it (the log says so; sync.undo)

    @property
    def uid(self) -> str:
        return self.first.uid

    @property
    def title(self) -> str:
        return self.last.title or self.first.title or self.uid

    @property
    def created(self) -> bool:
        """The runs created it: removed only when the user asks to."""
        return self.first.action == "created"


def plan_steps(entries: Iterable[Logged]) -> list[Step]:
    """One step per item the runs changed, from its earliest and latest change. An update or deletion logged
    without its earlier version (before the log kept them) cannot be put back and gives no step."""
    first: dict[str, Logged] = {}
    last: dict[str, Logged] = {}
    for entry in entries:
        held = first.get(entry.uid)
        if held is None or (held.action == "withheld" and entry.action != "withheld"):
            first[entry.uid] = entry  # a stop keeps no version: the deletion allowed after it does
        last[entry.uid] = entry
    steps = [Step(kind, first[uid], last[uid]) for uid in first if (kind := _kind(first[uid], last[uid]))]
    return steps


def may_write(settings: Settings, kind: str, side: Side) -> bool:
    """Whether the direction lets an undo step of `kind` write where it puts the item back: `side` (the step's
    first.side) for a version put back, the other side for an item held back there at a stop. Known from the log
    alone, so the undo page and the stop's offer count by it too (the controls, read with the item, may still
    leave some alone)."""
    if kind == "remove":
        return any(_flows(settings, s) for s in Side)
    return _flows(settings, side if kind == "copy_back" else side.other)


def _kind(first: Logged, last: Logged) -> str:
    if first.action in ("created", "restored"):
        return "remove"
    if first.action == "withheld":
        return "copy_back"
    if not first.has_before:
        return ""
    return "put_back" if last.action == "deleted" else "overwrite"


def changed_since(
    step: Step,
    current: dict[Side, Entry | None],
    goals: dict[Side, Item | None] | None = None,
    mapping: Mapping | None = None,
) -> bool:
    """Whether the item changed after the runs being undone, on either side (`current`: how each side holds it
    now; `mapping`: what the last sync recorded). A side that already holds its goal (`goals`: what the undo puts
    there, None: nothing) has nothing to protect: an earlier attempt of this undo, ended by a transient error, put
    it there."""
    last, goals = step.last, goals or {}
    if step.later:
        return True
    unsettled = {side: entry for side, entry in current.items() if not (side in goals and _holds(entry, goals[side]))}
    if last.action == "withheld":  # still where the stop held it; back where it vanished is a change
        return unsettled.get(last.side.other) is not None
    if last.action == "deleted":
        return any(entry is not None for entry in unsettled.values())
    for side, entry in unsettled.items():
        if side is last.side:
            if entry is None or (bool(last.after_hash) and content_hash(entry.item) != last.after_hash):
                return True
        elif not _as_left(entry, mapping, side):
            return True
    return False


def _as_left(entry: Entry | None, mapping: Mapping | None, side: Side) -> bool:
    """`side` holds what the last sync left there: the version its mapping records (or the same content), or
    nothing where the mapping places nothing."""
    if mapping is None or not mapping.id(side):
        return entry is None
    if entry is None:
        return False
    return entry.version == mapping.version(side) or content_hash(entry.item) in (
        mapping.content_hash,
        mapping.copy_hash,
    )


def _holds(entry: Entry | None, goal: Item | None) -> bool:
    if entry is None or goal is None:
        return entry is None and goal is None
    return content_hash(entry.item) == content_hash(goal)


@dataclass
class _Work:
    """One step under way: what each side holds now, what the undo writes there (`goals`; None: removed; a side
    not in it is left alone), what each holds after, and the sides that refused the write."""

    step: Step
    now: dict[Side, Entry | None]
    goals: dict[Side, Item | None]
    written: dict[Side, Entry | None]
    copy: Side | None = None  # the side given a new shaped copy of the other's item (a mirror)
    refused: set[Side] = field(default_factory=set)

    def todo(self, side: Side) -> str:
        """The write `side` needs: "create", "update", "delete", or "" (it holds its goal already, or has none)."""
        if side not in self.goals:
            return ""
        current, goal = self.now[side], self.goals[side]
        if goal is None:
            return "delete" if current is not None else ""
        if current is None:
            return "create"
        return "update" if content_hash(current.item) != content_hash(goal) else ""

    def holds(self, side: Side) -> Item | None:
        """The item `side` holds after the step."""
        if side in self.goals and side not in self.refused:
            return self.goals[side]
        return self.now[side].item if self.now[side] is not None else None  # type: ignore[union-attr]


@dataclass
class Undo:
    """Carries out steps on both sides and keeps the mappings consistent, so the next sync finds nothing to do.

    Requests, per page of PAGE items: one status lookup, one `get_many` per side (a `get` each where a side has
    none), and for items no mapping places on a side, a `find` each (at most FIND_LIMIT in the whole undo, else the
    side is listed once, whole: then none). A side whose listing is a window of time (Microsoft's calendarView)
    is still asked with a `find` for each such item, as the window says nothing of what it leaves out: putting
    back N deletions there costs the listing and N finds besides the batched writes. Then per side one
    `create_many`, `update_many` and `delete_many` (as sync.applying writes: where a side has none, one write per
    item). A batch the side refuses as a whole is retried item by item, so one bad item costs only itself; a
    create retried so is looked for by UID first, as the refused batch may have made it."""

    sides: dict[Side, CalendarSide]
    store: StatusStore
    report: Report
    picked: frozenset[str] = frozenset()  # items changed since that the user asked to undo anyway
    settings: Settings = field(default_factory=Settings)  # the integration's direction and controls
    left_alone: list[Step] = field(default_factory=list)
    _index: dict[Side, dict[str, str]] = field(default_factory=dict)  # UID -> id, of sides listed whole
    _listed: dict[Side, set[str]] = field(default_factory=dict)  # the ids they listed

    def run(self, steps: list[Step]) -> None:
        if len(steps) > FIND_LIMIT:
            for side in Side:
                self._list(side)
        for page in _pages(steps, PAGE):
            self._page(page)

    def _list(self, side: Side) -> None:
        """Index what the side lists. A listing of a window of time (Microsoft's calendarView) says nothing of the
        items outside it: those are still looked for by UID."""
        changes = self.sides[side].changes(None)
        index = {entry.uid: entry.id for entry in changes.changed}
        if changes.window is None:
            self._index[side], self._listed[side] = index, set(index.values())

    def _page(self, steps: list[Step]) -> None:
        mappings = {m.uid: m for m in self.store.lookup(local_ids=[], remote_ids=[], uids=[s.uid for s in steps])}
        current = {side: self._current(side, steps, mappings) for side in Side}
        works = [w for step in steps if (w := self._work(step, current, mappings.get(step.uid))) is not None]
        for side in Side:
            for kind in ("create", "update", "delete"):
                self._write(side, kind, [w for w in works if w.todo(side) == kind])
        saved, removed = [], []
        for work in works:
            if work.refused:
                continue  # the mapping as it was: the next sync sees what differs and tries again
            mapping = self._mapping(work, mappings.get(work.step.uid))
            if mapping is None and work.step.uid in mappings:
                removed.append(mappings[work.step.uid])
            elif mapping is not None:
                saved.append(mapping)
        if saved:
            self.store.save_many(saved)
        if removed:
            self.store.remove_many(removed)

    def _work(self, step: Step, current: dict[Side, dict[str, Entry]], mapping: Mapping | None) -> _Work | None:
        """The step to carry out, or None: changed since (and not picked), or nothing it may write (said)."""
        now = {side: current[side].get(step.uid) for side in Side}
        goals, copy = self._goals(step, now, mapping)
        if changed_since(step, now, goals, mapping) and step.uid not in self.picked:
            self.left_alone.append(step)
            self.report.note(f"“{step.title}” changed since; left alone.", step.uid, _item(step, now))
            return None
        if not goals:
            self.report.note(f"“{step.title}” was not put back: {_NOTHING[step.kind]}", step.uid, _item(step, now))
            return None
        return _Work(step, now, goals, dict(now), copy)

    def _goals(
        self, step: Step, now: dict[Side, Entry | None], mapping: Mapping | None
    ) -> tuple[dict[Side, Item | None], Side | None]:
        """What each side gets (a side left out is left alone), and the side given a new shaped copy."""
        if not may_write(self.settings, step.kind, step.first.side):
            return {}, None
        if step.kind == "remove":
            return {side: None for side in Side if self._writes(side)}, None
        if step.kind == "copy_back":
            held = now[step.first.side]
            return self._carried(step.first.side, held.item, now, mapping) if held is not None else ({}, None)
        source, before = step.first.side, step.first.before
        if before is None or not self._writes(source):
            return {}, None
        goals, copy = self._carried(source, before, now, mapping)
        if is_shaped(before) and not goals and now[source.other] is None:
            return {}, None  # only calsync's shaped copy was kept, and its origin is gone: alone it would spread
        return {source: before, **goals}, copy

    def _writes(self, side: Side) -> bool:
        """A sync writes `side` (the direction carries changes to it; a read-only calendar is written never)."""
        return _flows(self.settings, side.other)

    def _carried(
        self, source: Side, item: Item, now: dict[Side, Entry | None], mapping: Mapping | None
    ) -> tuple[dict[Side, Item | None], Side | None]:
        """What a sync would write on the other side for `source`'s `item`: the item, the flow's shape of it (a
        new mirror, never over an item the target holds as its own), or nothing (the direction or the controls
        carry nothing that way, or `item` is itself a shaped copy: never carried back to its origin)."""
        target, controls = source.other, self.settings.controls
        if not _flows(self.settings, source) or is_shaped(item):
            return {}, None
        if mapping is not None and mapping.copy_hash and mapping.origin == target.value:
            return {}, None  # `source` holds the target's mirror
        if not controls.in_window(item) or controls.admit(source.value, item) is not None:
            return {}, None
        flow = controls.flow(source.value)
        if not flow.shapes_item(item):
            return {target: item}, None
        if (mapping is not None and mapping.origin != source.value) or (mapping is None and now[target] is not None):
            return {}, None  # the target's own item: a shaped copy is never written over it
        return {target: flow.shape(item)}, target

    def _current(self, side: Side, steps: list[Step], mappings: dict[str, Mapping]) -> dict[str, Entry]:
        """The page's items as `side` holds them now, by UID. A side listed whole is asked only for what it listed:
        an id it did not list is gone (a side without get_many would be asked for each, one request apiece)."""
        index, held = self._index.get(side), self._listed.get(side)
        ids = {m.id(side): uid for uid, m in mappings.items() if m.id(side)}
        ids = {i: uid for i, uid in ids.items() if held is None or i in held}
        found = {ids[i]: entry for i, entry in get_many(self.sides[side], list(ids)).items() if entry.uid == ids[i]}
        missing = [s.uid for s in steps if s.uid not in found]
        if index is not None:
            listed = {index[uid]: uid for uid in missing if uid in index}
            found.update({listed[i]: entry for i, entry in get_many(self.sides[side], list(listed)).items()})
            missing = []  # the side listed whole: what it did not list, it does not hold
        for uid in missing:
            if (entry := self.sides[side].find(uid)) is not None:
                found[uid] = entry
        return found

    # --- writes ------------------------------------------------------------------------------------

    def _write(self, side: Side, kind: str, works: list[_Work]) -> None:
        """One kind of write on one side, in batches where the side takes them."""
        if not works:
            return
        if not hasattr(self.sides[side], f"{kind}_many"):
            self._one_by_one(side, kind, works, retried=False)
            return
        for batch in _pages(works, BULK_SIZE):
            try:
                self._many(side, kind, batch)
            except _REFUSED:
                self._one_by_one(side, kind, batch, retried=True)

    def _many(self, side: Side, kind: str, batch: list[_Work]) -> None:
        target: Any = self.sides[side]
        if kind == "delete":
            target.delete_many([(w.now[side].id, w.now[side].version) for w in batch])  # type: ignore[union-attr]
            written: list[Entry | None] = [None] * len(batch)
        elif kind == "create":
            written = target.create_many([w.goals[side] for w in batch])
        else:
            written = target.update_many([(w.now[side].id, w.goals[side], w.now[side].version) for w in batch])  # type: ignore[union-attr]
        for work, entry in zip(batch, written, strict=True):
            self._done(side, kind, work, entry)

    def _one_by_one(self, side: Side, kind: str, works: list[_Work], retried: bool) -> None:
        for work in works:
            try:
                self._one(side, kind, work, retried)
            except _REFUSED as exc:
                work.refused.add(side)
                item = work.goals[side] or _item(work.step, work.now)
                self.report.unsynced(side, work.step.uid, work.step.title, f"It could not be put back: {exc}",
                                     item=item)  # fmt: skip

    def _one(self, side: Side, kind: str, work: _Work, retried: bool) -> None:
        target, current, goal = self.sides[side], work.now[side], work.goals[side]
        if kind == "create" and retried and (found := target.find(work.step.uid)) is not None:
            work.now[side] = found  # made by the refused batch, or by someone since: not made twice
            kind = "update" if work.todo(side) else "create"
            if kind == "create":  # it holds the content: the batch made it
                self._done(side, kind, work, found)
                return
            current = found
        if kind == "delete":
            assert current is not None
            target.delete(current.id, current.version)
            self._done(side, kind, work, None)
        elif kind == "create":
            assert goal is not None
            self._done(side, kind, work, target.create(goal))
        else:
            assert current is not None and goal is not None
            self._done(side, kind, work, target.update(current.id, goal, current.version))

    def _done(self, side: Side, kind: str, work: _Work, entry: Entry | None) -> None:
        """A write made: what the side holds now, and the log line (re-creations as "restored")."""
        step, before = work.step, work.now[side]
        work.written[side] = entry
        private = step.first.private or step.last.private  # the title is the logged one (a "Busy" copy says less)
        if kind == "delete":
            self.report.applied(side, "deleted", step.uid, step.title, before=before.item if before else None,
                                private=private)  # fmt: skip
        elif kind == "create":
            self.report.applied(side, "restored", step.uid, step.title, item=work.goals[side], private=private)
        else:
            self.report.applied(side, "updated", step.uid, step.title, item=work.goals[side],
                                before=before.item if before else None, private=private)  # fmt: skip

    def _mapping(self, work: _Work, mapping: Mapping | None) -> Mapping | None:
        """The item's mapping after the step (None: it is not on both sides), recorded as a sync records a pair:
        a mirror keeps its origin's hash and its copy's apart."""
        if work.written[Side.LOCAL] is None or work.written[Side.REMOTE] is None:
            return None
        mapping = mapping or Mapping(work.step.uid, "", "", "", "", "")
        if work.copy is not None:
            mapping.origin, mapping.copy_hash = work.copy.other.value, "-"
        copy = Side(mapping.origin).other if mapping.copy_hash and mapping.origin else None
        for side in sorted(Side, key=lambda side: side in work.goals):  # a written side's content last: it wins
            entry, item = work.written[side], work.holds(side)
            assert entry is not None and item is not None
            mapping.record(side, entry)
            if side is copy:
                mapping.copy_hash = content_hash(item)
            else:
                mapping.content_hash = content_hash(item)
        return mapping


_NOTHING = {
    "copy_back": "it is gone from where the safety stop held it, or nothing carries it to the other side.",
    "put_back": "the direction or the sync controls carry nothing to the sides it was on.",
    "overwrite": "the direction or the sync controls carry nothing to the sides it was on.",
    "remove": "the direction writes neither side.",
}


def _item(step: Step, now: dict[Side, Entry | None]) -> Item | None:
    """A version of the item, for the log line's privacy: a private one if any version is (others' private
    titles are never shown)."""
    items = [step.first.before, *(entry.item for entry in now.values() if entry is not None)]
    known = [item for item in items if item is not None]
    return next((item for item in known if is_private(item)), known[0] if known else None)
