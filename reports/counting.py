"""The one query that turns index rows into counted time, in SQL that runs on SQLite and PostgreSQL.

Every report number, series point and drill-down row reads the `counted` relation built here: one row per
occurrence that counts (not free, declined or cancelled; all-day ones only when the organisation counts
them) and touches the range, with `cs`/`ce`, the part of it that counts, already clipped to the range.

The overlap rule "once" is a window function rather than a loop: within one person's timed occurrences
ordered by (start, event id, row id), every earlier occurrence starts no later than this one, so the part of
this one that earlier ones already cover is exactly [start, latest earlier end). What counts is therefore
[max(start, latest earlier end), end): one MAX() OVER the preceding rows, which both databases compute in
a single sorted pass.

The SQL is put together from fixed fragments and the column names in COLUMNS only (hence the S608
suppressions); every value, the zone's name included, is a query parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from .models import TimeEntry

# The index column each grouping reads.
COLUMNS = {
    "user": "user_id",
    "client": "client_id",
    "project": "project_id",
    "activity": "activity_id",
    "calendar": "calendar_id",
    "provider": "provider",
}


@dataclass(frozen=True)
class Window:
    """The report's range as instants: timed time is cut at the zone's midnights, all-day dates at UTC ones."""

    start: datetime
    end: datetime
    day_start: datetime
    day_end: datetime


@dataclass(frozen=True)
class Scope:
    """Which rows the counting reads: the tenant, whose time (None: everyone's), how all-day and overlaps count."""

    tenant_id: int
    user_id: int | None
    count_all_day: bool
    overlap_once: bool


def postgres() -> bool:
    return connection.vendor == "postgresql"


def value(moment: datetime) -> object:
    """A parameter compared with stored instants (SQLite keeps them as UTC text)."""
    return connection.ops.adapt_datetimefield_value(moment)


def instant(raw: object) -> datetime:
    """A stored instant read back from a raw query (SQLite returns text, PostgreSQL aware datetimes)."""
    if isinstance(raw, str):
        raw = datetime.fromisoformat(raw)
    assert isinstance(raw, datetime)
    return raw.replace(tzinfo=UTC) if raw.tzinfo is None else raw.astimezone(UTC)


def greatest(*parts: str) -> str:
    return f"{'GREATEST' if postgres() else 'MAX'}({', '.join(parts)})"


def least(*parts: str) -> str:
    return f"{'LEAST' if postgres() else 'MIN'}({', '.join(parts)})"


def seconds(start: str, end: str) -> str:
    """Seconds from start to end (milliseconds kept: SQLite's day fractions are rounded back to them)."""
    if postgres():
        return f"EXTRACT(EPOCH FROM ({end} - {start}))"
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)"


def period_sql(column: str, periods: Periods) -> tuple[str, list[object]]:
    """Which period an instant falls in: PostgreSQL finds it among the periods' first instants (a binary
    search, no zone arithmetic per row); SQLite truncates the local time with Django's own function."""
    if postgres():
        return (
            f"width_bucket({column}, CASE WHEN s.all_day THEN %s::timestamptz[] ELSE %s::timestamptz[] END)",
            [periods.day_edges, periods.edges],
        )
    return (
        f"django_datetime_trunc('{periods.period}', {column}, CASE WHEN s.all_day THEN 'UTC' ELSE %s END, 'UTC')",
        [periods.zone],
    )


def just_before(column: str) -> str:
    """An instant a millisecond before, so an end that is exactly midnight falls in the day before."""
    if postgres():
        return f"({column} - interval '1 millisecond')"
    return f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', {column}, '-0.001 seconds')"


@dataclass(frozen=True)
class Periods:
    """The chart's periods: their first days, and the instants they start at (in the zone; at UTC midnight for
    all-day dates)."""

    period: str
    zone: str
    starts: list[date]
    edges: list[datetime]
    day_edges: list[datetime]

    def start_of(self, raw: object) -> date:
        """The first day of the period `period_sql` answered with."""
        if isinstance(raw, int):  # width_bucket: 1 is the first period
            return self.starts[raw - 1]
        found = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
        return found.date() if isinstance(found, datetime) else found  # type: ignore[return-value]


