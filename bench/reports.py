#!/usr/bin/env python
"""Reports benchmark (issue 16): 200 people, 500,000 events over a year (2% of them recurring series, with
moved, retitled and cancelled occurrences), then a year's report grouped by client, one grouped by person, and
a month's drill-down into one client, through reports.engine. Each is timed cold (the first run after the
database's caches were dropped as far as a client can: a fresh connection, DISCARD ALL) and warm (median of
five), and PostgreSQL's EXPLAIN ANALYZE of every statement the engine sends is printed.

    createdb -h 127.0.0.1 -U postgres reports_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/reports_bench .venv/bin/python bench/reports.py

A smaller organisation for a quick check: BENCH_PEOPLE=20 BENCH_EVENTS=5000 (use a database of its own: the
organisation is reused by slug); BENCH_OVERLAP=each or once runs one rule; BENCH_PLANS=0 leaves the plans out.

The organisation is made once (events inserted in bulk, the time index built by reports.index.reindex in
batches, as `manage.py reports_reindex` does): a second run reuses it. Goal: under one second each.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import django_for_bench

if "DATABASE_URL" not in os.environ:
    sys.exit("Set DATABASE_URL to a PostgreSQL database of your own (see the docstring).")
django_for_bench("reports")

from django.db import connection, transaction  # noqa: E402

from accounts.models import Tenant, User  # noqa: E402
from business.models import Activity, BusinessSettings, Client, Project  # noqa: E402
from business.services import settings_for  # noqa: E402
from events.convert import component_fields, item_span  # noqa: E402
from events.ical import Attendee, Component, Item  # noqa: E402
from events.models import Calendar, Event  # noqa: E402
from reports import engine, index, summary  # noqa: E402
from reports.models import IndexHorizon, TenantSummary, TimeEntry  # noqa: E402

PEOPLE = int(os.environ.get("BENCH_PEOPLE", 200))
EVENTS = int(os.environ.get("BENCH_EVENTS", 500_000))
SERIES_SHARE = 0.02
YEAR = 2026
SLUG = "reports-bench"
ZONES = ("Europe/Berlin", "Europe/London", "America/New_York", "Europe/Lisbon")
RULES = ("FREQ=WEEKLY", "FREQ=WEEKLY;INTERVAL=2", "FREQ=WEEKLY;BYDAY=MO,WE,FR", "FREQ=DAILY", "FREQ=MONTHLY")


# --- the organisation ---------------------------------------------------------------------------------------


def _lists(tenant: Tenant) -> tuple[list[Client], list[Project], list[Activity]]:
    clients = Client.objects.bulk_create(
        Client(tenant=tenant, name=f"Client {n:02}", email_domains=[f"client{n}.test"]) for n in range(40)
    )
    projects = Project.objects.bulk_create(
        Project(tenant=tenant, client=clients[n % 40] if n % 10 else None, name=f"Project {n:03}") for n in range(120)
    )
    names = ("Meeting", "Development", "Design", "Support", "Travel", "Workshop", "Sales", "Admin")
    activities = Activity.objects.bulk_create(Activity(tenant=tenant, name=n) for n in names)
    return clients, projects, activities


def _people(tenant: Tenant) -> list[Calendar]:
    role = {0: User.Role.ADMIN}
    users = User.objects.bulk_create(
        User(email=f"p{n}@reports.test", username=f"p{n}@reports.test", tenant=tenant, timezone=ZONES[n % 4],
             role=role.get(n, User.Role.MEMBER))
        for n in range(PEOPLE)
    )  # fmt: skip
    return Calendar.objects.bulk_create(Calendar(tenant=tenant, owner=u, name="Work") for u in users)


class Maker:
    """Random working-day events of one person, with the business fields set the way the write path sets them."""

    def __init__(self, rng: random.Random, lists: tuple[list[Client], list[Project], list[Activity]]) -> None:
        self.rng, (self.clients, self.projects, self.activities) = rng, lists

    def component(self, uid: str, owner: str, zone: ZoneInfo) -> Component:
        rng = self.rng
        day = date(YEAR, 1, 1) + timedelta(days=rng.randrange(365))
        if rng.random() < 0.01:
            return Component(uid=uid, summary=f"Away {uid}", start=day, end=day + timedelta(days=rng.randrange(1, 4)))
        start = datetime(day.year, day.month, day.day, rng.randrange(7, 19), rng.choice((0, 15, 30, 45)), tzinfo=zone)
        declined = rng.random() < 0.03
        return Component(
            uid=uid,
            summary=f"Work {uid}",
            start=start,
            end=start + timedelta(minutes=rng.choice((15, 30, 45, 60, 60, 90, 120, 240))),
            visibility="PRIVATE" if rng.random() < 0.05 else "",
            transparency="TRANSPARENT" if rng.random() < 0.03 else "",
            attendees=(Attendee(email=owner, partstat="DECLINED"),) if declined else (),
        )

    def series(self, uid: str, owner: str, zone: ZoneInfo) -> Item:
        rng = self.rng
        master = self.component(uid, owner, zone)
        if not isinstance(master.start, datetime):
            master = self.component(uid, owner, zone)
        rule = rng.choice(RULES)
        if rng.random() < 0.7:  # most series end; the rest run on to the index's horizon
            rule += f";COUNT={rng.randrange(4, 60)}" if rng.random() < 0.5 else f";UNTIL={YEAR}1231T235959Z"
        master = replace(master, rrule=rule, summary=f"Series {uid}")
        assert isinstance(master.start, datetime) and isinstance(master.end, datetime)
        overrides = []
        for weeks in sorted(rng.sample(range(1, 4), rng.randrange(0, 3))):
            original = master.start + timedelta(days=7 * weeks) if "WEEKLY" in rule else master.start
            if original == master.start:
                continue
            moved = timedelta(hours=rng.choice((-2, 1, 3)))
            overrides.append(replace(master, rrule="", recurrence_id=original, start=original + moved,
                                     end=master.end - master.start + original + moved, summary=f"Moved {uid}",
                                     status="CANCELLED" if rng.random() < 0.3 else ""))  # fmt: skip
        return Item(master=master, overrides=tuple(overrides))

    def fields(self, component: Component) -> dict[str, Any]:
        """The names and links the write path (events.services._fields) would store."""
        rng = self.rng
        project = rng.choice(self.projects) if rng.random() < 0.8 else None
        client = project.client if project and project.client else None
        if client is None and rng.random() < 0.7:
            client = rng.choice(self.clients)
        activity = rng.choice(self.activities) if rng.random() < 0.9 else None
        return {
            **component_fields(component),
            "client": client.name if client else "",
            "client_ref": client,
            "project": project.name if project else "",
            "project_ref": project,
            "activity_type": activity.name if activity else "",
            "activity_ref": activity,
            "origin": rng.choice(("", "", "google", "microsoft", "exchange", "caldav", "dav")),
        }


def _items(maker: Maker, calendar: Calendar, count: int) -> Iterator[Item]:
    owner, zone = calendar.owner.email, ZoneInfo(calendar.owner.timezone)
    for n in range(count):
        uid = f"{calendar.pk}-{n}@reports.test"
        if n % int(1 / SERIES_SHARE) == 0:
            yield maker.series(uid, owner, zone)
        else:
            yield Item(master=maker.component(uid, owner, zone))


def _fill(calendar: Calendar, maker: Maker, count: int) -> None:
    """One person's year, written in bulk (what is measured is reading it, not writing it)."""
    masters, items = [], list(_items(maker, calendar, count))
    for seq, item in enumerate(items, start=1):
        span_start, span_end = item_span(item)
        masters.append(Event(tenant_id=calendar.tenant_id, calendar=calendar, name=f"{item.uid}.ics", seq=seq,
                             span_start=span_start, span_end=span_end, **maker.fields(item.master)))  # fmt: skip
    Event.objects.bulk_create(masters, batch_size=2000)
    overrides = [
        Event(tenant_id=calendar.tenant_id, calendar=calendar, parent=master, name=master.name, seq=master.seq,
              **{**maker.fields(o), "client_ref": master.client_ref, "client": master.client})
        for master, item in zip(masters, items, strict=True)
        for o in item.overrides
    ]  # fmt: skip
    Event.objects.bulk_create(overrides, batch_size=2000)
    Calendar.objects.filter(pk=calendar.pk).update(change_seq=len(items))


