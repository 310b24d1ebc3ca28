#!/usr/bin/env python
"""Dispatch at scale, and the cost of a sync with nothing to do.

    .venv/bin/python bench/dispatch.py                    # 10,000 due among 1,000,000 integrations
    .venv/bin/python bench/dispatch.py 100000 1000        # other sizes: integrations, due

1. Dispatch: the due integrations among all of them (1,000 tenants; one in 7 of the others manual or paused),
   queued for real on the configured broker (Redis when REDIS_URL is set), under a private prefix that is
   emptied afterwards. New (sync.dispatch: batches claimed by one UPDATE ... RETURNING each, queued through one
   producer per batch) and old (as dispatch_due was: one by one, a run row each, at most 1,000 a call) side by
   side on the same rows, both in this process, warm.
2. Queueing 10,000 sync tasks: one publish per message, and publish_many through one producer.
3. A sync with nothing to do, calsync to calsync and Google (emulator) to calsync: queries and writes of a
   scheduled sync (no run row) beside those of a run with a row (as every scheduled sync was before).

Uses a throwaway SQLite database under var/bench unless DATABASE_URL is set (PostgreSQL: give it a fresh
database of its own, e.g. `dropdb bench_dispatch; createdb bench_dispatch`: it adds a million rows).
"""

from __future__ import annotations

import os
import re
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import django_for_bench

django_for_bench("dispatch")

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from calsync.celery import app  # noqa: E402
from calsync.queue import SYNC_POLLED, SYNC_QUEUES, publish, publish_many  # noqa: E402
from integrations.models import Integration  # noqa: E402
from sync import dispatch, services  # noqa: E402
from sync.models import SyncRun  # noqa: E402

TENANTS = 1000
# A statement that writes, alone or after a WITH clause (the PostgreSQL claim is WITH ... UPDATE ... RETURNING).
WRITE = re.compile(r"^\s*(WITH\b.*\)\s*)?(INSERT|UPDATE|DELETE)\b", re.IGNORECASE | re.DOTALL)


class Counted:
    """Queries and writes through the connection while installed (connection.execute_wrapper)."""

    def __init__(self) -> None:
        self.queries = self.writes = 0

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.queries += 1
        self.writes += bool(WRITE.match(sql))
        return execute(sql, params, many, context)


def measured(work: Callable[[], Any]) -> tuple[Any, float, Counted]:
    counted = Counted()
    with connection.execute_wrapper(counted):
        started = time.perf_counter()
        result = work()
        elapsed = time.perf_counter() - started
    return result, elapsed, counted


def purge(prefix: str) -> None:
    with app.connection_for_write() as conn:
        for name in SYNC_QUEUES:
            conn.SimpleQueue(prefix + name).clear()


# --- 1. dispatch ----------------------------------------------------------------------------------------

_FILL = """
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < %(total)s)
    INSERT INTO integrations_integration (tenant_id, user_id, provider, calendar_id, remote_calendar_id,
        remote_calendar_name, config, credentials_encrypted, sync_enabled, direction, "primary", automatic,
        error_email, local_cursor, remote_cursor, next_sync_at, lock_token, status, last_error, notified_problem,
        allow_mass_delete, push_channel, push_pending, last_synced_at, quiet_syncs, created_at)
    SELECT owner.tenant_id, owner.user_id, 'calsync', owner.calendar_id, 'bench-' || n.i, '', '{}', '',
        CASE WHEN n.i %% %(step)s = 0 OR n.i %% 7 <> 3 THEN %(yes)s ELSE %(no)s END, 'both', 'calsync',
        CASE WHEN n.i %% %(step)s = 0 OR n.i %% 7 <> 5 THEN %(yes)s ELSE %(no)s END,
        '', '', '', CASE WHEN n.i %% %(step)s = 0 THEN %(due)s ELSE %(later)s END, '', 'ok', '', '',
        %(no)s, '', %(no)s, NULL, 0, %(now)s
    FROM n JOIN bench_owner AS owner ON owner.k = n.i %% %(tenants)s
"""


