"""One Exchange calendar folder as a sync side, over Exchange Web Services.

Reads use SyncFolderItems: the sync state is the cursor, and a round with nothing new is one request.
EWS reports a recurring series as one item (its recurring master); an edited occurrence is an exception
listed in the master's ModifiedOccurrences and a cancelled one in DeletedOccurrences, and either changes
the master's ChangeKey. So an Exchange series is one calsync series with overrides and EXDATEs, and the
master's ChangeKey is its version. Writes address single occurrences by OccurrenceItemId (the master and
the occurrence's 1-based index in the pattern).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib import CalendarItem
from exchangelib import errors as ews_errors
from exchangelib.folders import Calendar, Root
from exchangelib.items import HARD_DELETE, MOVE_TO_DELETED_ITEMS, SEND_TO_ALL_AND_SAVE_COPY, SEND_TO_NONE, SOFT_DELETE

from events.ical import Component, Item, as_utc
from events.recurrence import Budget, rule_starts
from integrations.microsoft.convert import pattern_from_rrule, rrule_from_pattern
from sync.adapter import Changes, Entry, Known
from sync.errors import UNREADABLE, ItemRejected, NotFound, PreconditionFailed, SyncError

from . import invitations
from .client import UPDATE_CREDENTIALS, translated
from .convert import CARRIED, Unsupported, calsync_uid, local_time, to_component, to_fields

_READ = ["changekey", "subject", "body", "location", "sensitivity", "start", "end", "is_all_day",
         "legacy_free_busy_status", "reminder_is_set", "reminder_minutes_before_start", "uid",
         "organizer", "required_attendees", "optional_attendees", "recurrence", "modified_occurrences",
         "deleted_occurrences", "original_start", "is_cancelled", "type", "_start_timezone",
         "_end_timezone", "categories", *CARRIED]  # fmt: skip
# What a change to a series' timing touches: Exchange drops the series' exceptions when it changes.
_TIMING = ("start", "end", "is_all_day", "recurrence", "_start_timezone", "_end_timezone")
SYNC_PAGE = 512  # the most SyncFolderItems returns at once
BULK_CREATE = 100  # events per CreateItem request
log = logging.getLogger(__name__)
_MAX_OCCURRENCES = 5000
READ_KEPT = 1000  # items kept from a read for the update that follows (two pages of the engine's batches)


class ExchangeSide:
    takes_known = True  # changes() leaves out the echo of the sync's own writes (sync/adapter.py's Known)

    def __init__(self, account: Any, folder_id: str, zone: str = "UTC", refused: str = UPDATE_CREDENTIALS) -> None:
        self.account = account
        self.zone = zone
        # A folder object from its id: no GetFolder round trip before each sync.
        self.folder = Calendar(root=Root(account=account), id=folder_id)
        self.refused = refused  # what the integration page offers when Exchange refuses the login
        self.mailbox = str(account.primary_smtp_address).lower()
        # A delegate may not DeleteItem into the owner's Deleted Items (ErrorCannotDeleteObject); learnt once.
        self.delete_type = MOVE_TO_DELETED_ITEMS
        # Items read by id (get, get_many) and not written since: an update takes the item (its ChangeKey) from
        # here instead of asking again. A stale one is harmless: UpdateItem with NeverOverwrite refuses a stale
        # ChangeKey (ErrorIrresolvableConflict: PreconditionFailed), and the engine reads it afresh.
        self._kept: dict[str, CalendarItem] = {}

    def _translated(self, *, writing: bool = False) -> AbstractContextManager[None]:
        return translated(writing=writing, refused=self.refused)

    # --- reading ----------------------------------------------------------------------------------------

    def changes(self, cursor: str | None, known: Known | None = None) -> Changes:
        """Streams: one SyncFolderItems page at a time (ids and ChangeKeys only), the page's items then read in
        GetItem batches, leaving out the echo of the sync's own writes before they are fetched. The first page is
        read here, so that a forgotten sync state is CursorExpired from this call; the cursor is the last page's
        sync state, filled in once `changed` is exhausted."""
        # exchangelib falls back to the state the folder object kept from a previous round; a listing from the
        # start must really start from nothing.
        self.folder.item_sync_state = None
        listing = self.folder.sync_items(sync_state=cursor or None, only_fields=["changekey"],
                                         max_changes_returned=SYNC_PAGE)  # fmt: skip
        with self._translated():
            first = next(listing, None)
        changes = Changes(changed=(), deleted=[], cursor="", complete=cursor is None, skipped=[])
        pages = self._pages(itertools.chain([first] if first else [], listing))
        changes.changed = self._stream(pages, changes, known or (lambda pairs: set()))
        return changes

    def _pages(self, listing: Iterator[tuple[str, Any]]) -> Iterator[list[tuple[str, Any]]]:
        """The listing's changes a page at a time; exchangelib asks for the next page only when it is reached."""
        page: list[tuple[str, Any]] = []
        while True:
            with self._translated():
                change = next(listing, None)
            if change is None:
                break
            page.append(change)
            if len(page) == SYNC_PAGE:
                yield page
                page = []
        if page:
            yield page

    def _stream(self, pages: Iterator[list[tuple[str, Any]]], changes: Changes, known: Known) -> Iterator[Entry]:
        assert isinstance(changes.deleted, list) and isinstance(changes.skipped, list)
        for page in pages:
            changes.deleted.extend(item.id for kind, item in page if kind == "delete")
            versions = {item.id: item.changekey for kind, item in page if kind in ("create", "update")}
            echo = known(list(versions.items())) if versions else set()
            wanted = [i for i in versions if i not in echo]
            entries, skipped = self._read(wanted)
            read = {e.id for e in entries} | {s[0] for s in skipped}
            changes.deleted.extend(i for i in wanted if i not in read)  # deleted between the listing and the read
            changes.skipped.extend(skipped)
            yield from entries
        changes.cursor = self.folder.item_sync_state

    def _fetch(self, ids: Iterable[str], fields: list[str] = _READ) -> list[Any]:
        wanted = [(i, None) for i in ids]
        if not wanted:
            return []
        with self._translated():
            return list(self.account.fetch(ids=wanted, folder=self.folder, only_fields=fields))

    def _read(self, ids: list[str], keep: bool = False) -> tuple[list[Entry], list[tuple[str, str]]]:
        """Items and, for series, their exceptions: two GetItem round trips for any number of items; with `keep`,
        the items are kept for the update that follows (_current).

        Only ErrorItemNotFound (and a malformed id) means an item is gone; an item (or an exception of a
        series) Exchange cannot hand over is skipped, never taken for deleted.
        """
        masters = self._fetch(ids)
        if keep:
            self._keep([m for m in masters if isinstance(m, CalendarItem)])
        exception_ids = [o.id for m in masters if isinstance(m, CalendarItem) for o in m.modified_occurrences or ()]
        answers = dict(zip(exception_ids, self._fetch(exception_ids), strict=True))
        entries, skipped = [], []
        for item_id, master in zip(ids, masters, strict=True):
            if isinstance(master, ews_errors.ErrorItemNotFound | ews_errors.ErrorInvalidIdMalformed):
                continue  # gone (or never an id of this server): the caller counts it as deleted
            if not isinstance(master, CalendarItem):
                skipped.append((item_id, f"Exchange could not hand this event over ({type(master).__name__})."))
                continue
            own = [answers[o.id] for o in master.modified_occurrences or ()]
            broken = next((e for e in own if not isinstance(e, CalendarItem)), None)
            if broken is not None:
                skipped.append((item_id, f"Exchange could not hand over a changed occurrence of this series "
                                         f"({type(broken).__name__})."))  # fmt: skip
                continue
            try:
                entries.append(self._entry(master, own))
            except (Unsupported, *UNREADABLE) as exc:
                skipped.append((item_id, f"calsync cannot read this Exchange event ({exc})."))
        return entries, skipped

    def _entry(self, master: CalendarItem, exceptions: list[CalendarItem]) -> Entry:
        uid = calsync_uid(master)
        component = to_component(master, uid)
        if master.recurrence is None:
            return Entry(master.id, master.changekey, Item(master=component))
        overrides = sorted((to_component(e, uid, component.start) for e in exceptions),
                           key=lambda o: as_utc(o.recurrence_id))  # fmt: skip
        exdates = tuple(
            _like(component.start, d.start, master._start_timezone) for d in master.deleted_occurrences or ()
        )
        return Entry(master.id, master.changekey,
                     Item(master=replace(component, exdates=exdates), overrides=tuple(overrides)))  # fmt: skip

    def get(self, id: str) -> Entry | None:
        found = self._held([id])
        return found[0] if found else None

    def get_many(self, ids: list[str]) -> dict[str, Entry]:
        """The items with these ids that Exchange still holds, as `get` reads each: two GetItem requests for any
        number of them (the items; the series' exceptions), exchangelib sending 100 ItemIds to a request. This is
        what the engine reads before it overwrites or deletes items (the versions an undo puts back); an update
        then reads nothing again.
        https://learn.microsoft.com/exchange/client-developer/web-service-reference/getitem-operation"""
        return {entry.id: entry for entry in self._held(ids)}

    def _held(self, ids: list[str]) -> list[Entry]:
        """The items Exchange still holds, kept for the update that follows. One it cannot hand over is an error
        (unlike in a listing, where it is skipped): it is not gone."""
        entries, skipped = self._read(ids, keep=True)
        if skipped:
            raise ItemRejected(skipped[0][1])
        return entries

    def find(self, uid: str) -> Entry | None:
        with self._translated():
            found = list(self.folder.filter(calsync_uid=uid).values_list("id", flat=True))
        return self.get(found[0]) if found else None

    # --- writing ----------------------------------------------------------------------------------------

    def check(self, item: Item) -> Item:
        """What create and update refuse (sync.adapter's optional `check`): the master before any request, an
        occurrence on its way."""
        for component in (item.master, *item.overrides):
            self._fields(component, item.uid)
        return item

    def _fields(self, component: Component, uid: str) -> dict[str, Any]:
        if component.kind != "VEVENT":
            raise ItemRejected("Exchange calendars hold events, not tasks: this task stays in calsync.")
        try:
            return to_fields(component, uid, self.zone)
        except Unsupported as exc:
            raise ItemRejected(str(exc)) from exc

    def _new(self, item: Item) -> CalendarItem:
        return CalendarItem(account=self.account, folder=self.folder, **self._fields(item.master, item.uid))

    def create(self, item: Item) -> Entry:
        created = self._new(item)
        sending = invitations.on_create(item.master, self.mailbox)
        with self._translated(writing=True):
            created.save(send_meeting_invitations=sending)
        try:
            return self._finish_series(created.id, item, created.changekey, sending, fresh=True)
        except SyncError:
            self._discard([created], sending)  # half a series is not kept: the item is listed as not synced, whole
            raise

    def create_many(self, items: list[Item]) -> list[Entry]:
        """One CreateItem request per 100 events, SendToNone: a first sync (or a full re-listing) copies what
        exists already, so nobody is emailed, the owner's own meetings included (integrations.meetings); series
        with exceptions are then finished one by one.

        All or nothing: if any part fails, what this call created is deleted again before the error goes up, so
        the engine's one-by-one retry cannot leave a second copy (EWS has no idempotent create).
        """
        sending = invitations.ON_FIRST_SYNC
        made: dict[int, Any] = {}
        try:
            for start in range(0, len(items), BULK_CREATE):
                new = [self._new(item) for item in items[start : start + BULK_CREATE]]
                with self._translated(writing=True):
                    answers = self.account.bulk_create(folder=self.folder, items=new, send_meeting_invitations=sending)
                made.update(enumerate(answers, start))
                failed = next((a for a in answers if isinstance(a, Exception)), None)
                if failed is not None:
                    with self._translated(writing=True):
                        raise failed
            return [self._finish_series(made[n].id, item, made[n].changekey, sending, fresh=True)
                    for n, item in enumerate(items)]  # fmt: skip
        except Exception:
            self._discard([a for a in made.values() if not isinstance(a, Exception)], sending)
            raise

    def _discard(self, created: list[Any], sending: str) -> None:
        if not created:
            return
        try:
            with self._translated():
                self.account.bulk_delete(ids=[(c.id, c.changekey) for c in created], delete_type=HARD_DELETE,
                                         send_meeting_cancellations=sending)  # fmt: skip
        except SyncError:
            log.warning("could not take back %d events of a failed batch create", len(created))

    def _keep(self, items: list[CalendarItem]) -> None:
        if len(self._kept) + len(items) > READ_KEPT:
            self._kept.clear()
        self._kept.update({item.id: item for item in items[-READ_KEPT:]})

    def _current(self, id: str, version: str, fields: list[str] = _READ) -> CalendarItem:
        found = self._fetch([id], fields)
        if not found or not isinstance(found[0], CalendarItem):
            raise NotFound("The event is not in Exchange any more.")
        if version and found[0].changekey != version:
            raise PreconditionFailed("The event changed in Exchange since calsync read it.")
        return found[0]

    def update(self, id: str, item: Item, version: str) -> Entry:
        kept = self._kept.pop(id, None)
        if kept is not None and version and kept.changekey != version:
            raise PreconditionFailed("The event changed in Exchange since calsync read it.")
        current = kept or self._current(id, version)
        names, fields = self._changed(current, item)
        sending = invitations.on_update(item.master, current, self.mailbox)
        if names:
            for name in names:
                setattr(current, name, fields[name])
            with self._translated(writing=True):
                current.save(update_fields=names, conflict_resolution="NeverOverwrite",
                             send_meeting_invitations=sending)  # fmt: skip
        return self._finish_series(id, item, current.changekey, sending)  # save() keeps the new ChangeKey

    def _changed(self, current: CalendarItem, item: Item) -> tuple[list[str], dict[str, Any]]:
        """The fields calsync's version changes, and their new values: UpdateItem sets (or deletes) only these,
        so what Exchange holds beyond calsync's model (an HTML body, NoData, fields Outlook keeps) survives.
        Both sides are compared as calsync would write them. Timing only when it changed: Exchange drops a
        series' exceptions when it is written."""
        fields = self._fields(item.master, item.uid)
        now = self._fields(to_component(current, calsync_uid(current)), item.uid)
        timing_changed = _timing(to_component(current, calsync_uid(current)), self.zone) != _timing(
            item.master, self.zone
        )
        names = [n for n in fields if (n in _TIMING and timing_changed) or (n not in _TIMING and now[n] != fields[n])]
        return names, fields

    def delete(self, id: str, version: str) -> None:
        # Read afresh, never from what get/get_many kept: DeleteItem ignores the ChangeKey it is given, so only a
        # read right before it can tell that the item changed since.
        # https://learn.microsoft.com/archive/blogs/pcreehan/deleteitem-ignores-changekeys
        self._kept.pop(id, None)
        current = self._current(id, version, invitations.DELETE_FIELDS)
        sending = invitations.on_delete(current, self.mailbox)
        # Into Deleted Items, where the user can still recover it, rather than gone for good; a delegate, whom
        # DeleteItem refuses that, into Recoverable Items (SoftDelete), still recoverable.
        # https://learn.microsoft.com/exchange/client-developer/web-service-reference/deleteitem-operation
        answer = self._delete(current, sending)
        if isinstance(answer, ews_errors.ErrorCannotDeleteObject) and self.delete_type == MOVE_TO_DELETED_ITEMS:
            self.delete_type = SOFT_DELETE
            answer = self._delete(current, sending)
        if isinstance(answer, Exception):
            with self._translated(writing=True):
                raise answer

    def _delete(self, current: CalendarItem, sending: str) -> Any:
        with self._translated(writing=True):
            return self.account.bulk_delete(ids=[(current.id, current.changekey)], delete_type=self.delete_type,
                                            send_meeting_cancellations=sending)[0]  # fmt: skip

    def _finish_series(self, master_id: str, item: Item, version: str, sending: str, fresh: bool = False) -> Entry:
        """Make the series' exceptions and cancelled occurrences in Exchange match the item's; the entry as it
        now is. `version` is the master's ChangeKey after calsync's write; `fresh`: just created, nothing to undo.
        A single event, or a series with nothing to change, costs no further request."""
        if not item.master.rrule:
            return Entry(master_id, version, item)
        if fresh:
            entry, have, gone = Entry(master_id, version, item), {}, set()
        else:
            read = self.get(master_id)
            if read is None:
                raise NotFound("The event disappeared from Exchange while calsync wrote it.")
            entry = read
            have = {as_utc(o.recurrence_id): o for o in entry.item.overrides if o.recurrence_id is not None}
            gone = {as_utc(d) for d in entry.item.master.exdates}
        wanted = {as_utc(o.recurrence_id): o for o in item.overrides if o.recurrence_id is not None}
        cancelled = {as_utc(v) for v in item.master.exdates}
        wrote = False
        if gone - cancelled or set(have) - set(wanted):
            # EWS cannot bring back a cancelled occurrence or turn an exception back into a plain one; writing
            # the pattern again clears them all, and the wanted ones are made again below.
            version = self._rewrite_pattern(master_id, entry.version, item, sending)
            have, gone, wrote = {}, set(), True
        master = CalendarItem(account=self.account, folder=self.folder, id=master_id, changekey=version)
        for moment, override in wanted.items():
            if moment in gone or moment in cancelled or _same(have.get(moment), override):
                continue
            fields = self._fields(override, item.uid)
            if moment in have:  # an exception already: set only what differs from it in Exchange
                now = self._fields(have[moment], item.uid)
                fields = {n: v for n, v in fields.items() if now.get(n) != v}
            wrote |= self._change_occurrence(master, item.master, moment, fields, sending)
        for moment in cancelled - gone:
            index = _index_of(item.master, moment)
            if index is None:
                log.warning("a cancelled occurrence is not in the series' pattern; left as it is")
                continue
            with self._translated(writing=True):
                cancel = SEND_TO_NONE if sending == SEND_TO_NONE else SEND_TO_ALL_AND_SAVE_COPY
                master.occurrence(index).delete(send_meeting_cancellations=cancel)
            wrote = True
        if not wrote:
            return entry
        written = self.get(master_id)  # occurrences changed the master's ChangeKey
        if written is None:
            raise NotFound("The event disappeared from Exchange while calsync wrote it.")
        return written

    def _rewrite_pattern(self, master_id: str, version: str, item: Item, sending: str) -> str:
        fields = self._fields(item.master, item.uid)
        master = CalendarItem(account=self.account, folder=self.folder, id=master_id, changekey=version)
        names = [n for n in _TIMING if n in fields]
        for name in names:
            setattr(master, name, fields[name])
        with self._translated(writing=True):
            master.save(update_fields=names, send_meeting_invitations=sending)
        return str(master.changekey)

    def _change_occurrence(self, master: CalendarItem, series: Component, moment: dt.datetime,
                           fields: dict[str, Any], sending: str) -> bool:  # fmt: skip
        index = _index_of(series, moment)
        if index is None:
            log.warning("a changed occurrence is not in the series' pattern; left as it is")
            return False
        occurrence = master.occurrence(index)
        names = [n for n in fields if n not in ("recurrence", *CARRIED)]
        if not names:
            return False
        for name in names:
            setattr(occurrence, name, fields[name])
        with self._translated(writing=True):
            occurrence.save(update_fields=names, send_meeting_invitations=sending)
        return True


