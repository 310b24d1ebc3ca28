"""HTTP to a CalDAV server: discovery with the caldav library, then plain WebDAV requests on its session.

Every failure becomes one of sync.errors, with a message a user can act on
(never the password). RFC 4918 (WebDAV), RFC 4791 (CalDAV), RFC 6578 (sync-collection).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import caldav
import niquests
from caldav.lib import error as caldav_error
from lxml import etree

from integrations.addresses import AddressRefused, guard_caldav_session
from sync.errors import AuthRevoked, PermanentError, TransientError

log = logging.getLogger(__name__)

NS = {
    "d": "DAV:",
    "c": "urn:ietf:params:xml:ns:caldav",
    "cs": "http://calendarserver.org/ns/",
    "ic": "http://apple.com/ns/ical/",
}
# Never resolve entities or fetch anything while parsing what a server sent.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=True)
TIMEOUT = 30
# A whole calendar's listing may take a server minutes to compose: Radicale writes a history entry per item the
# first time anyone asks a calendar for a sync token (15 to 20 s for 1,000 items on a loaded machine).
LISTING_TIMEOUTS = 10


class ConnectError(PermanentError):
    """Connecting failed in a way the user must fix; `kind` says which (for the form)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class RemoteCalendar:
    url: str
    name: str
    color: str = ""
    components: tuple[str, ...] = ("VEVENT", "VTODO")
    writable: bool = True
    supports_sync: bool = True

    @property
    def accepts_events(self) -> bool:
        return "VEVENT" in self.components


# What a multistatus is read for, one element at a time (the rest of the document is dropped as it goes).
_STREAMED = ("{DAV:}response", "{DAV:}sync-token")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    # A 207 asked for with stream=True: its body is read by `elements()`, as it arrives.
    raw: Any = field(default=None, repr=False)

    def xml(self) -> Any:
        try:
            return etree.fromstring(self.body, _PARSER)
        except etree.XMLSyntaxError as exc:
            raise TransientError("The CalDAV server sent a reply that is not valid XML.") from exc

    def elements(self) -> Iterator[Any]:
        """The multistatus's DAV:response elements and its DAV:sync-token, each parsed as its bytes arrive and
        dropped once the next one is asked for: a listing of any length is never held whole."""
        parser = etree.XMLPullParser(events=("end",), tag=_STREAMED, resolve_entities=False, no_network=True)
        chunks = self.raw.iter_content(65536) if self.raw is not None else [self.body]
        try:
            for chunk in chunks:
                parser.feed(chunk)
                yield from _top_level(parser)
            parser.close()
        except etree.XMLSyntaxError as exc:
            raise TransientError("The CalDAV server sent a reply that is not valid XML.") from exc
        except niquests.exceptions.RequestException as exc:  # the connection broke off mid-reply
            raise TransientError("The CalDAV server's reply broke off; the next sync reads it again.") from exc
        finally:
            if self.raw is not None:
                self.raw.close()

    @property
    def etag(self) -> str:
        return self.headers.get("etag", "")


def _top_level(parser: Any) -> Iterator[Any]:
    for _, element in parser.read_events():
        parent = element.getparent()
        if parent is None or parent.tag != "{DAV:}multistatus":
            continue  # a DAV:sync-token inside a property, say
        yield element
        element.clear()
        while element.getprevious() is not None:
            del parent[0]


