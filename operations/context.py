"""The credential radar's banner on the admin pages (templates/base.html)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.tenancy import Scope

# The admin pages: the banner shows there, and nowhere else costs a query.
ADMIN_PREFIX = "/manage/"
# Warnings read per admin page (the banner shows 3, the health board's section all of these): a bounded read
# however many users' sign-ins are lapsing.
SHOWN = 50


def credential_warnings(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if not request.path.startswith(ADMIN_PREFIX) or user is None or not user.is_authenticated:
        return {}
    if not user.is_tenant_admin:
        return {}
    found = Scope(user).credential_warnings(limit=SHOWN + 1)
    return {"credential_warnings": found[:SHOWN], "credential_warnings_more": len(found) > SHOWN}
