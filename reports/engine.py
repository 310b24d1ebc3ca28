"""Reports: where the time went, from the time index (reports.models.TimeEntry).

A report whose days are cut in the tenant's own zone reads the day sums (reports.summary) once they are
complete; any other (another zone, sums being rebuilt) and every drill-down read the index through the one query
of reports.counting. Both count by the same rules and give the same numbers (tests/reports/test_day_sums.py).
This module groups what they return, labels it, cuts it into periods for the chart, lists the occurrences behind
a number and exports the table. Counting rules:

- an occurrence counts when it is not free, not declined by its owner and not cancelled;
- timed time is clipped to the range, whose days are cut at midnight in the report's zone;
- all-day occurrences follow the organisation's rule (business.BusinessSettings): not counted at all,
  `all_day_hours` per day, or 24 hours per day; their days are calendar dates, in no zone;
- overlap rule "once": per person, timed time that overlaps counts once, to the occurrence that started
  first (ties: the lower event id); the later one still counts as an occurrence;
- minutes are rounded once per number: seconds are summed, then rounded to the nearest minute.

Members see their own time, admins everyone's; private occurrences count, but only their owner sees titles.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import PermissionDenied

from accounts.models import User
from business.models import Activity, BusinessSettings, Client, Project
from business.services import settings_for
from events.models import Calendar
from integrations.providers import Provider

from . import counting, summary

GROUPS = ("user", "client", "project", "activity", "calendar", "provider")
PERIODS = ("day", "week", "month")
# A report reads at most this many days: enough for several years, bounded so a typo cannot ask for millennia.
MAX_DAYS = 3 * 366 + 1
PRIVATE_TITLE = "Private event"

Key = tuple[int | str | None, ...]


class ReportError(ValueError):
    """The query cannot be answered as asked (unknown grouping, zone, period, or a range backwards)."""


@dataclass(frozen=True)
class ReportQuery:
    tenant_id: int
    viewer_id: int  # whose permissions apply (member: own time only; admin: everyone's)
    start: date  # first day, inclusive, in `zone`
    end: date  # last day, inclusive
    zone: str  # IANA zone days are cut in (the tenant's by default)
    group_by: tuple[str, ...] = ("client",)
    period: str = "month"  # "day" | "week" | "month": buckets of the time series (chart)
    filters: Mapping[str, tuple[int | str | None, ...]] = field(default_factory=dict)  # key in GROUPS -> ids


@dataclass(frozen=True)
class Row:
    key: Key  # ids (provider: key string) in group_by order; None = unassigned
    labels: tuple[str, ...]  # names ("No client" etc.)
    minutes: int
    count: int  # occurrences counted


@dataclass(frozen=True)
class Report:
    query: ReportQuery
    rows: list[Row]  # sorted by minutes desc
    total_minutes: int
    total_count: int
    series: list[tuple[date, Key, int]]  # (period start, first-group key, minutes)


@dataclass(frozen=True)
class DrillRow:
    event_id: int
    recurrence_id: datetime | None
    start: datetime
    end: datetime
    all_day: bool
    title: str  # "Private event" unless the viewer owns it
    user: str
    calendar: str
    client: str
    project: str
    activity: str
    provider: str
    minutes: int


# --- the query ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """A validated query with what counting needs: the viewer's scope, the range as instants, the rules."""

    query: ReportQuery
    viewer: User
    zone: ZoneInfo
    scope: counting.Scope
    window: counting.Window
    day_seconds: Fraction  # what one all-day day counts, in seconds


def _plan(query: ReportQuery) -> _Plan:
    zone = _zone(query.zone)
    _check_shape(query)
    viewer = User.objects.filter(pk=query.viewer_id, tenant_id=query.tenant_id, is_active=True).first()
    if viewer is None:
        raise PermissionDenied("This person cannot see this organisation's reports.")
    rules = settings_for(query.tenant_id)
    scope = counting.Scope(
        tenant_id=query.tenant_id,
        user_id=None if viewer.is_tenant_admin else viewer.pk,
        count_all_day=rules.all_day_rule != BusinessSettings.AllDay.SKIP,
        overlap_once=rules.overlap_rule == BusinessSettings.Overlap.ONCE,
    )
    return _Plan(query, viewer, zone, scope, _window(query, zone), _day_seconds(rules))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ReportError(f"Unknown time zone {name!r}.") from error


