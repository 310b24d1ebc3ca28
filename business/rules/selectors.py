"""Reads for assignment rules: the rules in order, the events a re-run would touch and what it would change,
and the rule that set each field of an event."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet

from accounts.models import Tenant
from events.convert import item_from_event
from events.models import Event

from ..models import Activity, AssignmentRule, Client, Project, RuleMatch, RuleRun
from .engine import RuleBook, describe

MAX_RANGE_DAYS = 366  # a preview reads every event of the range; a year is what a person can mean at once


class RangeInvalid(ValueError):
    """The date range cannot be used; the message says why."""


def check_range(start: date, end: date) -> None:
    if end < start:
        raise RangeInvalid("The last day is before the first.")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise RangeInvalid(f"Choose at most {MAX_RANGE_DAYS} days at a time.")


def rules(*, tenant: Tenant) -> QuerySet[AssignmentRule]:
    return (
        AssignmentRule.objects.for_tenant(tenant)
        .select_related("calendar", "client", "project__client", "activity")
        .order_by("position", "pk")
    )


def rule_runs(*, tenant: Tenant) -> QuerySet[RuleRun]:
    return RuleRun.objects.for_tenant(tenant).select_related("created_by").order_by("-created_at", "-pk")


def masters_in_range(*, tenant: Tenant, start: date, end: date, size: int) -> Iterator[list[Event]]:
    """The events (series' masters, with their changed occurrences) with time in [start, end], days in the
    organisation's zone, in batches of `size` by id (so writes between batches do not shift the pages)."""
    zone = ZoneInfo(tenant.timezone)
    lower = datetime.combine(start, time(), tzinfo=zone)
    upper = datetime.combine(end + timedelta(days=1), time(), tzinfo=zone)
    found = Event.objects.for_tenant(tenant).filter(
        Q(span_end__gt=lower) | Q(span_end=None), parent=None, kind=Event.Kind.EVENT, span_start__lt=upper
    )
    after = 0
    while True:
        batch = list(
            found.filter(pk__gt=after).select_related("calendar").prefetch_related("overrides").order_by("pk")[:size]
        )
        if not batch:
            return
        yield batch
        after = batch[-1].pk


@dataclass(frozen=True)
class Preview:
    """What a re-run would do: events read, events that would change, and per rule how many fields it would set."""

    checked: int
    changed: int
    by_rule: list[tuple[str, int]]  # (rule as shown, fields it would set), in rule order


def preview(*, tenant: Tenant, start: date, end: date, overwrite: bool) -> Preview:
    check_range(start, end)
    book = RuleBook.load(tenant.pk)
    checked = changed = 0
    counts: Counter[int | None] = Counter()
    for batch in masters_in_range(tenant=tenant, start=start, end=end, size=500):
        checked += len(batch)
        for master in batch:
            outcome = book.apply(item_from_event(master), master.calendar_id, overwrite=overwrite)
            changed += outcome.amended
            if outcome.amended:
                counts.update(a.rule.pk if a.rule else None for a in outcome.assignments)
    shown = [(describe(r), counts[r.pk]) for r in rules(tenant=tenant).filter(enabled=True)]
    if counts[None]:
        shown.append(("A client's own email domains", counts[None]))
    return Preview(checked=checked, changed=changed, by_rule=shown)


@dataclass(frozen=True)
class ShownMatch:
    field: str  # "Client", "Project", "Activity"
    name: str
    rule: str  # the rule as described, or what matched without a saved rule
    reason: str


_MODELS: dict[str, type[Client] | type[Project] | type[Activity]] = {
    "client": Client, "project": Project, "activity": Activity,
}  # fmt: skip
_REFS = {"client": "client_ref_id", "project": "project_ref_id", "activity": "activity_ref_id"}


def matches_of(*, event: Event) -> list[ShownMatch]:
    """The rules that set the event's fields, for those fields that still hold what the rule set."""
    master = event.parent or event
    shown = []
    for match in RuleMatch.objects.filter(event=master, tenant_id=master.tenant_id).select_related("rule"):
        if getattr(master, _REFS[match.field]) != match.entry_id:
            continue  # changed by hand since: the rule no longer explains it
        entry = _MODELS[match.field].objects.filter(tenant_id=master.tenant_id, pk=match.entry_id).first()
        if entry is None:
            continue
        rule = describe(match.rule) if match.rule else match.rule_label
        shown.append(ShownMatch(match.get_field_display(), entry.name, rule, match.reason))
    return sorted(shown, key=lambda m: ("Client", "Project", "Activity").index(m.field))
