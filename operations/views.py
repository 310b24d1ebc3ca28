"""The admins' health board and the actions on its rows (operations.health reads it, operations.services acts)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import dateformat, timezone
from django.views.decorators.http import require_POST

from accounts.tenancy import Scope
from integrations.providers import Provider
from sync.models import SyncRun

from . import health, services


def _admin_scope(request: HttpRequest) -> Scope:
    scope = Scope(request.user)  # type: ignore[arg-type]
    scope.require_admin()
    return scope


@login_required
def board(request: HttpRequest) -> HttpResponse:
    scope = _admin_scope(request)
    filters = health.BoardFilters.parse(request.GET)
    users = health.board_users(tenant=scope.tenant, filters=filters)
    page = Paginator(users, health.USERS_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = health.board_page(tenant=scope.tenant, users=list(page.object_list), filters=filters)
    counts = health.board_counts(tenant=scope.tenant)
    context = {
        "page": page,
        "filters": filters,
        "query": urlencode(filters.as_query()),
        "counts": [(value, label, counts[value]) for value, label in health.BoardStatus.choices],
        "people": health.user_counts(tenant=scope.tenant),
        "connections": health.organisation_connections(tenant=scope.tenant),
        "statuses": health.BoardStatus.choices,
        "providers": Provider.choices,
        "no_integration": health.NO_INTEGRATION,
    }
    return render(request, "operations/health.html", context)


def _back(request: HttpRequest) -> HttpResponseRedirect:
    """To the board as the admin left it: its filters and page, read back from the form, nothing else kept."""
    sent = QueryDict(request.POST.get("back", "")[:1000])
    kept = {**health.BoardFilters.parse(sent).as_query(), **({"page": sent["page"]} if sent.get("page") else {})}
    return HttpResponseRedirect(reverse("operations:health") + (f"?{urlencode(kept)}" if kept else ""))


@login_required
@require_POST
def ask_reconnect(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _admin_scope(request)
    integration = scope.managed_integration(pk)
    try:
        asked = services.reconnect_ask(integration=integration, admin=scope.user)
    except services.ActionRefused as exc:
        messages.error(request, str(exc))
        return _back(request)
    if asked.sent:
        messages.success(request, f"Asked {integration.user.email} by email to reconnect.")
    else:
        when = dateformat.format(timezone.localtime(asked.asked_at), "j M H:i")
        messages.info(request, f"{integration.user.email} was already asked on {when}; not sent again within a day.")
    return _back(request)


@login_required
@require_POST
def sync_now(request: HttpRequest, pk: int) -> HttpResponse:
    return _start(request, pk, services.board_sync_now, "Sync started")


@login_required
@require_POST
def resync(request: HttpRequest, pk: int) -> HttpResponse:
    return _start(request, pk, services.board_resync, "Resync from scratch started")


def _start(request: HttpRequest, pk: int, start: Callable[..., SyncRun], done: str) -> HttpResponse:
    """A run of someone's integration, started from the board, or why not."""
    integration = _admin_scope(request).managed_integration(pk)
    try:
        start(integration=integration)
    except services.ActionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{done} for {integration.user.email}.")
    return _back(request)