def counted_sql(
    scope: Scope, window: Window, conditions: Mapping[str, Sequence[int | str | None]], *, detail: bool = False
) -> tuple[str, list[object]]:
    """The `counted` relation as a subquery with its parameters; `conditions` narrow it by grouping column
    (None among the values: the unassigned ones) after overlaps are settled, so a filter never changes how
    much of an occurrence counts. `detail` adds what a drill-down lists (title, private, recurrence id); the
    sums leave them out, so the sort under the overlap rule moves narrow rows."""
    table = TimeEntry._meta.db_table
    params: list[object] = [scope.tenant_id, value(max(window.end, window.day_end))]
    where = ["e.tenant_id = %s", 'e."start" < %s', "NOT e.free", "NOT e.declined", "NOT e.cancelled"]
    where.append(
        '((NOT e.all_day AND e."start" < %s AND (e."end" > %s OR e."start" >= %s))'
        ' OR (e.all_day AND e."start" < %s AND e."end" > %s))'
    )
    params += [value(window.end), value(window.start), value(window.start), value(window.day_end)]
    params += [value(window.day_start)]
    if not scope.count_all_day:
        where.append("NOT e.all_day")
    if scope.user_id is not None:
        where.append("e.user_id = %s")
        params.append(scope.user_id)
    earlier_end = (
        'MAX(e."end") OVER (PARTITION BY e.user_id, e.all_day ORDER BY e."start", e.event_id, e.id'
        " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        if scope.overlap_once
        else 'e."start"'  # each counts from its own start (typed as a time, which a bare NULL is not on PostgreSQL)
    )
    extra = " e.private, e.title, e.recurrence_id," if detail else ""
    base = (
        f"SELECT e.id, e.event_id, e.user_id, e.calendar_id, e.client_id, e.project_id, e.activity_id,"  # noqa: S608
        f' e.provider, e.all_day,{extra} e."start", e."end",'
        f" {earlier_end} AS earlier_end FROM {table} e WHERE {' AND '.join(where)}"
    )
    timed_from = greatest('b."start"', "%s", 'COALESCE(b.earlier_end, b."start")')
    day_from, up_to = greatest('b."start"', "%s"), least('b."end"', "%s")
    outer_where, outer_params = _conditions(conditions)
    sql = (
        f"SELECT b.*, CASE WHEN b.all_day THEN {day_from} ELSE {timed_from} END AS cs,"  # noqa: S608
        f" CASE WHEN b.all_day THEN {up_to} ELSE {up_to} END AS ce FROM ({base}) b{outer_where}"
    )
    head = [value(window.day_start), value(window.start), value(window.day_end), value(window.end)]
    return sql, head + params + outer_params


def _conditions(conditions: Mapping[str, Sequence[int | str | None]]) -> tuple[str, list[object]]:
    parts: list[str] = []
    params: list[object] = []
    for group, values in conditions.items():
        column = f"b.{COLUMNS[group]}"
        known = [v for v in values if v is not None]
        alternatives = [f"{column} IN ({', '.join(['%s'] * len(known))})"] if known else []
        if len(known) < len(values):
            alternatives.append(f"{column} IS NULL")
        parts.append(f"({' OR '.join(alternatives)})" if alternatives else "1 = 0")
        params += known
    return (" WHERE " + " AND ".join(parts), params) if parts else ("", [])


def fetch(sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
    with transaction.atomic(), connection.cursor() as cursor:
        if postgres():
            # The overlap rule sorts each person's rows; PostgreSQL's default 4 MB of sort memory would spill a
            # year of a large organisation to disk. LOCAL: for this transaction only.
            cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a day begins in `zone` (days in reports are cut at the zone's midnights)."""
    return datetime.combine(day, time(), zone).astimezone(UTC)
