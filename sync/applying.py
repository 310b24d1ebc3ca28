"""Carrying out the engine's plan for one page of items: creates, updates, deletes and mapping records in
batches where the target side takes them (`create_many`, `update_many`, `delete_many`), one by one otherwise.

A batch the target refuses as a whole is retried item by item, so one bad item costs its own write only, and
PreconditionFailed still rereads that item and decides again.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice

from events.ical import Component, Item, RawProperty, is_private

from .adapter import CalendarSide, Entry, get_many
from .controls import HELD
from .engine import (
    Action,
    Mapping,
    Report,
    Settings,
    Side,
    StatusStore,
    _Pair,
    content_hash,
    plan,
    side_name,
    source_of,
)
from .errors import AuthRevoked, ItemRejected, NotFound, OwnerOnly, PermanentError, PreconditionFailed

BULK_SIZE = 500
_SETTLED = ("record", "forget", "filtered")  # actions that only touch mapping rows (and the report)
# What makes a side refuse a whole batch: each item is then tried on its own, to find the one at fault.
_BATCH_REFUSED = (PreconditionFailed, NotFound, ItemRejected, OwnerOnly, PermanentError)


def _batches(actions: Sequence[Action]) -> list[Sequence[Action]]:
    iterator = iter(actions)
    return list(iter(lambda: list(islice(iterator, BULK_SIZE)), []))


@dataclass
class Run:
    sides: dict[Side, CalendarSide]
    complete: dict[Side, bool]
    store: StatusStore
    report: Report
    written: set[Side] = field(default_factory=set)  # the sides this run wrote to: their echo comes back
    created_mappings: int = 0  # mappings this run added (the mass-delete guard compares with those before it)
    # Where a deletion planned while applying goes (a reshape's): the pass defers it behind the mass-delete guard.
    defer: Callable[[Action], None] | None = None
    # The targets' versions the page's updates and deletions overwrite, read before them when the pass had not
    # (by id() of the pair): the log keeps each, so an undo can put it back (sync.undo).
    befores: dict[int, Item] = field(default_factory=dict)

    def apply_all(self, actions: list[Action], settings: Settings) -> None:
        """The page's actions: those that can go in batches first, then the rest one by one."""
        self._read_befores(actions)
        for (kind, target), group in _batchable(actions, self).items():
            batched = {"create": self._create_many, "update": self._update_many, "delete": self._delete_many}
            for batch in _batches(group):
                batched[kind](target, batch, settings)
        self._settle([a for a in actions if a.kind in _SETTLED])
        for action in actions:
            if not action.bulk and action.kind not in _SETTLED:
                self.apply(action, settings)

    def apply(self, action: Action, settings: Settings, attempts: int = 2) -> None:
        handler: Callable[[Action], None] = getattr(self, f"_{action.kind}")
        try:
            if action.kind == "reshape":
                self._reshape(action, settings)
            else:
                handler(action)
        except PreconditionFailed:
            # The target changed after we read it. Read it again and decide again (now a conflict, say).
            if attempts <= 1 or not self._safe_reread(action):
                self.report.unsynced(
                    action.target, action.pair.uid, action.pair.title, "It kept changing during the sync.",
                    source=source_of(action), item=action.pair.item,
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
            pair, source = action.pair, source_of(action)
            self.report.unsynced(action.target, pair.uid, pair.title, str(exc), source=source, item=pair.item)

    def _read_befores(self, actions: list[Action]) -> None:
        """The versions this page's updates and deletions will overwrite, where the pass did not read them: one
        `get_many` per target side and BULK_SIZE items (sides without it: a `get` each), and none at all for a
        page with nothing to change (a quiet sync reads nothing more)."""
        self.befores.clear()
        wanted: dict[Side, dict[str, _Pair]] = {side: {} for side in Side}
        for action in actions:
            pair, target = action.pair, action.target
            unread = action.kind in ("write", "delete") and pair.state(target).entry is None
            if unread and pair.mapping is not None and (target_id := pair.mapping.id(target)):
                wanted[target][target_id] = pair
        for target, pairs in wanted.items():
            ids = list(pairs)
            for start in range(0, len(ids), BULK_SIZE):
                found = get_many(self.sides[target], ids[start : start + BULK_SIZE])
                self.befores.update({id(pairs[i]): entry.item for i, entry in found.items() if i in pairs})

    def _before(self, action: Action) -> Item | None:
        """The target's version this action overwrites or deletes (None: a creation, or unknown)."""
        seen = action.pair.state(action.target).entry
        return seen.item if seen is not None else self.befores.get(id(action.pair))

    # --- batches ------------------------------------------------------------------------------

    def _create_many(self, target: Side, batch: Sequence[Action], settings: Settings) -> None:
        sources = [a.pair.state(target.other).entry for a in batch]
        contents = [_content(a, s) for a, s in zip(batch, sources, strict=True)]  # type: ignore[arg-type]
        try:
            written = self.sides[target].create_many(contents)  # type: ignore[attr-defined]
        except _BATCH_REFUSED:
            self._one_by_one(batch, settings)
            return
        self.written.add(target)
        for action, source, content, entry in zip(batch, sources, contents, written, strict=True):
            assert source is not None
            self._recorded_write(action, source, entry, content, created=True)
        self._save([a.pair.mapping for a in batch])  # type: ignore[misc]
        for action, content in zip(batch, contents, strict=True):
            pair = action.pair
            self.report.applied(target, "created", pair.uid, pair.title, item=content, private=is_private(pair.item))

    def _update_many(self, target: Side, batch: Sequence[Action], settings: Settings) -> None:
        sources = [a.pair.state(target.other).entry for a in batch]
        contents = [_content(a, s) for a, s in zip(batch, sources, strict=True)]  # type: ignore[arg-type]
        currents = [self._current(a) for a in batch]
        try:
            written = self.sides[target].update_many(  # type: ignore[attr-defined]
                [(c.id, item, c.version) for c, item in zip(currents, contents, strict=True)]
            )
        except _BATCH_REFUSED:
            self._one_by_one(batch, settings)
            return
        self.written.add(target)
        for action, source, content, entry in zip(batch, sources, contents, written, strict=True):
            assert source is not None and action.pair.mapping is not None
            self._recorded_write(action, source, entry, content, created=False)
        self._save([a.pair.mapping for a in batch])  # type: ignore[misc]
        for action, content in zip(batch, contents, strict=True):
            self._report_write(action, content, created=False)

    def _delete_many(self, target: Side, batch: Sequence[Action], settings: Settings) -> None:
        try:
            self.sides[target].delete_many([(c.id, c.version) for c in map(self._current, batch)])  # type: ignore[attr-defined]
        except _BATCH_REFUSED:
            self._one_by_one(batch, settings)
            return
        self.written.add(target)
        self.store.remove_many([a.pair.mapping for a in batch])  # type: ignore[misc]
        for action in batch:
            self._report_delete(action)

    def _one_by_one(self, batch: Sequence[Action], settings: Settings) -> None:
        for action in batch:
            self.apply(action, settings)

    def _settle(self, actions: list[Action]) -> None:
        """New versions of the same content, and items gone from both sides: mapping rows only, in one go (and
        the items the controls filter out, reported)."""
        self._save([self._recorded(a) for a in actions if a.kind == "record"])
        for action in actions:
            if action.kind == "filtered":
                self._filtered(action)
        self.store.remove_many([a.pair.mapping for a in actions if a.kind == "forget"])  # type: ignore[misc]

    def _save(self, mappings: list[Mapping]) -> None:
        self.created_mappings += sum(m.pk is None for m in mappings)
        if len(mappings) == 1:
            self.store.save(mappings[0])  # one write, its record at once
        elif mappings:
            self.store.save_many(mappings)

    def _current(self, action: Action) -> Entry:
        """The target's item as last seen (it may have been re-created under a new id), for an if-match write."""
        pair, target = action.pair, action.target
        seen = pair.state(target).entry
        if seen is not None:
            return seen
        assert pair.mapping is not None
        return Entry(pair.mapping.id(target), pair.mapping.version(target), None)  # type: ignore[arg-type]

    # --- one item -------------------------------------------------------------------------------

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
        content = _content(action, source)
        if action.shape is not None and self._found_instead(action, content):
            return
        written, created = self._put(target, pair, content)
        self.written.add(target)
        self._recorded_write(action, source, written, content, created=created)
        self._save([pair.mapping])  # type: ignore[list-item]
        self._report_write(action, content, created=created)

    def _recorded_write(self, action: Action, source: Entry, written: Entry, content: Item, created: bool) -> None:
        pair, target = action.pair, action.target
        mapping = pair.mapping or Mapping(source.uid, "", "", "", "", "")
        if pair.mapping is None and created:
            # The copy calsync made records the side it came from: only such copies are ever removed by a filter.
            mapping.origin = target.other.value
        elif mapping.origin == target.value:
            # An edit of the copy went back to its origin: the item is the copy side's own now too, and no filter
            # of the origin's flow ever deletes it there.
            mapping.origin = ""
        mapping.record(target.other, source)
        mapping.record(target, written)
        mapping.uid, mapping.content_hash = source.uid, content_hash(source.item)
        mapping.copy_hash = content_hash(content) if action.shape is not None else ""
        if action.shape is not None:
            mapping.origin = target.other.value
        pair.mapping = mapping

    def _found_instead(self, action: Action, content: Item) -> bool:
        """A shaped copy never takes over an item it finds by UID (the user's own, or another integration's):
        it is recorded as the mirror only when it already is the shape, else paired as the target's own (no
        origin) and the copy held back. False: nothing found, write as usual."""
        pair, target = action.pair, action.target
        if pair.mapping is not None or pair.state(target).entry is not None or self.complete[target]:
            return False
        found = self.sides[target].find(content.uid)
        if found is None:
            return False
        pair.state(target).entry = found
        if content_hash(found.item) == content_hash(content):
            self._record(Action("record", target, pair, shape=action.shape))
        else:
            self._held(Action("held", target.other, pair, reason=HELD))
        return True

    def _report_write(self, action: Action, content: Item, created: bool) -> None:
        pair, target = action.pair, action.target
        if action.conflict:
            loser = pair.state(target).entry
            self.report.conflict(target.other, pair.uid, pair.title, action.conflict, loser.item if loser else None)
        before = None if created else self._before(action)
        kind = "created" if created else "updated"
        self.report.applied(target, kind, pair.uid, pair.title, content, before, private=is_private(pair.item))
        self._keep_loser(action)

    def _put(self, target: Side, pair: _Pair, item: Item) -> tuple[Entry, bool]:
        """Write `item` to `target`: update what is there, or create after making sure it is not there yet."""
        side = self.sides[target]
        current = pair.state(target).entry
        mapping = pair.mapping
        if current is None and mapping is not None and mapping.id(target):
            current = Entry(mapping.id(target), mapping.version(target), item)
        if current is None and not self.complete[target]:
            # A create whose record was lost, or the same item connected twice: adopt it, don't duplicate it. What
            # it held is the version overwritten (logged as the before, so an undo can put it back).
            current = pair.state(target).entry = side.find(item.uid)
        if current is not None:
            try:
                return side.update(current.id, item, current.version), False
            except NotFound:
                pass
        return side.create(item), True

    def _delete(self, action: Action) -> None:
        current = self._current(action)
        with contextlib.suppress(NotFound):
            self.sides[action.target].delete(current.id, current.version)
        self.written.add(action.target)
        assert action.pair.mapping is not None
        self.store.remove(action.pair.mapping)
        self._report_delete(action)

    def _report_delete(self, action: Action) -> None:
        pair, target = action.pair, action.target
        assert pair.mapping is not None
        if action.conflict:
            loser = pair.state(target).entry
            self.report.conflict(target.other, pair.uid, pair.title, action.conflict, loser.item if loser else None)
        if action.reason:
            self.report.filtered(target.other, pair.uid, pair.title or pair.mapping.uid, action.reason, pair.item)
        self.report.applied(
            target, "deleted", pair.uid, pair.title or pair.mapping.uid, before=self._before(action),
            private=is_private(pair.item),
        )  # fmt: skip
        self._keep_loser(action)

    def _recorded(self, action: Action) -> Mapping:
        pair = action.pair
        mapping = pair.mapping
        if mapping is None:
            local, remote = pair.local.entry, pair.remote.entry
            assert local is not None and remote is not None
            mapping = Mapping(local.uid, local.id, local.version, remote.id, remote.version, content_hash(local.item))
            if action.shape is not None:  # one side holds the other's shaped copy: a mirror whose record was lost
                mapping.origin, mapping.copy_hash = action.target.other.value, "-"
            pair.mapping = mapping
        copy_side = Side(mapping.origin).other if mapping.copy_hash and mapping.origin else None
        for side in Side:
            entry = pair.state(side).entry
            if entry is not None:
                mapping.record(side, entry)
                # Every entry here holds the synced content (a mirror's copy: the shaped content).
                if side is copy_side:
                    mapping.copy_hash = content_hash(entry.item)
                else:
                    mapping.content_hash = content_hash(entry.item)
        return mapping

    def _filtered(self, action: Action) -> None:
        """An item the controls keep from the other side: reported, nothing written (see sync.judging)."""
        entry = action.pair.state(action.target).entry
        assert entry is not None
        self.report.filtered(action.target, entry.uid, entry.item.master.summary, action.reason, entry.item)

    def _held(self, action: Action) -> None:
        """A pair both sides held before (see sync.judging._held): its versions recorded, nothing written, and
        the edit the controls hold back said."""
        entry = action.pair.state(action.target).entry
        assert entry is not None
        self._save([self._recorded(action)])
        self.report.filtered(action.target, entry.uid, entry.item.master.summary, action.reason, entry.item)

    def _record(self, action: Action) -> None:
        self._save([self._recorded(action)])

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
            f"Changed in {side_name(changed)}, which this one-way sync does not copy from; "
            f"the version in {side_name(source)} was put back."
        )
        self._write(Action("write", changed, pair, conflict=message))

    def _reshape(self, action: Action, settings: Settings) -> None:
        """A mirror's copy was changed or deleted while its source was not: read the source and judge again
        (the copy is put back as the source's shape, or removed if the source is now filtered out)."""
        pair, copy = action.pair, action.target
        assert pair.mapping is not None
        origin = copy.other
        entry = self.sides[origin].get(pair.mapping.id(origin))
        if entry is None:
            return  # deleted since: the next run hears of it
        pair.state(origin).entry = entry
        replanned = plan(pair, settings, complete=frozenset({origin}))
        if replanned is None or replanned.kind == "reshape":
            return
        if replanned.kind in ("delete", "forget") and self.defer is not None:
            self.defer(replanned)  # weighed by the mass-delete guard like every other deletion
        else:
            self.apply(replanned, settings)

    def _keep_loser(self, action: Action) -> None:
        """Keep both: the conflict's losing version becomes a new item in calsync, which the run's echo passes
        carry to the other side. Its UID derives from the original's and the version's, so a retried run finds it
        rather than making it twice."""
        if action.keep is None:
            return
        kept = kept_copy(action.keep, side_name(action.target))
        side = self.sides[Side.LOCAL]
        if side.find(kept.uid) is None:
            side.create(kept)
            self.written.add(Side.LOCAL)
            self.report.applied(Side.LOCAL, "created", kept.uid, kept.master.summary, item=kept)
        action.keep = None

    def _put_back(self, action: Action, reason: str) -> None:
        """The target keeps a version only someone else may change (a meeting's owner): the one place a sync
        refuses an edit for that. The target's version is written back over the edit, and the log says why."""
        pair, kept = action.pair, action.target
        state = pair.state(kept)
        kept_id = state.entry.id if state.entry else (pair.mapping.id(kept) if pair.mapping else pair.uid)
        current = self.sides[kept].get(kept_id)
        if current is None:
            self.report.unsynced(kept, pair.uid, pair.title, reason, source=source_of(action), item=pair.item)
            return
        state.entry, state.deleted = current, False
        message = f"{reason} Its version in {side_name(kept)} was put back in {side_name(kept.other)}."
        self._write(Action("write", kept.other, pair, conflict=message))


