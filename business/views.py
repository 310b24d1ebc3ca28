"""The lists pages (clients, projects, activities) and the pickers' suggestions. Thin: parse, call, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.tenancy import Scope

from . import selectors, services
from .forms import EntryForm, MergeForm
from .kinds import CLIENTS, KINDS, PROJECTS, Kind, kind_named
from .models import Client, ListEntry


def _scope(request: HttpRequest) -> Scope:
    return Scope(request.user)  # type: ignore[arg-type]


def _clients(scope: Scope) -> Any:
    return scope.list_entries(Client)


def _add_errors(form: EntryForm, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@login_required
def entry_list(request: HttpRequest, kind: str) -> HttpResponse:
    scope = _scope(request)
    found = kind_named(kind)
    entries = selectors.entries_listed(entries=scope.list_entries(found.model), kind=found)
    context = {"kind": found, "kinds": KINDS.values(), "entries": entries, "may_manage": scope.may_manage_lists()}
    return render(request, "business/list.html", context)


@login_required
def entry_create(request: HttpRequest, kind: str) -> HttpResponse:
    scope = _scope(request)
    scope.require_list_manager()
    found = kind_named(kind)
    form = EntryForm(request.POST or None, kind=found, clients=_clients(scope))
    if request.method == "POST" and form.is_valid():
        try:
            entry = services.entry_create(kind=found, tenant=scope.tenant, by=scope.user, **_fields(form, found))
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, f"The {found.singular} “{entry.name}” was added.")
            return redirect("business:list", kind=found.slug)
    return render(request, "business/entry_form.html", {"kind": found, "form": form})


def _fields(form: EntryForm, kind: Kind) -> dict[str, Any]:
    data = form.cleaned_data
    fields: dict[str, Any] = {"name": data["name"]}
    if kind is CLIENTS:
        fields["email_domains"] = data["email_domains"]
    if kind is PROJECTS:
        fields["client"] = data["client"]
    return fields


@login_required
def entry_edit(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    scope = _scope(request)
    found, entry = _managed(request, kind, pk)
    initial = {"name": entry.name, "email_domains": ", ".join(getattr(entry, "email_domains", []))}
    form = EntryForm(request.POST or None, kind=found, clients=_clients(scope), entry=entry, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            renamed = services.entry_update(
                entry=entry, name=form.cleaned_data["name"], email_domains=form.cleaned_data.get("email_domains")
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _saved_message(found, entry, renamed))
            return redirect("business:list", kind=found.slug)
    context = {
        "kind": found,
        "form": form,
        "entry": entry,
        "event_count": entry.events.count(),  # type: ignore[attr-defined]
        "stale_count": selectors.stale_item_count(kind=found, entry_id=entry.pk),
        "merge_form": MergeForm(kind=found, candidates=_merge_candidates(scope, found, entry)),
    }
    return render(request, "business/entry_form.html", context)


def _merge_candidates(scope: Scope, kind: Kind, entry: ListEntry) -> Any:
    """What an entry may be merged into: another entry of the list (a project: of the same client)."""
    others = scope.list_entries(kind.model).exclude(pk=entry.pk)
    return others.filter(client_id=entry.client_id) if kind is PROJECTS else others  # type: ignore[attr-defined]


def _saved_message(kind: Kind, before: ListEntry, after: ListEntry) -> str:
    if before.name == after.name:
        return f"The {kind.singular} “{after.name}” was saved."
    return (
        f"“{before.name}” is now called “{after.name}”. Its events are being updated, and calendars that sync "
        "receive the new name at their next sync; the old name still finds it."
    )


def _managed(request: HttpRequest, kind: str, pk: int) -> tuple[Kind, ListEntry]:
    """The entry a change is asked for, once the user may change the lists; 404 outside their organisation."""
    scope = _scope(request)
    scope.require_list_manager()
    found = kind_named(kind)
    return found, scope.list_entry(found.model, pk)


@login_required
@require_POST
def entry_archive(request: HttpRequest, kind: str, pk: int, archive: bool) -> HttpResponse:
    """Archive (out of the pickers; its events keep it) or unarchive (offered again)."""
    found, entry = _managed(request, kind, pk)
    if archive:
        services.entry_archive(entry=entry)
        done = f"“{entry.name}” was archived: no longer offered for new events; its events keep it."
    else:
        services.entry_unarchive(entry=entry)
        done = f"“{entry.name}” is offered for new events again."
    messages.success(request, done)
    return redirect("business:list", kind=found.slug)


@login_required
@require_POST
def entry_propagate(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Start again the re-spelling of events a rename left (its task was lost, or the queue was down)."""
    found, entry = _managed(request, kind, pk)
    if services.entry_names_propagate_later(entry=entry):
        messages.success(request, f"The events of “{entry.name}” are being updated.")
    else:
        messages.error(request, "Could not reach the task queue; nothing was started. Try again in a minute.")
    return redirect("business:edit", kind=found.slug, pk=entry.pk)


@login_required
@require_POST
def entry_merge(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    found, entry = _managed(request, kind, pk)
    form = MergeForm(request.POST, kind=found, candidates=_merge_candidates(_scope(request), found, entry))
    if not form.is_valid():
        messages.error(request, f"Choose the {found.singular} to merge “{entry.name}” into.")
        return redirect("business:edit", kind=found.slug, pk=entry.pk)
    name = entry.name
    into = services.entry_merge(entry=entry, into=form.cleaned_data["into"])
    messages.success(
        request, f"“{name}” was merged into “{into.name}”: its events are being updated, and its name still finds it."
    )
    return redirect("business:list", kind=found.slug)


@login_required
@require_GET
def suggest(request: HttpRequest, kind: str) -> JsonResponse:
    """What a picker offers for the text typed so far: ?q=text (and for projects &client=the client typed)."""
    scope = _scope(request)
    found = kind_named(kind)
    typed, client = request.GET.get("q", "")[:200], request.GET.get("client", "")[:200]
    results = selectors.suggestions(
        entries=scope.list_entries(found.model), kind=found, typed=typed, clients=_clients(scope), client=client
    )
    return JsonResponse({"kind": found.slug, "results": [r.as_json() for r in results]})
