"""Google pages: "Sign in with Google" (start, callback, choose a calendar), reconnect, the organisation's
Workspace settings for admins, and the push notification endpoint Google calls."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

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
from integrations.models import GoogleWorkspace, Integration
from integrations.providers import Provider

from . import oauth, services
from .forms import WorkspaceForm

FLOW = "google_oauth"
PENDING = "google_pending"


def _scope(request: HttpRequest) -> Scope:
    return connect_scope(request, Provider.GOOGLE)


def _redirect_uri() -> str:
    return settings.SITE_URL + reverse("integrations:google_callback")


@login_required
def connect(request: HttpRequest) -> HttpResponse:
    """Start "Sign in with Google"; with ?integration=N, reconnect that integration."""
    scope = _scope(request)
    integration = reconnecting(request, scope, Provider.GOOGLE)
    reconnect = str(integration.pk) if integration is not None else ""
    hint = integration.config.get("account", "") if integration is not None else ""
    start = oauth.start(_redirect_uri(), login_hint=hint)
    request.session[FLOW] = {"state": start.state, "verifier": start.code_verifier, "integration": reconnect}
    return redirect(start.url)


@login_required
def callback(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    flow = request.session.pop(FLOW, None) or {}
    try:
        tokens = oauth.finish(redirect_uri=_redirect_uri(), state=flow.get("state", ""),
                              code_verifier=flow.get("verifier", ""), query=request.GET.dict())  # fmt: skip
        account, calendars = services.calendars_for_tokens(tokens)
    except (oauth.OAuthFailed, services.GoogleConnectError) as exc:
        messages.error(request, str(exc))
        return redirect("settings")
    if flow.get("integration"):
        integration = scope.integration(int(flow["integration"]))
        try:
            services.google_reconnect(integration=integration, account=account, tokens=tokens)
        except services.GoogleConnectError as exc:
            messages.error(request, str(exc))
        else:
            sync_started(request, integration, "Reconnected to Google.")
        return redirect("integrations:detail", pk=integration.pk)
    # The tokens wait in the session only encrypted, until the user picks a calendar.
    request.session[PENDING] = {"auth": "oauth", "account": account, "secret": crypto.encrypt(tokens),
                                "calendars": calendars_to_session(calendars)}  # fmt: skip
    return redirect("integrations:google_choose")


@login_required
def connect_workspace(request: HttpRequest) -> HttpResponse:
    """Organisation-wide: the user's own Google calendars through the organisation's service account."""
    _scope(request)
    try:
        account, calendars = services.workspace_calendars(user=request.user)  # type: ignore[arg-type]
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("settings")
    except services.GoogleConnectError as exc:
        messages.error(request, f"Your organisation's Google Workspace could not reach your calendars: {exc}")
        return redirect("settings")
    request.session[PENDING] = {"auth": "workspace", "account": account, "secret": "",
                                "calendars": calendars_to_session(calendars)}  # fmt: skip
    return redirect("integrations:google_choose")


@login_required
def choose(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    pending = request.session.get(PENDING)
    if not pending:
        return redirect("settings")
    remote_calendars = calendars_from_session(pending["calendars"], services.GoogleCalendar)
    form = ChooseCalendarForm(
        request.POST or None,
        calendars=scope.calendars(),
        remote_calendars=remote_calendars,
        remote_label="Google calendar",
        initial=choice_initial(request, scope),
    )

    def connect(data: dict[str, Any]) -> Integration:
        tokens = crypto.decrypt(pending["secret"]) if pending["secret"] else None
        return services.google_connect(
            user=request.user,  # type: ignore[arg-type]
            account=pending["account"],
            auth=pending["auth"],
            tokens=tokens,
            **data,
        )

    done = connect_chosen(
        request, form, pending=PENDING, restart="settings", connect=connect, errors=(services.GoogleConnectError,)
    )
    if done is not None:
        return done
    return render(request, "integrations/google_choose.html", {
        "form": form, "account": pending["account"], "workspace": pending["auth"] == "workspace",
        "only_one": len(form.usable) == 1, "sandbox": settings.GOOGLE_SANDBOX,
    })  # fmt: skip


@login_required
def workspace_admin(request: HttpRequest) -> HttpResponse:
    """Admins: the service account key, on/off, email domain aliases, and "Test settings"."""
    scope = Scope(request.user)  # type: ignore[arg-type]
    scope.require_admin()
    tenant = scope.tenant
    workspace = GoogleWorkspace.objects.filter(tenant=tenant).first()
    form = WorkspaceForm(request.POST or None, request.FILES or None, workspace=workspace, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.workspace_save(tenant=tenant, key_text=form.cleaned_data["key_text"],
                                                enabled=form.cleaned_data["enabled"])  # fmt: skip
        except ValidationError as exc:
            form.add_error("key_file", exc.messages)
        else:
            tenant.email_domain_aliases = form.cleaned_data["aliases"]
            tenant.save(update_fields=["email_domain_aliases"])
            if "test" in request.POST:
                services.workspace_test(workspace=workspace, admin=request.user)  # type: ignore[arg-type]
                level = messages.success if workspace.test_ok else messages.error
                level(request, workspace.test_message)
            else:
                messages.success(request, "Google Workspace settings saved.")
            return redirect("integrations:google_workspace")
    return render(request, "integrations/google_workspace.html", {
        "form": form, "workspace": workspace, "tenant": tenant, "sandbox": settings.GOOGLE_SANDBOX,
        "rotation_days": settings.GOOGLE_KEY_ROTATION_DAYS,
        "sandbox_keys": _sandbox_keys_url(request.user.email) if settings.GOOGLE_SANDBOX else "",  # type: ignore[union-attr]
    })  # fmt: skip


def _sandbox_keys_url(admin_email: str) -> str:
    """The sandbox Google's Workspace page, filled in with the admin's domain and address (Test settings acts
    as the admin, so the admin must be a user of the domain there)."""
    query = urlencode({"domain": admin_email.rpartition("@")[2], "users": admin_email})
    return f"{settings.GOOGLE_EMULATOR_URL}/sandbox/workspace?{query}"


@csrf_exempt
@require_POST
def push(request: HttpRequest) -> HttpResponse:
    """Google's push notification: channel id and token must match a channel we opened."""
    known = services.push_received(
        channel_id=request.headers.get("X-Goog-Channel-ID", ""),
        token=request.headers.get("X-Goog-Channel-Token", ""),
        resource_state=request.headers.get("X-Goog-Resource-State", ""),
    )
    return HttpResponse(status=200 if known else 404)
