"""Day sums of counted time (DaySum), kept with the time index, so a year's report reads thousands of rows
rather than a million.

Each write of the index names, per person, the stretch of time its old and new rows covered; that person's days
in the stretch are summed again from the index. That is exact for both overlap rules: an occurrence that changes
can only change what counts of others inside its own stretch (under "once", a later occurrence counts from the
latest end before it, and only this occurrence's end moved). The sums are cut at midnight in the tenant's zone
(TenantSummary); a tenant that changes zone is summed again, and reports in another zone read the index.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Case, F, IntegerField, Q, Sum, When
from django.db.models.functions import TruncMonth, TruncWeek

from accounts.models import Tenant
from events.models import Calendar

from .counting import COLUMNS, midnight  # DaySum has the index's grouping columns, under the same names
from .models import DaySum, TenantSummary, TimeEntry

DAY_MS = 86_400_000
Span = tuple[datetime, datetime]  # [start, end) of a row a write removed or added
_Key = tuple[date, bool, int, int | None, int | None, int | None, str]


def refresh(tenant_id: int, touched: Mapping[int, Iterable[Span]]) -> None:
    """Sum these people's days that these spans of time touch again from the index (in the caller's
    transaction): a write's old and new rows, so a series' edit sums its own days, not the months between."""
    if not touched:
        return
    zone = ZoneInfo(_state(tenant_id).zone)
    for user_id, spans in touched.items():
        days = sorted({day for start, end in spans for day in _days_of(start, end, zone)})
        if not days:
            continue
        for first in range(0, len(days), 500):
            chunk = days[first : first + 500]
            DaySum.objects.filter(tenant_id=tenant_id, user_id=user_id, day__in=chunk).delete()
            DaySum.objects.bulk_create(_sums(tenant_id, user_id, set(chunk), zone), batch_size=2000)


def rebuild(tenant_id: int) -> int:
    """Every person's days of one tenant, in its zone now, a person per transaction (holding their calendars,
    as writes do); returns the rows written."""
    zone_changed(tenant_id)
    zone = ZoneInfo(Tenant.objects.values_list("timezone", flat=True).get(pk=tenant_id))
    people = list(TimeEntry.objects.filter(tenant_id=tenant_id).values_list("user_id", flat=True).distinct())
    DaySum.objects.filter(tenant_id=tenant_id).exclude(user_id__in=people).delete()
    for user_id in people:
        with transaction.atomic():
            list(Calendar.objects.select_for_update().filter(owner_id=user_id).values_list("pk"))
            DaySum.objects.filter(tenant_id=tenant_id, user_id=user_id).delete()
            DaySum.objects.bulk_create(_sums(tenant_id, user_id, None, zone), batch_size=2000)
    TenantSummary.objects.filter(tenant_id=tenant_id).update(ready=True)
    return DaySum.objects.filter(tenant_id=tenant_id).count()


def settle(tenant_id: int) -> None:
    """Every calendar of the tenant was just indexed again, which sums every day again: the sums are complete,
    unless they were cut in a zone the tenant has left (then they are built again)."""
    zone = Tenant.objects.values_list("timezone", flat=True).get(pk=tenant_id)
    if not TenantSummary.objects.filter(tenant_id=tenant_id, zone=zone).update(ready=True):
        rebuild(tenant_id)


def _state(tenant_id: int) -> TenantSummary:
    """The tenant's summary state. The migration gave every tenant of the time one (not ready until
    `reports_reindex`); a tenant made since has had every write summed, so its sums are complete from the start."""
    state = TenantSummary.objects.filter(tenant_id=tenant_id).first()
    if state is None:
        zone = Tenant.objects.values_list("timezone", flat=True).get(pk=tenant_id)
        state, _ = TenantSummary.objects.get_or_create(tenant_id=tenant_id, defaults={"zone": zone, "ready": True})
    return state


def zone_changed(tenant_id: int) -> None:
    """The tenant's days are cut elsewhere now: reports read the index until the sums are rebuilt."""
    zone = Tenant.objects.values_list("timezone", flat=True).get(pk=tenant_id)
    TenantSummary.objects.update_or_create(tenant_id=tenant_id, defaults={"zone": zone, "ready": False})


def _day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _days_of(start: datetime, end: datetime, zone: ZoneInfo) -> Iterator[date]:
    """The days a span touches, as timed days in the zone and as all-day (UTC) dates."""
    day = min(_day(start, zone), start.astimezone(UTC).date())
    last = max(_day(max(start, end), zone), max(start, end).astimezone(UTC).date())
    while day <= last:
        yield day
        day += timedelta(days=1)


def _windows(days: set[date], zone: ZoneInfo) -> Q:
    """Rows touching any of these days: one range per run of consecutive days."""
    match = Q(pk__in=[])
    ordered = sorted(days)
    runs: list[list[date]] = []
    for day in ordered:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    for first, last in runs:
        lo = min(midnight(first, zone), datetime.combine(first, time(), UTC))
        after = last + timedelta(days=1)
        hi = max(midnight(after, zone), datetime.combine(after, time(), UTC))
        match |= Q(start__lt=hi) & (Q(end__gt=lo) | Q(start__gte=lo))
    return match


