"""Matching rules to events. Pure: the rules are read once (RuleBook.load), then each component is matched
without a query, so a first sync of thousands of events costs one read of the rules.

For each field (client, project, activity) the first rule in order that matches and sets that field wins; a
field that already holds a name is left alone unless `overwrite`. A rule setting a project of a client sets
that client too; a project is only given to an event whose client is the project's (an internal project to an
event without a client), so the two never disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from events.ical import Component, Item
from events.models import Event

from ..models import Activity, AssignmentRule, Client, Project
from ..services import clean_name

FIELDS = ("client", "project", "activity")
_COMPONENT_FIELD = {"client": "client", "project": "project", "activity": "activity_type"}


@dataclass(frozen=True)
class Facts:
    """What rules look at and fill: read from a component being written, or straight from a stored event row
    (a preview over a month of an organisation reads rows, not whole items)."""

    summary: str
    people: tuple[tuple[str, str], ...]  # (role, email): attendees, then the organiser
    client: str
    project: str
    activity: str

    @classmethod
    def of_component(cls, component: Component) -> Facts:
        people = [("attendee", a.email) for a in component.attendees]
        if component.organizer is not None:
            people.append(("organiser", component.organizer.email))
        return cls(component.summary, tuple(people), component.client, component.project, component.activity_type)

    @classmethod
    def of_event(cls, event: Event) -> Facts:
        people = [("attendee", str(a.get("email", ""))) for a in event.attendees or [] if isinstance(a, dict)]
        if isinstance(event.organizer, dict) and event.organizer.get("email"):
            people.append(("organiser", str(event.organizer["email"])))
        return cls(event.title, tuple(people), event.client, event.project, event.activity_type)

    def value(self, field: str) -> str:
        return str(getattr(self, field))


@dataclass(frozen=True)
class Rule:
    """One rule as matched: a saved AssignmentRule, or a client's own email domains (rule None)."""

    kind: str
    value: str  # a domain or words, lower case and single-spaced; "" for a calendar rule
    calendar_id: int | None
    client: Client | None
    project: Project | None
    activity: Activity | None
    rule: AssignmentRule | None
    label: str  # as the event page shows it

    def sets(self, field: str) -> Client | Project | Activity | None:
        if field == "client":
            return self.client or (self.project.client if self.project is not None else None)
        return self.project if field == "project" else self.activity

    def match(self, facts: Facts, calendar_id: int) -> str:
        """Why the rule matches (shown on the event), or "" when it does not."""
        if self.kind == AssignmentRule.Kind.CALENDAR:
            return "the calendar it is in" if calendar_id == self.calendar_id else ""
        if self.kind == AssignmentRule.Kind.TITLE_KEYWORD:
            found = _words(self.value).search(facts.summary.casefold())
            return f"“{self.value}” in the title" if found else ""
        wanted = _ROLES.get(self.kind, ("attendee", "organiser"))  # a client's own domains: anyone on the event
        found_person = ((r, e) for r, e in facts.people if r in wanted and _in_domain(e, self.value))
        return next((f"{role} {email}" for role, email in found_person), "")


_OWN_DOMAINS = "client_domains"  # a client's own email domains: any attendee or the organiser
_ROLES = {AssignmentRule.Kind.ATTENDEE_DOMAIN: ("attendee",), AssignmentRule.Kind.ORGANIZER_DOMAIN: ("organiser",)}


def _words(value: str) -> re.Pattern[str]:
    # Whole words: "web" finds "Web call", not "Website review".
    return re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in value.split()) + r"(?!\w)")


def _in_domain(email: str, domain: str) -> bool:
    """The address is at the domain or one of its subdomains (ann@eu.acme.example is at acme.example)."""
    host = email.rpartition("@")[2].casefold().rstrip(".")
    return bool(host) and (host == domain or host.endswith("." + domain))


def normalised(kind: str, value: str) -> str:
    """How a rule's value is stored and compared: lower case, single spaces, a domain without "@" or dots
    around it."""
    text = clean_name(value).casefold()
    if kind in (AssignmentRule.Kind.ATTENDEE_DOMAIN, AssignmentRule.Kind.ORGANIZER_DOMAIN):
        text = text.lstrip("@").strip(".")
    return text


@dataclass(frozen=True)
class Assignment:
    field: str  # one of FIELDS
    entry: Client | Project | Activity
    rule: AssignmentRule | None
    label: str
    reason: str


@dataclass(frozen=True)
class Outcome:
    """An item as the rules left it, and what they set on its master (what the event page shows)."""

    item: Item
    assignments: tuple[Assignment, ...]
    amended: bool  # the item differs from the one given


