"""The three lists, named once: how each is spelled in URLs and on pages, and which event fields point to it."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404

from .models import Activity, Client, ListEntry, Project


@dataclass(frozen=True)
class Kind:
    slug: str  # in URLs: /lists/<slug>/
    model: type[ListEntry]
    singular: str
    plural: str
    name_field: str  # the event's carried name (what travels to providers and calendar apps)
    ref_field: str  # the event's link to the entry (what reports group by)


CLIENTS = Kind("clients", Client, "client", "clients", "client", "client_ref")
PROJECTS = Kind("projects", Project, "project", "projects", "project", "project_ref")
ACTIVITIES = Kind("activities", Activity, "activity", "activities", "activity_type", "activity_ref")
KINDS: dict[str, Kind] = {kind.slug: kind for kind in (CLIENTS, PROJECTS, ACTIVITIES)}


def kind_named(slug: str) -> Kind:
    """The list a URL names; 404 for anything else."""
    try:
        return KINDS[slug]
    except KeyError:
        raise Http404("No such list.") from None


def kind_of(entry: ListEntry) -> Kind:
    return next(kind for kind in KINDS.values() if isinstance(entry, kind.model))
