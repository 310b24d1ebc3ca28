"""Undoing sync runs, provider-free: which version each item goes back to, and putting it there on both sides.

A run logs each change it made with the side it made it on, the version it overwrote or deleted there (`before`)
and the hash of what it left (`after_hash`). Undoing a run R (or every run since a moment: then, for each item,
the EARLIEST change among them) makes both calendars hold again what the item was before R:

- "updated" or "deleted" on a side: `before` is written back there, and on the other side too (both agree again;
  a missing copy is re-created, found by UID first so nothing is duplicated);
- "withheld" (a deletion a safety stop held back): the item is still on that side, and is copied back to the other
  side, where it vanished;
- "restored" (put back by an undo): removed again from both sides, so an undo of an undo returns to after it;
- "created": left alone, unless the user asks to remove what the run created (then removed from both sides).

An item changed again since (what the run left on a side is no longer there, a deleted item's UID exists again
somewhere, or a later run changed it) is left alone unless the user picks it. Each change the undo makes is
reported like a sync's (re-creations as "restored"), with the version it overwrote: an undo is undoable.

Nothing here knows about Django: sync.undo reads the log and runs this under the integration's lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from events.ical import Item

from .adapter import CalendarSide, Entry, get_many
from .engine import Mapping, Report, Side, StatusStore, content_hash
from .errors import ItemRejected, NotFound, OwnerOnly, PermanentError, PreconditionFailed

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
        first.setdefault(entry.uid, entry)
        last[entry.uid] = entry
    steps = [Step(kind, first[uid], last[uid]) for uid in first if (kind := _kind(first[uid], last[uid]))]
    return steps


def _kind(first: Logged, last: Logged) -> str:
    if first.action in ("created", "restored"):
        return "remove"
    if first.action == "withheld":
        return "copy_back"
    if not first.has_before:
        return ""
    return "put_back" if last.action == "deleted" else "overwrite"


def changed_since(step: Step, current: dict[Side, Entry | None], goal: Item | None = None) -> bool:
    """Whether the item changed after the runs being undone (`current`: how each side holds it now). A side that
    already holds `goal`, what the undo puts there (None: nothing), has nothing to protect: an earlier attempt of
    this undo, ended by a transient error, put it there."""
    last = step.last
    if step.later:
        return True
    if last.action == "withheld":
        return False
    unsettled = {side: entry for side, entry in current.items() if not _holds(entry, goal)}
    if last.action == "deleted":
        return any(entry is not None for entry in unsettled.values())
    if last.side not in unsettled:
        return False
    entry = current[last.side]
    return entry is None or (bool(last.after_hash) and content_hash(entry.item) != last.after_hash)


def _holds(entry: Entry | None, goal: Item | None) -> bool:
    if entry is None or goal is None:
        return entry is None and goal is None
    return content_hash(entry.item) == content_hash(goal)


@dataclass
class Undo:
    """Carries out steps on both sides and keeps the mappings consistent, so the next sync finds nothing to do.

    Requests, per page of PAGE items: one status lookup, one `get_many` per side (a `get` each where a side has
    none), and for items no mapping places on a side, a `find` each (at most FIND_LIMIT in the whole undo, else the
    side is listed once, whole); then at most one write per item and side."""

    sides: dict[Side, CalendarSide]
    store: StatusStore
    report: Report
    picked: frozenset[str] = frozenset()  # items changed since that the user asked to undo anyway
    left_alone: list[Step] = field(default_factory=list)
    _index: dict[Side, dict[str, str]] = field(default_factory=dict)  # UID -> id, of sides listed whole

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
            self._index[side] = index

    def _page(self, steps: list[Step]) -> None:
        mappings = {m.uid: m for m in self.store.lookup(local_ids=[], remote_ids=[], uids=[s.uid for s in steps])}
        current = {side: self._current(side, steps, mappings) for side in Side}
        saved, removed = [], []
        for step in steps:
            now = {side: current[side].get(step.uid) for side in Side}
            if changed_since(step, now, self._content(step, now)) and step.uid not in self.picked:
                self.left_alone.append(step)
                self.report.note(f"“{step.title}” changed since; left alone.", step.uid)
                continue
            mapping = self._apply(step, now, mappings.get(step.uid))
            if mapping is None and step.uid in mappings:
                removed.append(mappings[step.uid])
            elif mapping is not None:
                saved.append(mapping)
        if saved:
            self.store.save_many(saved)
        if removed:
            self.store.remove_many(removed)

    def _current(self, side: Side, steps: list[Step], mappings: dict[str, Mapping]) -> dict[str, Entry]:
        """The page's items as `side` holds them now, by UID."""
        ids = {m.id(side): uid for uid, m in mappings.items() if m.id(side)}
        found = {ids[i]: entry for i, entry in get_many(self.sides[side], list(ids)).items() if entry.uid == ids[i]}
        missing = [s.uid for s in steps if s.uid not in found]
        index = self._index.get(side)
        if index is not None:
            listed = {index[uid]: uid for uid in missing if uid in index}
            found.update({listed[i]: entry for i, entry in get_many(self.sides[side], list(listed)).items()})
            missing = []  # the side listed whole: what it did not list, it does not hold
        for uid in missing:
            if (entry := self.sides[side].find(uid)) is not None:
                found[uid] = entry
        return found

    def _apply(self, step: Step, now: dict[Side, Entry | None], mapping: Mapping | None) -> Mapping | None:
        """The step on both sides; the item's mapping after it (None: the item is on neither side)."""
        content = self._content(step, now)
        if content is None and step.kind != "remove":
            return mapping  # nothing left to copy back: the item is gone from where the stop held it
        written: dict[Side, Entry | None] = {}
        for side in Side:
            try:
                written[side] = self._put(side, step, now[side], content)
            except _REFUSED as exc:
                self.report.unsynced(side, step.uid, step.title, f"It could not be put back: {exc}")
                written[side] = now[side]
        local, remote = written[Side.LOCAL], written[Side.REMOTE]
        if local is None or remote is None or content is None:
            return None
        mapping = mapping or Mapping(step.uid, "", "", "", "", "")
        mapping.record(Side.LOCAL, local)
        mapping.record(Side.REMOTE, remote)
        mapping.content_hash, mapping.origin, mapping.copy_hash = content_hash(content), "", ""
        return mapping

    def _content(self, step: Step, now: dict[Side, Entry | None]) -> Item | None:
        if step.kind == "remove":
            return None
        if step.kind == "copy_back":
            held = now[step.first.side]
            return held.item if held is not None else None
        return step.first.before

    def _put(self, side: Side, step: Step, current: Entry | None, content: Item | None) -> Entry | None:
        """`content` on `side` (None: removed from it); returns the item as the side holds it then."""
        target = self.sides[side]
        if content is None:
            if current is not None:
                target.delete(current.id, current.version)
                self.report.applied(side, "deleted", step.uid, step.title, before=current.item)
            return None
        if current is None:
            created = target.create(content)
            self.report.applied(side, "restored", step.uid, step.title, item=content)
            return created
        if content_hash(current.item) == content_hash(content):
            return current
        updated = target.update(current.id, content, current.version)
        self.report.applied(side, "updated", step.uid, step.title, item=content, before=current.item)
        return updated


def _pages(values: list[Step], size: int) -> Iterator[list[Step]]:
    iterator = iter(values)
    while page := list(islice(iterator, size)):
        yield page