@dataclass(frozen=True)
class RuleBook:
    """The organisation's rules in order, then its clients' own email domains."""

    rules: tuple[Rule, ...]

    @classmethod
    def load(cls, tenant_id: int) -> RuleBook:
        saved = (
            AssignmentRule.objects.filter(tenant_id=tenant_id, enabled=True)
            .select_related("calendar", "client", "project__client", "activity")
            .order_by("position", "pk")
        )
        rules = [_rule(r) for r in saved]
        for client in Client.objects.filter(tenant_id=tenant_id, archived_at=None).exclude(email_domains=[]):
            label = f"The email domains of the client {client.name}"
            rules += [Rule(_OWN_DOMAINS, normalised(AssignmentRule.Kind.ATTENDEE_DOMAIN, d), None, client, None,
                           None, None, label) for d in client.email_domains if d.strip()]  # fmt: skip
        return cls(tuple(r for r in rules if any(r.sets(f) for f in FIELDS)))

    def apply(self, item: Item, calendar_id: int, *, overwrite: bool = False) -> Outcome:
        """The item with the rules' names filled in, master and changed occurrences alike."""
        if not self.rules:
            return Outcome(item, (), amended=False)
        master, found = self.assign(item.master, calendar_id, overwrite=overwrite)
        overrides = tuple(self.assign(o, calendar_id, overwrite=overwrite)[0] for o in item.overrides)
        changed = master is not item.master or any(a is not b for a, b in zip(overrides, item.overrides, strict=True))
        return Outcome(replace(item, master=master, overrides=overrides) if changed else item, found, amended=changed)

    def assign(
        self, component: Component, calendar_id: int, *, overwrite: bool
    ) -> tuple[Component, tuple[Assignment, ...]]:
        found = self.decide(Facts.of_component(component), calendar_id, overwrite=overwrite)
        changes = {_COMPONENT_FIELD[a.field]: a.entry.name for a in found
                   if getattr(component, _COMPONENT_FIELD[a.field]) != a.entry.name}  # fmt: skip
        return (replace(component, **changes) if changes else component), found

    def event_changes(self, master: Event, overrides: list[Event], *, overwrite: bool) -> tuple[Assignment, ...]:
        """What the rules would change on a stored event (its master row and its changed occurrences' rows),
        read from the rows without building the item."""
        rows = [master, *overrides]
        return tuple(a for row in rows for a in self.changes(Facts.of_event(row), master.calendar_id,
                                                             overwrite=overwrite))  # fmt: skip

    def changes(self, facts: Facts, calendar_id: int, *, overwrite: bool) -> tuple[Assignment, ...]:
        """What the rules would change (fields whose name would differ): none means the event stays as it is."""
        found = self.decide(facts, calendar_id, overwrite=overwrite)
        return tuple(a for a in found if facts.value(a.field) != a.entry.name)

    def decide(self, facts: Facts, calendar_id: int, *, overwrite: bool) -> tuple[Assignment, ...]:
        if not self.rules:
            return ()
        matched = [(rule, why) for rule in self.rules if (why := rule.match(facts, calendar_id))]
        found: dict[str, Assignment] = {}
        for field in ("client", "activity"):
            if overwrite or not clean_name(facts.value(field)):
                found.update(_first(matched, field))
        client_name = found["client"].entry.name if "client" in found else facts.client
        if overwrite or not clean_name(facts.project):
            fitting = [(r, why) for r, why in matched if r.project is not None and _fits(r.project, client_name)]
            found.update(_first(fitting, "project"))
        return tuple(found.values())


def _first(matched: list[tuple[Rule, str]], field: str) -> dict[str, Assignment]:
    for rule, why in matched:
        entry = rule.sets(field)
        if entry is not None and entry.archived_at is None:
            return {field: Assignment(field, entry, rule.rule, rule.label, why)}
    return {}


def _fits(project: Project, client_name: str) -> bool:
    """A client's project goes to that client's events; an internal project to events without a client."""
    if project.client is None:
        return not clean_name(client_name)
    names = [project.client.name, *project.client.aliases]
    return clean_name(client_name).casefold() in {clean_name(n).casefold() for n in names}


def _rule(saved: AssignmentRule) -> Rule:
    return Rule(saved.kind, normalised(saved.kind, saved.value), saved.calendar_id, saved.client, saved.project,
                saved.activity, saved, describe(saved))  # fmt: skip


def describe(rule: AssignmentRule) -> str:
    """The rule in one line, as the pages show it: 'The title contains the words standup → activity Meetings'."""
    sets = [f"{label} {entry.name}" for label, entry in
            (("client", rule.client), ("project", rule.project), ("activity", rule.activity)) if entry]  # fmt: skip
    return f"{rule} → {', '.join(sets)}"
