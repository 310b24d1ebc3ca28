"""Sync logs: an integration's runs, every run in the organisation (admins), and one run's entries, all paged."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.tenancy import Scope
from events.limits import printable
from integrations.models import Integration

from . import history, selectors, undo
from .errors import QueueUnavailable
from .forms import UndoForm, UndoSinceForm
from .models import SyncLogEntry

RUNS_PER_PAGE = 20
TENANT_RUNS_PER_PAGE = 50
# More users or integrations than this and the log filter asks for an id instead of listing them all.
FILTER_CHOICES_MAX = 300
ENTRIES_PER_PAGE = 100


def _scope(request: HttpRequest) -> Scope:
    return Scope(request.user)  # type: ignore[arg-type]


def _typed(request: HttpRequest, key: str) -> str:
    """A query-string value as words: without control characters (PostgreSQL text cannot hold NUL)."""
    return printable(request.GET.get(key, ""))


def _filters(request: HttpRequest, names: tuple[str, ...]) -> tuple[dict[str, str], str]:
    """The filters in the query string, and them again as a query for the page links (so paging keeps them)."""
    filters = {key: _typed(request, key)[:200] for key in names}
    return filters, urlencode({k: v for k, v in filters.items() if v})


@login_required
def logs(request: HttpRequest, pk: int) -> HttpResponse:
    integration = _scope(request).integration(pk)
    page = Paginator(integration.runs.all(), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"integration": integration, "page": page, "since_form": UndoSinceForm()}
    return render(request, "integrations/logs.html", context)


@login_required
def run_detail(request: HttpRequest, run_pk: int) -> HttpResponse:
    run = _scope(request).run(run_pk)
    filters, query = _filters(request, ("level", "q"))
    entries = selectors.run_entries(run=run, viewer=request.user, **filters)  # type: ignore[arg-type]
    page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    context = {"run": run, "entries": page, "filters": filters, "query": query, "levels": SyncLogEntry.Level.choices}
    return render(request, "integrations/run_detail.html", context)


@login_required
def lost_version(request: HttpRequest, run_pk: int, entry_pk: int) -> HttpResponse:
    """The losing version of one conflict, read only when someone opens it (it can be a long iCalendar text)."""
    run = _scope(request).run(run_pk)
    private = history.hidden(viewer=request.user, owner=run.integration.user_id)  # type: ignore[arg-type]
    shown = run.entries.exclude(detail="").alias(hidden=private)
    entry = get_object_or_404(shown.filter(hidden=False), pk=entry_pk)
    return render(request, "integrations/lost_version.html", {"run": run, "entry": entry})


@login_required
def admin_logs(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    scope.require_admin()
    filters, query = _filters(request, ("user", "integration", "status", "since", "until"))
    runs = selectors.tenant_runs(scope=scope, **filters)
    page = Paginator(runs, TENANT_RUNS_PER_PAGE).get_page(request.GET.get("page"))
    context: dict[str, Any] = {
        "page": page,
        "filters": filters,
        "query": query,
        "users": _choices(scope.users()),
        "integrations": _choices(scope.tenant_integrations().select_related("user")),
        "statuses": selectors.RUN_STATUSES,
    }
    return render(request, "integrations/admin_logs.html", context)


@login_required
def event_story(request: HttpRequest, organisation: bool = False) -> HttpResponse:
    """ "Why is this here?": an event's story, by UID (a deleted event has no row), from the user's own logs, or
    from the organisation's on the admin pages (others' private items untitled)."""
    scope = _scope(request)
    if organisation:
        scope.require_admin()
    uid = _typed(request, "uid")[:255]
    if not uid.strip():
        raise Http404("Say which event: its story is asked for by its id (uid).")
    story = history.event_story(scope=scope, uid=uid, organisation=organisation, page=request.GET.get("page"))
    if story is None:
        raise Http404("No event with this id in your sync logs.")
    context = {"story": story, "organisation": organisation, "query": urlencode({"uid": uid})}
    return render(request, "integrations/event_story.html", context)


@login_required
def event_search(request: HttpRequest, organisation: bool = False) -> HttpResponse:
    """Find an event by title in the sync logs (the user's own, or the organisation's), deleted ones too."""
    scope = _scope(request)
    if organisation:
        scope.require_admin()
    q = _typed(request, "q")[:200]
    page = history.events_find(scope=scope, q=q, organisation=organisation, page=request.GET.get("page"))
    context = {"page": page, "q": q, "organisation": organisation, "query": urlencode({"q": q}),
               "search_min": history.SEARCH_MIN}  # fmt: skip
    return render(request, "integrations/event_search.html", context)


def _choices(rows: QuerySet[Any]) -> list[Any] | None:
    """The rows a filter offers as a list, or None when there are too many to list."""
    listed = list(rows[: FILTER_CHOICES_MAX + 1])
    return None if len(listed) > FILTER_CHOICES_MAX else listed


# --- undo ------------------------------------------------------------------------------------------


@login_required
def undo_run(request: HttpRequest, run_pk: int) -> HttpResponse:
    """Undo one run: what it would put back, the items changed since (checkboxes), and the confirm button."""
    run = _scope(request).run(run_pk)
    runs = undo.undo_runs(integration=run.integration, run=run)
    return _undo_page(request, run.integration, runs, {"undo_of": run, "run": run})


@login_required
def undo_since(request: HttpRequest, pk: int) -> HttpResponse:
    """Undo every run of one of the user's integrations since a moment (the logs page's form)."""
    integration = _scope(request).integration(pk)
    since_form = UndoSinceForm(request.GET if "since" in request.GET else request.POST)
    if not since_form.is_valid():
        errors = since_form.errors.get("since") or ["Give the date and time to undo from."]
        messages.error(request, errors[0])
        return redirect("integrations:logs", pk=integration.pk)
    since = since_form.cleaned_data["since"]
    runs = undo.undo_runs(integration=integration, since=since)
    return _undo_page(request, integration, runs, {"since": since})


def _undo_page(request: HttpRequest, integration: Integration, runs: Any, target: dict[str, Any]) -> HttpResponse:
    summary = undo.undo_summary(integration=integration, runs=runs)
    owner = integration.user_id == request.user.pk  # else a tenant admin undoing a member's run
    form = UndoForm(request.POST if request.method == "POST" else None, changed=summary.changed)
    if request.method == "POST" and summary.empty and summary.unwritable:
        messages.error(request, "Nothing here can be put back where this integration writes; nothing was started.")
    elif request.method == "POST" and form.is_valid():
        try:
            run = undo.undo_request(
                integration=integration,
                run=target.get("undo_of"),
                since=target.get("since"),
                options=form.options(),
            )
        except (undo.UndoRefused, QueueUnavailable) as exc:
            messages.error(request, str(exc))
        else:
            if owner:
                messages.success(request, "The undo has started; its progress shows below as a sync's does.")
                return redirect("integrations:detail", pk=integration.pk)
            messages.success(request, "The undo has started; this is its run.")
            return redirect("integrations:run_detail", run_pk=run.pk)  # an admin may open the run, not the page
    if form.is_bound and not form.is_valid():
        messages.error(request, "The items changed since are not what they were when you looked: check them again.")
    context = {"integration": integration, "summary": summary, "form": form, "owner": owner, **target}
    return render(request, "integrations/undo.html", context)
