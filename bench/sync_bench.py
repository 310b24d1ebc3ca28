#!/usr/bin/env python
"""Sync engine benchmark: initial sync, no-op sync and a 1% change, between two in-memory sides and
between two calsync calendars in the database. Prints wall time, database queries and adapter calls.

    .venv/bin/python bench/sync_bench.py            # 1,000 and 10,000 events
    .venv/bin/python bench/sync_bench.py 2000       # other sizes

Uses a throwaway SQLite database under var/bench unless DATABASE_URL is set.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import QueryCounter, django_for_bench

django_for_bench("bench")

from django.db import connection  # noqa: E402

from events.convert import component_fields, item_span  # noqa: E402
from events.ical import Component, Item  # noqa: E402
from events.models import Calendar, Event  # noqa: E402
from sync.engine import Settings, sync  # noqa: E402
from sync.local import CalsyncSide  # noqa: E402
from sync.memory import ListReport, MemorySide, MemoryStore  # noqa: E402

ZONE = ZoneInfo("Europe/Berlin")
START = datetime(2026, 1, 5, 9, tzinfo=ZONE)


def make_items(n: int) -> list[Item]:
    """n events, 2% of them weekly series with a moved occurrence."""
    items = []
    for i in range(n):
        start = START + timedelta(hours=i % 2000)
        master = Component(uid=f"bench-{i}@calsync", summary=f"Event {i}", start=start, end=start + timedelta(hours=1))
        if i % 50 == 0:
            master = replace(master, rrule="FREQ=WEEKLY;COUNT=20")
            original = start + timedelta(days=7)
            override = replace(master, rrule="", recurrence_id=original, start=original + timedelta(hours=2),
                               end=original + timedelta(hours=3), summary=f"Event {i} (moved)")  # fmt: skip
            items.append(Item(master=master, overrides=(override,)))
        else:
            items.append(Item(master=master))
    return items


def changed(items: list[Item], fraction: float) -> list[Item]:
    step = int(1 / fraction)
    return [replace(item, master=replace(item.master, summary=item.master.summary + " *")) for item in items[::step]]


def measure(label: str, local, remote, store) -> None:  # type: ignore[no-untyped-def]
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
    print(f"  {label:<22} {figures}")


def bench_memory(n: int) -> None:
    items = make_items(n)
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    for item in items:
        local.user_put(item)
    measure("initial", local, remote, store)
    measure("echo (own writes back)", local, remote, store)
    measure("no-op", local, remote, store)
    for item in changed(items, 0.01):
        local.user_put(item)
    measure("1% changed", local, remote, store)


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


def bench_calsync(n: int) -> None:
    from accounts.services import tenant_create, user_create
    from events.services import calendar_create, item_save

    tenant = tenant_create(slug=f"bench-{n}", name="Bench")
    user = user_create(tenant=tenant, email=f"bench{n}@calsync.test", password="a bench passphrase 42")
    source, target = calendar_create(owner=user, name="Source"), calendar_create(owner=user, name="Target")
    items = make_items(n)
    load_calendar(source, items)
    from integrations.models import Integration
    from sync.store import DbStatusStore

    integration = Integration.objects.create(
        tenant=tenant, user=user, provider="calsync", calendar=source, remote_calendar_id=str(target.pk)
    )
    local, remote, store = CalsyncSide(source), CalsyncSide(target), DbStatusStore(integration)
    measure("initial", local, remote, store)
    measure("echo (own writes back)", local, remote, store)
    measure("no-op", local, remote, store)
    for item in changed(items, 0.01):
        item_save(calendar=source, item=item)
    measure("1% changed", local, remote, store)


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
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 10000]
    for n in sizes:
        print(f"\n{n} events ({n // 50} weekly series with a moved occurrence)")
        print(" in-memory <-> in-memory")
        bench_memory(n)
        print(f" calsync calendar <-> calsync calendar (database: {connection.vendor})")
        bench_calsync(n)
        print(f" first-sync bulk write and the reports' time index (database: {connection.vendor})")
        bench_index_cost(n)


if __name__ == "__main__":
    main()
