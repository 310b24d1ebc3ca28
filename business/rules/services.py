"""Writes for assignment rules: the rules themselves, which rule set which field of an event, and the rules run
again over a date range. Events change only through events.services (the one write path), so CalDAV ETags,
feeds and syncs see the assignment and providers receive it at their next sync."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Tenant, User
from calsync.queue import UNREACHABLE, publish
from events import services as events
from events.convert import item_from_event
from events.ical import ICalError
from events.models import Calendar, Event

from ..models import Activity, AssignmentRule, Client, Project, RuleMatch, RuleRun
from . import selectors
from .engine import Assignment, RuleBook, normalised

log = logging.getLogger(__name__)

BATCH = 200  # events rewritten per transaction by a re-run


class RuleInvalid(ValueError):
    """The rule cannot be saved as given; the message says why, for the person who wrote it."""


@dataclass(frozen=True)
class RuleSpec:
    kind: str
    value: str = ""
    calendar: Calendar | None = None
    client: Client | None = None
    project: Project | None = None
    activity: Activity | None = None
    enabled: bool = True


def rule_check(*, tenant: Tenant, spec: RuleSpec) -> RuleSpec:
    """The spec with its value normalised; RuleInvalid when it cannot match or sets nothing, or names another
    organisation's entries."""
    if spec.kind not in AssignmentRule.Kind.values:
        raise RuleInvalid("Choose what the rule looks at.")
    for entry in (spec.calendar, spec.client, spec.project, spec.activity):
        if entry is not None and entry.tenant_id != tenant.pk:
            raise RuleInvalid("That entry belongs to another organisation.")
    if not (spec.client or spec.project or spec.activity):
        raise RuleInvalid("A rule must set a client, a project or an activity.")
    if spec.client and spec.project and spec.project.client_id not in (None, spec.client.pk):
        raise RuleInvalid(f"The project {spec.project.name} belongs to another client.")
    if spec.client and spec.project and spec.project.client_id is None:
        raise RuleInvalid(f"{spec.project.name} is an internal project; it goes to events without a client.")
    if spec.kind == AssignmentRule.Kind.CALENDAR:
        if spec.calendar is None:
            raise RuleInvalid("Choose the calendar.")
        return RuleSpec(**{**spec.__dict__, "value": ""})
    value = normalised(spec.kind, spec.value)
    if not value:
        raise RuleInvalid("Enter the domain or words the rule looks for.")
    if spec.kind != AssignmentRule.Kind.TITLE_KEYWORD and ("@" in value or " " in value or "." not in value):
        raise RuleInvalid("Enter a domain such as acme.example (without a name before @).")
    return RuleSpec(**{**spec.__dict__, "value": value[:200], "calendar": None})


def rule_create(*, tenant: Tenant, user: User | None, spec: RuleSpec) -> AssignmentRule:
    """A new rule, last in order."""
    spec = rule_check(tenant=tenant, spec=spec)
    with transaction.atomic():
        last = AssignmentRule.objects.for_tenant(tenant).select_for_update().aggregate(Max("position"))
        return AssignmentRule.objects.create(
            tenant=tenant, created_by=user, position=(last["position__max"] or 0) + 1, **spec.__dict__
        )


def rule_update(*, rule: AssignmentRule, spec: RuleSpec) -> AssignmentRule:
    spec = rule_check(tenant=rule.tenant, spec=spec)
    for name, value in spec.__dict__.items():
        setattr(rule, name, value)
    rule.save(update_fields=list(spec.__dict__))
    return rule


def rule_delete(*, rule: AssignmentRule) -> None:
    """Events keep what the rule set; their pages then say a rule since deleted set it."""
    rule.delete()


def rule_move(*, rule: AssignmentRule, up: bool) -> None:
    """Swap the rule with its neighbour above (or below); positions are renumbered 1..n on the way."""
    with transaction.atomic():
        rules = list(AssignmentRule.objects.for_tenant(rule.tenant).select_for_update().order_by("position", "pk"))
        at = next(i for i, r in enumerate(rules) if r.pk == rule.pk)
        other = at - 1 if up else at + 1
        if 0 <= other < len(rules):
            rules[at], rules[other] = rules[other], rules[at]
        for position, each in enumerate(rules, start=1):
            if each.position != position:
                each.position = position
                each.save(update_fields=["position"])