@dataclass
class CalDAVClient:
    url: str
    username: str
    password: str = field(repr=False)
    verify: bool | str = True
    _dav: caldav.DAVClient | None = field(default=None, init=False, repr=False)

    @property
    def dav(self) -> caldav.DAVClient:
        if self._dav is None:
            self._dav = caldav.DAVClient(
                url=self.url, username=self.username, password=self.password, auth_type="basic",
                timeout=TIMEOUT, ssl_verify_cert=self.verify, enable_rfc6764=False,
            )  # fmt: skip
            # Every request, redirect hop and connection through the outbound guard, kept on this server's site.
            guard_caldav_session(self._dav.session, self.url)
        return self._dav

    # --- raw requests ------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        passed: tuple[int, ...] = (),
        stream: bool = False,
        listing: bool = False,
    ) -> Response:
        """One request; a refusal of the credentials or a server failure raises (sync.errors), except the statuses
        in `passed`, which the caller reads itself. With `stream`, a 207's body is left for `Response.elements()`;
        a `listing` (of a whole calendar) may take LISTING_TIMEOUTS times as long."""
        timeout = TIMEOUT * (LISTING_TIMEOUTS if listing else 1)
        try:
            raw = self.dav.session.request(
                method, url, data=body or None, headers=headers or {}, auth=self.dav.auth, timeout=timeout,
                verify=self.verify, allow_redirects=method in ("GET", "PROPFIND"), stream=stream,
            )  # fmt: skip
            if stream and raw.status_code == 207:
                return Response(207, {k.lower(): v for k, v in raw.headers.items()}, b"", raw=raw)
        except AddressRefused as exc:
            raise ConnectError(str(exc), "address") from exc
        except niquests.exceptions.SSLError as exc:
            raise ConnectError("The server's TLS certificate could not be verified.", "tls") from exc
        except (niquests.exceptions.ConnectionError, niquests.exceptions.Timeout) as exc:
            raise TransientError(f"Could not reach the CalDAV server at {_host(url)}.") from exc
        except niquests.exceptions.RequestException as exc:  # broken replies, redirect loops, bad URLs
            raise TransientError(f"The exchange with the CalDAV server at {_host(url)} failed.") from exc
        response = Response(raw.status_code, {k.lower(): v for k, v in raw.headers.items()}, raw.content or b"")
        if response.status not in passed:
            _raise_for_server(response, url)
        return response

    def propfind(self, url: str, props: str, depth: int) -> Any:
        tree = self._propfind(url, props, depth, stream=False).xml()
        if tree.tag != "{DAV:}multistatus":
            raise PermanentError(f"The server at {_host(url)} answered PROPFIND without a DAV:multistatus.")
        return tree

    def propfind_elements(self, url: str, props: str, depth: int) -> Iterator[Any]:
        """PROPFIND, its DAV:response elements read one by one as they arrive (Response.elements)."""
        return self._propfind(url, props, depth, stream=True, listing=True).elements()

    def _propfind(self, url: str, props: str, depth: int, stream: bool, listing: bool = False) -> Response:
        body = f'<?xml version="1.0" encoding="utf-8"?><d:propfind {_XMLNS}><d:prop>{props}</d:prop></d:propfind>'
        headers = {"Depth": str(depth), "Content-Type": "application/xml"}
        response = self.request("PROPFIND", url, body, headers, stream=stream, listing=listing)
        if response.status == 404:
            raise PermanentError(f"The CalDAV server has nothing at {urlsplit(url).path}.")
        if response.status != 207:
            raise PermanentError(
                f"The server at {_host(url)} answered PROPFIND with {response.status}, not 207 Multi-Status: "
                "it does not behave like a CalDAV server."
            )
        return response

    def color_set(self, url: str, color: str) -> bool:
        """PROPPATCH the calendar's colour (Apple's calendar-color, as #RRGGBBAA the way Apple writes it); False
        when the server refuses the property (RFC 4918 9.2: a 403/409 propstat, or the whole method)."""
        value = f"{color.upper()}FF"
        body = (f'<?xml version="1.0" encoding="utf-8"?><d:propertyupdate {_XMLNS}><d:set><d:prop>'
                f"<ic:calendar-color>{value}</ic:calendar-color></d:prop></d:set></d:propertyupdate>")  # fmt: skip
        # 501: a server without PROPPATCH at all, which no retry will change.
        response = self.request("PROPPATCH", url, body, {"Content-Type": "application/xml"}, passed=(501,))
        if response.status in (200, 204):
            return True
        if response.status != 207:
            return False
        statuses = [_text(p, "d:status") for p in response.xml().iterfind("d:response/d:propstat", NS)]
        return bool(statuses) and all(" 200 " in f"{s} " for s in statuses)

    def report(self, url: str, body: str, depth: int = 1, stream: bool = False, listing: bool = False) -> Response:
        headers = {"Depth": str(depth), "Content-Type": "application/xml"}
        return self.request("REPORT", url, body, headers, stream=stream, listing=listing)

    # --- discovery ----------------------------------------------------------------------

    def calendars(self) -> list[RemoteCalendar]:
        """Every calendar of the user, with what it accepts and whether they can write to it."""
        home = self._calendar_home()
        try:
            tree = self.propfind(home, _CALENDAR_PROPS, depth=1)
        except ConnectError:
            raise
        except AuthRevoked as exc:
            raise ConnectError("The server refused the username or app password.", "auth") from exc
        except TransientError as exc:  # the form says what the sync log would have said
            raise ConnectError(str(exc), "unreachable") from exc
        except PermanentError as exc:
            raise ConnectError(str(exc), "not_caldav") from exc
        found = [cal for r in tree.findall("d:response", NS) if (cal := _calendar(r, home)) is not None]
        if not found:
            raise ConnectError("Signed in, but this account has no calendars.", "no_calendars")
        return found

    def _calendar_home(self) -> str:
        try:
            return self._home_from(self.dav)
        except ConnectError as exc:
            if exc.kind != "not_caldav" or urlsplit(self.url).path not in ("", "/"):
                raise
        # A bare host that is not itself the DAV root: ask /.well-known/caldav (RFC 6764 section 5).
        parts = urlsplit(self.url)
        self._dav = None
        self.url = f"{parts.scheme}://{parts.netloc}/.well-known/caldav"
        return self._home_from(self.dav)

    def _home_from(self, dav: caldav.DAVClient) -> str:
        try:
            principal = dav.principal()
            homes = principal.calendar_home_set
            return str(homes.url if hasattr(homes, "url") else homes)
        except AddressRefused as exc:
            raise ConnectError(str(exc), "address") from exc
        except caldav_error.AuthorizationError as exc:
            raise ConnectError("The server refused the username or app password.", "auth") from exc
        except niquests.exceptions.SSLError as exc:
            raise ConnectError("The server's TLS certificate could not be verified.", "tls") from exc
        except (niquests.exceptions.ConnectionError, niquests.exceptions.Timeout) as exc:
            raise ConnectError(f"Could not reach {_host(self.url)}. Check the server address.", "unreachable") from exc
        except (caldav_error.DAVError, caldav_error.NotFoundError, etree.XMLSyntaxError, ValueError, KeyError,
                # The library trips over replies that are empty or not WebDAV (a 200 with an HTML page).
                AttributeError, TypeError, IndexError) as exc:  # fmt: skip
            raise ConnectError(
                "No CalDAV service was found at this address. Check the server address.", "not_caldav"
            ) from exc


