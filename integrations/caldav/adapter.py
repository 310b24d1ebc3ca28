"""A CalDAV calendar as a side of a sync.

Ids are resource paths, versions are ETags. Incremental reads use
sync-collection (RFC 6578), with calendar-multiget (RFC 4791 7.9) in batches for
the changed items; servers without sync-collection fall back to comparing the
collection's ETags. Writes carry If-Match / If-None-Match (RFC 4791 5.3.2).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

from events.ical import ICalError, Item, items_to_calendar, parse_item
from events.services import resource_name_for
from sync.adapter import Changes, Entry
from sync.errors import CursorExpired, ItemRejected, NotFound, PermanentError, PreconditionFailed, TransientError

from .client import _XMLNS, NS, CalDAVClient, Response, _text
from .scheduling import server_may_schedule, without_server_scheduling

MULTIGET_BATCH = 100
_CALENDAR_DATA = "<d:getetag/><c:calendar-data/>"


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

    @property
    def _own_path(self) -> str:
        return unquote(urlsplit(self.calendar_url).path).rstrip("/")

    def _href(self, path: str) -> str:
        return urljoin(self.calendar_url, quote(path))

    # --- reading -------------------------------------------------------------------------

    def changes(self, cursor: str | None) -> Changes:
        if cursor is None:
            return self._listing()
        if cursor.startswith("etags:"):
            try:
                previous = json.loads(cursor[6:])
            except ValueError:
                raise CursorExpired("The stored ETag listing is unreadable.") from None
            return self._etag_changes(previous)
        return self._sync_collection(cursor)

    def _listing(self) -> Changes:
        """Everything in the calendar, and a cursor from just before the listing (so nothing slips past)."""
        token = self._sync_token() if self.supports_sync else ""
        ctag = "" if token else self._ctag()
        response = self.client.report(self.calendar_url, _query('<c:comp-filter name="VCALENDAR"/>'), depth=1)
        tree = _multistatus(response)
        if self._truncated(tree):
            # The server cut the answer short (RFC 4918 507): list the hrefs instead and fetch them in batches.
            listing = self._etag_changes({})
            return Changes(listing.changed, [], token or listing.cursor, complete=True, skipped=listing.skipped)
        entries, skipped, etags = self._entries(tree)
        cursor = token or _etag_cursor(ctag, etags)
        return Changes(changed=entries, deleted=[], cursor=cursor, complete=True, skipped=skipped)

    def _truncated(self, tree: Any) -> bool:
        return any(
            _path(node).rstrip("/") == self._own_path and _status(node) == 507
            for node in tree.findall("d:response", NS)
        )

    def _sync_token(self) -> str:
        tree = self.client.propfind(self.calendar_url, "<d:sync-token/>", depth=0)
        token = _text(tree, "d:response/d:propstat/d:prop/d:sync-token")
        if not token:
            self.supports_sync = False
        return token

    def _sync_collection(self, token: str) -> Changes:
        changed_paths: list[str] = []
        deleted: list[str] = []
        while True:
            body = (
                f'<?xml version="1.0" encoding="utf-8"?><d:sync-collection {_XMLNS}>'
                f"<d:sync-token>{escape(token)}</d:sync-token><d:sync-level>1</d:sync-level>"
                "<d:prop><d:getetag/></d:prop></d:sync-collection>"
            )
            response = self.client.report(self.calendar_url, body, depth=0)
            if response.status in (403, 409, 412) and b"valid-sync-token" in response.body:
                # Radicale answers 403, Xandikos 412: both with DAV:valid-sync-token (RFC 6578 3.2).
                raise CursorExpired("The CalDAV server no longer knows the last sync token.")
            tree = _multistatus(response)
            truncated = False
            for node in tree.findall("d:response", NS):
                path = _path(node)
                status = _status(node)
                if path.rstrip("/") == self._own_path:
                    truncated = status == 507  # more changes to fetch with the new token (RFC 6578 3.6)
                elif status == 404:
                    deleted.append(path)
                else:
                    changed_paths.append(path)
            token = _text(tree, "d:sync-token") or token
            if not truncated:
                break
        entries, skipped = self._multiget(dict.fromkeys(changed_paths))
        return Changes(changed=entries, deleted=deleted, cursor=token, skipped=skipped)

    def _ctag(self) -> str:
        tree = self.client.propfind(self.calendar_url, "<cs:getctag/>", depth=0)
        return _text(tree, "d:response/d:propstat/d:prop/cs:getctag")

    def _etag_changes(self, previous: dict[str, Any]) -> Changes:
        """For servers without sync-collection: the collection's CTag says whether anything changed (one
        request); if it did, compare every resource's ETag with the last listing's."""
        ctag = self._ctag()
        if ctag and ctag == previous.get("ctag"):
            return Changes(changed=[], deleted=[], cursor=_etag_cursor(ctag, previous["etags"]))
        tree = self.client.propfind(self.calendar_url, "<d:getetag/>", depth=1)
        current = {
            _path(n): _text(n, "d:propstat/d:prop/d:getetag")
            for n in tree.findall("d:response", NS)
            if _path(n).rstrip("/") != self._own_path
        }
        known: dict[str, str] = previous.get("etags", {})
        changed = [path for path, etag in current.items() if known.get(path) != etag]
        entries, skipped = self._multiget(changed)
        return Changes(
            changed=entries,
            deleted=[path for path in known if path not in current],
            cursor=_etag_cursor(ctag, current),
            skipped=skipped,
        )

    def _multiget(self, paths: Iterable[str]) -> tuple[list[Entry], list[tuple[str, str]]]:
        entries: list[Entry] = []
        skipped: list[tuple[str, str]] = []
        for batch in _batches(list(paths), MULTIGET_BATCH):
            hrefs = "".join(f"<d:href>{escape(quote(p))}</d:href>" for p in batch)
            body = (
                f'<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget {_XMLNS}>'
                f"<d:prop>{_CALENDAR_DATA}</d:prop>{hrefs}</c:calendar-multiget>"
            )
            found, problems, _ = self._entries(_multistatus(self.client.report(self.calendar_url, body, depth=1)))
            entries += found
            skipped += problems
        return entries, skipped

    def _entries(self, tree: Any) -> tuple[list[Entry], list[tuple[str, str]], dict[str, str]]:
        entries: list[Entry] = []
        skipped: list[tuple[str, str]] = []
        etags: dict[str, str] = {}
        for node in tree.findall("d:response", NS):
            if _status(node) == 404:
                continue  # deleted between the change report and the multiget: the next run sees it
            path = _path(node)
            if path.rstrip("/") == self._own_path:
                continue
            etag = _text(node, "d:propstat/d:prop/d:getetag")
            data = _text(node, "d:propstat/d:prop/c:calendar-data")
            etags[path] = etag
            if not data:
                skipped.append((path, "The CalDAV server sent this item without its data."))
                continue
            try:
                entries.append(Entry(id=path, version=etag, item=parse_item(data)))
            except ICalError as exc:
                skipped.append((path, f"calsync cannot read this item: {exc}"))
        return entries, skipped, etags

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

    def find(self, uid: str) -> Entry | None:
        """calendar-query on UID (RFC 4791 9.7.5), for events and then tasks."""
        match = (
            f'<c:prop-filter name="UID"><c:text-match collation="i;octet">{escape(uid)}</c:text-match></c:prop-filter>'
        )
        for component in self.components:
            inner = f'<c:comp-filter name="{component}">{match}</c:comp-filter>'
            filter_ = f'<c:comp-filter name="VCALENDAR">{inner}</c:comp-filter>'
            entries, _, _ = self._entries(_multistatus(self.client.report(self.calendar_url, _query(filter_))))
            found = next((e for e in entries if e.uid == uid), None)
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
        etag = response.etag or self._etag(path)
        return Entry(id=path, version=etag, item=item)

    def _body(self, item: Item) -> bytes:
        calendar = items_to_calendar([item])
        if not server_may_schedule(item, self.own_addresses):
            calendar = without_server_scheduling(calendar)
        return bytes(calendar.to_ical())

    def _etag(self, path: str) -> str:
        """Servers may change the data on PUT and then send no ETag (RFC 4791 5.3.4): ask for it."""
        tree = self.client.propfind(self._href(path), "<d:getetag/>", depth=0)
        return _text(tree, "d:response/d:propstat/d:prop/d:getetag")


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


def _multistatus(response: Response) -> Any:
    if response.status == 403:
        raise PermanentError("The CalDAV server no longer lets this account read the calendar.")
    if response.status == 404:
        raise PermanentError("The CalDAV calendar no longer exists. Choose another one or disconnect.")
    if response.status != 207:
        raise TransientError(f"The CalDAV server answered a report with {response.status}.")
    return response.xml()


def _path(node: Any) -> str:
    """Ids are decoded absolute paths; servers differ in which characters of an href they percent-encode."""
    return unquote(urlsplit(_text(node, "d:href")).path)


def _status(node: Any) -> int:
    text = _text(node, "d:status") or _text(node, "d:propstat/d:status")
    parts = text.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 200


def _batches(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