def fill(total: int, due: int) -> None:
    """`total` integrations across TENANTS tenants, `due` of them due now, in one INSERT ... SELECT."""
    from accounts.models import Tenant, User
    from events.models import Calendar

    if Integration.objects.filter(remote_calendar_id__startswith="bench-").exists():
        raise SystemExit("This database holds a previous run's integrations: give the bench a fresh one.")
    run = uuid.uuid4().hex[:6]
    tenants = Tenant.objects.bulk_create(Tenant(slug=f"b{run}-{k}", name=f"Bench {k}") for k in range(TENANTS))
    users = User.objects.bulk_create(
        User(tenant=t, email=f"u{k}@b{run}.test", username=f"u{k}-{run}") for k, t in enumerate(tenants)
    )
    calendars = Calendar.objects.bulk_create(
        Calendar(tenant=t, owner=u, name="Bench") for t, u in zip(tenants, users, strict=True)
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_owner")
        cursor.execute("CREATE TABLE bench_owner (k integer, tenant_id bigint, user_id bigint, calendar_id bigint)")
        cursor.executemany(
            "INSERT INTO bench_owner VALUES (%s, %s, %s, %s)",
            [(k, t.pk, u.pk, c.pk) for k, (t, u, c) in enumerate(zip(tenants, users, calendars, strict=True))],
        )
        params = {"total": total, "step": total // due, "tenants": TENANTS, "yes": True, "no": False,
                  "due": now - timedelta(minutes=1), "later": now + timedelta(minutes=4), "now": now}  # fmt: skip
        started = time.perf_counter()
        cursor.execute(_FILL, params)
        cursor.execute("ANALYZE")
    print(f"filled {total:,} integrations ({due:,} due, {TENANTS:,} tenants) in {time.perf_counter() - started:.1f} s")


def old_dispatch_due(*, now: Any, limit: int = 1000) -> int:
    """dispatch_due as it was before sync.dispatch (commit 2977ae3), for the side-by-side figure."""
    interval = timedelta(seconds=settings.SYNC_INTERVAL_SECONDS)
    due = Integration.objects.filter(
        sync_enabled=True, automatic=True, next_sync_at__isnull=False, next_sync_at__lte=now
    ).order_by("next_sync_at")
    queued = 0
    for integration in due[:limit]:
        claimed = Integration.objects.filter(pk=integration.pk, next_sync_at__lte=now).update(
            next_sync_at=now + interval
        )
        if not claimed:
            continue
        services.sync_request(integration=integration, trigger=SyncRun.Trigger.AUTOMATIC)
        queued += 1
    return queued


def bench_dispatch(total: int, due: int, prefix: str) -> None:
    fill(total, due)
    due_ids = list(
        Integration.objects.filter(remote_calendar_id__startswith="bench-", next_sync_at__lte=timezone.now())
        .filter(sync_enabled=True, automatic=True)
        .values_list("pk", flat=True)
    )
    print(f"\nDispatch of {len(due_ids):,} due among {total:,} ({connection.vendor}, broker {_broker()})")
    print(f"  {'':<46} {'queued':>8} {'time':>10} {'queries':>8} {'writes':>7}")
    now = timezone.now()
    queued, elapsed, counted = measured(lambda: dispatch.dispatch_due(now=now))
    _row("new: batches of SYNC_DISPATCH_BATCH, by turns", queued, elapsed, counted)
    purge(prefix)
    Integration.objects.filter(pk__in=due_ids).update(next_sync_at=now - timedelta(minutes=1))
    queued, elapsed, counted = measured(lambda: dispatch.due_claim(now=now, limit=len(due_ids)))
    _row("new, claim only, all in one batch", len(queued), elapsed, counted)
    Integration.objects.filter(pk__in=due_ids).update(next_sync_at=now - timedelta(minutes=1))
    queued, elapsed, counted = measured(lambda: old_dispatch_due(now=now))
    _row("old: one by one, a run row each (1,000 a call)", queued, elapsed, counted)
    print(f"  (old: {len(due_ids) - queued:,} left for later minutes, one call a minute)")
    purge(prefix)
    SyncRun.objects.filter(integration_id__in=due_ids).delete()


def _row(label: str, queued: int, elapsed: float, counted: Counted) -> None:
    print(f"  {label:<46} {queued:>8,} {elapsed * 1000:>8.0f} ms {counted.queries:>8,} {counted.writes:>7,}")


def _broker() -> str:
    return settings.CELERY_BROKER_URL.split("://", 1)[0]


# --- 2. queueing ----------------------------------------------------------------------------------------


def bench_publish(n: int, prefix: str) -> None:
    from sync.tasks import sync_scheduled

    print(f"\nQueueing {n:,} sync tasks ({_broker()})")
    started = time.perf_counter()
    for pk in range(n):
        publish(sync_scheduled, pk, "automatic", queue=SYNC_POLLED)
    one_by_one = time.perf_counter() - started
    purge(prefix)
    started = time.perf_counter()
    publish_many(sync_scheduled, ((pk, "automatic") for pk in range(n)), queue=SYNC_POLLED)
    batched = time.perf_counter() - started
    purge(prefix)
    print(f"  one publish per message   {one_by_one * 1000:>8.0f} ms")
    print(f"  publish_many, 1 producer  {batched * 1000:>8.0f} ms   ({one_by_one / batched:.2f}x faster)")


# --- 3. a sync with nothing to do -----------------------------------------------------------------------


def calsync_pair() -> Integration:
    from accounts.services import tenant_create, user_create
    from events.services import calendar_create, item_save
    from integrations.services import integration_create
    from tests.sync.items import event  # the suite's item builder

    tenant = tenant_create(slug=f"noop-{uuid.uuid4().hex[:6]}", name="No-op")
    user = user_create(tenant=tenant, email=f"noop-{tenant.slug}@calsync.test", password="a bench passphrase 42")
    calendar, other = calendar_create(owner=user, name="Work"), calendar_create(owner=user, name="Home")
    for i in range(200):
        item_save(calendar=calendar, item=event(f"e{i}@bench", f"Event {i}"))
    return integration_create(user=user, provider="calsync", calendar=calendar, remote_calendar_id=str(other.pk),
                              remote_calendar_name="Home")  # fmt: skip


def google_pair() -> Integration:
    """A Google integration of 200 events on the emulator, set up as bench/google_bench.py sets its own."""
    from google_bench import configure, integration_for, start

    emulator, _, base = start()
    configure(base)
    return integration_for(emulator, "noop", 200)


def bench_quiet(label: str, integration: Integration) -> None:
    for _ in range(2):  # the first sync, and the one that reads back its own writes (if any)
        services.sync_execute(run_id=services.sync_request(integration=integration, trigger="manual").pk)
    runs = SyncRun.objects.filter(integration=integration).count()

    def with_row() -> None:
        run = services.sync_request(integration=integration, trigger="automatic")  # what the dispatcher did
        services.sync_execute(run_id=run.pk)

    _, before_s, before = measured(with_row)
    _, after_s, after = measured(lambda: services.sync_scheduled(integration_id=integration.pk, trigger="automatic"))
    left = SyncRun.objects.filter(integration=integration).count() - runs - 1
    print(f"  {label:<22} with a run row: {before.queries:>3} queries, {before.writes:>2} writes "
          f"({before_s * 1000:>5.1f} ms)   scheduled, no row: {after.queries:>3} queries, {after.writes:>2} writes "
          f"({after_s * 1000:>5.1f} ms), {left} run rows left")  # fmt: skip


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    due = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    prefix = f"bench-{uuid.uuid4().hex[:6]}."
    app.conf.task_always_eager = False
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with override_settings(CELERY_QUEUE_PREFIX=prefix):
        try:
            bench_dispatch(total, due, prefix)
            bench_publish(due, prefix)
        finally:
            purge(prefix)
    app.conf.task_always_eager = True  # the no-op syncs below run in this process
    print("\nA sync with nothing to do (200 events)")
    bench_quiet("calsync to calsync", calsync_pair())
    bench_quiet("Google (emulator)", google_pair())
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