def _index_of(series: Component, moment: dt.datetime) -> int | None:
    """The 1-based index of the occurrence starting at `moment` in the series' pattern, counting cancelled ones."""
    budget = Budget(max_occurrences=_MAX_OCCURRENCES, max_steps=_MAX_OCCURRENCES, seconds=1.0)
    for index, start in enumerate(rule_starts(series, budget=budget), 1):
        at = as_utc(start)
        if at == moment:
            return index
        if at > moment:
            return None
    return None


def _like(start: Any, moment: Any, zone: Any) -> dt.datetime | dt.date:
    """A cancelled occurrence's start in the series' own terms: the zone's time, or for an all-day series the
    day it falls on where the series is (Exchange gives local midnight as a UTC time)."""
    value = local_time(moment, zone)
    if isinstance(start, dt.datetime) and start.tzinfo is None:
        return value.replace(tzinfo=None)  # a floating series: the wall time in the zone it was written in
    if isinstance(start, dt.datetime):
        return value.astimezone(start.tzinfo)
    return value.date()


def _timing(component: Component, zone: str) -> tuple[Any, ...]:
    """What decides a series' occurrences, compared as Exchange would store it (instants, the normalised rule)."""

    def instant(value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=ZoneInfo(zone))
        return as_utc(value) if value is not None else None

    rule = component.rrule
    if rule and component.start is not None:
        with suppress(Unsupported):
            rule = rrule_from_pattern(pattern_from_rrule(rule, component.start), component.start)
    return instant(component.start), instant(component.end), isinstance(component.start, dt.datetime), rule


def _same(have: Component | None, want: Component) -> bool:
    if have is None:
        return False
    keys = (
        "summary",
        "description",
        "location",
        "start",
        "end",
        "transparency",
        "busy_status",
        "visibility",
        "attendees",
        "alarms",
        "categories",
    )
    return all(getattr(have, k) == getattr(want, k) for k in keys)
