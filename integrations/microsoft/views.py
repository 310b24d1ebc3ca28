""" "Connect to MS Exchange" pages: start, callback, choose a calendar; reconnect."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.tenancy import Scope
from calsync import crypto
from integrations.forms import ChooseCalendarForm
from integrations.providers import Provider

from . import oauth, services

FLOW = "microsoft_oauth"
PENDING = "microsoft_pending"


def _scope(request: HttpRequest) -> Scope:
    scope = Scope(request.user)  # type: ignore[arg-type]
    if not request.user.may_set_up_integrations:  # type: ignore[union-attr]
        raise PermissionDenied("You do not have the right to set up integrations. Ask an admin to grant it.")
    if not scope.tenant.allows(Provider.MICROSOFT):
        raise PermissionDenied(f"Microsoft 365 / Outlook is not enabled for {scope.tenant.name}.")
    return scope


def _redirect_uri() -> str:
    return settings.SITE_URL + reverse("integrations:microsoft_callback")


@login_required
def connect(request: HttpRequest) -> HttpResponse:
    """Start "Connect to MS Exchange"; with ?integration=N, reconnect that integration."""
    scope = _scope(request)
    reconnect = request.GET.get("integration", "")
    hint = ""
    if reconnect:
        integration = scope.integration(int(reconnect)) if reconnect.isdigit() else None
        if integration is None or integration.provider != Provider.MICROSOFT:
            raise PermissionDenied("That is not one of your Microsoft integrations.")
        hint = integration.config.get("account", "")
    try:
        flow = oauth.start(_redirect_uri(), login_hint=hint)
    except (ValueError, OSError) as exc:  # the authority's metadata could not be read
        messages.error(request, f"Microsoft's sign-in service could not be reached ({type(exc).__name__}).")
        return redirect("settings")
    # The flow holds the PKCE verifier and nonce: it stays on the server, in the session.
    request.session[FLOW] = {"flow": flow, "integration": reconnect}
    return redirect(flow["auth_uri"])


@login_required
def callback(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    pending_flow = request.session.pop(FLOW, None) or {}
    try:
        tokens = oauth.finish(pending_flow.get("flow"), request.GET.dict())
        calendars = services.calendars_for(tokens)
    except (oauth.OAuthFailed, services.MicrosoftConnectError) as exc:
        messages.error(request, str(exc))
        return redirect("settings")
    if pending_flow.get("integration"):
        integration = scope.integration(int(pending_flow["integration"]))
        try:
            services.microsoft_reconnect(integration=integration, tokens=tokens)
        except services.MicrosoftConnectError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Reconnected to Microsoft. A sync has started.")
        return redirect("integrations:detail", pk=integration.pk)
    # The token cache waits in the session only encrypted, until the user picks a calendar.
    secret = crypto.encrypt({"cache": tokens.cache, "account": tokens.account, "address": tokens.address})
    request.session[PENDING] = {
        "secret": secret,
        "account": tokens.address,
        "calendars": services.calendars_to_json(calendars),
    }
    return redirect("integrations:microsoft_choose")


def _initial(request: HttpRequest) -> dict[str, Any]:
    return {"sync_enabled": True, "direction": "both", "primary": "calsync", "automatic": "true",
            "error_email": request.user.email}  # type: ignore[union-attr]  # fmt: skip


@login_required
def choose(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    pending = request.session.get(PENDING)
    if not pending:
        return redirect("settings")
    form = ChooseCalendarForm(
        request.POST or None,
        calendars=scope.calendars(),
        remote_calendars=services.calendars_from_json(pending["calendars"]),
        remote_label="Outlook calendar",
        initial={**_initial(request), "calendar": scope.calendars().first()},
    )
    if request.method == "POST" and form.is_valid():
        secret = crypto.decrypt(pending["secret"])
        tokens = oauth.Tokens(cache=secret["cache"], account=secret["account"], address=secret["address"])
        try:
            integration = services.microsoft_connect(user=request.user, tokens=tokens, **form.cleaned_data)  # type: ignore[arg-type]
        except (services.MicrosoftConnectError, ValidationError) as exc:
            form.add_error(None, exc.messages if isinstance(exc, ValidationError) else str(exc))
        else:
            del request.session[PENDING]
            messages.success(request, f"Connected to {integration.remote_calendar_name}. The first sync has started.")
            return redirect("integrations:detail", pk=integration.pk)
    return render(request, "integrations/microsoft_choose.html", {
        "form": form, "account": pending["account"], "only_one": len(form.usable) == 1,
        "sandbox": settings.MICROSOFT_SANDBOX,
    })  # fmt: skip
