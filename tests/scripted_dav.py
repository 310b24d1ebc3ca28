"""A CalDAV server that answers from a script: whatever status and body a test gives it, per path.

For the replies no real server sends on purpose (HTML where XML belongs, empty 207s, responses without hrefs),
which calsync must turn into a clear message rather than a crash; and to see exactly what calsync sent (every
request is recorded; a PUT to a path without a script is stored as a new resource with an ETag).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

MULTISTATUS = (
    '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">{}</d:multistatus>'
)


def found(href: str, props: str) -> str:
    """One <d:response> whose properties were all found."""
    return (
        f"<d:response><d:href>{href}</d:href><d:propstat><d:prop>{props}</d:prop>"
        "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
    )


# A well-behaved discovery: the root names the principal, the principal names the calendar home.
PRINCIPAL = MULTISTATUS.format(found("/", "<d:current-user-principal><d:href>/p/</d:href></d:current-user-principal>"))
HOME = MULTISTATUS.format(found("/p/", "<c:calendar-home-set><d:href>/cals/</d:href></c:calendar-home-set>"))
CALENDARS = MULTISTATUS.format(
    found("/cals/", "<d:resourcetype><d:collection/></d:resourcetype>")
    + found(
        "/cals/work/",
        "<d:resourcetype><d:collection/><c:calendar/></d:resourcetype><d:displayname>Work</d:displayname>",
    )
)


@dataclass
class Scripted:
    url: str
    replies: dict[str, tuple[int, str, bytes]] = field(default_factory=dict)
    received: list[tuple[str, str, bytes]] = field(default_factory=list)  # (method, path, body)

    def bodies(self, method: str) -> list[str]:
        return [body.decode() for m, _, body in self.received if m == method]

    def answer(self, path: str, status: int, body: str | bytes, content_type: str = "application/xml") -> None:
        self.replies[path] = (status, content_type, body.encode() if isinstance(body, str) else body)

    def discovers(self) -> None:
        """Answer discovery and the calendar list as a real server would."""
        self.answer("/", 207, PRINCIPAL)
        self.answer("/p/", 207, HOME)
        self.answer("/cals/", 207, CALENDARS)


@contextmanager
def scripted_dav() -> Iterator[Scripted]:
    script = Scripted("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self) -> None:
            script.received.append(
                (self.command, self.path, self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            )
            unscripted = (201, "text/plain", b"") if self.command == "PUT" else (404, "text/plain", b"not here")
            status, content_type, body = script.replies.get(self.path, unscripted)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if self.command == "PUT":
                self.send_header("ETag", f'"{len(script.received)}"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PROPFIND = do_PROPPATCH = do_REPORT = do_OPTIONS = do_PUT = do_DELETE = _reply

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    script.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()
