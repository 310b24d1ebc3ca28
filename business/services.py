"""Writes to the organisation's lists, and the one place names on events are matched to list entries."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from accounts.models import Tenant, User
from calsync.queue import publish

from .kinds import CLIENTS, PROJECTS, Kind, kind_of
from .models import Activity, AssignmentRule, BusinessSettings, Client, ListEntry, Project
from .selectors import clean_name, stale_items
from .selectors import name_key as _key

Entry = TypeVar("Entry", bound=ListEntry)


def settings_for(tenant: Tenant | int) -> BusinessSettings:
    """The organisation's settings, made with the defaults the first time they are asked for."""
    tenant_id = tenant if isinstance(tenant, int) else tenant.pk
    found, _ = BusinessSettings.objects.get_or_create(tenant_id=tenant_id)
    return found


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

    def known(self, *, client: str, project: str, activity: str) -> Links:
        """The entries these names would be linked to, without making any (None: a new entry would be made)."""
        found_client = self._client_index().get(_key(client)) if clean_name(client) else None
        unknown_client = bool(clean_name(client)) and found_client is None  # its projects would be new too
        return Links(
            client=found_client,
            project=None if unknown_client or not clean_name(project) else self._known_project(project, found_client),
            activity=self._activity_index().get(_key(activity)) if clean_name(activity) else None,
        )

    def client(self, name: str) -> Client:
        return self._client_index().get(_key(name)) or self._made(Client, self._client_index(), name)

    def activity(self, name: str) -> Activity:
        return self._activity_index().get(_key(name)) or self._made(Activity, self._activity_index(), name)

    def project(self, name: str, client: Client | None) -> Project:
        found = self._known_project(name, client)
        if found is None:
            found = _create(Project, self.tenant_id, name, client=client)
            for key in _keys(found):
                self._project_index()[(client.pk if client else None, key)] = found
        return found

    def _known_project(self, name: str, client: Client | None) -> Project | None:
        projects = self._project_index()
        found = projects.get((client.pk if client else None, _key(name)))
        if found is None and client is None:
            # A project named without its client: the one project of that name, if only one client has it.
            matches = {p.pk: p for (_, key), p in projects.items() if key == _key(name)}
            found = next(iter(matches.values())) if len(matches) == 1 else None
        return found

    def _client_index(self) -> dict[str, Client]:
        if self._clients is None:
            self._clients = _by_name(Client.objects.filter(tenant_id=self.tenant_id))
        return self._clients

    def _activity_index(self) -> dict[str, Activity]:
        if self._activities is None:
            self._activities = _by_name(Activity.objects.filter(tenant_id=self.tenant_id))
        return self._activities

    def _project_index(self) -> dict[tuple[int | None, str], Project]:
        if self._projects is None:
            self._projects = {}
            for project, key in _names_then_aliases(Project.objects.filter(tenant_id=self.tenant_id)):
                self._projects.setdefault((project.client_id, key), project)
        return self._projects

    def _made(self, model: type[Entry], index: dict[str, Entry], name: str) -> Entry:
        entry = _create(model, self.tenant_id, name)
        for key in _keys(entry):
            index[key] = entry
        return entry


def _keys(entry: ListEntry) -> list[str]:
    return [_key(entry.name), *(_key(alias) for alias in entry.aliases)]


def _names_then_aliases(entries: QuerySet[Entry]) -> Iterator[tuple[Entry, str]]:
    """Each entry's keys, every current name before any earlier name: a name someone gave an entry now wins over
    the old name of another (a client renamed from "Acme" and a new client called "Acme"); among equals, current
    entries before archived ones, then the oldest."""
    listed = list(entries.order_by(F("archived_at").asc(nulls_first=True), "pk"))
    yield from ((entry, _key(entry.name)) for entry in listed)
    yield from ((entry, _key(alias)) for entry in listed for alias in entry.aliases)


def _by_name(entries: QuerySet[Entry]) -> dict[str, Entry]:
    index: dict[str, Entry] = {}
    for entry, key in _names_then_aliases(entries):
        index.setdefault(key, entry)
    return index


def _create(model: type[Entry], tenant_id: int, name: str, **fields: object) -> Entry:
    """A new entry; when another writer made the same one a moment ago, theirs."""
    name = clean_name(name)[:200]
    try:
        with transaction.atomic():
            return model.objects.create(tenant_id=tenant_id, name=name, **fields)
    except IntegrityError:
        return model.objects.filter(tenant_id=tenant_id, name__iexact=name, **fields).get()


# --- the lists pages: add, rename, archive --------------------------------------------------------------------

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")


