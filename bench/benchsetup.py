"""Django for a benchmark: a throwaway SQLite database under var/bench unless DATABASE_URL is set."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def django_for_bench(name: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")
    if "DATABASE_URL" not in os.environ:
        folder = ROOT / "var" / "bench"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.sqlite3").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{folder / f'{name}.sqlite3'}"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class QueryCounter:
    """A database execute wrapper that counts queries (connection.execute_wrapper(counter))."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        self.count += 1
        return execute(sql, params, many, context)


class RequestCounter:
    """WSGI middleware in front of an emulator: how many HTTP requests reached it."""

    def __init__(self, app: Any) -> None:
        self.app, self.count = app, 0

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        self.count += 1
        return self.app(environ, start_response)


def sync_phase(label: str, integration: Any, requests: RequestCounter) -> None:
    """One run of the real sync service; prints wall time, HTTP requests, database queries and writes."""
    import time

    from django.db import connection

    from sync import services as sync_services

    queries = QueryCounter()
    before = requests.count
    with connection.execute_wrapper(queries):
        started = time.perf_counter()
        run = sync_services.sync_execute(
            run_id=sync_services.sync_request(integration=integration, trigger="manual").pk
        )
        elapsed = time.perf_counter() - started
    assert run.status == "success", run.error
    writes = sum(sum(side.values()) for side in run.counts.values())
    print(f"  {label:<24} {elapsed * 1000:>10.1f} ms {requests.count - before:>7} HTTP requests "
          f"{queries.count:>8} queries {writes:>7} writes")  # fmt: skip
