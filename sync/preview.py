"""The dry run behind a preview: what a sync would create, update and delete on each side, worked out by the real
engine (engine.sync: the same planning and the same passes as the sync itself) with nothing written.

Reads reach both calendars as in a sync; every write is refused as the side's own write refuses it (its `check`),
else recorded and answered with a made-up entry instead of being sent (RecordingSide); mappings and cursors change
only in memory (PreviewStore); what the engine reports is counted, with a few examples (PreviewReport). The echo
passes run too: they read back the recorded writes as the side would hold them, so what a run carries back in the
same run (keep-both copies, assignment rules' additions) is counted. The mass-delete guard decides as in a sync: its
stop is part of the result ("the sync would stop for safety").

What it cannot know: a write the provider refuses only once it is sent (a server's own validation, a quota), and
what changes at either calendar between the preview and the sync.
"""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from events.ical import Item
from events.limits import printable
from integrations import registry
from integrations.meetings import owners_meeting
from integrations.models import Integration
from integrations.providers import Provider

from .adapter import CalendarSide, Changes, Entry, Known, get_many
from .controls import Controls
from .engine import Mapping, Report, Side, sync
from .errors import NotFound, SafetyStop
from .models import SyncPreview, SyncRun
from .store import DbStatusStore

EXAMPLES = 5  # items shown for each (side, action)
# The side's methods a RecordingSide answers itself, offered only where the side offers them.
_OVERLAID = ("create", "create_many", "update", "update_many", "delete", "delete_many", "get_many")
# Providers that never email anyone: a calsync calendar, a read-only feed.
_SILENT = (Provider.CALSYNC, Provider.ICS)
# The trigger of the run a confirmed preview starts: a side built for a user's run may read differently (ICS).
TRIGGER = {SyncPreview.Reason.FIRST: SyncRun.Trigger.FIRST, SyncPreview.Reason.RESYNC: SyncRun.Trigger.RESYNC}


# --- the sides: reads pass through, writes are recorded -----------------------------------------------------------


class RecordingSide:
    """A calendar side whose reads reach the calendar and whose writes never do: each is refused as the side
    refuses it (its `check`), else recorded (what would be written, by UID; the ids that would be deleted) and
    answered with an entry the engine records in memory. The run's read-back (the engine's echo passes: a listing
    since the cursor this side's listing handed out) lists what the run wrote as the side would show it: as written,
    or with what calsync's assignment rules add, which the sync then carries back."""

    def __init__(self, side: CalendarSide) -> None:
        self._side = side
        self.items: dict[str, Item] = {}  # UID -> what a write would put there
        self.batched: set[str] = set()  # UIDs created in a batch (a complete listing's copies of what exists)
        self.deleted: list[str] = []  # ids a deletion would remove
        self._held: dict[str, Entry] = {}  # id -> the entry a write left, as the side would now hold it
        self._echo: dict[str, Entry] = {}  # what the next read-back lists, by id
        self._gone: list[str] = []  # ids the next read-back lists as deleted
        self._listing: Changes | None = None
        self._ids, self._versions = itertools.count(1), itertools.count(1)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._side, name)  # AttributeError for a batch method the side lacks: the engine then
        if name in _OVERLAID:  # writes (and reads) one by one, as it would in the sync
            return getattr(self, f"_{name}")
        return value

    # --- reads: the calendar, overlaid with the run's writes

    def changes(self, cursor: str | None, known: Known | None = None) -> Changes:
        if self._listing is not None and cursor == self._listing.cursor:
            return self._read_back(cursor, known)
        self._listing = self._side.changes(cursor) if known is None else self._side.changes(cursor, known=known)  # type: ignore[call-arg]
        return self._listing

    def _read_back(self, cursor: str, known: Known | None) -> Changes:
        echo, gone = list(self._echo.values()), self._gone
        self._echo, self._gone = {}, []
        skip = known([(e.id, e.version) for e in echo]) if known is not None and echo else set()
        return Changes(changed=[e for e in echo if e.id not in skip], deleted=gone, cursor=cursor)

    def get(self, id: str) -> Entry | None:
        if id in self.deleted:
            return None
        return self._held[id] if id in self._held else self._side.get(id)

    def _get_many(self, ids: list[str]) -> dict[str, Entry]:
        read = [i for i in ids if i not in self._held and i not in self.deleted]
        found = get_many(self._side, read) if read else {}
        return {**found, **{i: e for i in ids if i in self._held and (e := self.get(i)) is not None}}

    def find(self, uid: str) -> Entry | None:
        held = next((e for e in self._held.values() if e.uid == uid), None)
        found = held or self._side.find(uid)
        return None if found is None or found.id in self.deleted else found

    # --- writes: refused or recorded

    def _stored(self, item: Item) -> Item:
        (stored,) = self._stored_many([item])
        return stored

    def _stored_many(self, items: list[Item]) -> list[Item]:
        """What the side would hold of a batch (`check_many` where it checks a batch at once, as a calsync calendar
        does), or its refusal."""
        if hasattr(self._side, "check_many"):
            return self._side.check_many(items)  # type: ignore[no-any-return]
        check = getattr(self._side, "check", None)
        return items if check is None else [check(item) for item in items]

    def _written(self, item: Item, stored: Item, id: str = "") -> Entry:
        id = id or f"preview:{next(self._ids)}"
        self.items[item.uid] = item
        version = f"preview:{next(self._versions)}"
        entry = Entry(id=id, version=version, item=item)
        # What the side adds to a write is a version of its own, which the read-back finds (sync.local._written).
        held = entry if stored == item else Entry(id=id, version=f"{version}+", item=stored)
        self._held[id] = self._echo[id] = held
        return entry

    def _create(self, item: Item) -> Entry:
        return self._written(item, self._stored(item))

    def _create_many(self, items: list[Item]) -> list[Entry]:
        stored = self._stored_many(items)  # a refusal refuses the batch, as the side's own does
        self.batched.update(item.uid for item in items)
        return [self._written(item, kept) for item, kept in zip(items, stored, strict=True)]

    def _update(self, id: str, item: Item, version: str) -> Entry:
        stored = self._stored(item)
        # An update of an item gone from the side fails there, and the sync creates it instead: so here too.
        if self.get(id) is None:
            raise NotFound(id)
        return self._written(item, stored, id)

    def _update_many(self, writes: list[tuple[str, Item, str]]) -> list[Entry]:
        stored = self._stored_many([item for _, item, _ in writes])
        held = self._get_many([id for id, _, _ in writes])
        if any(id not in held for id, _, _ in writes):
            raise NotFound("Some of these items are gone.")  # the engine then goes one by one, as the sync does
        return [self._written(item, kept, id) for (id, item, _), kept in zip(writes, stored, strict=True)]

    def _delete(self, id: str, version: str) -> None:
        self.deleted.append(id)
        self._echo.pop(id, None)
        self._gone.append(id)

    def _delete_many(self, deletions: list[tuple[str, str]]) -> None:
        for id, version in deletions:
            self._delete(id, version)