def lists_settings_update(*, tenant: Tenant, members_manage_lists: bool) -> BusinessSettings:
    found = settings_for(tenant)
    found.members_manage_lists = members_manage_lists
    found.save(update_fields=["members_manage_lists"])
    return found


def entry_create(
    *, kind: Kind, tenant: Tenant, by: User, name: str, client: Client | None = None, email_domains: Sequence[str] = ()
) -> ListEntry:
    """A new client, project (under `client`, or internal) or activity. ValidationError says what is wrong."""
    fields: dict[str, object] = {"client": client} if kind is PROJECTS else {}
    if client is not None and client.is_archived:
        raise ValidationError({"client": f"The client “{client.name}” is archived; unarchive it first."})
    with transaction.atomic():
        name = _free_name(kind, tenant.pk, name, client=client)
        if kind is CLIENTS:
            fields["email_domains"] = _free_domains(tenant.pk, list(email_domains))
        try:
            with transaction.atomic():
                return kind.model.objects.create(tenant=tenant, name=name, created_by=by, **fields)
        except IntegrityError:  # made by someone else a moment ago
            raise ValidationError({"name": _taken(kind, name)}) from None


def entry_rename(*, entry: ListEntry, name: str) -> ListEntry:
    """Give the entry a new name and keep the old one as an alias, so copies of events that still carry it (in a
    provider not synced since, a calendar app offline) find the same entry. The events' carried names follow in
    the background (entry_names_propagate), each write bumping the item's version so syncs and apps see it."""
    kind = kind_of(entry)
    with transaction.atomic():
        locked = kind.model.objects.select_for_update().get(pk=entry.pk)
        new = _free_name(kind, locked.tenant_id, name, client=getattr(locked, "client", None), exclude=locked.pk)
        if new == locked.name:
            return locked
        aliases = [a for a in locked.aliases if _key(a) != _key(new)]
        if _key(locked.name) != _key(new) and all(_key(a) != _key(locked.name) for a in aliases):
            aliases.append(locked.name)
        _release_alias(kind, locked, new)
        locked.name, locked.aliases = new, aliases
        locked.save(update_fields=["name", "aliases"])
        transaction.on_commit(lambda: entry_names_propagate_later(entry=locked))
    return locked


def entry_update(*, entry: ListEntry, name: str, email_domains: Sequence[str] | None = None) -> ListEntry:
    """The entry page's save: a client's domains and the name, together or not at all."""
    with transaction.atomic():
        if isinstance(entry, Client) and email_domains is not None:
            client_domains_update(client=entry, email_domains=list(email_domains))
        return entry_rename(entry=entry, name=name)


def client_domains_update(*, client: Client, email_domains: list[str]) -> Client:
    """The email domains that are this client's (assignment rules give its people's meetings to it)."""
    with transaction.atomic():
        client.email_domains = _free_domains(client.tenant_id, email_domains, exclude=client.pk)
        client.save(update_fields=["email_domains"])
    return client


def entry_archive(*, entry: ListEntry) -> ListEntry:
    """Out of the pickers; events that point to it keep pointing to it, and a copy that names it still finds it."""
    if entry.archived_at is None:
        entry.archived_at = timezone.now()
        entry.save(update_fields=["archived_at"])
    return entry


def entry_unarchive(*, entry: ListEntry) -> ListEntry:
    if entry.archived_at is not None:
        entry.archived_at = None
        entry.save(update_fields=["archived_at"])
    return entry


def entry_merge(*, entry: ListEntry, into: ListEntry) -> ListEntry:
    """Two entries that are one (two spellings, a duplicate): `entry`'s events, earlier names (its name among
    them) and, for a client, email domains and projects go to `into`, and `entry` is gone. The events'
    carried names follow in the background, as after a rename."""
    kind = kind_of(entry)
    _check_merge(kind, entry, into)
    with transaction.atomic():
        _merge_rows(kind, entry, into)
        transaction.on_commit(lambda: entry_names_propagate_later(entry=into))
    into.refresh_from_db()
    return into


def _check_merge(kind: Kind, entry: ListEntry, into: ListEntry) -> None:
    if kind_of(into) is not kind or into.tenant_id != entry.tenant_id or into.pk == entry.pk:
        raise ValidationError({"into": f"Choose another {kind.singular} of your organisation."})
    if kind is PROJECTS and entry.client_id != into.client_id:  # type: ignore[attr-defined]
        raise ValidationError({"into": "Only projects of the same client (or two internal ones) can be merged."})


