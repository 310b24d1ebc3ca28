"""The pages around the CalDAV server: app passwords on the settings page, and the ICS subscription feed."""

from __future__ import annotations

from dataclasses import replace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import http_date, parse_http_date_safe
from django.views.decorators.http import require_POST, require_safe

from accounts.tenancy import Scope
from events import selectors
from events.ical import Component, Item, serialise
from events.models import Calendar, Event

from . import services
from .resources import principal_href


@login_required
def app_passwords(request: HttpRequest) -> HttpResponse:
    """List, and on POST create, the user's app passwords. A new password is shown on this response only."""
    scope = Scope(request.user)  # type: ignore[arg-type]
    created = None
    error = ""
    if request.method == "POST":
        try:
            created = services.app_password_create(user=request.user, label=request.POST.get("label", ""))  # type: ignore[arg-type]
        except PermissionDenied as exc:
            error = str(exc)
        except ValidationError as exc:
            error = " ".join(exc.messages)
    response = render(
        request,
        "dav/app_passwords.html",
        {
            "created": created,
            "error": error,
            "passwords": scope.app_passwords(),
            "server_url": services.server_url_for(request.user),  # type: ignore[arg-type]
            "principal_path": principal_href(request.user),  # type: ignore[arg-type]
            "label": request.POST.get("label", "") if error else "",
        },
        status=400 if error else 200,
    )
    response["Cache-Control"] = "no-store"  # the page may hold a password shown once
    return response


@login_required
@require_POST
def app_password_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    app_password = Scope(request.user).app_password(pk)  # type: ignore[arg-type]
    label = app_password.label
    services.app_password_revoke(app_password=app_password)
    messages.success(request, f"The app password “{label}” was revoked; devices using it can no longer connect.")
    return redirect("dav:app_passwords")


# --- ICS subscription feed ---------------------------------------------------------------


def _busy_only(component: Component) -> Component:
    """What a private event shows to whoever has the link: that the time is taken, nothing more."""
    return Component(
        kind=component.kind,
        uid=component.uid,
        recurrence_id=component.recurrence_id,
        summary="Busy",
        start=component.start,
        end=component.end,
        end_as_duration=component.end_as_duration,
        due=component.due,
        status=component.status,
        transparency=component.transparency,
        busy_status=component.busy_status,  # out of office or tentative is how the time is taken, not a detail
        visibility=component.visibility,
        rrule=component.rrule,
        rdates=component.rdates,
        exdates=component.exdates,
    )


def _feed_item(item: Item) -> Item:
    private = (Event.Visibility.PRIVATE, Event.Visibility.CONFIDENTIAL)
    if item.master.visibility not in private and not any(o.visibility in private for o in item.overrides):
        return item
    return replace(item, master=_busy_only(item.master), overrides=tuple(_busy_only(o) for o in item.overrides))


def _feed_etag(calendar: Calendar) -> str:
    return f'"feed-{calendar.pk}-{calendar.change_seq}-{int(calendar.changed_at.timestamp() * 1_000_000)}"'


@require_safe
def feed(request: HttpRequest, token: str) -> HttpResponse:
    """The calendar as one iCalendar file, for "Add subscribed calendar". The token is the only credential."""
    calendar = Calendar.objects.filter(feed_token=token).first()
    if calendar is None:
        raise Http404("This subscription link does not exist or was replaced by a new one.")
    etag = _feed_etag(calendar)
    modified = int(calendar.changed_at.timestamp())
    if_none_match = request.META.get("HTTP_IF_NONE_MATCH")
    since = parse_http_date_safe(request.META.get("HTTP_IF_MODIFIED_SINCE", ""))
    if (if_none_match is not None and etag in [t.strip() for t in if_none_match.split(",")]) or (
        if_none_match is None and since is not None and modified <= since
    ):
        response = HttpResponse(status=304)
    else:
        items = [_feed_item(item) for item in selectors.calendar_items([calendar])]
        body = serialise(items, name=calendar.name, stamp=calendar.changed_at)
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="calendar.ics"'
    response["ETag"] = etag
    response["Last-Modified"] = http_date(modified)
    response["Cache-Control"] = "private, no-cache"  # clients may keep it, but must ask whether it changed
    response["X-Robots-Tag"] = "noindex"
    return response
