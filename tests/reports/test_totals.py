"""Report totals equal a brute-force sum on random calendars, under every all-day rule and both overlap rules.

The calendars are described here (series with moved and cancelled occurrences, days when the clocks change
in Berlin and New York, nights and month ends crossed, all-day events, private, declined, free and cancelled
ones), written through the ordinary write path as iCalendar, and the oracle expands the description itself:
it never reads the index. It counts the slow way: every person's time is cut at every start, end and period
edge, and each piece goes to whoever the rule gives it to.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from business.models import BusinessSettings, Client
from events import services
from events.ical import parse_calendar
from reports import engine
from reports.engine import ReportQuery
from tests.factories import CalendarFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

ZONES = ("Europe/Berlin", "America/New_York")
# Fortnights holding a change of the clocks (New York 8 March, Berlin 29 March and 25 October, New York
# 1 November) and a month end.
BASES = (date(2026, 3, 2), date(2026, 3, 24), date(2026, 10, 20))
CLIENTS = (None, "Acme", "Globex")
_HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"


@dataclass(frozen=True)
class Flags:
    client: str | None
    private: bool
    free: bool
    declined: bool
    cancelled: bool

    @property
    def counts(self) -> bool:
        return not (self.free or self.declined or self.cancelled)


@dataclass(frozen=True)
class Moved:
    """An override: the k-th occurrence of a series moved (to its own start and length) or with other flags."""

    index: int
    start: datetime
    seconds: int
    flags: Flags


@dataclass(frozen=True)
class Spec:
    """One event: single or a daily series; timed or all-day."""

    user: int
    all_day: bool
    start: datetime | date  # timed single: UTC; timed series: wall time in `zone`; all-day: a date
    seconds: int  # all-day: whole days
    flags: Flags
    zone: str = "UTC"
    every: int = 1
    count: int = 1  # 1: a single event
    skipped: frozenset[int] = frozenset()  # EXDATE
    moved: tuple[Moved, ...] = field(default=())


@dataclass(frozen=True)
class Occurrence:
    user: int
    order: tuple[int, int]  # (event's place in creation order, occurrence index): ties of the overlap rule
    start: datetime | date
    end: datetime | date
    flags: Flags


def _flags() -> st.SearchStrategy[Flags]:
    rare = st.integers(0, 9).map(lambda n: n == 0)
    return st.builds(Flags, st.sampled_from(CLIENTS), st.booleans(), rare, rare, rare)


@st.composite
def _spec(draw: st.DrawFn, base: date) -> Spec:
    user, flags = draw(st.integers(0, 1)), draw(_flags())
    kind = draw(st.sampled_from(["single", "single", "series", "series", "all_day", "all_day_series"]))
    if kind == "single":  # anywhere, in UTC: across nights, month ends and the clock change
        # Often on a coarse grid, so that two events start together and the tie rule (lower event id) decides.
        minutes = st.one_of(st.integers(0, 16 * 24 * 60), st.integers(0, 16 * 4).map(lambda n: n * 360))
        start = datetime.combine(base, time(), UTC) + timedelta(minutes=draw(minutes))
        return Spec(user, False, start, draw(st.integers(0, 40 * 4)) * 15 * 60 + draw(st.sampled_from([0, 15, 30])),
                    flags)  # fmt: skip
    if kind.startswith("all_day"):
        count = draw(st.integers(2, 6)) if kind == "all_day_series" else 1
        skipped = frozenset(draw(st.sets(st.integers(1, count - 1), max_size=1))) if count > 1 else frozenset()
        return Spec(user, True, base + timedelta(days=draw(st.integers(0, 14))), draw(st.integers(1, 3)), flags,
                    every=draw(st.integers(2, 4)), count=count, skipped=skipped)  # fmt: skip
    return _series(draw, base, user, flags)


def _series(draw: st.DrawFn, base: date, user: int, flags: Flags) -> Spec:
    # Wall times from 04:00 and ends by 01:00 the next day: no occurrence holds a change of the clocks, where
    # "the same length" could mean two things (RFC 5545 3.3.6); the changes fall between occurrences.
    hour, minute = draw(st.integers(4, 22)), draw(st.sampled_from([0, 30, 45]))
    longest = (25 - hour) * 60 - minute
    count = draw(st.integers(2, 8))
    seconds = draw(st.integers(0, longest // 15)) * 15 * 60
    start = datetime.combine(base + timedelta(days=draw(st.integers(0, 10))), time(hour, minute))
    indexes = st.integers(1, count - 1)
    moved = tuple(
        Moved(k, datetime.combine(base, time(), UTC) + timedelta(minutes=draw(st.integers(0, 16 * 24 * 60)),
                                                                 seconds=k + 1),
              draw(st.integers(0, 24)) * 30 * 60, draw(_flags()))
        for k in sorted(draw(st.sets(indexes, max_size=2)))
    )  # fmt: skip
    skipped = draw(st.sets(indexes, max_size=2)) - {m.index for m in moved}
    return Spec(user, False, start, seconds, flags, zone=draw(st.sampled_from(ZONES)), every=draw(st.integers(1, 3)),
                count=count, skipped=frozenset(skipped), moved=moved)  # fmt: skip


# --- the description as iCalendar ----------------------------------------------------------------------------


def _stamp(moment: datetime | date, zone: str = "UTC") -> str:
    if not isinstance(moment, datetime):
        return f";VALUE=DATE:{moment:%Y%m%d}"
    if moment.tzinfo is None:
        return f";TZID={zone}:{moment:%Y%m%dT%H%M%S}"
    return f":{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _flag_lines(flags: Flags, owner: str) -> str:
    lines = [f"X-CALSYNC-CLIENT:{flags.client}"] if flags.client else []
    lines += ["CLASS:PRIVATE"] if flags.private else []
    lines += ["TRANSP:TRANSPARENT"] if flags.free else []
    lines += ["STATUS:CANCELLED"] if flags.cancelled else []
    if flags.declined:
        lines += ["ORGANIZER:mailto:boss@elsewhere.test", f"ATTENDEE;PARTSTAT=DECLINED:mailto:{owner}"]
    return "".join(f"{line}\r\n" for line in lines)


def _ics(spec: Spec, uid: str, owner: str) -> str:
    end = spec.start + timedelta(days=spec.seconds) if spec.all_day else spec.start + timedelta(seconds=spec.seconds)
    head = f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:{uid}\r\n"
    master = head + f"DTSTART{_stamp(spec.start, spec.zone)}\r\nDTEND{_stamp(end, spec.zone)}\r\n"
    if spec.count > 1:
        master += f"RRULE:FREQ=DAILY;INTERVAL={spec.every};COUNT={spec.count}\r\n"
        master += "".join(f"EXDATE{_stamp(_nth(spec, k), spec.zone)}\r\n" for k in sorted(spec.skipped))
    parts = [master + _flag_lines(spec.flags, owner)]
    for moved in spec.moved:
        parts.append(
            head + f"RECURRENCE-ID{_stamp(_nth(spec, moved.index), spec.zone)}\r\nDTSTART{_stamp(moved.start)}\r\n"
            f"DTEND{_stamp(moved.start + timedelta(seconds=moved.seconds))}\r\n" + _flag_lines(moved.flags, owner)
        )
    body = "".join(f"BEGIN:VEVENT\r\n{part}END:VEVENT\r\n" for part in parts)
    return _HEAD + body + "END:VCALENDAR\r\n"


def _nth(spec: Spec, k: int) -> datetime | date:
    """The k-th occurrence's start as written: the same wall time (or date) every `every` days."""
    return spec.start + timedelta(days=k * spec.every)


