"""How long "Synchronize now" takes to answer when the task queue cannot be reached.

    python bench/queue_outage_bench.py

Two brokers that are down: nothing listens on the port (refused at once), and one that accepts the
connection and never answers (a hung Redis, a half-open route): without the broker's socket timeouts in
settings that one hangs the request for good (killed after 25 s when tried). Each scenario runs in a
process of its own; prints seconds per request.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

from benchsetup import ROOT, django_for_bench

REPEATS = 3


def _silent_listener() -> int:
    """A port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(50)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(server.accept()[0]) for _ in iter(int, 1)], daemon=True).start()
    return server.getsockname()[1]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def measure(label: str) -> None:
    django_for_bench("queue_outage")
    from accounts.services import tenant_create, user_create
    from events.services import calendar_create
    from integrations.models import Integration
    from sync.errors import QueueUnavailable
    from sync.services import sync_request_manual

    tenant = tenant_create(slug="bench-queue", name="Bench")
    user = user_create(tenant=tenant, email="bench@calsync.test", password="a bench passphrase 42")
    here, there = calendar_create(owner=user, name="Here"), calendar_create(owner=user, name="There")
    integration = Integration.objects.create(
        tenant=tenant, user=user, provider="calsync", calendar=here, remote_calendar_id=str(there.pk)
    )
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        try:
            sync_request_manual(integration=integration)
            outcome = "queued (the broker answered?)"
        except QueueUnavailable:
            outcome = "refused: 'Could not reach the task queue'"
        times.append(time.perf_counter() - started)
    print(f"{label:<44} {min(times):6.2f} s .. {max(times):6.2f} s   {outcome}")


def main() -> None:
    if len(sys.argv) == 2:
        measure(sys.argv[1])
        return
    print(f"'Synchronize now' with the broker down, {REPEATS} requests each")
    for label, port in (("nothing listening on the broker's port", _closed_port()),
                        ("a broker that accepts and never answers", _silent_listener())):  # fmt: skip
        env = {**os.environ, "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0", "CELERY_TASK_ALWAYS_EAGER": "false"}
        subprocess.run([sys.executable, __file__, label], cwd=ROOT, env=env, check=True)


if __name__ == "__main__":
    main()