def _content(action: Action, source: Entry) -> Item:
    """What a write puts on its target: the source's item, or the flow's shape of it for a mirror."""
    return action.shape.shape(source.item) if action.shape is not None else source.item


def kept_copy(item: Item, loser: str) -> Item:
    """The losing version of a conflict as a new item: a fresh UID, its title marked, and the original's UID in
    X-CALSYNC-CONFLICT-OF."""
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"calsync-conflict:{item.uid}:{content_hash(item)}"))
    mark: RawProperty = ("X-CALSYNC-CONFLICT-OF", (), item.uid)

    def marked(component: Component, title: bool) -> Component:
        summary = f"{component.summary} (conflicting copy from {loser})" if title else component.summary
        return replace(component, uid=uid, summary=summary, extra_properties=(*component.extra_properties, mark))

    return Item(master=marked(item.master, True), overrides=tuple(marked(o, False) for o in item.overrides))


def _batchable(actions: list[Action], run: Run) -> dict[tuple[str, Side], list[Action]]:
    """Actions a side can take many at a time, by kind and target: plain creates on a side that listed completely
    (nothing to look up first), updates and deletes of mapped items."""
    groups: dict[tuple[str, Side], list[Action]] = {}
    for action in actions:
        kind = _batch_kind(action, run)
        if kind and hasattr(run.sides[action.target], f"{kind}_many"):
            groups.setdefault((kind, action.target), []).append(action)
            action.bulk = True
    return groups


def _batch_kind(action: Action, run: Run) -> str:
    pair, target = action.pair, action.target
    if action.kind == "delete":
        return "delete"
    if action.kind != "write":
        return ""
    if pair.mapping is not None and (pair.state(target).entry is not None or pair.mapping.id(target)):
        return "update"
    plain = not action.conflict and pair.mapping is None and pair.state(target).entry is None
    return "create" if plain and run.complete[target] else ""
