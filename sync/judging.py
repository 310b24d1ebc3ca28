"""Planning under the sync controls (sync.controls): the engine's plan when an integration filters, shapes, windows
or keeps both versions of a conflict. With the default controls sync.engine.plan never comes here.

Words used below: the *source* of a change is the side it happened on, the *target* the other side. A mapping's
`origin` is the side calsync copied the item from ("" when both sides already held it): only a copy calsync made
(its target is `origin.other`) is ever removed because of a filter, and only such a copy is ever shaped. A shaped
copy is a *mirror*: its mapping keeps the source's hash in `content_hash` and the copy's in `copy_hash`, and the
copy always equals the flow's shape of the source (edits of the copy are undone; the source wins).
"""

from __future__ import annotations

from events.ical import Item

from .controls import HELD, Flow
from .engine import (
    Action,
    Direction,
    Mapping,
    Settings,
    Side,
    _changed,
    _flows,
    _Pair,
    _plan_conflict,
    _plan_new,
    _touched,
    content_hash,
    shaped_held,
)


def plan_controlled(pair: _Pair, settings: Settings, complete: frozenset[Side]) -> Action | None:
    mapping = pair.mapping
    if mapping is None:
        return _new(pair, settings)
    if pair.local.deleted and pair.remote.deleted:
        return Action("forget", Side.LOCAL, pair)
    if _mirrored(pair, mapping, settings):
        return _mirror(pair, settings, mapping, complete)
    return _mapped(pair, settings, mapping, complete)


def _mirrored(pair: _Pair, mapping: Mapping, settings: Settings) -> bool:
    """A shaped copy, or a plain copy whose flow shapes its source now (it becomes one)."""
    if not mapping.origin:
        return False
    origin = Side(mapping.origin)
    entry = pair.state(origin).entry
    return bool(mapping.copy_hash) or (entry is not None and _shape(settings, origin, entry.item) is not None)


def _shape(settings: Settings, source: Side, item: Item) -> Flow | None:
    """The flow whose shape a copy of `source`'s `item` is, when it flows and that copy leaves part of it out."""
    flow = settings.controls.flow(source)
    return flow if _flows(settings, source) and flow.shapes_item(item) else None


# --- items no mapping knows ----------------------------------------------------------------------------


def _new(pair: _Pair, settings: Settings) -> Action | None:
    local, remote = pair.local.entry, pair.remote.entry
    if local is not None and remote is not None:
        return _mirror_found(pair, settings) or _held_new(pair, settings) or _plan_new(pair, settings)
    source = Side.LOCAL if local is not None else Side.REMOTE
    entry = local or remote
    if entry is None or not _flows(settings, source):
        return None
    controls = settings.controls
    if not controls.in_window(entry.item):
        return None
    if reason := controls.admit(source, entry.item):
        return Action("filtered", source, pair, reason=reason)
    return Action("write", source.other, pair, shape=_shape(settings, source, entry.item))


def _mirror_found(pair: _Pair, settings: Settings) -> Action | None:
    """Both sides hold the item, one as the other's shaped copy: a mirror whose record was lost (a crash after the
    copy was written). Record it as such, rather than let the copy win a conflict over its own source."""
    for source in Side:
        flow = settings.controls.flow(source)
        entry, copy = pair.state(source).entry, pair.state(source.other).entry
        if not (entry is not None and copy is not None and _shape(settings, source, entry.item)):
            continue
        if content_hash(flow.shape(entry.item)) == content_hash(copy.item):
            return Action("record", source.other, pair, shape=flow)
    return None


def _held_new(pair: _Pair, settings: Settings) -> Action | None:
    """Both sides already held the item, with different content, and a shaping flow would copy one over the other:
    neither is written (that would leak the whole source, or overwrite the user's own item); each side keeps its
    own, paired with no origin, and the controls hold back the source's later edits (see _held)."""
    for source in Side:
        entry = pair.state(source).entry
        if entry is not None and _shape(settings, source, entry.item) is not None:
            return Action("held", source, pair, reason=HELD)
    return None


def _held(pair: _Pair, settings: Settings, changed: dict[Side, bool]) -> Action | None:
    """A pair with no origin (both sides held the item before calsync paired them): a shaping flow never writes
    over the other side's own item. The source's edits are held back (and said; a deletion goes on as in any
    pair), and a one-way sync does not put the source's whole version back over an edit of the target."""
    for source in Side:
        state = pair.state(source)
        if not changed[source] or not _flows(settings, source):
            continue
        if state.entry is not None and _shape(settings, source, state.entry.item) is not None:
            return Action("held", source, pair, reason=HELD)
    for source in Side:
        if changed[source] and not _flows(settings, source) and settings.controls.flow(source.other).shapes:
            return Action("record", source, pair)
    return None


# --- a mirror: a shaped copy of its origin --------------------------------------------------------------


def _mirror(pair: _Pair, settings: Settings, mapping: Mapping, complete: frozenset[Side]) -> Action | None:
    origin = Side(mapping.origin)
    copy = origin.other
    source, target = pair.state(origin), pair.state(copy)
    if not _flows(settings, origin):
        # The direction no longer carries the origin's changes: the copy is the target's to keep, and it is never
        # written back over its source (which holds what the copy left out).
        return Action("forget", copy, pair) if source.deleted or target.deleted else _record_touched(pair, mapping)
    if source.deleted:
        return Action("delete", copy, pair)
    copy_changed = target.deleted or (
        _touched(target, mapping, copy)
        and target.entry is not None
        and content_hash(target.entry.item) != (mapping.copy_hash or mapping.content_hash)
    )
    if _changed(source, mapping, origin) or (source.entry is not None and origin in complete):
        return _judge(pair, settings, origin, force=copy_changed)
    if copy_changed:
        return Action("reshape", copy, pair)  # the source is read again, and judged
    return _record_touched(pair, mapping)


