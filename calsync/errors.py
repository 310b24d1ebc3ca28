"""Error pages people understand.

A 403 says what is missing (the reason PermissionDenied was raised with) and who can grant it: the
organisation's admins, whom every member may see. 404 and 500 use the site's layout; the 500 page renders
without the request's context (no database, no session), unstyled if static files cannot be named, and as
plain HTML if even its template fails, because it is shown exactly when something is broken. A script that
asks for JSON (fetch() with Accept: application/json) gets the 403 and 404 as JSON {"error", "code"} instead.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.templatetags.static import static

log = logging.getLogger(__name__)

_PLAIN_500 = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Something went wrong · calsync</title>"
    "</head><body><main><h1>Something went wrong</h1><p>calsync could not finish this request. It has been "
    "logged; please try again in a moment.</p><p><a href='/'>Back to the start page</a></p></main></body></html>"
)


def granters(request: HttpRequest) -> list[Any]:
    """The active admins of the signed-in user's organisation, other than the user: who can grant a right."""
    user = request.user
    if not user.is_authenticated or getattr(user, "tenant_id", None) is None:
        return []
    from accounts.tenancy import Scope

    admins = Scope(user).colleagues().filter(role="admin")  # type: ignore[arg-type]
    return list(admins.order_by("first_name", "last_name", "email")[:5])


def wants_json(request: HttpRequest) -> bool:
    """A script's request (the calendar grid, the type-ahead, a sync's status) that reads JSON, not a page: it asks
    for JSON and not for HTML, as fetch() with Accept: application/json does and a browser's navigation never."""
    return request.accepts("application/json") and not request.accepts("text/html")


def _json_error(status: int, message: str, code: str) -> JsonResponse:
    return JsonResponse({"error": message, "code": code}, status=status)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = str(exception) if exception is not None and str(exception) else ""
    if wants_json(request):
        return _json_error(403, reason or "You do not have access to this.", "forbidden")
    context = {"reason": reason, "admins": granters(request), "path": request.path}
    return render(request, "403.html", context, status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form refused by the CSRF check: almost always a page left open too long, or signed out meanwhile."""
    message = ("This form could not be accepted: it was open too long, or you signed out or in again meanwhile. "
               "Go back, reload the page and try once more.")  # fmt: skip
    if wants_json(request):
        return _json_error(403, message, "stale-form")
    return render(request, "403.html", {"reason": message, "no_grant": True}, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if wants_json(request):
        return _json_error(404, "This is not there (any more), or not yours to see.", "not-found")
    return render(request, "404.html", {"path": request.path}, status=404)


def _stylesheets() -> list[str]:
    """The site's stylesheets, or none when static files cannot be named (a manifest missing after a deploy)."""
    try:
        return [static("vendor/pico/pico.min.css"), static("css/app.css")]
    except Exception:  # any storage failure: the page then shows unstyled rather than not at all
        log.warning("500 page: stylesheets unavailable", exc_info=True)
        return []


def server_error(request: HttpRequest) -> HttpResponse:
    try:
        return HttpResponseServerError(loader.get_template("500.html").render({"stylesheets": _stylesheets()}))
    except Exception:  # the page that reports failures must not fail itself; the cause is logged
        log.exception("the 500 page itself could not be rendered")
        return HttpResponseServerError(_PLAIN_500)
