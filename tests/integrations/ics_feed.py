"""A published calendar on a real local HTTP server, for the ICS subscription tests: the tests edit what it
serves (events, a raw body, a status and headers) and read what it was asked (every request's headers)."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def vevent(uid: str, summary: str, day: int, description: str = "") -> str:
    return (
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:202612{day:02d}T090000Z\r\n"
        f"DTEND:202612{day:02d}T100000Z\r\nSUMMARY:{summary}\r\n"
        + (f"DESCRIPTION:{description}\r\n" if description else "")
        + "END:VEVENT\r\n"
    )


def calendar_text(*events_: str) -> str:
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//publisher//EN\r\n" + "".join(events_) + "END:VCALENDAR\r\n"


LAST_MODIFIED = "Sun, 01 Nov 2026 08:00:00 GMT"
HOLIDAYS = [("xmas@pub", "Christmas", 25), ("boxing@pub", "Boxing Day", 26), ("eve@pub", "New Year's Eve", 31)]


@dataclass
class Feed:
    """What the server publishes: the events (uid, title, day, description), or a status to answer with."""

    port: int = 0
    events: list[tuple[str, str, int, str]] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    regenerate_uids: bool = False  # a publisher that writes fresh UIDs into every copy
    raw: str | None = None  # served as is instead of the events
    dated: bool = False  # validate by Last-Modified / If-Modified-Since instead of ETags
    requests: list[dict[str, str]] = field(default_factory=list)

    def url(self, path: str = "/holidays.ics", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def body(self) -> bytes:
        if self.raw is not None:
            return self.raw.encode()
        rows = [(f"{uuid.uuid4()}@pub" if self.regenerate_uids else uid, *rest) for uid, *rest in self.events]
        return calendar_text(*(vevent(uid, title, day, desc) for uid, title, day, desc in rows)).encode()

    def set(self, *rows: tuple[Any, ...]) -> None:
        self.events = [(*row, "")[:4] for row in rows]  # type: ignore[misc]


def start_feed_server() -> tuple[Feed, Callable[[], None]]:
    """A real HTTP server on loopback publishing `feed`; returns it and the function that stops the server."""
    feed = Feed()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            feed.requests.append({"method": "GET", "path": self.path, **headers})
            if feed.status != 200:
                self._answer(feed.status, b"", feed.headers)
                return
            body = feed.body()
            # The ETag of the content, except that a feed with fresh UIDs in every copy is new every time.
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            validator = {"Last-Modified": LAST_MODIFIED} if feed.dated else {"ETag": etag}
            asked = self.headers.get("If-Modified-Since") if feed.dated else self.headers.get("If-None-Match")
            if asked == next(iter(validator.values())):
                self._answer(304, b"", {**validator, **feed.headers})
                return
            self._answer(200, body, {**validator, "Content-Type": "text/calendar", **feed.headers})

        def do_POST(self) -> None:  # nothing may ever write to a subscribed calendar
            feed.requests.append({"method": self.command, "path": self.path})
            self._answer(405, b"", {})

        do_PUT = do_DELETE = do_POST

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    feed.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return feed, httpd.shutdown
