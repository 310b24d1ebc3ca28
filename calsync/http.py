"""What every part of calsync needs to know about the request it is answering."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The client's address: behind PROXY_HOPS trusted proxies, the one the outermost of them saw.

    Both login throttles (the web sign-in and CalDAV) count failures per address, so both ask here.
    """
    hops = settings.PROXY_HOPS
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return str(request.META.get("REMOTE_ADDR", ""))
