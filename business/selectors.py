"""Reads of the organisation's lists: the lists pages, the pickers' suggestions, events still to re-spell."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Coalesce

from events.models import Event

from .kinds import PROJECTS, Kind
from .models import Client, ListEntry, Project

SUGGEST_LIMIT = 20


def clean_name(text: str) -> str:
    """Names compare without case and with runs of white space as one space."""
    return " ".join(text.split())


def name_key(text: str) -> str:
    """What two spellings of one name have in common (business.services.Resolver matches on it)."""
    return clean_name(text).casefold()


def entries_listed(*, entries: QuerySet[ListEntry], kind: Kind) -> QuerySet[ListEntry]:
    """A list for its page: current entries first, each with how many events point to it."""
    found = entries.annotate(event_count=Count("events", distinct=True))
    if kind is PROJECTS:
        found = found.select_related("client")
    return found.order_by(F("archived_at").asc(nulls_first=True), "name", "pk")


@dataclass(frozen=True)
class Suggestion:
    name: str
    detail: str  # what tells two suggestions apart: a project's client ("Internal" for none)
    also_known_as: str  # the earlier name that matched what was typed, if it was one

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "detail": self.detail, "also_known_as": self.also_known_as}


def suggestions(
    *, entries: QuerySet[ListEntry], kind: Kind, typed: str, clients: QuerySet[Client] | None = None, client: str = ""
) -> list[Suggestion]:
    """What a picker offers for the typed text: current entries only (archived ones take no new events), names
    starting with the text before names containing it, then alphabetically; an earlier name finds the entry under
    its new name. Projects follow the client typed beside them (looked up in `clients`): that client's projects
    and the internal ones."""
    wanted = name_key(typed)
    # The database narrows to names containing the text (and entries with earlier names, few: renamed ones); the
    # ranking below decides with the same casefold matching as everywhere else.
    found = entries.filter(Q(name__icontains=clean_name(typed)) | ~Q(aliases=[]), archived_at__isnull=True)
    if kind is PROJECTS:
        found = _projects_for(found, clients, client).select_related("client")  # type: ignore[arg-type]
    ranked: list[tuple[int, str, int, Suggestion]] = []
    for entry in found:
        rank, alias = _rank(entry, wanted)
        if rank is not None:
            suggestion = Suggestion(entry.name, _detail(entry, kind), alias)
            ranked.append((rank, entry.name.casefold(), entry.pk, suggestion))
    ranked.sort(key=lambda r: r[:3])
    return [r[3] for r in ranked[:SUGGEST_LIMIT]]


def _projects_for(projects: QuerySet[Project], clients: QuerySet[Client] | None, client: str) -> QuerySet[Project]:
    """No client typed: every project whose client is current. A client typed: its projects and the internal ones
    (a client nobody listed yet has none, so only the internal ones)."""
    projects = projects.filter(Q(client__isnull=True) | Q(client__archived_at__isnull=True))
    if not name_key(client) or clients is None:
        return projects
    owner = client_named(clients=clients, name=client)
    return projects.filter(Q(client__isnull=True) | Q(client=owner)) if owner else projects.filter(client__isnull=True)


def client_named(*, clients: QuerySet[Client], name: str) -> Client | None:
    """The client a typed name means: by its name, else by an earlier name (as business.services.Resolver does)."""
    wanted = name_key(name)
    listed = list(clients.only("name", "aliases"))
    by_name = next((c for c in listed if name_key(c.name) == wanted), None)
    return by_name or next((c for c in listed if any(name_key(a) == wanted for a in c.aliases)), None)


def _rank(entry: ListEntry, wanted: str) -> tuple[int | None, str]:
    name = name_key(entry.name)
    if name.startswith(wanted):
        return 0, ""
    if wanted in name:
        return 1, ""
    alias = next((a for a in entry.aliases if wanted and wanted in name_key(a)), "")
    return (2, alias) if alias else (None, "")


def _detail(entry: ListEntry, kind: Kind) -> str:
    if kind is not PROJECTS:
        return ""
    owner = entry.client  # type: ignore[attr-defined]
    return owner.name if owner else "Internal"


def stale_items(*, kind: Kind, entry_id: int) -> QuerySet[Event]:
    """(calendar id, master id) of the items with a row linked to the entry that still carries another name than
    the entry's: what a rename leaves to re-spell. Empty once every event reads the new name."""
    entry = kind.model.objects.filter(pk=entry_id).only("name").first()
    if entry is None:
        return Event.objects.none()
    rows = Event.objects.filter(**{kind.ref_field: entry_id}).exclude(**{kind.name_field: entry.name})
    return (
        rows.annotate(master_id=Coalesce("parent_id", "id"))
        .values_list("calendar_id", "master_id")
        .distinct()
        .order_by("master_id")
    )


def stale_item_count(*, kind: Kind, entry_id: int) -> int:
    return stale_items(kind=kind, entry_id=entry_id).count()
