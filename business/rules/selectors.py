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
from events.models import Event

from ..models import Activity, AssignmentRule, Client, Project, RuleMatch, RuleRun
from .engine import RuleBook, describe

MAX_RANGE_DAYS = 366  # a preview reads every event of the range; a year is what a person can mean at once
# A preview answers while the page waits (about 0.2 ms an event): beyond this, fewer days, or the command.
MAX_PREVIEW_EVENTS = 50_000


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


# What the rules read of a stored event (engine.Facts): a preview reads these columns only.
_FACT_COLUMNS = ("id", "tenant_id", "parent_id", "calendar_id", "title", "attendees", "organizer", "client",
                 "project", "activity_type")  # fmt: skip


def masters_in_range(*, tenant: Tenant, start: date, end: date, size: int) -> Iterator[list[tuple[Event, list[Event]]]]:
    """The events (series' masters, each with its changed occurrences' rows) with time in [start, end], days in
    the organisation's zone, in batches of `size` by id (so writes between batches do not shift the pages).
    Only the columns the rules read are loaded; two queries a batch."""
    found = _in_range(tenant, start, end)
    after = 0
    while True:
        batch = list(found.filter(pk__gt=after).only(*_FACT_COLUMNS).order_by("pk")[:size])
        if not batch:
            return
        overrides: dict[int, list[Event]] = {}
        for row in Event.objects.filter(parent_id__in=[m.pk for m in batch]).only(*_FACT_COLUMNS):
            overrides.setdefault(row.parent_id, []).append(row)
        yield [(master, overrides.get(master.pk, [])) for master in batch]
        after = batch[-1].pk


def _in_range(tenant: Tenant, start: date, end: date) -> QuerySet[Event]:
    zone = ZoneInfo(tenant.timezone)
    lower = datetime.combine(start, time(), tzinfo=zone)
    upper = datetime.combine(end + timedelta(days=1), time(), tzinfo=zone)
    return Event.objects.for_tenant(tenant).filter(
        Q(span_end__gt=lower) | Q(span_end=None), parent=None, kind=Event.Kind.EVENT, span_start__lt=upper
    )


@dataclass(frozen=True)
class Preview:
    """What a re-run would do: events read, events that would change, and per rule how many fields it would set."""

    checked: int
    changed: int
    by_rule: list[tuple[str, int]]  # (rule as shown, fields it would set), in rule order


def preview(*, tenant: Tenant, start: date, end: date, overwrite: bool, bounded: bool = True) -> Preview:
    """`bounded`: refuse more events than a page should wait for (the command reads any number)."""
    check_range(start, end)
    if bounded and (count := _in_range(tenant, start, end).count()) > MAX_PREVIEW_EVENTS:
        raise RangeInvalid(
            f"{count:,} events in these days, too many to preview at once (at most {MAX_PREVIEW_EVENTS:,}): choose "
            "fewer days, or use `manage.py apply_rules --dry-run`."
        )
    book = RuleBook.load(tenant.pk)
    checked = changed = 0
    counts: Counter[int | None] = Counter()
    for batch in masters_in_range(tenant=tenant, start=start, end=end, size=500):
        checked += len(batch)
        for master, overrides in batch:
            found = book.event_changes(master, overrides, overwrite=overwrite)
            changed += bool(found)
            counts.update(a.rule.pk if a.rule else None for a in found)
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
