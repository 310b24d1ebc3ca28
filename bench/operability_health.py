#!/usr/bin/env python
"""The health board for an organisation of 5,000 users with 15,000 integrations: queries and time per page.

    .venv/bin/python bench/operability_health.py               # 5,000 users, 3 integrations each
    .venv/bin/python bench/operability_health.py 20000 3        # other sizes: users, integrations per user

Bulk-creates one organisation (a status mix: most working, some needing reconnecting, stopped, failing,
waiting, paused; some items not synced), then times the board page as an admin opens it (the first page, a
middle page, filtered by status, searched by name) and `manage.py health --json`, each warm, best of 3.
Uses a throwaway SQLite database under var/bench unless DATABASE_URL is set (PostgreSQL: a fresh database).
bench/operability.py calls main() after its undo figures.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import QueryCounter, django_for_bench

django_for_bench("operability_health")

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.models import Tenant, User  # noqa: E402
from events.models import Calendar  # noqa: E402
from integrations.models import Integration  # noqa: E402
from operations.health import USERS_PER_PAGE  # noqa: E402
from sync.models import UnsyncedItem  # noqa: E402

PROVIDERS = ("google", "microsoft", "caldav")
# Every 20th integration has a problem or a pause, in turn; the rest work.
MIX = ({"status": "needs_reauth"}, {"status": "stopped"}, {"status": "error"}, {"awaiting_confirmation": True},
       {"sync_enabled": False})  # fmt: skip


def populate(users: int, per_user: int) -> User:
    if Tenant.objects.filter(slug="bench-health").exists():
        raise SystemExit("This database holds a previous run's organisation: give the bench a fresh one.")
    tenant = Tenant.objects.create(slug="bench-health", name="Bench Health")
    admin = User.objects.create(tenant=tenant, email="admin@bench.test", username="admin@bench.test", role="admin")
    people = User.objects.bulk_create(
        (User(tenant=tenant, email=f"u{k:05}@bench.test", username=f"u{k:05}@bench.test", first_name=f"User{k}")
         for k in range(users)), batch_size=2000)  # fmt: skip
    calendars = Calendar.objects.bulk_create(
        (Calendar(tenant=tenant, owner=u, name=f"Work {j}") for u in people for j in range(per_user)), batch_size=2000
    )
    integrations = Integration.objects.bulk_create(
        (Integration(tenant=tenant, user=c.owner, calendar=c, provider=PROVIDERS[k % 3], remote_calendar_id=f"r{k}",
                     remote_calendar_name=f"Remote {k}", last_error="x" * 200 if k % 20 < 5 else "",
                     **(MIX[k % 20] if k % 20 < 5 else {}))
         for k, c in enumerate(calendars)), batch_size=2000)  # fmt: skip
    UnsyncedItem.objects.bulk_create(
        (UnsyncedItem(integration=i, side="remote", uid=f"u{n}", reason="too big")
         for i in integrations[::7] for n in range(3)), batch_size=2000)  # fmt: skip
    with connection.cursor() as cursor:  # fresh statistics, as autovacuum would have gathered by now
        cursor.execute("ANALYZE")
    return admin


def measure(label: str, run) -> None:  # type: ignore[no-untyped-def]
    counter, best = QueryCounter(), float("inf")
    for _ in range(3):
        counter.count = 0
        with connection.execute_wrapper(counter):
            started = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - started)
    print(f"{label:<44} {counter.count:>6} queries {best * 1000:>9.1f} ms")


def main(users: int = 5000, per_user: int = 3) -> None:
    started = time.perf_counter()
    admin = populate(users, per_user)
    print(f"{connection.vendor}: {users:,} users, {users * per_user:,} integrations, "
          f"populated in {time.perf_counter() - started:.1f} s")  # fmt: skip
    setup_test_environment()
    client = Client()
    client.force_login(admin)
    board = reverse("operations:health")
    pages = users // USERS_PER_PAGE + 1

    def page(query: dict[str, str]):  # type: ignore[no-untyped-def]
        def get() -> None:
            response = client.get(board, query)
            assert response.status_code == 200, response.status_code

        return get

    measure("board, first page", page({}))
    measure(f"board, middle page ({pages // 2} of {pages})", page({"page": str(pages // 2)}))
    measure("board, needs reconnecting", page({"status": "needs_reconnecting"}))
    measure("board, Microsoft, page 2", page({"provider": "microsoft", "page": "2"}))
    measure("board, searched by name", page({"search": "user123"}))
    measure("board, users without integration", page({"status": "none"}))
    measure("manage.py health --json (every user)",
            lambda: call_command("health", "--tenant", "bench-health", "--json", stdout=io.StringIO()))  # fmt: skip


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
