"""Test helpers for the outbound guard: a hostile CalDAV server on loopback, a name resolver stubbed at the
guard's own seam, and a socket layer that records every connect and refuses (in-process, before any packet)
all but loopback. Nothing here may ever send a packet off this machine."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from integrations import addresses

# Private, loopback, link-local, shared (100.64/10, incl. a cloud metadata address), and IPv4 inside IPv6.
INTERNAL = ["127.0.0.2", "169.254.169.254", "10.0.0.5", "192.168.1.1", "100.100.100.200", "::1",
            "::ffff:10.0.0.5", "64:ff9b::a00:5", "2002:a00:5::1"]  # fmt: skip


def principal_answer(href: str) -> bytes:
    return (
        '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:response>'
        f"<d:href>/</d:href><d:propstat><d:prop><d:current-user-principal><d:href>/principal/</d:href>"
        f"</d:current-user-principal><c:calendar-home-set><d:href>{href}</d:href></c:calendar-home-set>"
        "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>"
    ).encode()


def calendars_answer(*hrefs: str) -> bytes:
    responses = "".join(
        f"<d:response><d:href>{href}</d:href><d:propstat><d:prop><d:resourcetype><d:collection/><c:calendar/>"
        "</d:resourcetype><d:displayname>Work</d:displayname></d:prop><d:status>HTTP/1.1 200 OK</d:status>"
        "</d:propstat></d:response>"
        for href in hrefs
    )
    namespaces = 'xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"'
    return f'<?xml version="1.0"?><d:multistatus {namespaces}>{responses}</d:multistatus>'.encode()


@dataclass
class HostileServer:
    """Answers every PROPFIND on a path with what `answers` holds: (status, headers, body)."""

    port: int
    answers: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # method, Host header, path

    @property
    def url(self) -> str:
        return f"http://dav.example.test:{self.port}/"

    def home_at(self, href: str) -> None:
        """The principal's calendar home is `href` (wherever the server likes)."""
        self.answers["/"] = (207, {}, principal_answer(href))
        self.answers["/principal/"] = (207, {}, principal_answer(href))

    def redirect(self, path: str, location: str) -> None:
        self.answers[path] = (301, {"Location": location}, b"")


def start_hostile_server(tls: ssl.SSLContext | None = None) -> tuple[HostileServer, Callable[[], None]]:
    server = HostileServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_PROPFIND(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            server.seen.append((self.command, self.headers.get("Host", ""), self.path))
            status, headers, body = server.answers.get(self.path, (404, {}, b""))
            self.send_response(status)
            for name, value in {"Content-Type": "application/xml", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_REPORT = do_PUT = do_OPTIONS = do_PROPFIND

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    server.port = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return server, httpd.shutdown


@dataclass
class Network:
    """Which names resolve where (`names`), the lookups the guard made, and every socket connect attempted."""

    names: dict[str, list[str]] = field(default_factory=dict)  # name -> addresses, one list per lookup in turn
    lookups: list[str] = field(default_factory=list)
    connects: list[tuple[str, int]] = field(default_factory=list)

    def resolve(self, name: str, *addresses_in_turn: str) -> None:
        self.names[name] = list(addresses_in_turn)

    def non_loopback_connects(self) -> list[tuple[str, int]]:
        return [c for c in self.connects if not ipaddress.ip_address(c[0]).is_loopback]


def _records(ip: str, port: Any, kind: int) -> list[Any]:
    if ipaddress.ip_address(ip).version == 6:
        return [(socket.AF_INET6, kind, 6, "", (ip, int(port or 0), 0, 0))]
    return [(socket.AF_INET, kind, 6, "", (ip, int(port or 0)))]


def stub_network(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Network:
    """Production's rules with only 127.0.0.1 allowed; names resolved only by the stub (no DNS query leaves the
    machine); every connect recorded, and any to a non-loopback address refused before it is made."""
    settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = False
    settings.CALDAV_ALLOW_HTTP = settings.EXCHANGE_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    net = Network()
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def lookup(host: str, port: Any, family: int = 0, kind: int = socket.SOCK_STREAM) -> list[Any]:
        net.lookups.append(host)
        if host in net.names:
            turns = net.names[host]
            return _records(turns.pop(0) if len(turns) > 1 else turns[0], port, kind)
        return real_getaddrinfo(host, port, family, kind, 0, socket.AI_NUMERICHOST)  # literals only: no DNS

    def numeric_only(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        if isinstance(host, str) and host in net.names:
            raise AssertionError(f"a lookup of {host} went around the guard")
        return real_getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            net.connects.append((address[0], address[1]))
            if not ipaddress.ip_address(address[0]).is_loopback:
                raise ConnectionRefusedError(f"test network: no packets to {address[0]}")
        real_connect(sock, address)

    monkeypatch.setattr(addresses, "lookup", lookup)
    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return net