# --- the status store: read from the database, changed in memory --------------------------------------------------


class PreviewStore(DbStatusStore):
    """The integration's mappings as the database holds them, overlaid with what the dry run would save or remove;
    nothing is written (the cursors included)."""

    def __init__(self, integration: Integration, local_cursor: str | None, remote_cursor: str | None) -> None:
        super().__init__(integration)
        self.local_cursor, self.remote_cursor = local_cursor, remote_cursor
        self.saved: dict[object, Mapping] = {}  # by pk (negative for a new one)
        self.removed: set[object] = set()
        self._new = itertools.count(-1, -1)

    def _overlaid(self, rows: Iterable[Mapping]) -> Iterator[Mapping]:
        for row in rows:
            if row.pk not in self.removed:
                yield copy.copy(self.saved.get(row.pk, row))

    def _live(self) -> Iterator[tuple[object, Mapping]]:
        """The mappings saved in memory and not removed since, by pk."""
        return ((pk, m) for pk, m in self.saved.items() if pk not in self.removed)

    def _added(self) -> list[Mapping]:
        return [copy.copy(m) for pk, m in self._live() if isinstance(pk, int) and pk < 0]

    def lookup(self, local_ids: Iterable[str], remote_ids: Iterable[str], uids: Iterable[str]) -> list[Mapping]:
        local_ids, remote_ids, uids = set(local_ids), set(remote_ids), set(uids)
        candidates = [*self._overlaid(super().lookup(local_ids, remote_ids, uids)), *self._added()]
        candidates += [copy.copy(m) for pk, m in self._live() if isinstance(pk, int) and pk > 0]
        found = {m.pk: m for m in candidates
                 if m.local_id in local_ids or m.remote_id in remote_ids or m.uid in uids}  # fmt: skip
        return list(found.values())

    def all(self) -> list[Mapping]:
        return [*self._overlaid(super().all()), *self._added()]

    def pages(self, size: int) -> Iterator[list[Mapping]]:
        for page in super().pages(size):
            yield list(self._overlaid(page))
        added = self._added()
        for start in range(0, len(added), size):
            yield added[start : start + size]

    def count(self) -> int:
        return super().count() + len(self._added()) - sum(1 for pk in self.removed if isinstance(pk, int) and pk > 0)

    def known(self, side: Side, pairs: Sequence[tuple[str, str]]) -> set[str]:
        found = super().known(side, pairs)
        versions = dict(pairs)
        for _, mapping in self._live():
            item_id = mapping.id(side)
            if item_id in versions:
                found.discard(item_id)  # the database's version may be stale: the one in memory decides
                if mapping.version(side) == versions[item_id]:
                    found.add(item_id)
        return found

    def save(self, mapping: Mapping) -> None:
        if mapping.pk is None:
            mapping.pk = next(self._new)
        self.saved[mapping.pk] = copy.copy(mapping)

    def save_many(self, mappings: list[Mapping]) -> None:
        for mapping in mappings:
            self.save(mapping)

    def remove(self, mapping: Mapping) -> None:
        if mapping.pk is not None:
            self.removed.add(mapping.pk)

    def remove_many(self, mappings: list[Mapping]) -> None:
        for mapping in mappings:
            self.remove(mapping)

    def save_cursors(self, local: str | None, remote: str | None) -> None:
        self.local_cursor, self.remote_cursor = local, remote