def _sums(tenant_id: int, user_id: int, days: set[date] | None, zone: ZoneInfo) -> list[DaySum]:
    """One person's day sums for these days (None: all), from the index rows that touch them. Under "once" an
    occurrence counts from the latest end of those before it; only those touching the same day can reach into it,
    and those are read."""
    rows = TimeEntry.objects.filter(tenant_id=tenant_id, user_id=user_id, free=False, declined=False, cancelled=False)
    if days is not None:
        rows = rows.filter(_windows(days, zone))
    rows = rows.order_by("all_day", "start", "event_id", "id").values_list(
        "all_day", "start", "end", "calendar_id", "client_id", "project_id", "activity_id", "provider"
    )
    wanted = (lambda day: True) if days is None else days.__contains__
    sums: dict[_Key, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    earlier_end: dict[bool, datetime | None] = {False: None, True: None}
    for all_day, start, end, *keys in rows:
        cut = UTC if all_day else zone
        counted_from = start if all_day or earlier_end[False] is None else max(start, earlier_end[False])
        if not all_day:
            earlier_end[False] = end if earlier_end[False] is None else max(earlier_end[False], end)
        for day, each, once in _pieces(start, end, counted_from, cut):
            if wanted(day):
                entry = sums[(day, all_day, *keys)]  # type: ignore[index]
                entry[0] += each
                entry[1] += once
        start_day = _day(start, cut)
        if wanted(start_day):
            sums[(start_day, all_day, *keys)][2] += 1  # type: ignore[index]
        for day in _crossed(start, end, cut):
            if wanted(day):
                sums[(day, all_day, *keys)][3] += 1  # type: ignore[index]
    return [
        DaySum(tenant_id=tenant_id, user_id=user_id, day=day, all_day=all_day, calendar_id=calendar_id,
               client_id=client_id, project_id=project_id, activity_id=activity_id, provider=provider,
               each_ms=each, once_ms=once, starts=starts, continuing=continuing)
        for (day, all_day, calendar_id, client_id, project_id, activity_id, provider), (each, once, starts, continuing)
        in sums.items()
    ]  # fmt: skip


def _pieces(start: datetime, end: datetime, counted_from: datetime, zone: ZoneInfo) -> Iterator[tuple[date, int, int]]:
    """[start, end) cut at the zone's midnights: (day, milliseconds, milliseconds from `counted_from` on)."""
    at = start
    while at < end:
        day = _day(at, zone)
        upto = min(end, midnight(day + timedelta(days=1), zone))
        once_from = max(at, counted_from)
        yield day, _ms(upto - at), _ms(upto - once_from) if upto > once_from else 0
        at = upto


def _crossed(start: datetime, end: datetime, zone: ZoneInfo) -> Iterator[date]:
    """The days whose midnight the occurrence runs through (it started before and goes on into them)."""
    day = _day(start, zone) + timedelta(days=1)
    while midnight(day, zone) < end:
        if midnight(day, zone) > start:
            yield day
        day += timedelta(days=1)


def _ms(length: timedelta) -> int:
    return length // timedelta(milliseconds=1)


# --- reading -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """What a report asks of the sums: days first..last (in the summary's zone), whose time (None: everyone's),
    the organisation's rules, and the groupings' conditions (None among the values: unassigned)."""

    tenant_id: int
    user_id: int | None
    first: date
    last: date
    overlap_once: bool
    count_all_day: bool
    conditions: Mapping[str, Sequence[int | str | None]]


def covers(tenant_id: int, zone: str) -> bool:
    """Whether the sums can answer a report of this tenant cut in this zone."""
    return TenantSummary.objects.filter(tenant_id=tenant_id, zone=zone, ready=True).exists()


def _rows(ask: Ask):  # type: ignore[no-untyped-def]
    rows = DaySum.objects.filter(tenant_id=ask.tenant_id, day__range=(ask.first, ask.last))
    if ask.user_id is not None:
        rows = rows.filter(user_id=ask.user_id)
    if not ask.count_all_day:
        rows = rows.filter(all_day=False)
    for group, values in ask.conditions.items():
        known = [v for v in values if v is not None]
        match = Q(**{f"{COLUMNS[group]}__in": known})
        if len(known) < len(values):
            match |= Q(**{f"{COLUMNS[group]}__isnull": True})
        rows = rows.filter(match)
    return rows


def _spent(ask: Ask) -> dict[str, Sum]:
    column = "once_ms" if ask.overlap_once else "each_ms"
    return {
        "timed": Sum(Case(When(all_day=False, then=column), default=0, output_field=IntegerField())),
        "days": Sum(Case(When(all_day=True, then=column), default=0, output_field=IntegerField())),
    }


def totals(ask: Ask, group_by: Sequence[str]) -> dict[tuple[object, ...], tuple[int, int, int]]:
    """Per group: (timed milliseconds, all-day milliseconds, occurrences)."""
    columns = [COLUMNS[g] for g in group_by]
    found: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in _rows(ask).values(*columns).annotate(**_spent(ask), starts_=Sum("starts")):
        entry = found[tuple(row[c] for c in columns)]
        entry[0], entry[1], entry[2] = row["timed"] or 0, row["days"] or 0, row["starts_"] or 0
    first_day = _rows(ask).filter(day=ask.first, continuing__gt=0)
    for row in first_day.values(*columns).annotate(going_on=Sum("continuing")):
        found[tuple(row[c] for c in columns)][2] += row["going_on"]
    return {key: (timed, days, count) for key, (timed, days, count) in found.items()}


def periods(ask: Ask, group: str, period: str) -> list[tuple[date, object, bool, int]]:
    """(first day of the period, first grouping's value, all-day, milliseconds) for the time series, summed per
    period by the database (a year by person per day would be 150,000 rows to add up here)."""
    column = COLUMNS[group]
    spent = "once_ms" if ask.overlap_once else "each_ms"
    start = {"day": F("day"), "week": TruncWeek("day"), "month": TruncMonth("day")}[period]
    found = _rows(ask).annotate(period=start).values("period", column, "all_day").annotate(ms=Sum(spent))
    return [(_as_date(row["period"]), row[column], row["all_day"], row["ms"] or 0) for row in found]


def _as_date(value: object) -> date:
    return value.date() if isinstance(value, datetime) else value  # type: ignore[return-value]
