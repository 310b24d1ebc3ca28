"""Writes to the organisation's lists, and the one place names on events are matched to list entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from django.db import IntegrityError, transaction

from accounts.models import Tenant

from .models import Activity, BusinessSettings, Client, ListEntry, Project

Entry = TypeVar("Entry", bound=ListEntry)


def settings_for(tenant: Tenant | int) -> BusinessSettings:
    """The organisation's settings, made with the defaults the first time they are asked for."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    found, _ = BusinessSettings.objects.get_or_create(tenant_id=tenant_id)
    return found


def clean_name(text: str) -> str:
    """Names compare without case and with runs of white space as one space."""
    return " ".join(text.split())


def _key(text: str) -> str:
    return clean_name(text).casefold()


@dataclass(frozen=True)
class Links:
    """The list entries an event's names matched (None where a name was empty)."""

    client: Client | None = None
    project: Project | None = None
    activity: Activity | None = None


@dataclass
class Resolver:
    """Matches the names an event carries to the tenant's list entries, making entries for names nobody listed
    yet (so nothing typed in a calendar app is lost). One resolver serves a batch of writes: each list is read
    once. Matching is by name or earlier name, without case; an archived entry still matches (old events keep
    their client)."""

    tenant_id: int
    _clients: dict[str, Client] | None = field(default=None, repr=False)
    _activities: dict[str, Activity] | None = field(default=None, repr=False)
    _projects: dict[tuple[int | None, str], Project] | None = field(default=None, repr=False)

    def links(self, *, client: str, project: str, activity: str) -> Links:
        found_client = self.client(client) if clean_name(client) else None
        return Links(
            client=found_client,
            project=self.project(project, found_client) if clean_name(project) else None,
            activity=self.activity(activity) if clean_name(activity) else None,
        )

    def client(self, name: str) -> Client:
        if self._clients is None:
            self._clients = _by_name(Client.objects.filter(tenant_id=self.tenant_id))
        return self._clients.get(_key(name)) or self._made(Client, self._clients, name)

    def activity(self, name: str) -> Activity:
        if self._activities is None:
            self._activities = _by_name(Activity.objects.filter(tenant_id=self.tenant_id))
        return self._activities.get(_key(name)) or self._made(Activity, self._activities, name)

    def project(self, name: str, client: Client | None) -> Project:
        projects = self._project_index()
        owner = client.pk if client else None
        found = projects.get((owner, _key(name)))
        if found is None and client is None:
            # A project named without its client: the one project of that name, if only one client has it.
            matches = {p.pk: p for (_, key), p in projects.items() if key == _key(name)}
            found = next(iter(matches.values())) if len(matches) == 1 else None
        if found is None:
            found = _create(Project, self.tenant_id, name, client=client)
            for key in _keys(found):
                projects[(owner, key)] = found
        return found

    def _project_index(self) -> dict[tuple[int | None, str], Project]:
        if self._projects is None:
            self._projects = {}
            for project in Project.objects.filter(tenant_id=self.tenant_id).order_by("archived_at", "pk"):
                for key in _keys(project):
                    self._projects.setdefault((project.client_id, key), project)
        return self._projects

    def _made(self, model: type[Entry], index: dict[str, Entry], name: str) -> Entry:
        entry = _create(model, self.tenant_id, name)
        for key in _keys(entry):
            index[key] = entry
        return entry


def _keys(entry: ListEntry) -> list[str]:
    return [_key(entry.name), *(_key(alias) for alias in entry.aliases)]


def _by_name(entries: object) -> dict[str, Entry]:
    index: dict[str, Entry] = {}
    for entry in entries.order_by("archived_at", "pk"):  # type: ignore[attr-defined]
        for key in _keys(entry):
            index.setdefault(key, entry)  # a current name wins over an alias of another entry
    return index


def _create(model: type[Entry], tenant_id: int, name: str, **fields: object) -> Entry:
    """A new entry; when another writer made the same one a moment ago, theirs."""
    name = clean_name(name)[:200]
    try:
        with transaction.atomic():
            return model.objects.create(tenant_id=tenant_id, name=name, **fields)
    except IntegrityError:
        return model.objects.filter(tenant_id=tenant_id, name__iexact=name, **fields).get()