# --- the report: counts and examples -------------------------------------------------------------------------------


@dataclass
class PreviewReport:
    """What the engine would report, kept in memory: counts and UIDs per (side, action), a few examples. It
    implements sync.engine.Report method for method (tests/sync/test_preview_fidelity.py holds it to that)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    uids: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    examples: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)  # (uid, title)
    conflicts: int = 0

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
        self._count(target, action, uid, title)

    def withheld(self, side: Side, uid: str, title: str, item: Item | None = None) -> None:
        self._count(side, "withheld", uid, title)

    def _count(self, side: Side, action: str, uid: str, title: str) -> None:
        key = (side.value, action)
        self.counts[key] += 1
        self.uids.setdefault(key, set()).add(uid)
        shown = self.examples.setdefault(key, [])
        if len(shown) < EXAMPLES:
            shown.append((uid, title))

    def conflict(self, winner: Side, uid: str, title: str, message: str, loser: Item | None) -> None:
        self.conflicts += 1

    def unsynced(
        self, side: Side, uid: str, title: str, reason: str, source: str = "", item: Item | None = None
    ) -> None:
        """Counted once per item, as the unsynced-items list holds it (which is the sync's to keep)."""
        if uid not in self.uids.get((side.value, "unsynced"), set()):
            self._count(side, "unsynced", uid, title)

    def settled(self, side: Side, ids: Sequence[str]) -> None:
        """Nothing to clear: the unsynced-items list is the sync's to keep."""

    def note(self, message: str, uid: str = "", item: Item | None = None) -> None:
        """Notes are the sync's to log; a preview keeps none."""

    def filtered(self, side: Side, uid: str, title: str, reason: str, item: Item | None = None) -> None:
        self._count(side, "filtered", uid, title)


# --- one dry run ------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the sync would do: counts as SyncRun.counts names them, the UIDs per (side, action), examples,
    invitations, conflicts, and the safety stop's message if the mass-delete guard would stop it."""

    counts: dict[str, dict[str, int]]
    uids: dict[tuple[str, str], set[str]]
    examples: list[dict[str, Any]]
    invitations: dict[str, Any]
    conflicts: int
    stop: str = ""


def preview_compute(*, integration: Integration, reason: str, proposed: dict[str, Any] | None = None) -> Outcome:
    """The dry run of the sync that confirming a `reason` preview would start, with the `proposed` settings
    (direction, primary, controls) instead of the integration's. Writes nothing anywhere.

    Raises what a sync raises for the run as a whole (AuthRevoked, TransientError, PermanentError...)."""
    from .services import _engine_settings, build_sides

    planned = planned_integration(integration, reason, proposed or {})
    local, remote = build_sides(planned)
    sides = {Side.LOCAL: RecordingSide(local), Side.REMOTE: RecordingSide(remote)}
    store = PreviewStore(integration, *_cursors(integration, planned, reason))
    report = PreviewReport()
    told: Report = report  # (the type check holds PreviewReport to the engine's protocol)
    stop = ""
    try:
        sync(sides[Side.LOCAL], sides[Side.REMOTE], store, _engine_settings(planned), told)  # type: ignore[arg-type]
    except SafetyStop as exc:
        stop = f"The sync would stop for safety: {exc}"
    return Outcome(
        counts=_counts(report.counts),
        uids=report.uids,
        examples=_examples(report, sides),
        invitations=_invitations(planned, sides[Side.REMOTE], remote),
        conflicts=report.conflicts,
        stop=stop,
    )


def planned_integration(integration: Integration, reason: str, proposed: dict[str, Any]) -> Integration:
    """A copy of the integration (never saved) carrying the settings the confirmed sync would run with."""
    planned = copy.copy(integration)
    for name in ("direction", "primary", "controls"):
        if name in proposed:
            setattr(planned, name, proposed[name])
    planned.direction = planned.effective_direction
    planned.allow_mass_delete = integration.allow_mass_delete or reason == SyncPreview.Reason.DELETIONS
    planned.lock_trigger = TRIGGER.get(reason, SyncRun.Trigger.MANUAL)
    return planned


def _cursors(integration: Integration, planned: Integration, reason: str) -> tuple[str | None, str | None]:
    """Where the confirmed sync would start reading: nowhere for a first sync; from scratch for a resync and
    new controls (as resync_request and integration_controls_update clear them), or when its run compares
    everything anyway (sync.services); else the integration's cursors."""
    from .services import _compare_all_due

    if reason == SyncPreview.Reason.FIRST:
        return None, None
    new_controls = Controls.from_json(planned.controls).to_json() != Controls.from_json(integration.controls).to_json()
    window = Controls.from_json(planned.controls).window
    if reason == SyncPreview.Reason.RESYNC or new_controls or _compare_all_due(planned.config, window, timezone.now()):
        return None, registry.reset_cursor(planned) or None
    return planned.local_cursor or None, planned.remote_cursor or None


def _counts(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    result: dict[str, dict[str, int]] = {}
    for (side, action), n in sorted(counts.items()):
        result.setdefault(side, {})[action] = n
    return result


def _examples(report: PreviewReport, sides: dict[Side, RecordingSide]) -> list[dict[str, Any]]:
    """A few items per (side, action), with their start and how many attendees they have where known."""
    shown = []
    for (side, action), items in sorted(report.examples.items()):
        for uid, title in items:
            item = sides[Side(side)].items.get(uid)
            start = item.master.start if item is not None else None
            # A refused item's own text may hold what no text column may (a NUL): shown as the log shows it.
            shown.append({"side": side, "action": action, "uid": printable(uid), "title": printable(title),
                          "start": start.isoformat() if start is not None else "",
                          "attendees": len(item.master.attendees) if item is not None else 0})  # fmt: skip
    return shown


def _invitations(planned: Integration, recorded: RecordingSide, remote: CalendarSide) -> dict[str, Any]:
    """Events carrying attendees among what would be written to the other calendar, and how many would be
    emailed by the provider: integrations.meetings' rule (README "Invitations: who gets email when calsync
    writes"). A complete listing's copies (created in batches) email nobody; a later write of a meeting the
    account's owner organises does, as does deleting one (its cancellation)."""
    written = [item for item in recorded.items.values() if item.master.attendees]
    if planned.provider in _SILENT:
        why = "A calsync calendar or a subscribed feed emails nobody."
        return {"with_attendees": len(written), "invitations": 0, "why": why}
    own = _own_addresses(planned, remote)
    if hasattr(remote, "sends_invitation"):  # the side's own rule (CalDAV: the server schedules, or not)
        sent = [i for i in written if remote.sends_invitation(i)]
    else:
        sent = [i for i in written if i.uid not in recorded.batched and owners_meeting(i.master, own)]
    cancelled = _cancelled(recorded, remote, own)
    if sent or cancelled:
        why = ("Meetings you organise that were made or changed in calsync since the last sync are sent to their "
               "guests; deleting one sends the cancellations.")  # fmt: skip
    elif written:
        why = "The meetings would be copied quietly: a first sync or a full comparison emails nobody, and a " \
              "meeting someone else organises is never sent by calsync."  # fmt: skip
    else:
        why = "No event with attendees would be written."
    return {"with_attendees": len(written), "invitations": len(sent) + cancelled, "why": why}


def _own_addresses(planned: Integration, remote: CalendarSide) -> list[str]:
    """The account's own addresses as the provider's side knows them, else its account and the user's email."""
    for name in ("own", "own_addresses"):
        found = getattr(remote, name, None)
        if found is not None:  # empty is an answer: the side knows of no address of the owner's (yet)
            return list(found)
    return [str(planned.config.get("account", "")), planned.user.email]


def _cancelled(recorded: RecordingSide, remote: CalendarSide, own: list[str]) -> int:
    """Deletions of meetings the owner organises: the provider sends their cancellations. Read from the other
    calendar (the deletion's source is gone from calsync), which only deletions cost."""
    if not recorded.deleted:
        return 0
    entries = get_many(remote, recorded.deleted).values()
    return sum(1 for entry in entries if owners_meeting(entry.item.master, own))
