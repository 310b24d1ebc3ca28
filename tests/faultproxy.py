"""A reverse proxy that injects provider faults, in front of any HTTP(S) server (the emulators, Radicale).

calsync is pointed at the proxy instead of the server; the proxy forwards each request and answers as the server
did, except when a fault is armed for it:

- `Status(429, retry_after=2)`: answer this status (with Retry-After) without forwarding;
- `Stall(seconds)`: hold the request that long, longer than the client waits, then drop it unanswered;
- `Reset()`: forward it (the server does the work), send the first half of its response, then reset the
  connection (RST), as a connection cut in the middle of a response.

`proxy.arm(fault, times=1, when=...)` arms a fault for the next matching requests; `proxy.seen` records what
happened to each request ("passed", or the fault's name), so a test can tell a retry from a surfaced failure.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Match = Callable[[str, str, bytes], bool]  # method, path with query, body
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}


@dataclass(frozen=True)
class Status:
    code: int
    retry_after: int | None = None
    body: bytes = b""
    content_type: str = "text/plain"

    @property
    def name(self) -> str:
        return str(self.code)


@dataclass(frozen=True)
class Stall:
    seconds: float
    name: str = "stall"


@dataclass(frozen=True)
class Reset:
    name: str = "reset"


Fault = Status | Stall | Reset


@dataclass
class _Armed:
    fault: Fault
    times: int
    when: Match


@dataclass
class FaultProxy:
    upstream: str  # scheme://host:port of the real server
    certificate: tuple[Path, Path] | None = None  # serve HTTPS with this (cert, key); else plain HTTP
    upstream_ca: Path | None = None  # what to trust when the upstream is HTTPS
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    _armed: list[_Armed] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        scheme = "http"
        if self.certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.certificate)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def arm(self, fault: Fault, *, times: int = 1, when: Match | None = None) -> None:
        with self._lock:
            self._armed.append(_Armed(fault, times, when or (lambda method, path, body: True)))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
            self.seen.clear()

    def faults_served(self) -> list[str]:
        return [what for _, _, what in self.seen if what != "passed"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _take(self, method: str, path: str, body: bytes) -> Fault | None:
        with self._lock:
            for armed in self._armed:
                if armed.times > 0 and armed.when(method, path, body):
                    armed.times -= 1
                    return armed.fault
        return None

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> http.client.HTTPResponse:
        target = urlsplit(self.upstream)
        if target.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                target.hostname, target.port, timeout=60, context=ssl.create_default_context(cafile=self.upstream_ca)
            )
        else:
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        # A reverse proxy's usual headers: the emulators build their absolute links for where the client called.
        forwarded = {"X-Forwarded-Host": urlsplit(self.url).netloc, "X-Forwarded-Proto": urlsplit(self.url).scheme}
        connection.request(method, path, body=body or None, headers={**headers, **forwarded, "Host": target.netloc})
        return connection.getresponse()


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            fault = proxy._take(self.command, self.path, body)
            proxy.seen.append((self.command, self.path, fault.name if fault else "passed"))
            if isinstance(fault, Status):
                self._answer(fault.code, {"Content-Type": fault.content_type}, fault.body, fault.retry_after)
            elif isinstance(fault, Stall):
                time.sleep(fault.seconds)
                self.close_connection = True
            else:
                upstream = proxy.forward(self.command, self.path, headers, body)
                content = upstream.read()
                kept = {k: v for k, v in upstream.getheaders() if k.lower() not in _HOP_BY_HOP}
                if isinstance(fault, Reset):
                    self._cut(upstream.status, kept, content)
                else:
                    self._answer(upstream.status, kept, content)

        def _answer(self, status: int, headers: dict[str, str], body: bytes, retry_after: int | None = None) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if retry_after is not None:
                self.send_header("Retry-After", str(retry_after))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _cut(self, status: int, headers: dict[str, str], body: bytes) -> None:
            head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
            head += [f"{name}: {value}" for name, value in headers.items()]
            whole = "\r\n".join([*head, f"Content-Length: {len(body)}", "", ""]).encode("latin-1") + body
            # Half of it (a bodiless 204 is cut inside its headers), then SO_LINGER 0: close() sends RST, not FIN.
            self.wfile.write(whole[: len(whole) // 2])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any
        do_PROPFIND = do_REPORT = do_PROPPATCH = do_MKCALENDAR = do_MKCOL = do_MOVE = do_COPY = _any

    return Handler
