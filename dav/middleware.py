"""CalDAV requests go straight to the CalDAV server, past the web pages' middleware.

Clients given only the host name ("calsync.example.com") ask the site root; they are answered as CalDAV too.
Everything under /caldav/ signs in with HTTP Basic on every request and never uses a session, a CSRF token,
messages, the pages' security policy or the web sign-in lockout (it has its own throttle, dav.services), so
those layers would only cost time on every request a calendar app makes. This middleware sits right after
SecurityMiddleware, which still applies.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

_DAV_METHODS = {"PROPFIND", "REPORT", "OPTIONS"}
_ROOT = "/caldav/"


class BareHostDiscoveryMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from .views import dav

        if request.path_info.startswith(_ROOT):
            timezone.deactivate()  # no user's zone left over from a web page this thread served before
            return dav(request, request.path_info[len(_ROOT) :])
        if request.path == "/" and request.method in _DAV_METHODS:
            return dav(request, "")
        return self.get_response(request)