# --- the oracle ----------------------------------------------------------------------------------------------


def _occurrences(specs: list[Spec]) -> list[Occurrence]:
    found = []
    for place, spec in enumerate(specs):
        moved = {m.index: m for m in spec.moved}
        for k in range(spec.count):
            if k in spec.skipped:
                continue
            if k in moved:
                m = moved[k]
                found.append(
                    Occurrence(spec.user, (place, k), m.start, m.start + timedelta(seconds=m.seconds), m.flags)
                )
                continue
            start = _nth(spec, k)
            if spec.all_day:
                found.append(Occurrence(spec.user, (place, k), start, start + timedelta(days=spec.seconds), spec.flags))
                continue
            assert isinstance(start, datetime)
            zoned = start.replace(tzinfo=ZoneInfo(spec.zone)) if start.tzinfo is None else start
            first = zoned.astimezone(UTC)
            found.append(Occurrence(spec.user, (place, k), first, first + timedelta(seconds=spec.seconds), spec.flags))
    return found


def _period(day: date, period: str) -> date:
    if period == "day":
        return day
    return day - timedelta(days=day.weekday()) if period == "week" else date(day.year, day.month, 1)


@dataclass
class Expected:
    seconds: dict[tuple[str | None, int], Fraction] = field(default_factory=lambda: defaultdict(Fraction))
    counts: dict[tuple[str | None, int], int] = field(default_factory=lambda: defaultdict(int))
    series: dict[tuple[date, str | None], Fraction] = field(default_factory=lambda: defaultdict(Fraction))


def _expected(occurrences: list[Occurrence], query: ReportQuery, rule: str, day: Fraction, once: bool) -> Expected:
    zone = ZoneInfo(query.zone)
    first = datetime.combine(query.start, time(), zone).astimezone(UTC)
    after = datetime.combine(query.end + timedelta(days=1), time(), zone).astimezone(UTC)
    out = Expected()
    timed = [o for o in occurrences if o.flags.counts and isinstance(o.start, datetime)]
    for o in timed:
        if o.start < after and (o.end > first or o.start >= first):  # type: ignore[operator]
            out.counts[(o.flags.client, o.user)] += 1
    for user in {o.user for o in timed}:
        _cut(out, [o for o in timed if o.user == user], query, zone, first, after, once)
    if rule != "skip":
        for o in occurrences:
            if o.flags.counts and not isinstance(o.start, datetime):
                _days(out, o, query, day)
    return out