def matches_record(*, event: Event, assignments: tuple[Assignment, ...]) -> None:
    """Remember which rule set which field of the event (a series' master), inside the write that set it."""
    for found in assignments:
        RuleMatch.objects.update_or_create(
            event=event,
            field=found.field,
            defaults={"tenant_id": event.tenant_id, "rule": found.rule, "rule_label": found.label[:300],
                      "entry_id": found.entry.pk, "reason": found.reason[:300]},
        )  # fmt: skip


# --- running the rules again over a date range ------------------------------------------------------------


def rule_run_create(
    *, tenant: Tenant, user: User | None, start: date, end: date, overwrite: bool, queue: bool = True
) -> RuleRun:
    """A re-run, queued for the task once the request's transaction has committed (or, `queue=False`, left for
    the caller to execute: the operator's command runs it in the foreground)."""
    selectors.check_range(start, end)
    run = RuleRun.objects.create(tenant=tenant, created_by=user, start=start, end=end, overwrite=overwrite)
    if queue:
        transaction.on_commit(lambda: _publish(run))
    return run


def _publish(run: RuleRun) -> None:
    from .tasks import apply_rules

    if not publish(apply_rules, run.pk):
        RuleRun.objects.filter(pk=run.pk, status=RuleRun.Status.PENDING).update(
            status=RuleRun.Status.FAILED, error=f"{UNREACHABLE}: nothing was changed. Try again soon."
        )


def rule_run_execute(*, run_id: int) -> RuleRun:
    """Apply the rules to every event of the run's range; delivered twice, the second delivery does nothing."""
    claimed = RuleRun.objects.filter(pk=run_id, status=RuleRun.Status.PENDING).update(status=RuleRun.Status.RUNNING)
    run = RuleRun.objects.select_related("tenant").get(pk=run_id)
    if not claimed:
        return run
    try:
        checked, changed = rules_apply(tenant=run.tenant, start=run.start, end=run.end, overwrite=run.overwrite)
    except Exception:
        RuleRun.objects.filter(pk=run_id).update(
            status=RuleRun.Status.FAILED, finished_at=timezone.now(),
            error="An unexpected error stopped the run; it has been logged. Events changed so far keep the change.",
        )  # fmt: skip
        raise
    run.status, run.checked_count, run.changed_count = RuleRun.Status.DONE, checked, changed
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "checked_count", "changed_count", "finished_at"])
    return run


def rules_apply(*, tenant: Tenant, start: date, end: date, overwrite: bool = False) -> tuple[int, int]:
    """Apply the rules to the events of [start, end] (days in the organisation's zone): fill empty fields, or with
    `overwrite` replace what a rule matches. Returns (events checked, events changed)."""
    book = RuleBook.load(tenant.pk)
    checked = changed = 0
    for batch in selectors.masters_in_range(tenant=tenant, start=start, end=end, size=BATCH):
        checked += len(batch)
        with transaction.atomic():
            changed += sum(_apply_one(master, overrides, book, overwrite) for master, overrides in batch)
    log.info("assignment rules applied", extra={"tenant": tenant.pk, "checked": checked, "changed": changed})
    return checked, changed


def _apply_one(row: Event, overrides: list[Event], book: RuleBook, overwrite: bool) -> bool:
    if not book.event_changes(row, overrides, overwrite=overwrite):
        return False  # read from a few columns: most events of a range need no item built
    master = Event.objects.select_related("calendar").prefetch_related("overrides").get(pk=row.pk)
    outcome = book.apply(item_from_event(master), master.calendar_id, overwrite=overwrite)
    try:
        result = events.item_save(calendar=master.calendar, item=outcome.item, name=master.name, if_match=master.seq)
    except events.PreconditionFailed:
        return False  # changed by someone meanwhile; that write went through the rules if it came from outside
    except (ICalError, events.NameConflict) as exc:
        # Stored before a limit it now breaks (events.limits): left as it is, the rest of the range goes on.
        log.warning("assignment rules skipped an event", extra={"event": master.pk, "reason": str(exc)})
        return False
    matches_record(event=result.event, assignments=outcome.assignments)
    return True