def _check_shape(query: ReportQuery) -> None:
    if not query.group_by or len(set(query.group_by)) != len(query.group_by):
        raise ReportError("Group by one or more of " + ", ".join(GROUPS) + ", each once.")
    unknown = [g for g in (*query.group_by, *query.filters) if g not in GROUPS]
    if unknown:
        raise ReportError(f"Unknown grouping {unknown[0]!r}: use {', '.join(GROUPS)}.")
    if query.period not in PERIODS:
        raise ReportError(f"Unknown period {query.period!r}: use {', '.join(PERIODS)}.")
    if query.end < query.start:
        raise ReportError("The range ends before it starts.")
    if (query.end - query.start).days >= MAX_DAYS:
        raise ReportError(f"A report covers at most {MAX_DAYS} days.")


def _window(query: ReportQuery, zone: ZoneInfo) -> counting.Window:
    after = query.end + timedelta(days=1)
    return counting.Window(
        start=counting.midnight(query.start, zone),
        end=counting.midnight(after, zone),
        day_start=datetime.combine(query.start, time(), UTC),
        day_end=datetime.combine(after, time(), UTC),
    )


def _day_seconds(rules: BusinessSettings) -> Fraction:
    if rules.all_day_rule == BusinessSettings.AllDay.FULL:
        return Fraction(86400)
    if rules.all_day_rule == BusinessSettings.AllDay.WORKDAY:
        return Fraction(rules.all_day_hours) * 3600
    return Fraction(0)


