"""One Outlook / Microsoft 365 calendar as a sync side, over Microsoft Graph v1.0.

Reads use calendarView/delta over a rolling window (MICROSOFT_SYNC_PAST_DAYS
back, MICROSOFT_SYNC_FUTURE_DAYS ahead): it lists occurrences, so a series is
read back as its master (with the pattern) plus its exceptions, and an
occurrence the pattern has but Graph does not list is a cancelled one. Ids are
single-event and series-master ids; the calsync UID travels as a single-value
extended property and as transactionId, which also makes a repeated create
return the first event instead of a duplicate. Client, project and activity
travel as extended properties too; delta listings cannot expand them, so a
first or full round finds them with one filtered listing of the events that
carry calsync's identity, and a later round reads the single events it
reported again, 20 to a batch.

Writes send Graph only the properties calsync changed (compared with the event
as Outlook holds it), so what calsync does not model stays as Outlook has it,
and an update that does not touch a meeting's details emails no one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings

from events.ical import Component, Item, as_utc
from events.recurrence import Budget, rule_starts
from integrations.meetings import organised_elsewhere
from sync.adapter import Changes, Entry, Known
from sync.errors import UNREADABLE, CursorExpired, ItemRejected, NotFound, PreconditionFailed

from .client import BATCH, GraphClient, batch_error
from .convert import EXPAND, UID_PROPERTY, Unsupported, calsync_uid, patch_for, to_component, to_event

_EXPAND = {"$expand": EXPAND}
_PAGE = {"Prefer": "odata.maxpagesize=200"}
TAGGED_HELD = 5000  # see MicrosoftSide._tagged
READ_KEPT = 1000  # events kept from a read for the write that follows (two pages of the engine's batches)
# Collections (a series' instances) page by 10 unless $top asks for more: https://learn.microsoft.com/graph/paging
_TOP = "200"


def _window() -> tuple[datetime, datetime]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today - timedelta(days=settings.MICROSOFT_SYNC_PAST_DAYS),
            today + timedelta(days=settings.MICROSOFT_SYNC_FUTURE_DAYS))  # fmt: skip


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version(master: dict[str, Any], instances: Iterable[dict[str, Any]] = ()) -> str:
    keys = sorted(i.get("changeKey", "") for i in instances if i.get("type") == "exception")
    if not keys:
        return str(master.get("changeKey") or master.get("@odata.etag", ""))
    return hashlib.sha256("|".join([master.get("changeKey", ""), *keys]).encode()).hexdigest()[:32]


class MicrosoftSide:
    takes_known = True  # changes() leaves out the echo of the sync's own writes (sync/adapter.py's Known)

    def __init__(self, client: GraphClient, calendar_id: str, zone: str = "UTC") -> None:
        self.client = client
        self.calendar_id = calendar_id
        self.zone = zone
        self.calendar_path = f"{client.prefix}/calendars/{quote(calendar_id, safe='')}"
        # The mailbox owner's address, when known: meetings they organise are the only ones written with attendees.
        self.account = client.owner if "@" in client.owner else ""
        # Events read by id (get, get_many) and not written since: the write that follows a read (an update's or a
        # deletion's If-Match read, _current) takes the event from here instead of asking again. A stale one is
        # harmless: its etag is the If-Match, so Graph answers 412 and the engine reads it afresh.
        self._read: dict[str, dict[str, Any]] = {}

    # --- reading ---------------------------------------------------------------------------------------

    def changes(self, cursor: str | None, known: Known | None = None) -> Changes:
        """Streams: one delta page at a time, converted as it comes (sync/adapter.py's Changes). The first page is
        read here, so that a forgotten delta (410, SyncStateNotFound) is CursorExpired from this call; the cursor
        is the last page's deltaLink, filled in once `changed` is exhausted."""
        start, end = _window()
        if cursor is None:
            link = f"{self.calendar_path}/calendarView/delta?startDateTime={_stamp(start)}&endDateTime={_stamp(end)}"
        else:
            try:
                link = json.loads(cursor)["delta"]
            except (ValueError, KeyError, TypeError):
                raise CursorExpired("The stored Outlook sync position is unreadable.") from None
        pages = self._delta(link)
        # A first round lists the whole window: complete within it, silent about what lies outside.
        changes = Changes(changed=(), deleted=[], cursor="", complete=cursor is None, skipped=[], window=(start, end))
        tags = self._tagged() if cursor is None else None
        changes.changed = self._stream(pages, changes, known or (lambda pairs: set()), tags)
        return changes

    def _delta(self, link: str) -> Iterator[dict[str, Any]]:
        """The delta round's answers, page by page; the first one is asked for before this returns."""

        def pages(answer: dict[str, Any]) -> Iterator[dict[str, Any]]:
            yield answer
            while answer.get("@odata.nextLink"):
                answer = self.client.call("GET", answer["@odata.nextLink"], headers=_PAGE, missing=CursorExpired)
                yield answer

        return pages(self.client.call("GET", link, headers=_PAGE, missing=CursorExpired))

    def _stream(self, pages: Iterator[dict[str, Any]], changes: Changes, known: Known,
                tags: dict[str, list[dict[str, str]]] | None) -> Iterator[Entry]:  # fmt: skip
        """Each page's single events (the echo of calsync's own writes left out before they are read again) and
        the series it touches, each series once however many pages list its occurrences."""
        read: set[str] = set()
        waiting: list[str] = []  # series to read, a batch's worth at a time
        assert isinstance(changes.deleted, list)
        for answer in pages:
            values = answer.get("value", [])
            changes.deleted.extend(v["id"] for v in values if "@removed" in v)
            instances = [v for v in values if "@removed" not in v]
            listed = [i for i in instances if i.get("type", "singleInstance") == "singleInstance"]
            echo = known([(i["id"], _version(i)) for i in listed]) if listed else set()
            listed = [i for i in listed if i["id"] not in echo]
            if tags is None:
                singles = self._expanded([i["id"] for i in listed])
            else:
                singles = {e["id"]: {**e, "singleValueExtendedProperties": tags.get(e["id"], [])} for e in listed}
            yield from self._singles(singles.values(), changes)
            series = sorted({i["seriesMasterId"] for i in instances if i.get("seriesMasterId")} - read)
            read.update(series)
            waiting += series
            if len(waiting) >= BATCH:
                yield from self._series(waiting, changes, known)
                waiting = []
            if answer.get("@odata.deltaLink"):
                changes.cursor = json.dumps({"delta": answer["@odata.deltaLink"]})
        yield from self._series(waiting, changes, known)

    def _singles(self, events: Iterable[dict[str, Any]], changes: Changes) -> Iterator[Entry]:
        assert isinstance(changes.skipped, list)
        for event in events:
            try:
                item = Item(master=to_component(event, calsync_uid(event), zone_hint=self.zone))
            except (Unsupported, *UNREADABLE) as exc:
                changes.skipped.append((event["id"], f"calsync cannot read this Outlook event ({exc})."))
                continue
            yield Entry(event["id"], _version(event), item)

    def _tagged(self) -> dict[str, list[dict[str, str]]] | None:
        """The extended properties of the single events calsync wrote (only those carry them), for a whole round:
        one filtered listing finds them (a page per 200) instead of a read per event. Only the properties are
        kept, and of at most TAGGED_HELD events: with more, None, and the round reads each page's single events
        with theirs (a batch per 20) rather than hold them all.
        https://learn.microsoft.com/graph/api/resources/extended-properties-overview"""
        flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{UID_PROPERTY}')"
        query = urlencode({"$filter": flt, "$expand": EXPAND, "$select": "id"}, quote_via=quote)
        link = f"{self.calendar_path}/events?{query}"
        props: dict[str, list[dict[str, str]]] = {}
        while link:
            answer = self.client.call("GET", link, headers=_PAGE)
            props.update({e["id"]: e.get("singleValueExtendedProperties") or [] for e in answer.get("value", [])})
            if len(props) > TAGGED_HELD:
                return None
            link = answer.get("@odata.nextLink", "")
        return props

    def _expanded(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Single events with calsync's extended properties, which delta cannot expand: one batch per 20.
        https://learn.microsoft.com/en-us/graph/api/event-delta#optional-query-parameters"""
        answers = self._batched_events(ids)
        # One deleted since the delta was read is left out: the next round reports it.
        return {event["id"]: event for status, event in answers if status < 300 and event}

    def _batched_events(self, ids: list[str]) -> list[tuple[int, Any]]:
        """Events by id with calsync's extended properties, as `get` reads each: (status, body) per id, 20 ids to a
        JSON batch. https://learn.microsoft.com/graph/json-batching"""
        path = self.client.prefix + "/events/"
        expand = "$expand=" + quote(EXPAND, safe="()=' ")
        return self.client.batch([{"method": "GET", "url": f"{path}{quote(i, safe='')}?{expand}"} for i in ids])

    def _batched_instances(self, master_ids: list[str]) -> list[tuple[int, Any]]:
        """Each series' instances in the window, as `_instances` reads them: (status, first page) per series, 20
        series to a JSON batch; `client.values` reads any further pages."""
        start, end = _window()
        path = self.client.prefix + "/events/"
        window = f"startDateTime={_stamp(start)}&endDateTime={_stamp(end)}&$top={_TOP}"
        return self.client.batch(
            [{"method": "GET", "url": f"{path}{quote(i, safe='')}/instances?{window}"} for i in master_ids]
        )

    def _series(self, master_ids: list[str], changes: Changes, known: Known) -> Iterator[Entry]:
        """Series masters and their instances, read with JSON batching: two round trips per 20 series. A series
        whose version the sync already records is not converted."""
        if not master_ids:
            return
        masters = self._batched_events(master_ids)
        instances = self._batched_instances(master_ids)
        found = [(i, status, master, self.client.values(listed or {}) if status < 300 else [])
                 for i, (status, master), (_, listed) in zip(master_ids, masters, instances, strict=True)
                 if status != 404]  # deleted since the delta was read; the next round reports it  # fmt: skip
        echo = known([(i, _version(m, kept)) for i, status, m, kept in found if status < 300]) if found else set()
        assert isinstance(changes.skipped, list)
        for master_id, status, master, listed in found:
            if master_id in echo:
                continue
            try:
                if status >= 300:
                    raise ValueError(f"Graph answered {status}")
                yield self._series_entry(master, listed)
            except (Unsupported, *UNREADABLE) as exc:
                changes.skipped.append((master_id, f"calsync cannot read this Outlook series ({exc})."))

    def _series_entry(self, master: dict[str, Any], instances: list[dict[str, Any]]) -> Entry:
        uid = calsync_uid(master)
        component = to_component(master, uid, zone_hint=self.zone)
        overrides = [to_component(i, uid, component.start) for i in instances if i.get("type") == "exception"]
        item = Item(master=replace(component, exdates=tuple(self._cancelled(component, instances))),
                    overrides=tuple(sorted(overrides, key=lambda o: as_utc(o.recurrence_id))))  # fmt: skip
        return Entry(master["id"], _version(master, instances), item)

    def _instances(self, master_id: str) -> list[dict[str, Any]]:
        start, end = _window()
        params = {"startDateTime": _stamp(start), "endDateTime": _stamp(end), "$top": _TOP}
        answer = self.client.call("GET", f"{self.client.prefix}/events/{quote(master_id, safe='')}/instances",
                                  params=params)  # fmt: skip
        return self.client.values(answer)  # every page: an instance left out would read as cancelled

    def get(self, id: str) -> Entry | None:
        try:
            master = self.client.call("GET", f"{self.client.prefix}/events/{quote(id, safe='')}", params=_EXPAND)
        except NotFound:
            return None
        if master.get("type") in ("occurrence", "exception"):
            return self.get(master["seriesMasterId"])
        return self._entry(self._remembered(master))

    def get_many(self, ids: list[str]) -> dict[str, Entry]:
        """The events with these ids that Outlook still holds, as `get` reads them, with JSON batching: one
        request per event and one more per series (its instances), 20 to a round trip. This is what the engine
        reads before it overwrites or deletes items (the versions an undo puts back); the writes then read
        nothing again. An id of an occurrence (never one calsync records) is read by `get`, through its series."""
        events: dict[str, dict[str, Any]] = {}
        occurrences = []
        for item_id, (status, event) in zip(ids, self._batched_events(ids), strict=True):
            if status == 404:
                continue
            if status >= 300:
                raise batch_error(status, event)
            if event.get("type") in ("occurrence", "exception"):
                occurrences.append(item_id)
            else:
                events[item_id] = self._remembered(event)
        series = [i for i, event in events.items() if event.get("recurrence")]
        instances = {}
        for master_id, (status, listed) in zip(series, self._batched_instances(series), strict=True):
            if status == 404:  # deleted between the two batches
                events.pop(master_id)
                continue
            if status >= 300:
                raise batch_error(status, listed)
            instances[master_id] = self.client.values(listed or {})  # every page, as _instances reads them
        found = {
            i: self._series_entry(e, instances[i]) if i in instances else self._entry(e) for i, e in events.items()
        }
        found.update({i: entry for i in occurrences if (entry := self.get(i)) is not None})
        return found

    def _remembered(self, master: dict[str, Any]) -> dict[str, Any]:
        if len(self._read) >= READ_KEPT:
            self._read.clear()
        self._read[master["id"]] = master
        return master

    def _entry(self, master: dict[str, Any]) -> Entry:
        """A single event or series master as read (with the calsync identity expanded); a series' instances too."""
        if not master.get("recurrence"):
            return Entry(
                master["id"],
                _version(master),
                Item(master=to_component(master, calsync_uid(master), zone_hint=self.zone)),
            )
        return self._series_entry(master, self._instances(master["id"]))

    def _cancelled(self, master: Any, instances: list[dict[str, Any]]) -> list[datetime | date]:
        """Occurrences the pattern has in the window that Graph does not list: cancelled in Outlook."""
        start, end = _window()
        listed = {as_utc(datetime.fromisoformat(i["originalStart"].replace("Z", "+00:00"))) for i in instances
                  if i.get("originalStart")}  # fmt: skip
        starts = rule_starts(master, budget=Budget.for_request(), after=start, before=end + timedelta(microseconds=1))
        return [value for value in starts if as_utc(value) not in listed]

    def find(self, uid: str) -> Entry | None:
        quoted = uid.replace("'", "''")  # an OData string literal doubles its quotes
        flt = f"singleValueExtendedProperties/Any(ep: ep/id eq '{UID_PROPERTY}' and ep/value eq '{quoted}')"
        answer = self.client.call("GET", f"{self.calendar_path}/events", params={"$filter": flt, **_EXPAND})
        for event in answer.get("value", []):
            if event.get("type", "singleInstance") in ("singleInstance", "seriesMaster"):
                return self._entry(event)
        return None

    # --- writing ---------------------------------------------------------------------------------------------

    def _invites(self, master: Component) -> bool:
        """Written with attendees (Graph emails them) only when the mailbox's owner organises the meeting
        (integrations.meetings); a copy of one organised elsewhere carries its people as text. An unknown owner
        organises nothing but meetings made in calsync."""
        return not organised_elsewhere(master, [self.account])

    def _event(self, component: Component, uid: str, invite: bool) -> dict[str, Any]:
        try:
            return to_event(component, uid, self.zone, invite)
        except Unsupported as exc:
            raise ItemRejected(str(exc)) from exc

    def check(self, item: Item) -> Item:
        """What create and update refuse before any request (sync.adapter's optional `check`)."""
        self._body(item)
        return item

    def _body(self, item: Item, invite: bool | None = None) -> dict[str, Any]:
        if item.master.kind != "VEVENT":
            raise ItemRejected("Outlook calendars hold events, not tasks: this task stays in calsync.")
        invite = self._invites(item.master) if invite is None else invite
        return {**self._event(item.master, item.uid, invite), "transactionId": item.uid[:255]}

    def create(self, item: Item) -> Entry:
        created = self.client.call("POST", f"{self.calendar_path}/events", json=self._body(item))
        if item.overrides or item.master.exdates:
            return self._finish_series(created["id"], item)
        return Entry(created["id"], _version(created), item)  # the answer carries the new changeKey

    def create_many(self, items: list[Item]) -> list[Entry]:
        """A first sync (or a full re-listing): it copies what exists already, so no meeting is written with
        attendees, the owner's own included (Graph would email each of them); they ride as text like copies of
        other people's meetings (integrations.meetings)."""
        bodies = [self._body(item, invite=False) for item in items]
        answers = self.client.batch([
            {"method": "POST", "url": f"{self.calendar_path}/events", "headers": {"Content-Type": "application/json"},
             "body": body} for body in bodies
        ])  # fmt: skip
        failed = [(status, body) for status, body in answers if status >= 300]
        if failed:
            raise batch_error(*failed[0])
        entries = []
        for (_, event), item in zip(answers, items, strict=True):
            if item.overrides or item.master.exdates:
                entries.append(self._finish_series(event["id"], item, invite=False))
            else:
                entries.append(Entry(event["id"], _version(event), item))
        return entries

    def _finish_series(self, master_id: str, item: Item, invite: bool | None = None) -> Entry:
        """Make the series' exceptions and cancellations in Outlook match the item's."""
        if item.master.rrule:
            instances = self._instances(master_id)
            by_start = {as_utc(datetime.fromisoformat(i["originalStart"].replace("Z", "+00:00"))): i
                        for i in instances if i.get("originalStart")}  # fmt: skip
            wanted = {as_utc(o.recurrence_id): o for o in item.overrides if o.recurrence_id is not None}
            invite = self._invites(item.master) if invite is None else invite
            for moment, override in wanted.items():
                instance = by_start.get(moment)
                if instance is None:
                    continue  # outside the window, or cancelled in Outlook
                body = self._event(override, item.uid, invite)
                body.pop("recurrence", None)
                body.pop("singleValueExtendedProperties", None)
                # Like the master: only what differs from the occurrence as Outlook holds it, or nothing at all
                # (an occurrence carries the series' extended properties, which are the master's to write).
                held = self._event(to_component(instance, item.uid, zone_hint=self.zone), item.uid, invite)
                patch = patch_for({**held, "singleValueExtendedProperties": []}, body)
                if patch:
                    self.client.call("PATCH", f"{self.client.prefix}/events/{quote(instance['id'], safe='')}",
                                     json=patch)  # fmt: skip
            for value in item.master.exdates:
                instance = by_start.get(as_utc(value))
                if instance is not None:
                    self.client.call("DELETE", f"{self.client.prefix}/events/{quote(instance['id'], safe='')}")
        entry = self.get(master_id)
        if entry is None:
            raise NotFound("The event disappeared from Outlook while calsync wrote it.")
        return entry

    def _current(self, id: str, version: str) -> dict[str, Any]:
        """The event, if it is still at `version` (a series' version covers its exceptions too). The master as
        get/get_many just read it, if they did; a series' instances are always read afresh: an exception edited
        since does not change the master's etag, so the If-Match would not catch it."""
        master = self._read.pop(id, None) or self.client.call(
            "GET", f"{self.client.prefix}/events/{quote(id, safe='')}", params=_EXPAND
        )  # NotFound if gone
        instances = self._instances(id) if master.get("recurrence") else []
        if version and _version(master, instances) != version:
            raise PreconditionFailed("The event changed in Outlook since calsync read it.")
        return master

    def update(self, id: str, item: Item, version: str) -> Entry:
        master = self._current(id, version)
        held = to_component(master, calsync_uid(master), zone_hint=self.zone)
        wanted = self._body(item)
        wanted.pop("transactionId")
        # Compared with the properties the event really has, so one made in Outlook gets calsync's identity too.
        as_held = {**self._event(held, item.uid, self._invites(held)),
                   "singleValueExtendedProperties": master.get("singleValueExtendedProperties") or []}  # fmt: skip
        patch = patch_for(as_held, wanted)
        answer = master
        if patch:  # nothing changed in what Outlook holds: no request, no update mail
            answer = self.client.call("PATCH", f"{self.client.prefix}/events/{quote(id, safe='')}", json=patch,
                                      headers={"If-Match": master.get("@odata.etag", "*")})  # fmt: skip
        if item.master.rrule:
            return self._finish_series(id, item)
        return Entry(answer["id"], _version(answer), item)  # the answer carries the new changeKey

    def delete(self, id: str, version: str) -> None:
        master = self._current(id, version)
        self.client.call("DELETE", f"{self.client.prefix}/events/{quote(id, safe='')}",
                         headers={"If-Match": master.get("@odata.etag", "*")})  # fmt: skip
