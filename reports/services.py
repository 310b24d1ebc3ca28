"""Writes of the reports app: saved reports, the organisation's counting rules, and the monthly email."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.tenancy import Scope
from business.models import BusinessSettings

from . import emails, engine, selectors
from .forms import ReportForm, as_query
from .models import SavedReport

logger = logging.getLogger(__name__)


def _same_tenant(tenant_id: int, people: Iterable[User]) -> list[User]:
    people = list(people)
    if any(p.tenant_id != tenant_id for p in people):
        raise ValidationError("Reports are shared and emailed only within your organisation.")
    return people


def saved_report_create(*, owner: User, name: str, params: Mapping[str, list[str]], **choices: Any) -> SavedReport:
    """Save a report's parameters under a name; `choices` are shared_with, email_monthly and recipients."""
    assert owner.tenant_id is not None
    saved = SavedReport(tenant_id=owner.tenant_id, owner=owner, name=name, params=dict(params))
    return _save(saved, **choices)


def saved_report_update(*, saved: SavedReport, name: str, **choices: Any) -> SavedReport:
    """A new name, sharing and monthly email; the query changes only with saved_report_query_update."""
    saved.name = name
    return _save(saved, **choices)


def _save(
    saved: SavedReport,
    *,
    shared_with: Iterable[User] = (),
    email_monthly: bool = False,
    recipients: Iterable[User] = (),
) -> SavedReport:
    shared = _same_tenant(saved.tenant_id, shared_with)
    to = _same_tenant(saved.tenant_id, recipients)
    saved.email_monthly = email_monthly
    try:
        with transaction.atomic():
            saved.save()
    except IntegrityError as exc:
        raise ValidationError("You already have a saved report with this name.") from exc
    saved.shared_with.set(shared)
    saved.recipients.set(to)
    return saved


def saved_report_query_update(*, saved: SavedReport, params: Mapping[str, list[str]]) -> None:
    saved.params = dict(params)
    saved.save(update_fields=["params", "updated_at"])


def saved_report_delete(*, saved: SavedReport) -> None:
    saved.delete()


def report_rules_update(*, rules: BusinessSettings, all_day_rule: str, all_day_hours: Any, overlap_rule: str) -> None:
    """The organisation's counting rules: reports apply them when they are read, so nothing is recomputed."""
    rules.all_day_rule, rules.all_day_hours, rules.overlap_rule = all_day_rule, all_day_hours, overlap_rule
    rules.save(update_fields=["all_day_rule", "all_day_hours", "overlap_rule"])


# --- the monthly email -------------------------------------------------------------------------------------------


def monthly_report_send(*, saved_id: int, now: datetime) -> int:
    """Email last month's report (in the organisation's zone) to each recipient, once per month; returns how
    many were sent. The month is claimed before sending, so a second worker or a second beat run sends nothing;
    a failed send gives the claim back for the next run to retry."""
    saved = SavedReport.objects.select_related("tenant", "owner").filter(pk=saved_id, email_monthly=True).first()
    if saved is None:
        return 0
    first, last = selectors.month_bounds(now.astimezone(ZoneInfo(saved.tenant.timezone)).date())
    previous = saved.last_sent_month
    if previous is not None and previous >= first:
        return 0
    if not SavedReport.objects.filter(pk=saved.pk, last_sent_month=previous).update(last_sent_month=first):
        return 0  # another worker claimed it meanwhile
    try:
        return _send_to_recipients(saved, first, last)
    except Exception:
        SavedReport.objects.filter(pk=saved.pk).update(last_sent_month=previous)
        raise


def _send_to_recipients(saved: SavedReport, first: Any, last: Any) -> int:
    query = _month_query(saved, first, last)
    if query is None:
        return 0
    sent = 0
    # Only active people of the report's own organisation, whatever was stored (someone may have left since).
    for person in saved.recipients.filter(tenant_id=saved.tenant_id, is_active=True):
        report = engine.report_run(query=replace(query, viewer_id=person.pk))
        emails.monthly_message(saved=saved, report=report, to=person).send(fail_silently=False)
        sent += 1
    return sent


def _month_query(saved: SavedReport, first: Any, last: Any) -> engine.ReportQuery | None:
    """The saved parameters over the given month, validated as their owner made them (their lists, their
    calendars); each recipient then sees it with their own permissions."""
    params = as_query({**saved.params, "range": ["custom"], "start": [first.isoformat()], "end": [last.isoformat()]})
    params.pop("period", None)
    if saved.owner.tenant_id != saved.tenant_id:
        logger.warning("Saved report %s: its owner left the organisation; not sent.", saved.pk)
        return None
    scope = Scope(saved.owner)
    form = ReportForm(params, scope=scope, today=first)
    if not form.is_valid():
        logger.warning("Saved report %s no longer validates: %s", saved.pk, form.errors.as_json())
        return None
    return selectors.report_query(scope=scope, form=form)
