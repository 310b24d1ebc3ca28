"""The address Graph sends change and lifecycle notifications to (both, as Microsoft allows one URL for both)."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .push import notifications_received

# Graph's tokens are about a hundred characters; anything much longer is not Graph.
_TOKEN_MAX = 1024


@csrf_exempt
@require_POST
def push(request: HttpRequest) -> HttpResponse:
    """The validation handshake (echo validationToken as text/plain within 10 s), else a notification document,
    answered 202 at once whatever it held: forged items are ignored, genuine ones queue their work.
    https://learn.microsoft.com/graph/change-notifications-delivery-webhooks"""
    token = request.GET.get("validationToken")
    if token is not None:
        if not token or len(token) > _TOKEN_MAX:
            return HttpResponse("Bad validation token.", status=400, content_type="text/plain")
        return HttpResponse(token, content_type="text/plain; charset=utf-8")
    if request.content_type != "application/json":
        return HttpResponse("Expected application/json.", status=400, content_type="text/plain")
    try:
        document = json.loads(request.body)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        return HttpResponse("Not JSON.", status=400, content_type="text/plain")
    items = document.get("value") if isinstance(document, dict) else None
    if not isinstance(items, list):
        return HttpResponse("Expected a changeNotificationCollection.", status=400, content_type="text/plain")
    notifications_received(items=items)
    return HttpResponse(status=202)