_XMLNS = 'xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:ic="http://apple.com/ns/ical/"'
_CALENDAR_PROPS = (
    "<d:resourcetype/><d:displayname/><d:current-user-privilege-set/><c:supported-calendar-component-set/>"
    "<d:supported-report-set/><ic:calendar-color/>"
)


def _raise_for_server(response: Response, url: str) -> None:
    if response.status == 401:
        raise AuthRevoked("The CalDAV server refused the username or app password. Update the credentials.")
    if response.status in (429, 503) or response.status >= 500:
        retry = response.headers.get("retry-after", "")
        raise TransientError(
            f"The CalDAV server at {_host(url)} is busy or failing ({response.status}).",
            retry_after=retry or None,  # seconds; sync.errors parses and bounds it
        )


def _host(url: str) -> str:
    """Host and port only: a URL may carry credentials, which must never reach a message."""
    parts = urlsplit(url)
    host = parts.hostname or "the server"
    return f"{host}:{parts.port}" if parts.port else host


def _text(node: Any, path: str) -> str:
    found = node.find(path, NS)
    return (found.text or "").strip() if found is not None else ""


def _found_props(response: Any) -> Any:
    """The properties of every 200 propstat, as one element (servers put 404 propstats first, too)."""
    merged = etree.Element("{DAV:}prop")
    for propstat in response.findall("d:propstat", NS):
        status = _text(propstat, "d:status")
        if not status or " 200 " in f"{status} ":
            for prop in propstat.findall("d:prop", NS):
                merged.extend(list(prop))
    return merged


def _calendar(response: Any, base: str) -> RemoteCalendar | None:
    prop = _found_props(response)
    if prop.find("d:resourcetype/c:calendar", NS) is None or not _text(response, "d:href"):
        return None  # without an href, urljoin would name the calendar home itself
    href = urljoin(base, _text(response, "d:href"))
    comps = prop.findall("c:supported-calendar-component-set/c:comp", NS)
    components = tuple(name.upper() for c in comps if (name := c.get("name")))
    privileges = {p.tag for p in prop.findall("d:current-user-privilege-set/d:privilege/*", NS)}
    writable = any(tag in privileges for tag in (f"{{DAV:}}{n}" for n in ("write", "write-content", "all")))
    reports = {r.tag for r in prop.findall("d:supported-report-set/d:supported-report/d:report/*", NS)}
    return RemoteCalendar(
        url=href,
        name=_text(prop, "d:displayname") or urlsplit(href).path.rstrip("/").rsplit("/", 1)[-1],
        color=_text(prop, "ic:calendar-color")[:7],
        components=components or ("VEVENT", "VTODO"),
        # Servers that do not report privileges are assumed writable; a refused write is reported per item.
        writable=writable or not privileges,
        supports_sync="{DAV:}sync-collection" in reports or not reports,
    )
