"""A user's integrations: connect, settings, Synchronize now, progress, disconnect (their logs: sync/views.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_POST

from accounts.tenancy import Scope
from operations import radar
from sync import live as sync_live
from sync import selectors as sync_selectors
from sync.errors import QueueUnavailable
from sync.services import sync_request_manual

from . import selectors, services
from .connecting import choice_initial, connect_scope, sync_started
from .controls_forms import ControlsForm
from .forms import CalsyncConnectForm, SettingsForm
from .models import Integration
from .providers import Provider


def _scope(request: HttpRequest) -> Scope:
    return Scope(request.user)  # type: ignore[arg-type]


@login_required
def connect_calsync(request: HttpRequest) -> HttpResponse:
    scope = connect_scope(request, Provider.CALSYNC)
    calendars = scope.calendars()
    initial = choice_initial(request, scope)
    # The other side starts on another calendar: the main one with itself is never a valid pair.
    initial["other"] = calendars.exclude(pk=getattr(initial["calendar"], "pk", None)).first()
    form = CalsyncConnectForm(request.POST or None, calendars=calendars, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        other = data.pop("other")
        try:
            integration = services.integration_create(
                user=request.user,  # type: ignore[arg-type]
                provider=Provider.CALSYNC,
                remote_calendar_id=str(other.pk),
                remote_calendar_name=other.name,
                **data,
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            sync_started(request, integration, "Connected.", "The first sync has started.")
            return redirect("integrations:detail", pk=integration.pk)
    return render(request, "integrations/connect_calsync.html", {"form": form, "enough": calendars.count() > 1})


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    integration = scope.integration(pk)
    form = _settings_form(request.POST or None, scope, integration)
    if request.method == "POST" and form.is_valid():
        try:
            services.integration_update_settings(integration=integration, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            sync_started(request, integration, "Settings saved.")
            return redirect("integrations:detail", pk=integration.pk)
    return _detail_page(request, integration, form, ControlsForm(integration=integration))


def _settings_form(data: Any, scope: Scope, integration: Integration) -> SettingsForm:
    form = SettingsForm(data, calendars=scope.calendars(), initial=SettingsForm.initial_for(integration))
    if integration.remote_read_only:
        form.fix_direction()
    return form


def _detail_page(request: HttpRequest, integration: Integration, form: SettingsForm,
                 controls_form: ControlsForm) -> HttpResponse:  # fmt: skip
    context = {"integration": integration, "form": form, "controls_form": controls_form,
               "also_synced_with": selectors.also_synced_with(integration),
               "token_warning": radar.token_warning(integration, timezone.now()),
               **sync_selectors.integration_status(integration)}  # fmt: skip
    return render(request, "integrations/detail.html", context)


@login_required
@require_POST
def controls(request: HttpRequest, pk: int) -> HttpResponse:
    """Save what the integration copies. Controls that would remove copies calsync made show how many, on each
    side, and are saved only once the user ticks the confirmation."""
    scope = _scope(request)
    integration = scope.integration(pk)
    form = ControlsForm(request.POST, integration=integration)
    if form.is_valid():
        new = form.controls()
        new = replace(new, owner=selectors.controls_owner(integration))
        form.removals = selectors.removals_preview(integration=integration, controls=new)
        if form.removals and not form.cleaned_data["confirm_removals"]:
            form.add_error("confirm_removals", "Tick the box to confirm these removals, or change the settings.")
        else:
            changed = services.integration_controls_update(integration=integration, controls=new)
            if changed:
                sync_started(request, integration, "Sync controls saved.", "A sync comparing everything has started.")
            else:
                messages.info(request, "Nothing changed.")
            return redirect("integrations:detail", pk=integration.pk)
    return _detail_page(request, integration, _settings_form(None, scope, integration), form)


@login_required
@require_POST
def sync_now(request: HttpRequest, pk: int) -> HttpResponse:
    integration = _scope(request).integration(pk)
    if not integration.sync_enabled:
        messages.error(request, "Sync is paused. Tick “Sync events” and save to resume it.")
    else:
        try:
            sync_request_manual(integration=integration)
        except QueueUnavailable as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Sync started.")
    return redirect("integrations:detail", pk=integration.pk)


@login_required
@require_POST
def allow_mass_delete(request: HttpRequest, pk: int) -> HttpResponse:
    integration = _scope(request).integration(pk)
    services.integration_allow_mass_delete(integration=integration)
    sync_started(request, integration, "The next sync may delete the items;", "it has started.")
    return redirect("integrations:detail", pk=integration.pk)


@login_required
def status(request: HttpRequest, pk: int) -> JsonResponse:
    """What the integration page polls while a sync runs."""
    integration = _scope(request).integration(pk)
    return JsonResponse(sync_selectors.status_json(integration))


@login_required
def live(request: HttpRequest) -> HttpResponse:
    """The live sync state of the user's own integrations (`?id=` for some of them: the integration page), polled
    by their pages. An unchanged state answers 304 Not Modified after one query of its own (RFC 9110, section
    13.1.2: If-None-Match, weak comparison)."""
    integrations = _scope(request).integrations()
    wanted = request.GET.getlist("id")
    if wanted:
        if not all(value.isdigit() and len(value) < 19 for value in wanted):
            return HttpResponseBadRequest("id must be an integration number.", content_type="text/plain")
        integrations = integrations.filter(pk__in=[int(value) for value in wanted])
    seen = sync_live.fingerprint(integrations)
    response = get_conditional_response(request, etag=seen.etag)
    if response is None:
        response = JsonResponse(sync_live.live_state(integrations, seen.integration_ids))
    response["ETag"] = seen.etag
    response["Cache-Control"] = "private, no-cache"
    return response


@login_required
@require_POST
def disconnect(request: HttpRequest, pk: int) -> HttpResponse:
    integration = _scope(request).integration(pk)
    name = str(integration)
    services.integration_disconnect(integration=integration)
    messages.success(request, f"Disconnected {name}. Your calsync events were kept.")
    return redirect("settings")
