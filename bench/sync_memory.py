#!/usr/bin/env python
"""Peak memory of first syncs (the pass that absorbs their echo included), by calendar size: goal flat.

    .venv/bin/python bench/sync_memory.py                  # 10,000 and 50,000 events, SQLite
    .venv/bin/python bench/sync_memory.py 2000 5000        # other sizes
    DATABASE_URL=postgres://... .venv/bin/python bench/sync_memory.py

Two cases per size: a streaming side that makes its events on the fly (it keeps none) synced into an empty
calsync calendar, and a calsync calendar synced into another (both in the database).

How it is measured: each sync runs in a child process of its own, after another child filled the database, so the
figure is that sync's alone. "peak" is the child's whole-process maximum resident set size (resource.getrusage
ru_maxrss: Python, Django and the database driver included); "sync adds" is the peak less the resident size just
before the sync began. DEBUG is off in the children (Django would otherwise keep the last 9,000 queries' SQL).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DEBUG", "false")
from benchsetup import QueryCounter, django_for_bench

CASES = ("stream -> calsync", "calsync -> calsync")
PAGE = 500


def _rss_kb() -> int:
    """Resident set size now (the peak is ru_maxrss; this is the level the sync starts from)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


class GeneratedSide:
    """A remote calendar of n events made as they are listed: it keeps none of them, so what grows is the sync's."""

    takes_known = True

    def __init__(self, n: int) -> None:
        from sync_items import make_item

        self.n, self.make, self.calls = n, make_item, {}

    def changes(self, cursor, known=None):  # type: ignore[no-untyped-def]
        from sync.adapter import Changes

        return Changes(changed=self._listing() if cursor is None else [], deleted=[], cursor="1", complete=not cursor)

    def _listing(self) -> Iterator:  # type: ignore[type-arg]
        from sync.adapter import Entry

        for i in range(self.n):
            yield Entry(id=f"g{i}", version="1", item=self.make(i))

    def get(self, id: str):  # type: ignore[no-untyped-def]
        from sync.adapter import Entry

        i = int(id[1:])
        return Entry(id=id, version="1", item=self.make(i)) if 0 <= i < self.n else None

    def find(self, uid: str):  # type: ignore[no-untyped-def]
        return self.get(f"g{uid.split('-')[1].split('@')[0]}")


class CountingReport:
    """Counts what the run reports and keeps nothing (a list of 50,000 lines would be the bench's own growth)."""

    def __init__(self) -> None:
        self.writes = self.other = 0

    def applied(self, *args: object, **kwargs: object) -> None:
        self.writes += 1

    def withheld(self, *args: object, **kwargs: object) -> None:
        self.other += 1

    def conflict(self, *args: object) -> None:
        self.other += 1

    def unsynced(self, *args: object, **kwargs: object) -> None:
        self.other += 1

    def settled(self, *args: object) -> None:
        pass

    def note(self, *args: object, **kwargs: object) -> None:
        self.other += 1

    def filtered(self, *args: object, **kwargs: object) -> None:
        self.other += 1


def fill(case: str, n: int) -> dict[str, int]:
    """The calendars (and the source's n events, for calsync -> calsync) and the integration; not measured."""
    from sync_items import make_item

    from accounts.services import tenant_create, user_create
    from events.services import calendar_create, items_create_many
    from integrations.models import Integration

    tag = uuid.uuid4().hex[:8]
    tenant = tenant_create(slug=f"mem-{tag}", name="Memory bench")
    user = user_create(tenant=tenant, email=f"mem-{tag}@calsync.test", password="a bench passphrase 42")
    local, other = calendar_create(owner=user, name="Calendar"), calendar_create(owner=user, name="Other")
    if case == "calsync -> calsync":
        for start in range(0, n, PAGE):
            items_create_many(calendar=other, items=[make_item(i) for i in range(start, min(n, start + PAGE))])
    integration = Integration.objects.create(
        tenant=tenant, user=user, provider="calsync", calendar=local, remote_calendar_id=str(other.pk)
    )
    return {"integration": integration.pk}


def measure(case: str, n: int, integration_id: int) -> dict[str, float]:
    from django.db import connection

    from events.models import Calendar, Event
    from integrations.models import Integration
    from sync.engine import Settings, sync
    from sync.local import CalsyncSide
    from sync.store import DbStatusStore

    integration = Integration.objects.select_related("calendar").get(pk=integration_id)
    local = CalsyncSide(integration.calendar)
    other = CalsyncSide(Calendar.objects.get(pk=int(integration.remote_calendar_id)))
    remote = GeneratedSide(n) if case == "stream -> calsync" else other
    store, report, queries = DbStatusStore(integration), CountingReport(), QueryCounter()
    before = _rss_kb()
    with connection.execute_wrapper(queries):
        began = time.perf_counter()
        sync(local, remote, store, Settings(), report)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    copied = Event.objects.filter(calendar=integration.calendar, parent=None).count()
    assert copied == n and report.writes == n and not report.other, (copied, report.writes, report.other)
    left = list(local.changes(store.local_cursor, known=lambda pairs: store.known(local_side(), pairs)).changed)
    assert left == [], "the first sync left its echo for the next run"
    return {"seconds": elapsed, "queries": queries.count, "peak_kb": peak, "before_kb": before}


def local_side():  # type: ignore[no-untyped-def]
    from sync.engine import Side

    return Side.LOCAL


def child(step: str, case: str, n: int, argument: int) -> None:
    django_for_bench("sync_memory")
    result = fill(case, n) if step == "fill" else measure(case, n, argument)
    print(json.dumps(result))


def run_child(*args: object) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        step, case, n, argument = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        child(step, case, n, argument)
        return
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 50_000]
    django_for_bench("sync_memory")  # a fresh SQLite file (unless DATABASE_URL is set), migrated, for the children
    from django.db import connection

    print(f"First sync, echo pass included; each a whole child process (database: {connection.vendor}); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    print(f"  {'case':<20} {'events':>7} {'peak':>9} {'sync adds':>10} {'per event':>10} {'time':>9} {'queries':>8}")
    for case in CASES:
        for n in sizes:
            integration = run_child("fill", case, n, 0)["integration"]
            got = run_child("measure", case, n, integration)
            added = got["peak_kb"] - got["before_kb"]
            print(f"  {case:<20} {n:>7} {got['peak_kb'] / 1024:>7.0f} MB {added / 1024:>7.0f} MB "
                  f"{added * 1024 / n:>8.0f} B {got['seconds']:>8.1f} s {got['queries']:>8}")  # fmt: skip


if __name__ == "__main__":
    main()