def organisation() -> Tenant:
    """The benchmark's organisation: made unless an earlier run left it, its index and day sums completed if an
    earlier run stopped before they were."""
    tenant = Tenant.objects.filter(slug=SLUG).first()
    calendars = list(Calendar.objects.filter(tenant=tenant).order_by("pk")) if tenant else []
    if tenant is None:
        began = time.perf_counter()
        tenant = Tenant.objects.create(slug=SLUG, name="Reports bench", timezone="Europe/Berlin")
        maker = Maker(random.Random(16), _lists(tenant))
        calendars = _people(tenant)
        for n, calendar in enumerate(calendars):
            with transaction.atomic():
                _fill(calendar, maker, EVENTS // PEOPLE)
            if n % 20 == 19:
                print(f"  events of {n + 1} people written ({time.perf_counter() - began:.0f} s)", flush=True)
        print(f"{EVENTS:,} events in {time.perf_counter() - began:.0f} s", flush=True)
    if not IndexHorizon.objects.filter(rebuilt_at__isnull=False).exists():
        _index(calendars)
    if not summary.covers(tenant.pk, tenant.timezone):
        began = time.perf_counter()
        rows = summary.rebuild(tenant.pk)
        print(f"day sums: {rows:,} rows in {time.perf_counter() - began:.0f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return tenant


def _index(calendars: list[Calendar]) -> None:
    """The time index, built as `manage.py reports_reindex` builds it (a batch of items per transaction)."""
    made = time.perf_counter()
    print("building the time index...", flush=True)

    def progress(done: int, rows: int) -> None:
        if done % 20 == 0:
            print(f"  {done} calendars, {rows:,} rows ({time.perf_counter() - made:.0f} s)", flush=True)

    rebuilt = index.reindex_calendars([c.pk for c in calendars], progress=progress, complete=True)
    built = time.perf_counter() - made
    print(f"time index: {rebuilt.rows:,} rows in {built:.0f} s ({rebuilt.items / built:,.0f} items/s)", flush=True)


# --- the measurements ---------------------------------------------------------------------------------------


class Statements:
    """Records what the engine sends, to EXPLAIN it afterwards."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.sent.append((sql, params))
        return execute(sql, params, many, context)


def _fresh_connection() -> None:
    """A new server process: no plans, catalogue or relation caches of its own (the shared buffers and the
    operating system's cache stay as they are: dropping them would slow the machine's other users)."""
    connection.close()
    connection.ensure_connection()


def measure(label: str, call: Callable[[], object], runs: int = 5) -> list[tuple[str, Any]]:
    _fresh_connection()
    began = time.perf_counter()
    call()
    cold = (time.perf_counter() - began) * 1000
    warm = []
    statements = Statements()
    for n in range(runs):
        with connection.execute_wrapper(statements) if n == 0 else nullcontext():
            began = time.perf_counter()
            call()
            warm.append((time.perf_counter() - began) * 1000)
    spread = f"min {min(warm):.0f}, max {max(warm):.0f}, {runs} runs"
    print(f"{label}: cold {cold:.0f} ms, warm median {statistics.median(warm):.0f} ms ({spread}), "
          f"{len(statements.sent)} statements", flush=True)  # fmt: skip
    return statements.sent


def explain(statements: list[tuple[str, Any]]) -> None:
    """EXPLAIN ANALYZE of each reading statement (the viewer's and the settings' lookups included)."""
    with connection.cursor() as cursor:
        for sql, params in statements:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            print("\n    " + sql[:160].replace("\n", " ") + ("..." if len(sql) > 160 else ""))
            print("\n".join("      " + line for (line,) in cursor.fetchall()))


def run(tenant: Tenant, overlap: str) -> None:
    rules = settings_for(tenant.pk)
    BusinessSettings.objects.filter(pk=rules.pk).update(overlap_rule=overlap)
    viewer = User.objects.get(tenant=tenant, role=User.Role.ADMIN)
    year = {"tenant_id": tenant.pk, "viewer_id": viewer.pk, "zone": tenant.timezone, "start": date(YEAR, 1, 1),
            "end": date(YEAR, 12, 31)}  # fmt: skip
    by_client = engine.ReportQuery(**year, group_by=("client",))
    by_user = engine.ReportQuery(**year, group_by=("user",))
    month = replace(by_client, start=date(YEAR, 6, 1), end=date(YEAR, 6, 30), period="day")
    top = engine.report_run(query=by_client).rows[0]
    print(f"\n== overlap rule {overlap!r}; the year: {top.labels[0]} leads with {top.minutes / 60:,.0f} h", flush=True)
    plans = {
        "year by client": measure("year by client (day sums)", lambda: engine.report_run(query=by_client)),
        "year by user": measure("year by user (day sums)", lambda: engine.report_run(query=by_user)),
        "month drill-down": measure(
            f"June drill-down into {top.labels[0]} (first 200 rows and the count)",
            lambda: engine.drill_down(query=month, key={"client": top.key[0]}),
        ),
    }
    summed = [engine.report_run(query=q) for q in (by_client, by_user)]
    TenantSummary.objects.filter(tenant=tenant).update(ready=False)  # the same reports from the index alone
    try:
        same = summed == [engine.report_run(query=q) for q in (by_client, by_user)]
        print(f"day sums and index give the same reports: {same}", flush=True)
        measure("year by client (index only)", lambda: engine.report_run(query=by_client), runs=3)
        measure("year by user (index only)", lambda: engine.report_run(query=by_user), runs=3)
    finally:
        TenantSummary.objects.filter(tenant=tenant).update(ready=True)
    if os.environ.get("BENCH_PLANS", "1") == "1":
        for label, statements in plans.items():
            print(f"\n--- plans: {label} (overlap {overlap!r})")
            explain(statements)


def main() -> None:
    tenant = organisation()
    entries = TimeEntry.objects.filter(tenant=tenant)
    events = Event.objects.filter(tenant=tenant, parent=None).count()
    print(f"{connection.vendor}: {PEOPLE} people, {events:,} events, {entries.count():,} index rows "
          f"({entries.filter(start__year=YEAR).count():,} in {YEAR})")  # fmt: skip
    for overlap in os.environ.get("BENCH_OVERLAP", "each,once").split(","):
        run(tenant, overlap)


if __name__ == "__main__":
    main()
