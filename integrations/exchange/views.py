"""Exchange on-premises pages: connect (login checked at once), choose a calendar, update credentials; the
organisation's Exchange server for admins, with "Test Exchange Settings"."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters

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
from integrations.forms import ChooseCalendarForm
from integrations.models import ExchangeServer, Integration
from integrations.providers import Provider

from . import services
from .client import Server
from .forms import ConnectForm, OrganisationForm, UpdateCredentialsForm

PENDING = "exchange_pending"


def _scope(request: HttpRequest) -> Scope:
    return connect_scope(request, Provider.EXCHANGE)


@sensitive_post_parameters("password", "secret")
@login_required
def connect(request: HttpRequest) -> HttpResponse:
    _scope(request)
    form = ConnectForm(request.POST or None, initial={"mailbox": request.user.email})  # type: ignore[union-attr]
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        mailbox = data["mailbox"].lower()
        try:
            server = services.server_from(url=data["url"], domain=data["domain"], username=data["username"],
                                          password=data["password"])  # fmt: skip
            calendars = services.calendars_for(server, mailbox, refused=services.RETRY_CONNECT)
        except services.ExchangeConnectError as exc:
            form.add_error(None, str(exc))
        else:
            # The password waits in the session only encrypted, until the user picks a calendar.
            request.session[PENDING] = {
                "auth": "password", "account": mailbox, "url": server.ews_url, "domain": server.domain,
                "username": server.username, "secret": crypto.encrypt({"password": server.password}),
                "calendars": calendars_to_session(calendars),
            }  # fmt: skip
            return redirect("integrations:exchange_choose")
    return render(request, "integrations/exchange_connect.html", {"form": form, "sandbox": _sandbox()})


@login_required
def connect_organisation(request: HttpRequest) -> HttpResponse:
    """The user's own mailbox through the organisation's sync account."""
    _scope(request)
    try:
        address, calendars = services.calendars_for_user(request.user)  # type: ignore[arg-type]
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        return redirect("settings")
    except services.ExchangeConnectError as exc:
        messages.error(request, f"Your organisation's Exchange server could not reach your calendar: {exc}")
        return redirect("settings")
    request.session[PENDING] = {"auth": "organisation", "account": address,
                                "calendars": calendars_to_session(calendars)}  # fmt: skip
    return redirect("integrations:exchange_choose")


@login_required
def choose(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    pending = request.session.get(PENDING)
    if not pending:
        return redirect("integrations:exchange_connect")
    form = ChooseCalendarForm(
        request.POST or None,
        calendars=scope.calendars(),
        remote_calendars=calendars_from_session(pending["calendars"]),
        remote_label="Exchange calendar",
        initial=choice_initial(request, scope),
    )

    def connect(data: dict[str, Any]) -> Integration:
        if pending["auth"] == "organisation":
            return services.exchange_connect_organisation(user=request.user, address=pending["account"], **data)  # type: ignore[arg-type]
        password = crypto.decrypt(pending["secret"])["password"]
        server = Server(pending["url"], pending["username"], password, pending["domain"])
        return services.exchange_connect(user=request.user, server=server, mailbox=pending["account"], **data)  # type: ignore[arg-type]

    done = connect_chosen(request, form, pending=PENDING, restart="integrations:exchange_connect", connect=connect,
                          errors=(services.ExchangeConnectError,))  # fmt: skip
    if done is not None:
        return done
    return render(request, "integrations/exchange_choose.html", {
        "form": form, "account": pending["account"], "server": pending.get("url", ""),
        "only_one": len(form.usable) == 1,
    })  # fmt: skip


@sensitive_post_parameters("password", "secret")
@login_required
def update_credentials(request: HttpRequest, pk: int) -> HttpResponse:
    """Scoro asks people to write in when the server moves; here the server can be changed too."""
    integration = _scope(request).integration(pk)
    if integration.provider != Provider.EXCHANGE or integration.config.get("auth") != "password":
        raise PermissionDenied("This integration does not use your own Exchange login.")
    config = integration.config
    form = UpdateCredentialsForm(request.POST or None, initial={
        "url": config.get("url"), "domain": config.get("domain"), "username": config.get("username")})  # fmt: skip
    if request.method == "POST" and form.is_valid():
        try:
            services.exchange_update_credentials(integration=integration, **form.cleaned_data)
        except services.ExchangeConnectError as exc:
            form.add_error(None, str(exc))
        else:
            sync_started(request, integration, "Credentials updated.")
            return redirect("integrations:detail", pk=integration.pk)
    return render(request, "integrations/exchange_credentials.html", {"form": form, "integration": integration})


@sensitive_post_parameters("password", "secret")
@login_required
def organisation_admin(request: HttpRequest) -> HttpResponse:
    """Admins: server, NetBIOS domain, sync account, sync user email, access; Save and "Test Exchange Settings"."""
    scope = Scope(request.user)  # type: ignore[arg-type]
    scope.require_admin()
    tenant = scope.tenant
    current = ExchangeServer.objects.filter(tenant=tenant).first()
    form = OrganisationForm(request.POST or None, organisation=current, tenant=tenant)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            current = services.organisation_save(
                tenant=tenant, url=data["url"], domain=data["domain"], username=data["username"],
                password=data["password"], sync_email=data["sync_email"], access=data["access"],
                enabled=data["enabled"], password_expires_on=data["password_expires_on"],
            )  # fmt: skip
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            tenant.email_domain_aliases = data["aliases"]
            tenant.save(update_fields=["email_domain_aliases"])
            if "test" in request.POST:
                services.organisation_test(organisation=current, admin=request.user)  # type: ignore[arg-type]
                (messages.success if current.test_ok else messages.error)(request, current.test_message)
            else:
                messages.success(request, "Exchange settings saved.")
            return redirect("integrations:exchange_organisation")
    return render(request, "integrations/exchange_organisation.html",
                  {"form": form, "organisation": current, "tenant": tenant, "sandbox": _sandbox()})  # fmt: skip


def _sandbox() -> dict[str, str] | None:
    """The sandbox Exchange server's login, shown on the forms when `make run` started it."""
    if not settings.EXCHANGE_SANDBOX_URL:
        return None
    return {"url": settings.EXCHANGE_SANDBOX_URL, "domain": "SANDBOX", "username": "ann",
            "password": "calsync-sandbox", "mailbox": "ann@sandbox.calsync.invalid",
            "sync_username": "calsync-sync", "sync_email": "calsync-sync@sandbox.calsync.invalid",
            "page": settings.EXCHANGE_SANDBOX_URL.rsplit("/EWS", 1)[0] + "/sandbox"}  # fmt: skip
