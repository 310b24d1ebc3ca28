"""A CalDAV calendar as a side of a sync.

Ids are resource paths, versions are ETags. A read lists hrefs and ETags only: sync-collection (RFC 6578; with
an empty token, the whole calendar) or, on servers without it, a PROPFIND of the ETags compared with the last
listing's. The items themselves then come by calendar-multiget (RFC 4791 7.9) in batches, yielded batch by
batch, so a sync holds one batch of items whatever the calendar's size; those whose ETag the sync already
records (the echo of its own writes) are not fetched at all. Writes carry If-Match / If-None-Match
(RFC 4791 5.3.2) and record the ETag the server answers with.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

from events.ical import ICalError, Item, items_to_calendar, parse_item
from events.services import resource_name_for
from sync.adapter import Changes, Entry, Known
from sync.errors import CursorExpired, ItemRejected, NotFound, PermanentError, PreconditionFailed, TransientError

from .client import _XMLNS, CalDAVClient, Response, _text
from .scheduling import server_may_schedule, without_server_scheduling

MULTIGET_BATCH = 200
# (href, ETag) pairs asked about at once: which of them the sync already records.
KNOWN_PAGE = 1000
_CALENDAR_DATA = "<d:getetag/><c:calendar-data/>"
_EXPIRED = ("valid-sync-token",)  # RFC 6578 3.2 precondition


class _NoSyncCollection(Exception):
    """The server refuses sync-collection itself (an initial one, from an empty token)."""


@dataclass
class CalDAVSide:
    client: CalDAVClient
    calendar_url: str
    components: tuple[str, ...] = ("VEVENT", "VTODO")
    supports_sync: bool = True
    # The account's own addresses, for meetings the server may send invitations for (scheduling.py); none
    # on a first sync, whose copies must email nobody.
    own_addresses: tuple[str, ...] = ()
    # Calendar apps write whole items back, and some drop X- properties: calsync keeps its own (events.hidden).
    may_drop_hidden_fields: ClassVar[bool] = True
    # changes() leaves out, unfetched, the items whose ETag the sync already records (sync.adapter.Known).
    takes_known: ClassVar[bool] = True

    @property
    def _own_path(self) -> str:
        return unquote(urlsplit(self.calendar_url).path).rstrip("/")

    def _href(self, path: str) -> str:
        return urljoin(self.calendar_url, quote(path))

    # --- reading -------------------------------------------------------------------------

    def changes(self, cursor: str | None, known: Known | None = None) -> Changes:
        """With `known`, an incremental read skips the items it names. A complete listing (no cursor) lists
        every item, known or not: the engine takes an unlisted item for deleted."""
        if cursor is None:
            return self._listing()
        if cursor.startswith("etags:"):
            try:
                previous = json.loads(cursor[6:])
            except ValueError:
                raise CursorExpired("The stored ETag listing is unreadable.") from None
            return self._etag_changes(previous, known)
        return self._sync_collection(cursor, known)

    def _listing(self) -> Changes:
        """Everything in the calendar: sync-collection from an empty token (RFC 6578 3.8) names every member and
        the token to continue from in one reply; servers without it list by ETags."""
        if self.supports_sync:
            try:
                return self._sync_collection("", None)
            except _NoSyncCollection:
                self.supports_sync = False
        return self._etag_changes({}, None)

    def _sync_collection(self, token: str, known: Known | None) -> Changes:
        complete = not token
        listed: list[tuple[str, str]] = []
        deleted: list[str] = []
        skipped: list[tuple[str, str]] = []
        while True:
            truncated, token = self._sync_page(token, listed, deleted)
            if not truncated:
                break
        if not token:
            raise _NoSyncCollection  # a reply that names no token to go on from is no sync-collection
        changed = self._fetched(listed, known, skipped)
        return Changes(changed=changed, deleted=deleted, cursor=token, complete=complete, skipped=skipped)

    def _sync_page(self, token: str, listed: list[tuple[str, str]], deleted: list[str]) -> tuple[bool, str]:
        """One sync-collection reply: its changes into `listed` and `deleted`; whether the server truncated it
        (RFC 6578 3.6: ask again from the new token), and that token."""
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><d:sync-collection {_XMLNS}>'
            f"<d:sync-token>{escape(token)}</d:sync-token><d:sync-level>1</d:sync-level>"
            "<d:prop><d:getetag/></d:prop></d:sync-collection>"
        )
        response = self.client.report(self.calendar_url, body, depth=0, stream=True, listing=True)
        if not token and 400 <= response.status < 500 and response.status != 401:
            raise _NoSyncCollection  # refused even from the start: this server lists by ETags
        if response.status in (403, 409, 412) and any(c.encode() in response.body for c in _EXPIRED):
            # Radicale answers 403, Xandikos 412: both with DAV:valid-sync-token (RFC 6578 3.2).
            raise CursorExpired("The CalDAV server no longer knows the last sync token.")
        truncated = False
        for node in _checked(response).elements():
            if node.tag == "{DAV:}sync-token":
                token = (node.text or "").strip() or token
            elif (path := _path(node)).rstrip("/") == self._own_path:
                truncated = _status(node) == 507
            elif _status(node) == 404:
                deleted.append(path)
            elif not path.endswith("/"):
                listed.append((path, _text(node, "d:propstat/d:prop/d:getetag")))
        return truncated, token

    def _ctag(self) -> str:
        tree = self.client.propfind(self.calendar_url, "<cs:getctag/>", depth=0)
        return _text(tree, "d:response/d:propstat/d:prop/cs:getctag")

    def _etag_changes(self, previous: dict[str, Any], known: Known | None) -> Changes:
        """For servers without sync-collection: the collection's CTag says whether anything changed (one
        request); if it did, compare every resource's ETag with the last listing's."""
        ctag = self._ctag()
        if previous and ctag and ctag == previous.get("ctag"):
            return Changes(changed=[], deleted=[], cursor=_etag_cursor(ctag, previous["etags"]))
        current = {
            path: _text(node, "d:propstat/d:prop/d:getetag")
            for node in self.client.propfind_elements(self.calendar_url, "<d:getetag/>", depth=1)
            if (path := _path(node)).rstrip("/") != self._own_path and not path.endswith("/")
        }
        before: dict[str, str] = previous.get("etags", {})
        skipped: list[tuple[str, str]] = []
        listed = [(path, etag) for path, etag in current.items() if before.get(path) != etag]
        return Changes(
            changed=self._fetched(listed, known, skipped),
            deleted=[path for path in before if path not in current],
            cursor=_etag_cursor(ctag, current),
            complete=not previous,
            skipped=skipped,
        )

    def _fetched(
        self, listed: list[tuple[str, str]], known: Known | None, skipped: list[tuple[str, str]]
    ) -> Iterator[Entry]:
        """The listed items, fetched batch by batch as the sync reads them, except those `known` names."""
        for start in range(0, len(listed), KNOWN_PAGE):
            page = listed[start : start + KNOWN_PAGE]
            echoes = known(page) if known is not None else set()
            wanted = [path for path, _ in page if path not in echoes]
            for batch in _batches(wanted, MULTIGET_BATCH):
                yield from self._multiget(batch, skipped)

    def _multiget(self, paths: Sequence[str], skipped: list[tuple[str, str]]) -> Iterator[Entry]:
        hrefs = "".join(f"<d:href>{escape(quote(p))}</d:href>" for p in paths)
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget {_XMLNS}>'
            f"<d:prop>{_CALENDAR_DATA}</d:prop>{hrefs}</c:calendar-multiget>"
        )
        response = self.client.report(self.calendar_url, body, depth=1, stream=True)
        yield from self._entries(_checked(response).elements(), skipped)

    def _entries(self, nodes: Iterator[Any], skipped: list[tuple[str, str]]) -> Iterator[Entry]:
        for node in nodes:
            path = _path(node) if node.tag == "{DAV:}response" else ""
            if not path or path.rstrip("/") == self._own_path or _status(node) == 404:
                continue  # a 404: deleted since it was listed, which the next read reports
            etag = _text(node, "d:propstat/d:prop/d:getetag")
            data = _text(node, "d:propstat/d:prop/c:calendar-data")
            if not data:
                skipped.append((path, "The CalDAV server sent this item without its data."))
                continue
            try:
                yield Entry(id=path, version=etag, item=parse_item(data))
            except ICalError as exc:
                skipped.append((path, f"calsync cannot read this item: {exc}"))

    def get(self, id: str) -> Entry | None:
        response = self.client.request("GET", self._href(id))
        if response.status == 404:
            return None
        if response.status != 200:
            raise PermanentError(f"The CalDAV server answered {response.status} when reading an item.")
        try:
            return Entry(id=id, version=response.etag, item=parse_item(response.body))
        except ICalError as exc:
            raise ItemRejected(f"calsync cannot read this item: {exc}") from exc

    def get_many(self, ids: list[str]) -> dict[str, Entry]:
        """The items with these ids the calendar still holds, as `get` reads each, by calendar-multiget (RFC 4791
        7.9): one REPORT per MULTIGET_BATCH items instead of a GET each. This is what the engine reads before it
        overwrites or deletes items (the versions an undo puts back); the writes themselves read nothing (their
        If-Match is the version the engine holds). An id the server answers 404 for is gone; one it sends without
        readable data is an error, as for `get`."""
        found: dict[str, Entry] = {}
        skipped: list[tuple[str, str]] = []
        for batch in _batches(ids, MULTIGET_BATCH):
            found.update((entry.id, entry) for entry in self._multiget(batch, skipped))
        if skipped:
            raise ItemRejected(skipped[0][1])
        return found

    def find(self, uid: str) -> Entry | None:
        """calendar-query on UID (RFC 4791 9.7.5), for events and then tasks."""
        match = (
            f'<c:prop-filter name="UID"><c:text-match collation="i;octet">{escape(uid)}</c:text-match></c:prop-filter>'
        )
        for component in self.components:
            inner = f'<c:comp-filter name="{component}">{match}</c:comp-filter>'
            filter_ = f'<c:comp-filter name="VCALENDAR">{inner}</c:comp-filter>'
            response = _checked(self.client.report(self.calendar_url, _query(filter_), stream=True))
            found = next((e for e in self._entries(response.elements(), []) if e.uid == uid), None)
            if found is not None:
                return found
        return None

    # --- writing ------------------------------------------------------------------------------

    def create(self, item: Item) -> Entry:
        self._check_accepted(item)
        path = unquote(urlsplit(urljoin(self.calendar_url, resource_name_for(item.uid))).path)
        return self._put(path, item, {"If-None-Match": "*"})

    def update(self, id: str, item: Item, version: str) -> Entry:
        self._check_accepted(item)
        try:
            return self._put(id, item, {"If-Match": version} if version else {})
        except PreconditionFailed:
            self._raise_if_missing(id)
            raise

    def _raise_if_missing(self, id: str) -> None:
        """If-Match on a missing resource is 412 too (RFC 9110 13.1.1); tell the two apart."""
        if self.client.request("HEAD", self._href(id)).status == 404:
            raise NotFound(id)

    def delete(self, id: str, version: str) -> None:
        response = self.client.request("DELETE", self._href(id), headers={"If-Match": version} if version else {})
        if response.status == 404:
            raise NotFound(id)
        if response.status == 412:
            self._raise_if_missing(id)
            raise PreconditionFailed(id)
        if response.status == 403:
            raise ItemRejected("The CalDAV server does not allow deleting this item (the calendar may be read-only).")
        if response.status >= 300:
            raise PermanentError(f"The CalDAV server answered {response.status} to a delete.")

    def check(self, item: Item) -> Item:
        """What create and update refuse before any request (sync.adapter's optional `check`)."""
        self._check_accepted(item)
        return item

    def _check_accepted(self, item: Item) -> None:
        if item.kind not in self.components:
            what = "tasks" if item.kind == "VTODO" else "events"
            raise ItemRejected(f"This CalDAV calendar does not accept {what}.")

    def _put(self, path: str, item: Item, conditions: dict[str, str]) -> Entry:
        headers = {"Content-Type": "text/calendar; charset=utf-8", **conditions}
        response = self.client.request("PUT", self._href(path), self._body(item), headers)
        if response.status == 412:
            raise PreconditionFailed(path)
        if response.status == 404:
            raise NotFound(path)
        if response.status in (403, 409, 415, 400, 507):
            raise ItemRejected(_refusal(response))
        if response.status >= 300:
            raise PermanentError(f"The CalDAV server answered {response.status} to a write.")
        # A server that changed the data on PUT sends no ETag (RFC 4791 5.3.4): nothing is recorded, and the next
        # read fetches the item once, as the server keeps it, and records its ETag.
        return Entry(id=path, version=response.etag, item=item)

    def sends_invitation(self, item: Item) -> bool:
        """Whether writing the item has the server email its guests (sync.preview counts these): a meeting the
        account's owner organises, with its ORGANIZER (none, as in a meeting made in calsync: no server schedules,
        RFC 6638 3.1). Until the first sync has learnt the owner's addresses, nobody's."""
        return item.master.organizer is not None and server_may_schedule(item, self.own_addresses)

    def _body(self, item: Item) -> bytes:
        calendar = items_to_calendar([item])
        if not server_may_schedule(item, self.own_addresses):
            calendar = without_server_scheduling(calendar)
        return bytes(calendar.to_ical())


def _etag_cursor(ctag: str, etags: dict[str, str]) -> str:
    return "etags:" + json.dumps({"ctag": ctag, "etags": etags}, separators=(",", ":"))


def _refusal(response: Response) -> str:
    reasons = {
        403: "The CalDAV server refused the write (the calendar may be read-only).",
        409: "The CalDAV server refused the item: it conflicts with another one (same UID?).",
        415: "The CalDAV server does not accept this kind of item.",
        400: "The CalDAV server says the item is invalid.",
        507: "The CalDAV server has no room left for this item.",
    }
    detail = response.body.decode(errors="replace")
    for condition in ("no-uid-conflict", "supported-calendar-component", "valid-calendar-data", "max-resource-size"):
        if condition in detail:
            return f"{reasons.get(response.status, 'The CalDAV server refused the item.')} ({condition})"
    return reasons.get(response.status, "The CalDAV server refused the item.")


def _query(filter_: str) -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><c:calendar-query {_XMLNS}>'
        f"<d:prop>{_CALENDAR_DATA}</d:prop><c:filter>{filter_}</c:filter></c:calendar-query>"
    )


def _checked(response: Response) -> Response:
    if response.status == 403:
        raise PermanentError("The CalDAV server no longer lets this account read the calendar.")
    if response.status == 404:
        raise PermanentError("The CalDAV calendar no longer exists. Choose another one or disconnect.")
    if response.status != 207:
        raise TransientError(f"The CalDAV server answered a report with {response.status}.")
    return response


def _path(node: Any) -> str:
    """Ids are decoded absolute paths; servers differ in which characters of an href they percent-encode."""
    return unquote(urlsplit(_text(node, "d:href")).path)


def _status(node: Any) -> int:
    text = _text(node, "d:status") or _text(node, "d:propstat/d:status")
    parts = text.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 200


def _batches(values: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
