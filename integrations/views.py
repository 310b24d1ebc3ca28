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
from sync.controls import Controls
from sync.errors import QueueUnavailable
from sync.models import SyncPreview
from sync.previews import preview_again, preview_latest, preview_request, preview_sides, preview_valid
from sync.services import sync_request_manual

from . import selectors, services
from .connecting import choice_initial, connect_scope, first_sync_previewed, sync_started
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
                preview_first=True,
                **data,
            )
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            first_sync_previewed(request, integration, "Connected.")
            return redirect("integrations:detail", pk=integration.pk)
    return render(request, "integrations/connect_calsync.html", {"form": form, "enough": calendars.count() > 1})


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    integration = scope.integration(pk)
    form = _settings_form(request.POST or None, scope, integration)
    if request.method == "POST" and form.is_valid():
        try:
            _settings_saved(request, integration, form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            return redirect("integrations:detail", pk=integration.pk)
    return _detail_page(request, integration, form, ControlsForm(integration=integration))


def _settings_saved(request: HttpRequest, integration: Integration, values: dict[str, Any]) -> None:
    """Save the settings. A new direction or primary calendar is previewed first (the other fields are saved at
    once); before the first sync everything is saved and its preview made again."""
    moved = {name: values[name] for name in ("direction", "primary") if values[name] != getattr(integration, name)}
    if integration.awaiting_confirmation or not moved:
        services.integration_update_settings(integration=integration, **values)
        if integration.awaiting_confirmation:
            _previewing(request, integration, SyncPreview.Reason.FIRST, "Settings saved.")
        else:
            sync_started(request, integration, "Settings saved.")
        return
    rest = {name: value for name, value in values.items() if name not in moved}
    if any(getattr(integration, name) != value for name, value in rest.items()):
        services.integration_update_settings(integration=integration, **rest)
    _previewing(request, integration, SyncPreview.Reason.SETTINGS, "", proposed=moved)


def _previewing(request: HttpRequest, integration: Integration, reason: str, done: str,
                proposed: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Ask for a preview and tell the user that the sync waits for their confirmation of it."""
    preview_request(integration=integration, reason=reason, proposed=proposed, user=request.user)  # type: ignore[arg-type]
    messages.info(request, f"{done} Looking at both calendars: nothing changes until you confirm what the sync "
                           "would do.".strip())  # fmt: skip


def _settings_form(data: Any, scope: Scope, integration: Integration) -> SettingsForm:
    form = SettingsForm(data, calendars=scope.calendars(), initial=SettingsForm.initial_for(integration))
    if integration.remote_read_only:
        form.fix_direction()
    return form


def _detail_page(request: HttpRequest, integration: Integration, form: SettingsForm,
                 controls_form: ControlsForm) -> HttpResponse:  # fmt: skip
    preview = preview_latest(integration=integration)
    context = {"integration": integration, "form": form, "controls_form": controls_form,
               "preview": preview, "preview_valid": preview is not None and preview_valid(preview),
               "preview_sides": preview_sides(preview) if preview is not None else [],
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
            _controls_saved(request, integration, new)
            return redirect("integrations:detail", pk=integration.pk)
    return _detail_page(request, integration, _settings_form(None, scope, integration), form)


def _controls_saved(request: HttpRequest, integration: Integration, new: Controls) -> None:
    """Changed controls are previewed first; before the first sync they are saved and its preview made again."""
    if new.to_json() == Controls.from_json(integration.controls).to_json():
        messages.info(request, "Nothing changed.")
    elif integration.awaiting_confirmation:
        services.integration_controls_update(integration=integration, controls=new)
        _previewing(request, integration, SyncPreview.Reason.FIRST, "Sync controls saved.")
    else:
        _previewing(request, integration, SyncPreview.Reason.SETTINGS, "", proposed={"controls": new.to_json()})


@login_required
@require_POST
def resync(request: HttpRequest, pk: int) -> HttpResponse:
    """Resync from scratch: previewed first, started when the user confirms."""
    return _preview_page(request, pk, SyncPreview.Reason.RESYNC)


def _preview_page(request: HttpRequest, pk: int, reason: str) -> HttpResponse:
    integration = _scope(request).integration(pk)
    _previewing(request, integration, reason, "")
    return redirect("integrations:detail", pk=integration.pk)


@login_required
def preview_state(request: HttpRequest, pk: int) -> JsonResponse:
    """What the integration page polls while its preview is being made."""
    latest = preview_latest(integration=_scope(request).integration(pk))
    return JsonResponse({"id": latest.pk if latest else None, "status": latest.status if latest else ""})


@login_required
@require_POST
def preview_confirm(request: HttpRequest, pk: int, preview_pk: int) -> HttpResponse:
    preview = _scope(request).preview(pk, preview_pk)
    integration = preview.integration
    try:
        again = services.integration_preview_confirm(preview=preview, user=request.user)  # type: ignore[arg-type]
    except ValidationError as exc:
        messages.info(request, exc.messages[0])
        return redirect("integrations:detail", pk=integration.pk)
    except QueueUnavailable as exc:
        messages.error(request, f"{exc} Nothing was started; confirm again once it is back.")
        return redirect("integrations:detail", pk=integration.pk)
    if again is not None:
        messages.warning(request, "That preview was out of date or made for other settings, so it is being made "
                                  "again: confirm once it shows.")  # fmt: skip
    else:
        sync_started(request, integration, "Confirmed.")
    return redirect("integrations:detail", pk=integration.pk)


@login_required
@require_POST
def preview_retry(request: HttpRequest, pk: int, preview_pk: int) -> HttpResponse:
    """Preview again (a failed preview, or one the user wants made anew)."""
    preview = _scope(request).preview(pk, preview_pk)
    preview_again(preview=preview, user=request.user)  # type: ignore[arg-type]
    messages.info(request, "The preview is being made again.")
    return redirect("integrations:detail", pk=preview.integration_id)


@login_required
@require_POST
def sync_now(request: HttpRequest, pk: int) -> HttpResponse:
    integration = _scope(request).integration(pk)
    if integration.awaiting_confirmation:
        latest = preview_latest(integration=integration)
        if latest is None or latest.status == SyncPreview.Status.FAILED:
            _previewing(request, integration, SyncPreview.Reason.FIRST, "")
        messages.info(request, "The first sync starts once you confirm its preview below.")
    elif not integration.sync_enabled:
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
    """At a safety stop: preview what allowing the deletion would delete where; confirming it allows it."""
    return _preview_page(request, pk, SyncPreview.Reason.DELETIONS)


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
