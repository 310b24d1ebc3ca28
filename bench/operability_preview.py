#!/usr/bin/env python
"""Preview of a first sync against the initial sync itself: a 10,000-event Google calendar (the project's emulator,
the real client libraries) into an empty calsync calendar. Time, HTTP requests and database queries of the preview
(cold: the first look at the calendar in this process; warm: the same preview again) and of the first sync that
confirming it starts (with the pass that reads its echo back).

    .venv/bin/python bench/operability_preview.py            # 10,000 events, SQLite
    .venv/bin/python bench/operability_preview.py 2000       # another size
    DATABASE_URL=postgres://... .venv/bin/python bench/operability_preview.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DEBUG", "false")
# Three full readings of one account within a minute: calsync's own per-user quota would hold the later ones back,
# and this measures the work, not the wait.
os.environ.setdefault("GOOGLE_QUOTA_PER_USER_PER_MINUTE", "100000")
from benchsetup import QueryCounter, django_for_bench


def _measured(label: str, traffic: Any, work: Any) -> Any:
    from django.db import connection

    queries, before = QueryCounter(), traffic.requests
    with connection.execute_wrapper(queries):
        started = time.perf_counter()
        result = work()
        elapsed = time.perf_counter() - started
    print(f"  {label:<28} {elapsed:>8.2f} s {traffic.requests - before:>7} HTTP requests {queries.count:>8} queries")
    return result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    django_for_bench("operability_preview")
    import google_bench

    from sync import services as sync_services
    from sync.preview import preview_compute

    app, traffic, base = google_bench.start()
    google_bench.configure(base)
    integration = google_bench.integration_for(app, "preview", n)
    print(f"Preview vs first sync, {n:,} events in Google into an empty calsync calendar")
    for label in ("preview (cold)", "preview (warm)"):
        outcome = _measured(label, traffic, lambda: preview_compute(integration=integration, reason="first"))
    run = sync_services.sync_request(integration=integration, trigger="first", queue=False)
    run = _measured("first sync (after it)", traffic, lambda: sync_services.sync_execute(run_id=run.pk))
    assert run.status == "success", run.error
    same = {k: v for k, v in run.counts.items()} == outcome.counts
    print(f"  preview said {outcome.counts}; the sync did {run.counts} ({'equal' if same else 'DIFFERENT'})")


if __name__ == "__main__":
    main()
