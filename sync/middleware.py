"""A signed-in person using calsync's pages makes their polled calendars checked more often (sync.polling).

Only page views count: a phone's or desktop client's CalDAV requests come on their own schedule (every 15 minutes,
and after each WebDAV-Push message), whether or not anyone is looking, and would keep polling at its shortest."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .polling import owner_seen


class OwnerActivityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and _page_view(request):
            owner_seen(user_id=user.pk)  # one cache call; a write at most every few minutes per user
        return self.get_response(request)


_PAGE_METHODS = ("GET", "HEAD", "POST")
_NOT_PAGES = ("/caldav/", "/.well-known/")  # CalDAV (dav.urls), served without sessions but on the same site


def _page_view(request: HttpRequest) -> bool:
    return request.method in _PAGE_METHODS and not request.path.startswith(_NOT_PAGES)
