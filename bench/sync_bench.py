#!/usr/bin/env python
"""Sync engine benchmark: a first sync (the pass that reads back its own writes included: the run is finished when
it returns), a no-op sync and a 1% change, between two in-memory sides and between two calsync calendars in the
database. Prints wall time, database queries, adapter calls and writes, and the 1%/first-sync ratio.

    .venv/bin/python bench/sync_bench.py            # 1,000 and 10,000 events, SQLite
    .venv/bin/python bench/sync_bench.py 2000       # other sizes
    .venv/bin/python bench/sync_bench.py --engine 5000   # leave out the reports' index cost
    DATABASE_URL=postgres://... .venv/bin/python bench/sync_bench.py

Cold and warm apart: each sequence runs twice in one process on fresh calendars; "cold" is the first time (code
paths, caches and the database's pages not yet warm), "warm" the second. Uses a throwaway SQLite database under
var/bench unless DATABASE_URL is set.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import QueryCounter, django_for_bench

django_for_bench("bench")

from django.db import connection  # noqa: E402
from sync_items import edited, make_items  # noqa: E402

from events.convert import component_fields, item_span  # noqa: E402
from events.ical import Item  # noqa: E402
from events.models import Calendar, Event  # noqa: E402
from sync.engine import Settings, sync  # noqa: E402
from sync.local import CalsyncSide  # noqa: E402
from sync.memory import ListReport, MemorySide, MemoryStore  # noqa: E402


def changed(items: list[Item], fraction: float, offset: int = 0) -> list[Item]:
    return [edited(item) for item in items[offset :: int(1 / fraction)]]


def measure(label: str, local, remote, store) -> float:  # type: ignore[no-untyped-def]
    for side in (local, remote):
        side.calls.clear()
    report = ListReport()
    queries = QueryCounter()
    with connection.execute_wrapper(queries):
        began = time.perf_counter()
        sync(local, remote, store, Settings(), report)
        elapsed = time.perf_counter() - began
    calls = sum(local.calls.values()) + sum(remote.calls.values())
    applied = len(report.of("applied"))
    figures = f"{elapsed * 1000:>10.1f} ms {queries.count:>9} queries {calls:>8} adapter calls {applied:>7} writes"
    print(f"  {label:<28} {figures}")
    return elapsed


def sequence(local, remote, store, items: list[Item], edit, temperature: str) -> None:  # type: ignore[no-untyped-def]
    """First sync, no-op, 1% changed (twice: another 1% the second time); the ratio of 1% to the first sync."""
    first = measure(f"first sync ({temperature})", local, remote, store)
    measure(f"no-op ({temperature})", local, remote, store)
    one = []
    for offset in (0, 1):
        for item in changed(items, 0.01, offset):
            edit(item)
        one.append(measure(f"1% changed ({temperature})", local, remote, store))
    print(f"  {'1% changed / first sync':<28} {statistics.mean(one) / first:>10.1%}")


def bench_memory(n: int, temperature: str) -> None:
    items = make_items(n)
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    for item in items:
        local.user_put(item)
    sequence(local, remote, store, items, local.user_put, temperature)


def load_calendar(calendar: Calendar, items: list[Item]) -> None:
    """Fill a calendar directly (the setup is not what is measured)."""
    rows = []
    for seq, item in enumerate(items, start=1):
        span_start, span_end = item_span(item)
        rows.append(Event(tenant_id=calendar.tenant_id, calendar=calendar, name=f"{item.uid}.ics", seq=seq,
                          span_start=span_start, span_end=span_end, **component_fields(item.master)))  # fmt: skip
    masters = {e.uid: e for e in Event.objects.bulk_create(rows, batch_size=1000)}
    overrides = [
        Event(
            tenant_id=calendar.tenant_id,
            calendar=calendar,
            parent=masters[item.uid],
            name=f"{item.uid}.ics",
            seq=masters[item.uid].seq,
            **component_fields(o),
        )
        for item in items
        for o in item.overrides
    ]
    Event.objects.bulk_create(overrides, batch_size=1000)
    Calendar.objects.filter(pk=calendar.pk).update(change_seq=len(items))
    calendar.change_seq = len(items)


def bench_calsync(n: int, temperature: str) -> None:
    from accounts.services import tenant_create, user_create
    from events.services import calendar_create, item_save
    from integrations.models import Integration
    from sync.store import DbStatusStore

    tenant = tenant_create(slug=f"bench-{n}-{temperature}", name="Bench")
    user = user_create(tenant=tenant, email=f"bench{n}{temperature}@calsync.test", password="a bench passphrase 42")
    source, target = calendar_create(owner=user, name="Source"), calendar_create(owner=user, name="Target")
    items = make_items(n)
    load_calendar(source, items)
    integration = Integration.objects.create(
        tenant=tenant, user=user, provider="calsync", calendar=source, remote_calendar_id=str(target.pk)
    )
    local, remote, store = CalsyncSide(source), CalsyncSide(target), DbStatusStore(integration)
    sequence(local, remote, store, items, lambda item: item_save(calendar=source, item=item), temperature)


def bench_index_cost(n: int, rounds: int = 3) -> None:
    """What the reports' time index (and its day sums) adds to a first sync's bulk write
    (events.services.items_create_many): the same items written to fresh calendars with the index following the
    write and without it, alternately, `rounds` times each (medians: the machine's load varies)."""
    from accounts.services import tenant_create, user_create
    from events.services import calendar_create, items_create_many
    from events.signals import items_written
    from reports.models import TimeEntry
    from reports.receivers import _reindex

    tenant = tenant_create(slug=f"bench-index-{n}", name="Bench")
    user = user_create(tenant=tenant, email=f"index{n}@calsync.test", password="a bench passphrase 42")
    items = make_items(n)
    figures: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(rounds):
        for with_index in (False, True):
            if not with_index:
                items_written.disconnect(_reindex, dispatch_uid="reports.reindex")
            calendar = calendar_create(owner=user, name=f"{round_} {with_index}")
            began = time.perf_counter()
            items_create_many(calendar=calendar, items=items)
            figures[with_index].append(time.perf_counter() - began)
            items_written.connect(_reindex, dispatch_uid="reports.reindex")
    rows = TimeEntry.objects.filter(calendar=calendar).count()
    without, with_ = statistics.median(figures[False]), statistics.median(figures[True])
    print(f"  items_create_many without the index {without * 1000:>9.1f} ms, with it {with_ * 1000:>9.1f} ms "
          f"({rows} index rows; medians of {rounds})")  # fmt: skip
    print(f"  the index adds {(with_ - without) * 1000:.0f} ms ({(with_ - without) / without:.0%}), "
          f"{(with_ - without) / n * 1e6:.0f} us per item")  # fmt: skip


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:] if a != "--engine"] or [1000, 10000]
    print(f"database: {connection.vendor}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for n in sizes:
        print(f"\n{n} events ({n // 50} weekly series with a moved occurrence)")
        for temperature in ("cold", "warm"):
            print(f" in-memory <-> in-memory ({temperature})")
            bench_memory(n, temperature)
            print(f" calsync calendar <-> calsync calendar ({temperature}, database: {connection.vendor})")
            bench_calsync(n, temperature)
        if "--engine" not in sys.argv:
            print(f" first-sync bulk write and the reports' time index (database: {connection.vendor})")
            bench_index_cost(n)


if __name__ == "__main__":
    main()