def _cut(out: Expected, mine: list[Occurrence], query: ReportQuery, zone: ZoneInfo, first: datetime,
         after: datetime, once: bool) -> None:  # fmt: skip
    """Every piece between two consecutive edges (starts, ends, local midnights) goes to the occurrences over
    it: all of them, or under "once" only the one that started first."""
    edges = {first, after}
    day = query.start
    while day <= query.end:
        edges.add(datetime.combine(day, time(), zone).astimezone(UTC))
        day += timedelta(days=1)
    edges |= {t for o in mine for t in (o.start, o.end) if first <= t <= after}  # type: ignore[misc, operator]
    points = sorted(edges)
    for a, b in pairwise(points):
        over = sorted((o for o in mine if o.start <= a and b <= o.end), key=lambda o: (o.start, o.order))  # type: ignore[operator]
        for o in over[:1] if once else over:
            out.seconds[(o.flags.client, o.user)] += Fraction(int((b - a).total_seconds()))
            out.series[(_period(a.astimezone(zone).date(), query.period), o.flags.client)] += Fraction(
                int((b - a).total_seconds())
            )


def _days(out: Expected, o: Occurrence, query: ReportQuery, day_seconds: Fraction) -> None:
    days = [o.start + timedelta(days=n) for n in range((o.end - o.start).days)]  # type: ignore[operator]
    inside = [d for d in days if query.start <= d <= query.end]  # type: ignore[operator]
    if inside:
        out.counts[(o.flags.client, o.user)] += 1
    for d in inside:
        out.seconds[(o.flags.client, o.user)] += day_seconds
        out.series[(_period(d, query.period), o.flags.client)] += day_seconds  # type: ignore[arg-type]


def _minutes(seconds: Fraction) -> int:
    return int((seconds + 30) // 60)


# --- the test ------------------------------------------------------------------------------------------------


@st.composite
def _world(draw: st.DrawFn) -> tuple[list[Spec], date, date, str, str, bool]:
    base = draw(st.sampled_from(BASES))
    specs = draw(st.lists(_spec(base), min_size=1, max_size=7))
    start = base + timedelta(days=draw(st.integers(0, 8)))
    end = start + timedelta(days=draw(st.integers(0, 9)))
    return (
        specs,
        start,
        end,
        draw(st.sampled_from(("UTC", *ZONES))),
        draw(st.sampled_from(engine.PERIODS)),
        draw(st.booleans()),
    )


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])  # fmt: skip
@given(world=_world())
def test_totals_equal_a_brute_force_sum(world: tuple[list[Spec], date, date, str, str, bool]) -> None:
    specs, start, end, zone, period, as_admin = world
    with transaction.atomic():
        _check(specs, start, end, zone, period, as_admin)
        transaction.set_rollback(True)


def _check(specs: list[Spec], start: date, end: date, zone: str, period: str, as_admin: bool) -> None:
    tenant = TenantFactory()
    people = [UserFactory(tenant=tenant, role="admin" if as_admin else "member"), UserFactory(tenant=tenant)]
    calendars = [CalendarFactory(owner=person, tenant=tenant) for person in people]
    for place, spec in enumerate(specs):
        ics = _ics(spec, f"e{place}", people[spec.user].email)
        services.item_save(calendar=calendars[spec.user], item=parse_calendar(ics)[0])
    occurrences = [o for o in _occurrences(specs) if as_admin or o.user == 0]
    query = ReportQuery(tenant_id=tenant.pk, viewer_id=people[0].pk, start=start, end=end, zone=zone,
                        group_by=("client", "user"), period=period)  # fmt: skip
    names = {c.pk: c.name for c in Client.objects.filter(tenant=tenant)}
    users = {p.pk: n for n, p in enumerate(people)}
    for rule, day in (("skip", Fraction(0)), ("workday", Fraction(7 * 3600 + 1800)), ("full", Fraction(86400))):
        for overlap in ("each", "once"):
            BusinessSettings.objects.update_or_create(tenant=tenant, defaults=dict(
                all_day_rule=rule, all_day_hours=Decimal("7.5"), overlap_rule=overlap))  # fmt: skip
            report = engine.report_run(query=query)
            expected = _expected(occurrences, query, rule, day, overlap == "once")
            _compare(report, expected, names, users, (rule, overlap))


def _compare(report: engine.Report, expected: Expected, names: dict[int, str], users: dict[int, int],
             rules: tuple[str, str]) -> None:  # fmt: skip
    got = {(names.get(r.key[0]), users[r.key[1]]): (r.minutes, r.count) for r in report.rows}  # type: ignore[arg-type, index]
    want = {k: (_minutes(expected.seconds[k]), n) for k, n in expected.counts.items()}
    assert got == want, rules
    assert report.total_minutes == _minutes(sum(expected.seconds.values(), Fraction(0))), rules
    assert report.total_count == sum(expected.counts.values()), rules
    series = {(d, names.get(k[0])): m for d, k, m in report.series}  # type: ignore[arg-type]
    assert series == {k: _minutes(s) for k, s in expected.series.items() if s}, rules
