"""Fixtures for calsync's own CalDAV server: users with app passwords, and a client that speaks WebDAV."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from dav.services import app_password_create


@pytest.fixture(autouse=True)
def _fresh_throttle():  # type: ignore[no-untyped-def]
    """Failed-login counters live in the shared cache (Redis under CI): each test starts from none."""
    cache.clear()
    yield
    cache.clear()


@dataclass
class Dav:
    """A WebDAV client over Django's test client, signed in with an app password."""

    client: Client
    username: str
    password: str

    def request(self, method: str, path: str, body: str | bytes = "", content_type: str = "application/xml",
                auth: tuple[str, str] | None = None, **headers: str) -> Any:  # fmt: skip
        user, password = auth or (self.username, self.password)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        extra = {"HTTP_AUTHORIZATION": f"Basic {token}"}
        extra |= {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        return self.client.generic(method, path, body, content_type=content_type, **extra)

    def propfind(self, path: str, body: str = "", depth: str = "0", **kw: Any) -> Any:
        return self.request("PROPFIND", path, body, Depth=depth, **kw)

    def report(self, path: str, body: str, depth: str = "1", **kw: Any) -> Any:
        return self.request("REPORT", path, body, Depth=depth, **kw)

    def put(self, path: str, body: str, **kw: Any) -> Any:
        return self.request("PUT", path, body, content_type="text/calendar; charset=utf-8", **kw)

    def body(self, response: Any) -> str:
        """The response body as text; a streamed body is read once and kept."""
        if not hasattr(response, "_text"):
            raw = b"".join(response.streaming_content) if response.streaming else response.content
            response._text = raw.decode()
        return response._text


@pytest.fixture
def app_password(member):  # type: ignore[no-untyped-def]
    return app_password_create(user=member, label="iPhone")


@pytest.fixture
def dav(client, app_password) -> Dav:  # type: ignore[no-untyped-def]
    return Dav(client, app_password.username, app_password.secret)


def vevent(uid: str, *lines: str, start: str = "20261102T090000Z", end: str = "20261102T100000Z",
           summary: str = "Planning") -> str:  # fmt: skip
    body = [f"UID:{uid}", "DTSTAMP:20261101T000000Z", f"DTSTART:{start}", f"DTEND:{end}", f"SUMMARY:{summary}", *lines]
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//test//EN", "BEGIN:VEVENT", *body,
                        "END:VEVENT", "END:VCALENDAR", ""])  # fmt: skip
