"""Clients given only the host name ("calsync.example.com") ask the site root; answer them as CalDAV."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

_DAV_METHODS = {"PROPFIND", "REPORT", "OPTIONS"}


class BareHostDiscoveryMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/" and request.method in _DAV_METHODS:
            from .views import dav

            return dav(request, "")
        return self.get_response(request)
