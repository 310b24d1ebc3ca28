"""A signed-in person using calsync's pages makes their polled calendars checked more often (sync.polling)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .polling import owner_seen


class OwnerActivityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            owner_seen(user_id=user.pk)  # one cache call; a write at most every few minutes per user
        return self.get_response(request)
