""" "Connect to MS Exchange" pages: start, callback, choose a calendar; reconnect."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters

from accounts.tenancy import Scope
from calsync import crypto
from integrations.connecting import (
    calendars_from_session,
    calendars_to_session,
    choice_initial,
    connect_chosen,
    connect_scope,
    reconnecting,
    sync_started,
)
from integrations.forms import ChooseCalendarForm
from integrations.models import Integration, MicrosoftOrganisation
from integrations.providers import Provider

from . import oauth, organisation, services
from .forms import OrganisationForm

FLOW = "microsoft_oauth"
PENDING = "microsoft_pending"


def _scope(request: HttpRequest) -> Scope:
    return connect_scope(request, Provider.MICROSOFT)


def _redirect_uri() -> str:
    return settings.SITE_URL + reverse("integrations:microsoft_callback")


@login_required
def connect(request: HttpRequest) -> HttpResponse:
    """Start "Connect to MS Exchange"; with ?integration=N, reconnect that integration."""
    scope = _scope(request)
    integration = reconnecting(request, scope, Provider.MICROSOFT)
    reconnect = str(integration.pk) if integration is not None else ""
    hint = integration.config.get("account", "") if integration is not None else ""
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
            sync_started(request, integration, "Reconnected to Microsoft.")
        return redirect("integrations:detail", pk=integration.pk)
    # The token cache waits in the session only encrypted, until the user picks a calendar.
    secret = crypto.encrypt({"cache": tokens.cache, "account": tokens.account, "address": tokens.address})
    request.session[PENDING] = {
        "secret": secret,
        "account": tokens.address,
        "calendars": calendars_to_session(calendars),
    }
    return redirect("integrations:microsoft_choose")


@login_required
def choose(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    pending = request.session.get(PENDING)
    if not pending:
        return redirect("settings")
    form = ChooseCalendarForm(
        request.POST or None,
        calendars=scope.calendars(),
        remote_calendars=calendars_from_session(pending["calendars"]),
        remote_label="Outlook calendar",
        initial=choice_initial(request, scope),
    )

    def connect(data: dict[str, Any]) -> Integration:
        if pending.get("auth") == "organisation":
            return services.microsoft_connect_organisation(user=request.user, address=pending["account"], **data)  # type: ignore[arg-type]
        secret = crypto.decrypt(pending["secret"])
        tokens = oauth.Tokens(cache=secret["cache"], account=secret["account"], address=secret["address"])
        return services.microsoft_connect(user=request.user, tokens=tokens, **data)  # type: ignore[arg-type]

    done = connect_chosen(request, form, pending=PENDING, restart="settings", connect=connect,
                          errors=(services.MicrosoftConnectError,))  # fmt: skip
    if done is not None:
        return done
    return render(request, "integrations/microsoft_choose.html", {
        "form": form, "account": pending["account"], "only_one": len(form.usable) == 1,
        "sandbox": settings.MICROSOFT_SANDBOX,
    })  # fmt: skip


@login_required
def connect_organisation(request: HttpRequest) -> HttpResponse:
    """Organisation-wide: the user's own mailbox through the organisation's Microsoft 365 app."""
    _scope(request)
    try:
        address, calendars = organisation.calendars_for_user(request.user)  # type: ignore[arg-type]
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("settings")
    except services.MicrosoftConnectError as exc:
        messages.error(request, f"Your organisation's Microsoft 365 could not reach your calendars: {exc}")
        return redirect("settings")
    request.session[PENDING] = {"auth": "organisation", "account": address, "secret": "",
                                "calendars": calendars_to_session(calendars)}  # fmt: skip
    return redirect("integrations:microsoft_choose")


@sensitive_post_parameters("password", "secret")
@login_required
def organisation_admin(request: HttpRequest) -> HttpResponse:
    """Admins: tenant id, client id, secret, on/off, alias domains; the admin consent link; "Test settings"."""
    scope = Scope(request.user)  # type: ignore[arg-type]
    scope.require_admin()
    tenant = scope.tenant
    current = MicrosoftOrganisation.objects.filter(tenant=tenant).first()
    form = OrganisationForm(request.POST or None, request.FILES or None, organisation=current, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            current = organisation.save(tenant=tenant, directory_id=data["directory_id"], client_id=data["client_id"],
                                        secret=data["secret"], certificate=data["certificate"],
                                        enabled=data["enabled"], expires_on=data["expires_on"])  # fmt: skip
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            tenant.email_domain_aliases = data["aliases"]
            tenant.save(update_fields=["email_domain_aliases"])
            if "test" in request.POST:
                organisation.test(organisation=current, admin=request.user)  # type: ignore[arg-type]
                (messages.success if current.test_ok else messages.error)(request, current.test_message)
            else:
                messages.success(request, "Microsoft 365 settings saved.")
            return redirect("integrations:microsoft_organisation")
    consent_url = ""
    if current is not None:
        state = request.session.setdefault("microsoft_consent_state", secrets.token_urlsafe(16))
        consent_url = organisation.admin_consent_url(current, state)
    return render(request, "integrations/microsoft_organisation.html", {
        "form": form, "organisation": current, "tenant": tenant, "consent_url": consent_url,
        "sandbox": _sandbox_app(request.user),  # type: ignore[arg-type]
    })  # fmt: skip


def _sandbox_app(admin: Any) -> dict[str, str] | None:
    """In the sandbox, the emulator's app registration (it has Calendars.ReadWrite as an application permission)
    and the admin's domain as the tenant: what an admin would copy from the Entra portal."""
    if not settings.MICROSOFT_SANDBOX:
        return None
    return {"directory": admin.email.rsplit("@", 1)[-1], "client_id": settings.MICROSOFT_CLIENT_ID,
            "secret": settings.MICROSOFT_CLIENT_SECRET,
            "page": f"{settings.MICROSOFT_EMULATOR_BROWSER_URL}/sandbox"}  # fmt: skip


@login_required
def consented(request: HttpRequest) -> HttpResponse:
    """Where Microsoft sends the admin back after the admin consent page."""
    Scope(request.user).require_admin()  # type: ignore[arg-type]
    expected = request.session.pop("microsoft_consent_state", "")
    if not expected or request.GET.get("state") != expected:
        messages.error(request, "This consent answer did not come from a request made here. Please try again.")
    elif request.GET.get("admin_consent", "").lower() == "true":
        messages.success(
            request, "Admin consent granted. Press Test settings to check that calsync can read calendars."
        )
    else:
        messages.error(request, f"Consent was not granted ({request.GET.get('error', 'cancelled')}).")
    return redirect("integrations:microsoft_organisation")
