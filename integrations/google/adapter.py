"""One Google calendar as a sync side (sync/adapter.py's contract).

Ids are series (master) event ids. A version is the master's etag, combined
with its exceptions' etags for a series, so a moved occurrence is a change of
the item. Reads use events.list with syncToken and pageToken (a 410 means a
complete listing); writes use If-Match; first syncs insert in batches.

Writes change only what calsync changed (writing.py): an update is an events.patch of the fields whose
value differs from the event as Google holds it, so what calsync does not model (colour, conference data,
attachments, guest permissions, default reminders, other applications' properties) stays. Who Google
emails is decided per write by the invitation policy (writing.send_updates, README "Invitations").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

from googleapiclient.errors import HttpError

from events.ical import Item
from integrations.meetings import organised_elsewhere, owners_meeting
from sync.adapter import Changes, Entry, Known
from sync.errors import UNREADABLE, ItemRejected, NotFound, PreconditionFailed

from .client import GoogleApi, translate
from .convert import STATUS_TYPES, instance_id, to_event, to_item
from .writing import changed_fields, guest_visible, import_body, primary_calendar, send_updates

PAGE_SIZE = 2500  # Google's largest page
READ_KEPT = 1000  # events kept from a read for the write that follows (two pages of the engine's batches)


def version_of(master: dict[str, Any], exceptions: Iterable[dict[str, Any]]) -> str:
    tags = sorted(e["etag"] for e in exceptions)
    if not tags:
        return str(master["etag"])
    return hashlib.sha256("|".join([master["etag"], *tags]).encode()).hexdigest()[:32]


Group = tuple[dict[str, Any], list[dict[str, Any]]]  # a master (or single event) and its exceptions


def _grouped(events: Iterable[dict[str, Any]]) -> dict[str, Group]:
    """Events as series: each master that is not cancelled, with its exceptions."""
    masters: dict[str, dict[str, Any]] = {}
    exceptions: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if "recurringEventId" in event:
            exceptions.setdefault(event["recurringEventId"], []).append(event)
        elif event.get("status") != "cancelled":
            masters[event["id"]] = event
    return {i: (master, exceptions.get(i, [])) for i, master in masters.items()}


class GoogleSide:
    takes_known = True  # changes() leaves out the echo of the sync's own writes (sync/adapter.py's Known)

    def __init__(self, api: GoogleApi, calendar_id: str, zone: str = "UTC", account: str = "") -> None:
        self.api = api
        self.calendar_id = calendar_id
        self.zone = zone
        self.events = api.service.events()
        # The addresses that are this account's own as an organizer: its sign-in address and the calendar's id.
        self.own = {a.lower() for a in (account, calendar_id) if a}
        # Events read by id (get, get_many) and not written since: the write that follows a read (an update's or
        # a deletion's If-Match read, _current) takes the event from here instead of asking again. A stale one is
        # harmless: its etag is the If-Match, so Google answers 412 and the engine reads it afresh.
        self._read: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}

    # --- reading ---------------------------------------------------------------------------------

    def changes(self, cursor: str | None, known: Known | None = None) -> Changes:
        """Streams: one events.list page at a time, converted as it comes (sync/adapter.py's Changes). The first
        page is read here, so that a forgotten sync token (410) is CursorExpired from this call; the cursor is
        the nextSyncToken of the last page, filled in once `changed` is exhausted."""
        params = (
            {"showDeleted": False, "singleEvents": False}
            if cursor is None
            else {"syncToken": cursor, "showDeleted": True}
        )
        changes = Changes(changed=(), deleted=[], cursor="", complete=cursor is None, skipped=[])
        changes.changed = self._stream(self._listing(**params), changes, known or (lambda pairs: set()))
        return changes

    def _listing(self, **params: Any) -> Iterator[dict[str, Any]]:
        """events.list's answers, page by page; the first one is asked for before this returns."""

        def page(token: str | None) -> dict[str, Any]:
            request = self.events.list(calendarId=self.calendar_id, maxResults=PAGE_SIZE, pageToken=token, **params)
            return self.api.execute(request)  # type: ignore[no-any-return]

        def pages(answer: dict[str, Any]) -> Iterator[dict[str, Any]]:
            yield answer
            while answer.get("nextPageToken"):
                answer = page(answer["nextPageToken"])
                yield answer

        return pages(page(None))

    def _stream(self, pages: Iterator[dict[str, Any]], changes: Changes, known: Known) -> Iterator[Entry]:
        read: set[str] = set()  # series read whole already: their events may come on several pages
        for answer in pages:
            yield from self._page(answer.get("items", []), changes, known, read)
            changes.cursor = answer.get("nextSyncToken", "")

    def _page(self, events: list[dict[str, Any]], changes: Changes, known: Known, read: set[str]) -> Iterator[Entry]:
        """One page's items. A single event is complete as listed; a series is read whole (all its exceptions,
        whichever page they are on) by its iCalUID, in one batch for the page's series."""
        masters = {e["id"]: e for e in events if "recurringEventId" not in e}
        gone = [i for i, e in masters.items() if e.get("status") == "cancelled"]
        assert isinstance(changes.deleted, list)
        changes.deleted.extend(gone)
        singles = {i: (e, []) for i, e in masters.items() if i not in gone and not e.get("recurrence")}
        series = {e.get("recurringEventId") or e["id"] for e in events if e["id"] not in singles} - set(gone) - read
        read |= series
        uids = self._series_uids(events, series)
        answers = self._batched(
            [self.events.list(calendarId=self.calendar_id, iCalUID=uid, showDeleted=True, maxResults=PAGE_SIZE)
             for uid in uids]
        )  # fmt: skip
        groups = {**singles, **_grouped([e for answer in answers for e in answer.get("items", [])])}
        yield from self._entries(groups, changes, known)

    def _series_uids(self, events: list[dict[str, Any]], series_ids: set[str]) -> list[str]:
        """The iCalUID of each changed series: from what was listed, else from its master, read in one batch,
        because a cancelled occurrence may come with nothing but id, recurringEventId and originalStartTime.
        https://developers.google.com/calendar/api/v3/reference/events#status"""
        listed = {e.get("recurringEventId") or e["id"]: e["iCalUID"] for e in events if e.get("iCalUID")}
        missing = sorted(series_ids - listed.keys())
        masters = self._batched([self.events.get(calendarId=self.calendar_id, eventId=i) for i in missing])
        found = {m["iCalUID"] for m in masters if m.get("status") != "cancelled"}
        return sorted({listed[i] for i in series_ids if i in listed} | found)

    def _batched(self, requests: list[Any]) -> list[dict[str, Any]]:
        results = self.api.batch(requests)
        for _, failure in results:
            if failure is not None:
                raise translate(failure) if isinstance(failure, HttpError) else failure
        return [answer for answer, _ in results]

    def _entries(self, groups: dict[str, Group], changes: Changes, known: Known) -> Iterator[Entry]:
        """The groups as entries, leaving out (unconverted) those whose version the sync already records: the
        echo of its own writes."""
        versions = {i: version_of(master, exceptions) for i, (master, exceptions) in groups.items()}
        echo = known(list(versions.items())) if versions else set()
        assert isinstance(changes.skipped, list)
        for master_id, (master, exceptions) in groups.items():
            if master_id in echo:
                continue
            try:
                yield Entry(id=master_id, version=versions[master_id], item=to_item(master, exceptions))
            except UNREADABLE as exc:
                changes.skipped.append((master_id, f"calsync cannot read this Google event ({exc})."))

    def _entry(self, master: dict[str, Any], exceptions: list[dict[str, Any]]) -> Entry:
        return Entry(id=master["id"], version=version_of(master, exceptions), item=to_item(master, exceptions))

    def _series(self, uid: str) -> list[dict[str, Any]]:
        return [e for answer in self._listing(iCalUID=uid, showDeleted=True) for e in answer.get("items", [])]

    def get(self, id: str) -> Entry | None:
        found = self._raw(id)
        return self._remembered(id, found) if found is not None else None

    def get_many(self, ids: list[str]) -> dict[str, Entry]:
        """The events with these ids that Google still holds, in batches of 50 events.get (a series' exceptions
        by its iCalUID, in one more batch): what the engine reads before it overwrites or deletes items (the
        versions an undo puts back), so that read costs a request per 50 items, and the writes none more."""
        results = self.api.batch([self.events.get(calendarId=self.calendar_id, eventId=i) for i in ids])
        masters: dict[str, dict[str, Any]] = {}
        for item_id, (answer, failure) in zip(ids, results, strict=True):
            if failure is not None:
                error = translate(failure) if isinstance(failure, HttpError) else failure
                if isinstance(error, NotFound):
                    continue
                raise error
            if answer.get("status") != "cancelled":
                masters[item_id] = answer
        uids = sorted({m["iCalUID"] for m in masters.values() if m.get("recurrence")})
        answers = self._batched(
            [self.events.list(calendarId=self.calendar_id, iCalUID=uid, showDeleted=True, maxResults=PAGE_SIZE)
             for uid in uids]
        )  # fmt: skip
        series: dict[str, list[dict[str, Any]]] = {}
        for uid, answer in zip(uids, answers, strict=True):
            # A series with more exceptions than a page holds is read whole, page by page.
            events = self._series(uid) if answer.get("nextPageToken") else answer.get("items", [])
            for event in events:
                series.setdefault(event.get("recurringEventId", ""), []).append(event)
        return {
            i: self._remembered(i, (m, series.get(i, []) if m.get("recurrence") else [])) for i, m in masters.items()
        }

    def _remembered(self, id: str, found: tuple[dict[str, Any], list[dict[str, Any]]]) -> Entry:
        if len(self._read) >= READ_KEPT:
            self._read.clear()
        self._read[id] = found
        return self._entry(*found)

    def find(self, uid: str) -> Entry | None:
        events = self._series(uid)
        masters = [e for e in events if "recurringEventId" not in e and e.get("status") != "cancelled"]
        if not masters:
            return None
        master = masters[0]
        return self._entry(master, [e for e in events if e.get("recurringEventId") == master["id"]])

    # --- writing -------------------------------------------------------------------------------------

    def import_event(self, body: dict[str, Any]) -> dict[str, Any]:
        """A private copy of an event organised elsewhere (body holds its iCalUID, organizer and attendees):
        events.import keeps the organizer as given and sends nobody an invitation, where events.insert would make
        this account the organizer. https://developers.google.com/calendar/api/v3/reference/events/import"""
        return self.api.execute(self.events.import_(calendarId=self.calendar_id, body=body))  # type: ignore[no-any-return]

    def check(self, item: Item) -> Item:
        """What create and update refuse before any request (sync.adapter's optional `check`)."""
        self._body(item)
        return item

    def _body(self, item: Item) -> dict[str, Any]:
        if item.master.kind != "VEVENT":
            raise ItemRejected("Google Calendar holds events, not tasks: this task stays in calsync.")
        try:
            body = to_event(item.master, item.uid, self.zone)
        except ValueError as exc:
            raise ItemRejected(str(exc)) from exc
        return {**body, "iCalUID": item.uid}

    def _elsewhere(self, item: Item) -> bool:
        """A copy of a meeting someone else organises (its organizer is not this account): integrations.meetings."""
        return organised_elsewhere(item.master, self.own)

    def _insert(self, item: Item, send: str) -> Any:
        """The request that creates the item: a copy of someone else's meeting is imported (their organizer kept,
        nobody emailed); anything else is inserted with this account as organizer."""
        if item.master.event_type in STATUS_TYPES and not primary_calendar(self.calendar_id):
            raise ItemRejected("Google keeps out of office, focus time and working location events only on a "
                               "primary calendar: this one stays in calsync.")  # fmt: skip
        body = self._body(item)
        if self._elsewhere(item):
            return self.events.import_(calendarId=self.calendar_id, body=import_body(body, item.master))
        return self.events.insert(calendarId=self.calendar_id, body=body, sendUpdates=send)

    def create(self, item: Item) -> Entry:
        """A new item in calsync: the owner's own meeting is sent to its guests (README "Invitations")."""
        send = "all" if owners_meeting(item.master, self.own) else "none"
        master = self.api.execute(self._insert(item, send))
        return self._write_overrides(master, item, [], send)

    def create_many(self, items: list[Item]) -> list[Entry]:
        """A first sync: series masters and single events in batches of 50 requests. It copies what exists
        already, so nobody is emailed."""
        results = self.api.batch([self._insert(item, "none") for item in items])
        failures = [exc for _, exc in results if exc is not None]
        if failures:
            first = failures[0]
            raise translate(first) if isinstance(first, HttpError) else PreconditionFailed(str(first))
        return [self._write_overrides(m, item, [], "none") for (m, _), item in zip(results, items, strict=True)]

    def _write_overrides(self, master: dict[str, Any], item: Item, existing: list[dict[str, Any]],
                         send: str) -> Entry:  # fmt: skip
        """Make the series' exceptions in Google match the item's overridden occurrences, patching only what
        differs from each exception as Google holds it."""
        wanted = {instance_id(master["id"], o.recurrence_id): o for o in item.overrides if o.recurrence_id is not None}
        held = {e["id"]: e for e in existing if e.get("status") != "cancelled"}
        written = []
        for event_id, override in wanted.items():
            body = to_event(override, item.uid, self.zone)
            body.pop("recurrence", None)
            old = held.get(event_id)
            changes = changed_fields(body, self._as_written(old, item.uid)) if old else body
            if changes:
                written.append(self._patch(event_id, changes, None, send))
        for stale in held.values():
            if stale["id"] in wanted:
                continue
            # No longer overridden: the occurrence goes back to the series' own times and details.
            body = to_event(item.master, item.uid, self.zone)
            body.pop("recurrence", None)
            body["start"], body["end"] = stale["originalStartTime"], _shifted_end(item, stale["originalStartTime"])
            written.append(self._patch(stale["id"], body, None, send))
        rewritten = {w["id"] for w in written}
        keep = [e for e in existing if e["id"] not in rewritten]
        return self._entry(master, written + keep)

    def _as_written(self, event: dict[str, Any], uid: str, exceptions: list[dict[str, Any]] | None = None) -> Any:
        """The body calsync would write for the event as Google holds it: what a patch is compared with."""
        try:
            body = to_event(to_item(event, exceptions or []).master, uid, self.zone)
        except UNREADABLE:
            return {}
        if "recurringEventId" in event:
            body.pop("recurrence", None)
        return body

    def _patch(self, event_id: str, changes: dict[str, Any], etag: str | None, send: str) -> Any:
        request = self.events.patch(calendarId=self.calendar_id, eventId=event_id, body=changes,
                                    sendUpdates=send if guest_visible(changes) else "none")  # fmt: skip
        if etag:
            request.headers["If-Match"] = etag
        return self.api.execute(request)

    def _current(self, id: str, version: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        entry_events = self._read.pop(id, None) or self._raw(id)
        if entry_events is None:
            raise NotFound("Google has no such event (any more).")
        master, exceptions = entry_events
        if version and version_of(master, exceptions) != version:
            raise PreconditionFailed("The event changed in Google since calsync read it.")
        return master, exceptions

    def _raw(self, id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        try:
            master = self.api.execute(self.events.get(calendarId=self.calendar_id, eventId=id))
        except NotFound:
            return None
        if master.get("status") == "cancelled":
            return None
        if not master.get("recurrence"):
            return master, []
        return master, [e for e in self._series(master["iCalUID"]) if e.get("recurringEventId") == id]

    def update(self, id: str, item: Item, version: str) -> Entry:
        """events.patch of the fields that changed (none changed: no write); the owner's meeting is sent."""
        master, exceptions = self._current(id, version)
        send = send_updates(master, self.own, guests_now=bool(item.master.attendees))
        changes = changed_fields(self._body(item), self._as_written(master, item.uid, exceptions))
        written = self._patch(id, changes, master["etag"], send) if changes else master
        return self._write_overrides(written, item, exceptions, send)

    def delete(self, id: str, version: str) -> None:
        master, _ = self._current(id, version)
        request = self.events.delete(
            calendarId=self.calendar_id, eventId=id, sendUpdates=send_updates(master, self.own)
        )
        request.headers["If-Match"] = master["etag"]
        self.api.execute(request)


def _shifted_end(item: Item, original: dict[str, Any]) -> dict[str, Any]:
    from .convert import parse_when, when

    master = item.master
    start = parse_when(original)
    if master.start is None or master.end is None:
        return original
    return when(start + (master.end - master.start))  # type: ignore[operator]
