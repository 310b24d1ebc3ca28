"""Connect to CalDAV: 1) server, username, app password (checked at once); 2) calendar and sync settings."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.tenancy import Scope
from calsync import crypto
from integrations.connecting import (
    calendars_from_session,
    calendars_to_session,
    choice_initial,
    connect_chosen,
    connect_scope,
    sync_started,
)
from integrations.models import Integration
from integrations.providers import Provider

from . import services
from .client import ConnectError, RemoteCalendar
from .forms import ChooseCalendarForm, CredentialsForm, UpdateCredentialsForm
from .push import push_received

PENDING = "caldav_pending"


def _scope(request: HttpRequest) -> Scope:
    return connect_scope(request, Provider.CALDAV)


@sensitive_post_parameters("password", "secret")
@login_required
def connect(request: HttpRequest) -> HttpResponse:
    _scope(request)
    form = CredentialsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            calendars = services.caldav_discover(url=data["url"], username=data["username"], password=data["password"])
        except ConnectError as exc:
            form.add_error(None, str(exc))
        else:
            # The password waits in the session only encrypted, until the user picks a calendar.
            request.session[PENDING] = {
                "url": services.normalise_server_url(data["url"]),
                "username": data["username"],
                "secret": crypto.encrypt({"password": data["password"]}),
                "calendars": calendars_to_session(calendars),
            }
            return redirect("integrations:caldav_choose")
    return render(request, "integrations/caldav_connect.html", {"form": form})


@login_required
def choose(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    pending = request.session.get(PENDING)
    if not pending:
        return redirect("integrations:caldav_connect")
    remote_calendars = calendars_from_session(pending["calendars"], RemoteCalendar)
    form = ChooseCalendarForm(
        request.POST or None,
        calendars=scope.calendars(),
        remote_calendars=remote_calendars,
        initial=choice_initial(request, scope),
    )

    def connect(data: dict[str, Any]) -> Integration:
        password = crypto.decrypt(pending["secret"])["password"]
        return services.caldav_connect(
            user=request.user,  # type: ignore[arg-type]
            url=pending["url"],
            username=pending["username"],
            password=password,
            **data,
        )

    done = connect_chosen(
        request, form, pending=PENDING, restart="integrations:caldav_connect", connect=connect, errors=(ConnectError,)
    )
    if done is not None:
        return done
    return render(
        request,
        "integrations/caldav_choose.html",
        {"form": form, "server": pending["url"], "username": pending["username"], "only_one": len(form.usable) == 1},
    )


@sensitive_post_parameters("password", "secret")
@login_required
def update_credentials(request: HttpRequest, pk: int) -> HttpResponse:
    integration = _scope(request).integration(pk)
    if integration.provider != Provider.CALDAV:
        raise PermissionDenied("This integration does not use a password.")
    form = UpdateCredentialsForm(request.POST or None, initial={"username": integration.config.get("username")})
    if request.method == "POST" and form.is_valid():
        try:
            services.caldav_update_credentials(integration=integration, **form.cleaned_data)
        except ConnectError as exc:
            form.add_error(None, str(exc))
        else:
            sync_started(request, integration, "Credentials updated.")
            return redirect("integrations:detail", pk=integration.pk)
    return render(request, "integrations/caldav_credentials.html", {"form": form, "integration": integration})


@csrf_exempt
@require_POST
def push(request: HttpRequest, token: str) -> HttpResponse:
    """A WebDAV-Push message from a CalDAV server (calsync is the Web Push endpoint, RFC 8030): the token in the
    URL says which integration; the encrypted body is not read. 201 as a push service answers; 404 if not ours."""
    return HttpResponse(status=201 if push_received(token=token) else 404)
