"""Reads behind the reports page: the engine's report for a validated form, its charts, drill-down and exports.

The engine (reports.engine) applies who may see what; this module adds the page's own checks, so a member who
asks for a colleague's time is told so (403) instead of being shown an empty report that looks like an answer.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, QueryDict
from django.utils import timezone
from django.utils.safestring import SafeString

from accounts.tenancy import Scope
from business.models import Activity, Client, Project
from events.models import Calendar, Event

from . import charts, engine
from .forms import GROUP_LABELS, ReportForm, key_param, parse_key
from .models import SavedReport

ONLY_OWN_TIME = "You can see only your own time. An admin of your organisation can see everyone's."
DRILL_PAGE = 200
# Beat runs on the 1st and 2nd (UTC): in the organisation's own zone that is between the 31st and the 3rd.
MONTH_TURNED_DAYS = 3


def tenant_today(scope: Scope) -> date:
    return timezone.now().astimezone(ZoneInfo(scope.tenant.timezone)).date()


def report_query(*, scope: Scope, form: ReportForm, viewer_id: int | None = None) -> engine.ReportQuery:
    """The engine's query for a valid form, read with `viewer_id`'s permissions (the signed-in user's unless a
    saved report is being emailed to someone)."""
    data = form.cleaned_data
    return engine.ReportQuery(
        tenant_id=scope.tenant.pk, viewer_id=viewer_id or scope.user.pk, start=data["first_day"],
        end=data["last_day"], zone=scope.tenant.timezone, group_by=form.groups, period=data["period"],
        filters=form.filters(),
    )  # fmt: skip


def require_visible(scope: Scope, users: list[int]) -> None:
    """A member asking for anyone's time but their own gets a clear refusal."""
    if not scope.user.is_tenant_admin and any(pk != scope.user.pk for pk in users):
        raise PermissionDenied(ONLY_OWN_TIME)


def page_query(*, scope: Scope, form: ReportForm) -> engine.ReportQuery:
    query = report_query(scope=scope, form=form)
    require_visible(scope, [int(pk) for pk in query.filters.get("user", ())])
    return query


@dataclass(frozen=True)
class TableRow:
    labels: tuple[str, ...]
    minutes: int
    count: int
    drill: str  # the drill-down address's query string


@dataclass(frozen=True)
class ReportPage:
    report: engine.Report
    rows: list[TableRow]
    bars: SafeString
    share: SafeString


def report_page(*, query: engine.ReportQuery, params: QueryDict) -> ReportPage:
    """The report, its table rows with their drill-down links, and both charts."""
    report = engine.report_run(query=query)
    rows = [TableRow(r.labels, r.minutes, r.count, drill_link(params, query.group_by, r.key)) for r in report.rows]
    return ReportPage(report, rows, bars_chart(report), share_chart(report))


def drill_link(params: QueryDict, groups: tuple[str, ...], key: tuple[int | str | None, ...]) -> str:
    query = params.copy()
    for name in list(query):
        if name.startswith("key_") or name == "offset":
            del query[name]
    for group, part in zip(groups, key, strict=True):
        query[f"key_{group}"] = key_param(part)
    return query.urlencode()


def buckets(start: date, end: date, period: str) -> list[date]:
    """The start of every period from `start` to `end`: weeks start on Monday, months on the 1st."""
    if period == "month":
        first = start.replace(day=1)
    elif period == "week":
        first = start - timedelta(days=start.weekday())
    else:
        first = start
    found = []
    day = first
    while day <= end:
        found.append(day)
        day = _next(day, period)
    return found


def _next(day: date, period: str) -> date:
    if period == "day":
        return day + timedelta(days=1)
    if period == "week":
        return day + timedelta(days=7)
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def bars_chart(report: engine.Report) -> SafeString:
    query = report.query
    labels: dict[Hashable, str] = {}
    for row in report.rows:
        labels.setdefault(row.key[0], row.labels[0])
    series = [(day, key[0] if isinstance(key, tuple) else key, minutes) for day, key, minutes in report.series]
    # The engine's buckets may start elsewhere than ours (a week's first day): both sets are kept, in order.
    days = sorted(set(buckets(query.start, query.end, query.period)) | {day for day, _, _ in series})
    return charts.stacked_bars(
        chart_id="hours-chart", buckets=days, series=series, labels=labels, period=query.period,
        grouping=GROUP_LABELS[query.group_by[0]].lower(),
    )  # fmt: skip