def _record_touched(pair: _Pair, mapping: Mapping) -> Action | None:
    touched = _touched(pair.local, mapping, Side.LOCAL) or _touched(pair.remote, mapping, Side.REMOTE)
    return Action("record", Side.LOCAL, pair) if touched else None


def _judge(pair: _Pair, settings: Settings, origin: Side, force: bool = False) -> Action | None:
    """The copy of an item calsync copied from `origin` (whose entry the pair holds), as the controls want it now:
    removed if the item is filtered out, left alone outside the window, else written when it differs (`force`:
    the copy was changed or deleted, and is put back)."""
    mapping, entry = pair.mapping, pair.state(origin).entry
    assert mapping is not None and entry is not None
    copy = origin.other
    controls = settings.controls
    if not controls.in_window(entry.item):
        return None  # left alone: neither written nor removed while it is outside the window
    if reason := controls.admit(origin, entry.item):
        if pair.state(copy).deleted:
            return Action("forget", copy, pair)
        return Action("delete", copy, pair, reason=reason)
    shape = _shape(settings, origin, entry.item)
    if shape is not None:
        stale = content_hash(shape.shape(entry.item)) != (mapping.copy_hash or mapping.content_hash)
    else:
        stale = bool(mapping.copy_hash) or content_hash(entry.item) != mapping.content_hash
    if force or stale or pair.state(copy).deleted:
        return Action("write", copy, pair, shape=shape)
    return _record_touched(pair, mapping)


# --- a plain pair ----------------------------------------------------------------------------------------


def _mapped(pair: _Pair, settings: Settings, mapping: Mapping, complete: frozenset[Side]) -> Action | None:
    changed = {side: _changed(pair.state(side), mapping, side) or pair.state(side).deleted for side in Side}
    if not mapping.origin and (held := shaped_held(pair, mapping) or _held(pair, settings, changed)):
        return held
    if all(changed.values()):
        conflict = _plan_conflict(pair, settings, pair.local.deleted, pair.remote.deleted)
        return _admitted(conflict, pair, settings) or _kept(conflict, pair, settings)
    if not any(changed.values()):
        origin = Side(mapping.origin) if mapping.origin else None
        judged = origin is not None and origin in complete and pair.state(origin).entry is not None
        if judged and _flows(settings, origin):  # type: ignore[arg-type]
            return _judge(pair, settings, origin)  # type: ignore[arg-type]
        return _record_touched(pair, mapping)
    source = Side.LOCAL if changed[Side.LOCAL] else Side.REMOTE
    state = pair.state(source)
    if not _flows(settings, source):
        return _unfiltered_restore(pair, settings, source)
    if state.deleted:
        return Action("delete", source.other, pair)
    assert state.entry is not None
    if not settings.controls.in_window(state.entry.item):
        return None  # left alone: neither copied, nor deleted because it left the window
    if mapping.origin == source.value:
        return _judge(pair, settings, source, force=True)
    if reason := settings.controls.admit(source, state.entry.item):
        # The target's own item: never deleted for it. Its version is not recorded, so that the edit held back
        # stays visible: a write of the other side's next change meets it (a precondition, then a conflict), and
        # the next complete listing judges it again (after the controls changed, say) without any hashing.
        return Action("filtered", source, pair, reason=reason)
    return Action("write", source.other, pair)


def _unfiltered_restore(pair: _Pair, settings: Settings, changed: Side) -> Action:
    """One-way: the copy calsync made was changed or deleted. Put back, unless the controls now filter its source
    out (then it is removed, or stays deleted)."""
    source, mapping = changed.other, pair.mapping
    entry = pair.state(source).entry
    reason = settings.controls.admit(source, entry.item) if entry is not None else None
    if reason and mapping is not None and mapping.origin == source.value:
        return (
            Action("forget", changed, pair)
            if pair.state(changed).deleted
            else Action("delete", changed, pair, reason=reason)
        )
    return Action("restore", changed, pair)


def _admitted(action: Action | None, pair: _Pair, settings: Settings) -> Action | None:
    """A conflict's winner the controls now filter out is not copied over the loser: a loser that was deleted
    stays deleted (the pair ends), a copy calsync made is removed, and the loser's own item is left as it is.
    None: the winner is admitted (or nothing is written)."""
    if action is None or action.kind != "write":
        return None
    source = action.target.other
    entry = pair.state(source).entry
    reason = settings.controls.admit(source, entry.item) if entry is not None else None
    if not reason:
        return None
    if pair.state(action.target).deleted:
        return Action("forget", action.target, pair)
    if pair.mapping is not None and pair.mapping.origin == source.value:
        return Action("delete", action.target, pair, reason=reason)
    return Action("filtered", source, pair, reason=reason)


def _kept(action: Action | None, pair: _Pair, settings: Settings) -> Action | None:
    """Keep both: the conflict is won as without it, and the losing version (when it was changed, not deleted)
    is also kept, as a new item in calsync."""
    from .controls import Conflicts

    if action is None or not action.conflict or settings.controls.conflicts is not Conflicts.KEEP_BOTH:
        return action
    if settings.direction is not Direction.BOTH:
        return action
    loser = pair.state(action.target).entry
    if loser is not None:
        action.keep = loser.item
    return action