def _merge_rows(kind: Kind, entry: ListEntry, into: ListEntry) -> None:
    from events.services import items_relink

    locked = {e.pk: e for e in kind.model.objects.select_for_update().filter(pk__in=[entry.pk, into.pk])}
    entry, into = locked[entry.pk], locked[into.pk]
    if isinstance(entry, Client):
        for project in Project.objects.select_for_update().filter(client=entry):
            twin = next((p for p in Project.objects.filter(client=into) if _key(p.name) == _key(project.name)), None)
            if twin is None:
                project.client = into  # type: ignore[assignment]
                project.save(update_fields=["client"])
            else:
                _merge_rows(PROJECTS, project, twin)
        into.email_domains = list(dict.fromkeys([*into.email_domains, *entry.email_domains]))  # type: ignore[attr-defined]
    items_relink(tenant_id=entry.tenant_id, ref_field=kind.ref_field, old_id=entry.pk, new_id=into.pk)
    aliases: list[str] = []
    for name in [*into.aliases, entry.name, *entry.aliases]:
        if _key(name) != _key(into.name) and all(_key(name) != _key(a) for a in aliases):
            aliases.append(name)
    into.aliases = aliases
    AssignmentRule.objects.filter(**{kind.singular: entry}).update(**{kind.singular: into})  # rules follow too
    entry.delete()
    into.save(update_fields=["aliases", *(["email_domains"] if kind is CLIENTS else [])])


def entry_names_propagate(*, kind: Kind, entry_id: int, batch: int | None = None) -> bool:
    """Re-spell one batch of the events that still carry an entry's old name (through events.services, which
    bumps each item's version). True if more remain for another batch."""
    from events.services import items_names_refresh

    size = batch or settings.BUSINESS_RENAME_BATCH
    pending = list(stale_items(kind=kind, entry_id=entry_id)[: size + 1])
    by_calendar: dict[int, list[int]] = defaultdict(list)
    for calendar_id, master_id in pending[:size]:
        by_calendar[calendar_id].append(master_id)
    for calendar_id, master_ids in by_calendar.items():
        items_names_refresh(calendar_id=calendar_id, master_ids=master_ids)
    return len(pending) > size


def entry_names_propagate_later(*, entry: ListEntry) -> bool:
    """Queue the re-spelling of the entry's events; False when the task queue cannot be reached (the entry's page
    then offers to start it again)."""
    from .tasks import propagate_names

    return publish(propagate_names, kind_of(entry).slug, entry.pk)


def _free_name(kind: Kind, tenant_id: int, name: str, *, client: Client | None, exclude: int | None = None) -> str:
    cleaned = clean_name(name)
    if not cleaned:
        raise ValidationError({"name": f"Give the {kind.singular} a name."})
    if len(cleaned) > 200:
        raise ValidationError({"name": "A name can be at most 200 characters."})
    same = kind.model.objects.filter(tenant_id=tenant_id, name__iexact=cleaned).exclude(pk=exclude)
    if kind is PROJECTS:
        same = same.filter(client=client)
    # iexact is not casefold on every database: compare the candidates here too.
    clash = next((entry for entry in same if _key(entry.name) == _key(cleaned)), None)
    if clash is not None:
        raise ValidationError({"name": _taken(kind, clash.name, archived=clash.is_archived)})
    return cleaned


def _taken(kind: Kind, name: str, *, archived: bool = False) -> str:
    hint = " It is archived: unarchive it instead." if archived else ""
    return f"There is already a {kind.singular} called “{name}”.{hint}"


def _release_alias(kind: Kind, entry: ListEntry, name: str) -> None:
    """A name given to this entry stops being another entry's old name, so events carrying it come here."""
    others = kind.model.objects.filter(tenant_id=entry.tenant_id).exclude(pk=entry.pk)
    if kind is PROJECTS:
        others = others.filter(client_id=entry.client_id)  # type: ignore[attr-defined]
    for other in others.select_for_update():
        kept = [a for a in other.aliases if _key(a) != _key(name)]
        if kept != other.aliases:
            other.aliases = kept
            other.save(update_fields=["aliases"])


def _free_domains(tenant_id: int, domains: list[str], *, exclude: int | None = None) -> list[str]:
    """The domains cleaned (lower case, no "@", punycode), each refused if malformed or another client's."""
    cleaned: list[str] = []
    for raw in domains:
        domain = raw.strip().lstrip("@").rstrip(".").lower()
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            domain = ""
        if not _DOMAIN.match(domain):
            raise ValidationError({"email_domains": f"“{raw.strip()}” is not an email domain (like example.com)."})
        if domain not in cleaned:
            cleaned.append(domain)
    others = Client.objects.filter(tenant_id=tenant_id).exclude(pk=exclude).exclude(email_domains=[])
    for other in others.only("name", "email_domains"):
        shared = sorted(set(cleaned) & set(other.email_domains))
        if shared:
            raise ValidationError({"email_domains": f"{shared[0]} is already a domain of the client “{other.name}”."})
    return cleaned