def share_chart(report: engine.Report) -> SafeString:
    """The share by client: the report's own rows when it is grouped by client first, else a second report."""
    by_client = report
    if report.query.group_by[0] != "client":
        by_client = engine.report_run(query=replace(report.query, group_by=("client",)))
    parts: dict[Hashable, charts.Part] = {}
    for row in by_client.rows:
        key, label = row.key[0], row.labels[0]
        minutes = row.minutes + (parts[key].minutes if key in parts else 0)
        parts[key] = charts.Part(key, label, minutes)
    return charts.share(chart_id="share-chart", parts=list(parts.values()))


# --- drill-down --------------------------------------------------------------------------------------------------


def drill_key(*, scope: Scope, query: engine.ReportQuery, params: QueryDict) -> dict[str, int | str | None]:
    """The row the viewer clicked, from the address: only the report's groupings, each an entry of this tenant."""
    key: dict[str, int | str | None] = {}
    for group in query.group_by:
        raw = params.get(f"key_{group}")
        if raw is None:
            continue
        try:
            key[group] = parse_key(raw, group)
        except ValidationError as exc:
            raise Http404(exc.messages[0]) from exc
    if not key:
        raise Http404("Choose a row of the report to see the events behind it.")
    _check_key(scope, key)
    return key


def _tenant_rows(scope: Scope, group: str) -> QuerySet[Client | Project | Activity | Calendar] | None:
    tenant = scope.tenant
    rows = {
        "client": Client.objects.filter(tenant=tenant),
        "project": Project.objects.filter(tenant=tenant),
        "activity": Activity.objects.filter(tenant=tenant),
        "calendar": Calendar.objects.for_tenant(tenant),
        "user": scope.users(),
    }
    return rows.get(group)  # type: ignore[return-value]


def _check_key(scope: Scope, key: Mapping[str, int | str | None]) -> None:
    for group, value in key.items():
        rows = _tenant_rows(scope, group)
        if rows is None or value is None:
            continue
        if not rows.filter(pk=value).exists():
            raise Http404(f"There is no such {GROUP_LABELS[group].lower()} in your organisation.")
        if group == "user":
            require_visible(scope, [int(value)])
        if group == "calendar" and not scope.user.is_tenant_admin and not scope.calendars().filter(pk=value).exists():
            raise PermissionDenied(ONLY_OWN_TIME)


@dataclass(frozen=True)
class DrillPage:
    rows: list[engine.DrillRow]
    total: int
    offset: int
    openable: set[int]  # events the viewer may open (own calendars, or shared with them to edit)

    @property
    def next_offset(self) -> int | None:
        return self.offset + DRILL_PAGE if self.offset + DRILL_PAGE < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - DRILL_PAGE) if self.offset else None


def drill_page(
    *, scope: Scope, query: engine.ReportQuery, key: Mapping[str, int | str | None], offset: int
) -> DrillPage:
    rows, total = engine.drill_down(query=query, key=key, offset=offset, limit=DRILL_PAGE)
    ids = {r.event_id for r in rows}
    editable = Event.objects.for_tenant(scope.tenant).filter(pk__in=ids, calendar__in=scope.editable_calendars())
    return DrillPage(rows, total, offset, set(editable.values_list("pk", flat=True)))


def key_labels(*, scope: Scope, key: Mapping[str, int | str | None]) -> list[tuple[str, str]]:
    """What the drill-down is of, for its heading ("Client: Acme"), named from the tenant's own rows: a row the
    viewer has no events behind is still named, not shown as if it were the unassigned one."""
    names = engine.key_names(tenant_id=scope.tenant.pk, key=key)
    return [(GROUP_LABELS[g], names[g]) for g in key]


# --- saved reports -----------------------------------------------------------------------------------------------


def saved_reports(scope: Scope) -> QuerySet[SavedReport]:
    """The viewer's saved reports and those colleagues shared with them."""
    return scope.saved_reports().select_related("owner")


def month_bounds(today: date) -> tuple[date, date]:
    """The month before the one `today` is in: what the monthly email reports."""
    first_of_this = today.replace(day=1)
    last = first_of_this - timedelta(days=1)
    return last.replace(day=1), last


def monthly_due(now: datetime) -> list[int]:
    """Saved reports whose monthly email for the month just ended (in their organisation's zone) is not sent."""
    due = []
    candidates = SavedReport.objects.filter(email_monthly=True).select_related("tenant")
    for saved in candidates.only("pk", "last_sent_month", "tenant__timezone"):
        today = now.astimezone(ZoneInfo(saved.tenant.timezone)).date()
        month, _ = month_bounds(today)
        # Only in the first days of the organisation's month: on the 30th of November (west of UTC while UTC
        # is already in December) the month that "just ended" would be October.
        if today.day <= MONTH_TURNED_DAYS and (saved.last_sent_month is None or saved.last_sent_month < month):
            due.append(saved.pk)
    return due