def _minutes(seconds: Fraction) -> int:
    """Nearest minute, halves up (time is never negative)."""
    return int((seconds + 30) // 60)


def _conditions(query: ReportQuery, key: Mapping[str, int | str | None] | None = None) -> dict[str, list]:
    found: dict[str, list] = {group: list(values) for group, values in query.filters.items()}
    for group, one in (key or {}).items():
        if group not in GROUPS:
            raise ReportError(f"Unknown grouping {group!r}: use {', '.join(GROUPS)}.")
        allowed = found.get(group)
        found[group] = [one] if allowed is None or one in allowed else []
    return found


# --- the report --------------------------------------------------------------------------------------------


def report_run(*, query: ReportQuery) -> Report:
    """Hours and counts grouped as asked, with totals and the time series of the first grouping."""
    plan = _plan(query)
    # Days cut where the tenant's day sums are: read those (thousands of rows), else the index (one per occurrence).
    ask = _ask(plan) if summary.covers(query.tenant_id, query.zone) else None
    if ask is not None:
        sums, series = _summed_totals(plan, ask), {}
    else:
        sums, series = _sums(plan)
    labels = _labels(query.tenant_id, query.group_by, list(sums))
    rows = [Row(key=k, labels=labels[k], minutes=_minutes(secs), count=n) for k, (secs, n) in sums.items()]
    rows.sort(key=lambda r: (-r.minutes, tuple(label.casefold() for label in r.labels), str(r.key)))
    order = [r.key[:1] for r in rows]
    return Report(
        query=query,
        rows=rows,
        total_minutes=_minutes(sum((secs for secs, _ in sums.values()), Fraction(0))),
        total_count=sum(n for _, n in sums.values()),
        series=_summed_series(plan, ask, order) if ask is not None else _ordered(series, order),
    )


# --- from the day sums (reports.summary), when the report's days are the tenant's ------------------------------


def _ask(plan: _Plan) -> summary.Ask:
    return summary.Ask(
        tenant_id=plan.query.tenant_id,
        user_id=plan.scope.user_id,
        first=plan.query.start,
        last=plan.query.end,
        overlap_once=plan.scope.overlap_once,
        count_all_day=plan.scope.count_all_day,
        conditions=_conditions(plan.query),
    )


def _summed(timed_ms: int, day_ms: int, plan: _Plan) -> Fraction:
    return Fraction(timed_ms, 1000) + Fraction(day_ms, summary.DAY_MS) * plan.day_seconds


def _summed_totals(plan: _Plan, ask: summary.Ask) -> dict[Key, tuple[Fraction, int]]:
    found = summary.totals(ask, plan.query.group_by)
    return {_key(k): (_summed(timed, days, plan), count) for k, (timed, days, count) in found.items()}


def _summed_series(plan: _Plan, ask: summary.Ask, order: list[Key]) -> list[tuple[date, Key, int]]:
    timed: dict[tuple[date, Key], int] = defaultdict(int)
    days: dict[tuple[date, Key], int] = defaultdict(int)
    for day, value, all_day, ms in summary.periods(ask, plan.query.group_by[0], plan.query.period):
        if ms:
            (days if all_day else timed)[(period_of(day, plan.query.period), _key([value]))] += ms
    rank = {k: i for i, k in enumerate(order)}
    points = {p: _minutes(_summed(timed.get(p, 0), days.get(p, 0), plan)) for p in {*timed, *days}}
    ordered = sorted(points, key=lambda p: (p[0], rank.get(p[1], len(rank))))
    return [(start, key, points[(start, key)]) for start, key in ordered]


# --- from the time index itself ----------------------------------------------------------------------------


def _sums(plan: _Plan) -> tuple[dict[Key, tuple[Fraction, int]], dict[tuple[date, Key], Fraction]]:
    """One statement for the table and the chart: the counted occurrences are read (and, under the overlap
    rule, sorted) once, then summed per group and per period of the first grouping. The database sums the
    occurrences that lie within one period; the few that cross a period's edge (a night, a month end) come back
    one by one and are cut here."""
    query = plan.query
    counted, params = counting.counted_sql(plan.scope, plan.window, _conditions(query))
    periods = _periods(query, plan.zone)
    first, first_params = counting.period_sql("s.cs", periods)
    last, last_params = counting.period_sql(counting.just_before("s.ce"), periods)
    keys = [f"c.{counting.COLUMNS[g]}" for g in query.group_by]
    blanks = ", ".join(["NULL"] * (len(keys) - 1))
    spent = counting.seconds("p.cs", "p.ce")
    sql = (
        f"WITH c AS MATERIALIZED ({counted})"  # noqa: S608
        f" SELECT 0, {', '.join(keys)}, c.all_day, NULL, NULL, NULL, NULL,"
        f" SUM(CASE WHEN c.ce > c.cs THEN {counting.seconds('c.cs', 'c.ce')} ELSE 0 END), COUNT(*)"
        f" FROM c GROUP BY {', '.join(keys)}, c.all_day"
        f" UNION ALL SELECT 1, p.grp, {blanks + ', ' if blanks else ''}p.all_day, p.first_period, p.last_period,"
        f" CASE WHEN p.first_period = p.last_period THEN NULL ELSE p.cs END,"
        f" CASE WHEN p.first_period = p.last_period THEN NULL ELSE p.ce END, SUM({spent}), COUNT(*)"
        f" FROM (SELECT s.{counting.COLUMNS[query.group_by[0]]} AS grp, s.all_day, s.cs, s.ce, {first} AS first_period,"
        f" {last} AS last_period FROM c s WHERE s.ce > s.cs) p"
        f" GROUP BY p.grp, p.all_day, p.first_period, p.last_period,"
        f" CASE WHEN p.first_period = p.last_period THEN NULL ELSE p.cs END,"
        f" CASE WHEN p.first_period = p.last_period THEN NULL ELSE p.ce END"
    )
    width = len(keys)
    totals: dict[Key, tuple[Fraction, int]] = {}
    series: dict[tuple[date, Key], Fraction] = defaultdict(Fraction)
    for part, *found in counting.fetch(sql, [*params, *first_params, *last_params]):
        key = _key(found[:width])
        all_day, first_period, _, cut_from, cut_to, spent_sum, count = found[width:]
        secs = _counted(spent_sum, bool(all_day), plan.day_seconds)
        if part == 0:
            before = totals.get(key, (Fraction(0), 0))
            totals[key] = (before[0] + secs, before[1] + int(count))  # type: ignore[call-overload]
        elif cut_from is None:
            series[(periods.start_of(first_period), key[:1])] += secs
        else:
            zone = _UTC if all_day else plan.zone
            # Occurrences with the same counted span come back as one row: each is cut the same way.
            for start, piece in _pieces(counting.instant(cut_from), counting.instant(cut_to), query.period, zone):
                series[(start, key[:1])] += _counted(piece, bool(all_day), plan.day_seconds) * int(count)  # type: ignore[call-overload]
    return totals, series


_UTC = ZoneInfo("UTC")


def _periods(query: ReportQuery, zone: ZoneInfo) -> counting.Periods:
    starts = [period_of(query.start, query.period)]
    while starts[-1] <= query.end:
        starts.append(_next_period(starts[-1], query.period))
    return counting.Periods(
        period=query.period,
        zone=query.zone,
        starts=starts,
        edges=[counting.midnight(day, zone) for day in starts],
        day_edges=[datetime.combine(day, time(), UTC) for day in starts],
    )


def _key(raw: Sequence[object]) -> Key:
    return tuple(v if v is None or isinstance(v, str) else int(v) for v in raw)  # type: ignore[call-overload]


def _counted(spent: object, all_day: bool, day_seconds: Fraction) -> Fraction:
    """Seconds as summed (to the millisecond); all-day time is whole days, at what the rule makes a day."""
    secs = Fraction(str(spent or 0)).limit_denominator(1000)
    return (secs / 86400).limit_denominator(24) * day_seconds if all_day else secs


def _ordered(series: dict[tuple[date, Key], Fraction], order: list[Key]) -> list[tuple[date, Key, int]]:
    """The chart's points by period, and within one in the table's order."""
    rank = {k: i for i, k in enumerate(order)}
    points = sorted(series, key=lambda p: (p[0], rank.get(p[1], len(rank))))
    return [(start, key, _minutes(series[(start, key)])) for start, key in points]


def period_of(day: date, period: str) -> date:
    """The first day of the period a day is in (weeks start on Monday, as ISO 8601 has them)."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_period(start: date, period: str) -> date:
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _pieces(start: datetime, end: datetime, period: str, zone: ZoneInfo) -> Iterator[tuple[date, Fraction]]:
    """[start, end) cut at the period edges (local midnights) of `zone`: (period start, seconds) each."""
    at = start
    while at < end:
        first = period_of(at.astimezone(zone).date(), period)
        edge = counting.midnight(_next_period(first, period), zone)
        upto = min(end, edge)
        yield first, Fraction(str((upto - at).total_seconds())).limit_denominator(1000)
        at = upto


# --- labels ------------------------------------------------------------------------------------------------

_NONE_LABELS = {"client": "No client", "project": "No project", "activity": "No activity"}
_PROVIDER_LABELS = {
    "": "calsync",
    "dav": "A calendar app (calsync CalDAV)",
    "import": "Imported file",
    **{choice.value: str(choice.label) for choice in Provider},
}


def provider_label(key: str) -> str:
    return _PROVIDER_LABELS.get(key, key)


def _labels(tenant_id: int, group_by: Sequence[str], keys: Sequence[Key]) -> dict[Key, tuple[str, ...]]:
    names = [_names(tenant_id, group, {k[i] for k in keys}) for i, group in enumerate(group_by)]
    return {k: tuple(names[i][v] for i, v in enumerate(k)) for k in keys}


def _names(tenant_id: int, group: str, values: set[int | str | None]) -> dict[int | str | None, str]:
    """Names for one grouping's values, read from the tenant's own rows only."""
    ids = [v for v in values if isinstance(v, int)]
    found: dict[int | str | None, str] = {None: _NONE_LABELS.get(group, "None")}
    if group == "provider":
        found.update({v: provider_label(str(v)) for v in values if v is not None})
    elif group == "user":
        found.update({u.pk: u.display_name for u in User.objects.filter(tenant_id=tenant_id, pk__in=ids)})
    elif group == "calendar":
        calendars = Calendar.objects.filter(tenant_id=tenant_id, pk__in=ids).select_related("owner")
        found.update({c.pk: f"{c.name} ({c.owner.display_name})" for c in calendars})
    else:
        model = {"client": Client, "project": Project, "activity": Activity}[group]
        found.update(dict(model.objects.filter(tenant_id=tenant_id, pk__in=ids).values_list("pk", "name")))
    return {v: found.get(v, "Removed") for v in values}


def key_names(*, tenant_id: int, key: Mapping[str, int | str | None]) -> dict[str, str]:
    """The names of one row's key (grouping -> value; None = unassigned), e.g. for a drill-down's heading."""
    return {group: _names(tenant_id, group, {value})[value] for group, value in key.items()}


# --- drill-down --------------------------------------------------------------------------------------------


def drill_down(
    *, query: ReportQuery, key: Mapping[str, int | str | None], offset: int = 0, limit: int = 200
) -> tuple[list[DrillRow], int]:
    """The occurrences behind one number (key: grouping -> value, None = unassigned), in start order, a page
    at a time; with how many there are in all."""
    if offset < 0 or not 0 < limit <= 1000:
        raise ReportError("Pages start at 0 and hold 1 to 1000 rows.")
    plan = _plan(query)
    counted, params = counting.counted_sql(plan.scope, plan.window, _conditions(query, key), detail=True)
    total = counting.fetch(f"SELECT COUNT(*) FROM ({counted}) c", params)[0][0]  # noqa: S608
    page = counting.fetch(
        f'SELECT c.event_id, c.recurrence_id, c."start", c."end", c.all_day, c.title, c.private, c.user_id,'  # noqa: S608
        f" c.calendar_id, c.client_id, c.project_id, c.activity_id, c.provider, c.cs, c.ce"
        f' FROM ({counted}) c ORDER BY c."start", c.event_id, c.id LIMIT %s OFFSET %s',
        [*params, limit, offset],
    )
    return _drill_rows(plan, page), int(total)  # type: ignore[call-overload]


_DRILL_GROUPS = ("user", "calendar", "client", "project", "activity", "provider")


def _drill_rows(plan: _Plan, page: list[tuple[object, ...]]) -> list[DrillRow]:
    names = {g: _names(plan.query.tenant_id, g, {r[7 + i] for r in page}) for i, g in enumerate(_DRILL_GROUPS)}  # type: ignore[misc]
    rows = []
    for event_id, rid, start, end, all_day, title, private, *refs, cs, ce in page:
        label = {g: names[g][ref] for g, ref in zip(_DRILL_GROUPS, refs, strict=True)}  # type: ignore[index]
        spent = max((counting.instant(ce) - counting.instant(cs)).total_seconds(), 0)
        seconds = _counted(spent, bool(all_day), plan.day_seconds)
        rows.append(
            DrillRow(
                event_id=int(event_id),  # type: ignore[call-overload]
                recurrence_id=counting.instant(rid) if rid is not None else None,
                start=counting.instant(start),
                end=counting.instant(end),
                all_day=bool(all_day),
                title=PRIVATE_TITLE if private and refs[0] != plan.viewer.pk else str(title),
                minutes=_minutes(seconds),
                **label,
            )
        )
    return rows


# --- exports -----------------------------------------------------------------------------------------------

_HEADINGS = {
    "user": "Team member",
    "client": "Client",
    "project": "Project",
    "activity": "Activity",
    "calendar": "Calendar",
    "provider": "Provider",
}


def _table(report: Report) -> list[list[str | int | float]]:
    """The report's table as the page shows it: a heading row, one row per group, the total last."""
    groups = report.query.group_by
    head: list[str | int | float] = [*(_HEADINGS[g] for g in groups), "Hours", "Minutes", "Events"]
    body: list[list[str | int | float]] = [
        [*row.labels, round(row.minutes / 60, 2), row.minutes, row.count] for row in report.rows
    ]
    total: list[str | int | float] = [
        "Total",
        *([""] * (len(groups) - 1)),
        round(report.total_minutes / 60, 2),
        report.total_minutes,
        report.total_count,
    ]
    return [head, *body, total]


def _safe(cell: str | int | float) -> str | int | float:
    """A name that a spreadsheet would run as a formula (=, +, -, @ first) is kept as text."""
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def export_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for line in _table(report):
        writer.writerow([_safe(cell) for cell in line])
    return out.getvalue()


def export_xlsx(report: Report) -> bytes:
    """A workbook with the table, the time series and the query it answers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Report"
    for line in _table(report):
        sheet.append(line)
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text stays text, never a formula
            elif isinstance(cell.value, float):
                cell.number_format = "0.00"
    for cell in (*sheet[1], *sheet[sheet.max_row]):
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    _series_sheet(book.create_sheet("Over time"), report)
    _query_sheet(book.create_sheet("Query"), report)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _series_sheet(sheet, report: Report) -> None:  # type: ignore[no-untyped-def]
    labels = {row.key[:1]: row.labels[0] for row in report.rows}
    sheet.append(["Period from", _HEADINGS[report.query.group_by[0]], "Hours", "Minutes"])
    for start, key, minutes in report.series:
        sheet.append([start, labels.get(key, ""), round(minutes / 60, 2), minutes])
        sheet.cell(row=sheet.max_row, column=1).number_format = "yyyy-mm-dd"
        sheet.cell(row=sheet.max_row, column=2).data_type = "s"


def _query_sheet(sheet, report: Report) -> None:  # type: ignore[no-untyped-def]
    query = report.query
    for name, shown in (
        ("From", query.start.isoformat()),
        ("To", query.end.isoformat()),
        ("Time zone", query.zone),
        ("Grouped by", ", ".join(query.group_by)),
        ("Period", query.period),
    ):
        sheet.append([name, shown])


def report_data(report: Report) -> dict[str, object]:
    """The report as plain data (JSON): what the page shows, for the command line and for tests."""
    query = report.query
    return {
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "zone": query.zone,
        "group_by": list(query.group_by),
        "period": query.period,
        "rows": [_row_data(r) for r in report.rows],
        "total_minutes": report.total_minutes,
        "total_hours": round(report.total_minutes / 60, 2),
        "total_count": report.total_count,
        "series": [{"period": s.isoformat(), "key": list(k), "minutes": m} for s, k, m in report.series],
    }


def _row_data(row: Row) -> dict[str, object]:
    return {
        "key": list(row.key),
        "labels": list(row.labels),
        "minutes": row.minutes,
        "hours": round(row.minutes / 60, 2),
        "count": row.count,
    }
