#!/usr/bin/env python
"""Issue 18's benchmark: preview and undo of a 10,000-event calendar against its first sync (time, HTTP requests,
database queries), then the health board of an organisation of 5,000 users with 15,000 integrations
(bench/operability_health.py: queries and time per page).

    .venv/bin/python bench/operability.py                               # SQLite, 10,000 events
    .venv/bin/python bench/operability.py --size 2000 --users 1000      # smaller
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/operability.py   # a fresh database

Everything goes through the real service path: a Google integration against the project's Google emulator
(its batch endpoint: 50 requests in one HTTP round trip), calsync's own calendar in the database, runs executed by
sync.services.sync_execute, undos asked for by sync.undo.undo_request. Warm, in one process: the emulator, the
HTTP connection and the access token are reused from run to run (the first preview, first of all, is the cold one).
"HTTP" counts the requests that reached the emulator; "queries" the database's. calsync's Google quotas (600
requests a minute per user, Google's default) are lifted here: writing 10,000 events to Google takes 17 minutes at
that pace whatever calsync does, and an undo, like a sync, then ends "retrying" and goes on at its next attempt.

Phases: a preview of the first sync, cold then warm; the first sync, provider -> calsync, with
the run that reads its echo back; the provider emptied and a run allowed to delete all of it in calsync, then the
undo of that run (everything back on both sides) and the sync that reads its echo; the provider emptied again, the
safety stop, and the undo that puts everything back at the provider, with the sync that reads its echo.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import QueryCounter, django_for_bench
from google_bench import configure, integration_for, start


@dataclass
class Figure:
    seconds: float
    requests: int
    queries: int

    def __add__(self, other: Figure) -> Figure:
        return Figure(self.seconds + other.seconds, self.requests + other.requests, self.queries + other.queries)


class Bench:
    def __init__(self, size: int) -> None:
        self.app, self.traffic, base = start()
        configure(base)
        self.integration = integration_for(self.app, "operability", size)
        self.size = size

    def measure(self, work: Callable[[], Any]) -> tuple[Any, Figure]:
        from django.db import connection

        queries, requests = QueryCounter(), self.traffic.requests
        with connection.execute_wrapper(queries):
            started = time.perf_counter()
            result = work()
            elapsed = time.perf_counter() - started
        return result, Figure(elapsed, self.traffic.requests - requests, queries.count)

    def sync(self, expect: str = "success") -> tuple[Any, Figure]:
        from sync import services

        def run() -> Any:
            asked = services.sync_request(integration=self.integration, trigger="manual")
            return services.sync_execute(run_id=asked.pk)

        run, figure = self.measure(run)
        assert run.status == expect, (run.status, run.error)
        return run, figure

    def undo(self, of: Any) -> Figure:
        from sync import services
        from sync.undo import undo_request

        self.integration.refresh_from_db()
        undo, figure = self.measure(
            lambda: services.sync_execute(run_id=undo_request(integration=self.integration, run=of, options={}).pk)
        )
        assert undo.status == "success", (undo.status, undo.error)
        return figure

    def empty_provider(self) -> None:
        """Every event deleted at Google, as a user deleting in bulk would (not a request calsync makes)."""
        email = self.integration.remote_calendar_id
        calendar = self.app.state.calendars[email]
        for event_id, event in list(calendar.events.items()):
            if "recurringEventId" not in event and event.get("status") != "cancelled":
                self.app.state.delete(email, email, event_id, None)

    def counts(self) -> tuple[int, int]:
        from events.models import Event

        email = self.integration.remote_calendar_id
        at_google = sum(
            "recurringEventId" not in e and e.get("status") != "cancelled"
            for e in self.app.state.calendars[email].events.values()
        )
        return Event.objects.filter(calendar=self.integration.calendar, parent=None).count(), at_google


def preview(bench: Bench) -> Figure:
    """The first sync's preview, as the task makes it (sync.previews.preview_execute on a SyncPreview row)."""
    from sync.models import SyncPreview
    from sync.previews import preview_execute

    row = SyncPreview.objects.create(
        tenant_id=bench.integration.tenant_id, integration=bench.integration, reason=SyncPreview.Reason.FIRST
    )
    _, figure = bench.measure(lambda: preview_execute(preview_id=row.pk))
    row.refresh_from_db()
    assert row.status == SyncPreview.Status.READY, (row.status, row.error)
    return figure


def scenario(size: int) -> None:
    from django.db import connection

    bench = Bench(size)
    figures: dict[str, Figure] = {}
    # Cold and warm apart: the first preview opens the emulator's connection and token; the second reuses them.
    figures["preview of the first sync (cold)"] = preview(bench)
    figures["preview of the first sync (warm)"] = preview(bench)
    _, first = bench.sync()
    _, echo = bench.sync()
    figures["first sync (+ its echo run)"] = first + echo
    assert bench.counts() == (size, size)

    bench.empty_provider()
    bench.integration.allow_mass_delete = True
    bench.integration.save(update_fields=["allow_mass_delete"])
    deleting, figures["run deleting all in calsync"] = bench.sync()
    assert bench.counts() == (0, 0)
    undone = bench.undo(deleting)
    _, echo = bench.sync()
    figures["its undo (+ echo run)"] = undone + echo
    assert bench.counts() == (size, size)

    bench.empty_provider()
    stopped, figures["safety stop (provider emptied)"] = bench.sync(expect="stopped")
    undone = bench.undo(stopped)
    _, echo = bench.sync()
    figures["its undo at the provider (+ echo run)"] = undone + echo
    assert bench.counts() == (size, size)

    print(f"{connection.vendor}: {size:,} events, Google emulator <-> calsync; warm, one process")
    print(f"  {'':<40} {'seconds':>8} {'HTTP':>7} {'queries':>8} {'time/first':>11} {'HTTP/first':>11}")
    base = figures["first sync (+ its echo run)"]
    for name, figure in figures.items():
        print(f"  {name:<40} {figure.seconds:>8.2f} {figure.requests:>7,} {figure.queries:>8,} "
              f"{figure.seconds / base.seconds:>11.2f} {figure.requests / max(base.requests, 1):>11.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, help="events in the calendar (default 10,000)")
    parser.add_argument("--users", type=int, default=5000, help="health board: users (default 5,000)")
    parser.add_argument("--per-user", type=int, default=3, help="health board: integrations per user (default 3)")
    args = parser.parse_args()
    for quota in ("GOOGLE_QUOTA_PER_USER_PER_MINUTE", "GOOGLE_QUOTA_PER_PROJECT_PER_MINUTE"):
        os.environ.setdefault(quota, "10000000")
    django_for_bench("operability")
    started = time.perf_counter()
    scenario(args.size)
    print(f"  (undo scenario in {time.perf_counter() - started:.0f} s)\n")
    import operability_health

    operability_health.main(args.users, args.per_user)


if __name__ == "__main__":
    main()
