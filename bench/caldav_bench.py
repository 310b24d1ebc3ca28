#!/usr/bin/env python
"""calsync's CalDAV sync against a real Radicale server, side by side with vdirsyncer on the same calendar.

    .venv/bin/python bench/caldav_bench.py          # 5,000 events
    .venv/bin/python bench/caldav_bench.py 1000

Both sync the same Radicale calendar two ways: calsync into a calsync calendar,
vdirsyncer into a local folder. Phases: initial sync, no-op sync, 1% changed on
the server. Prints wall time, HTTP requests (calsync) and the ratio.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import django_for_bench

django_for_bench("caldav")

import niquests  # noqa: E402
from sync_bench import make_items  # noqa: E402

from events.ical import serialise  # noqa: E402
from integrations.caldav.adapter import CalDAVSide  # noqa: E402
from integrations.caldav.client import CalDAVClient  # noqa: E402
from sync.engine import Settings, sync  # noqa: E402
from sync.local import CalsyncSide  # noqa: E402
from sync.memory import ListReport  # noqa: E402
from tests.caldav_servers import start_radicale  # noqa: E402


class CountingClient(CalDAVClient):
    requests = 0

    def request(self, method, url, body=b"", headers=None):  # type: ignore[no-untyped-def]
        CountingClient.requests += 1
        return super().request(method, url, body, headers)


def fill(server, url: str, items) -> None:  # type: ignore[no-untyped-def]
    with niquests.Session() as session:
        session.trust_env = False
        for item in items:
            response = session.put(f"{url}{item.uid}.ics", data=serialise([item]).encode(),
                                   auth=(server.username, server.password),
                                   headers={"Content-Type": "text/calendar"}, timeout=30)  # fmt: skip
            assert response.status_code in (201, 204), response.status_code


def vdirsyncer_config(folder: Path, server, url: str) -> Path:  # type: ignore[no-untyped-def]
    config = folder / "config"
    config.write_text(f"""[general]
status_path = "{folder / "status"}"

[pair bench]
a = "server"
b = "local"
collections = null
conflict_resolution = "a wins"

[storage server]
type = "caldav"
url = "{url}"
username = "{server.username}"
password = "{server.password}"

[storage local]
type = "filesystem"
path = "{folder / "events"}"
fileext = ".ics"
""")
    (folder / "events").mkdir()
    return config


def vdirsyncer(config: Path, *args: str) -> float:
    began = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "vdirsyncer"), "-c", str(config), *args],
                   check=True, capture_output=True, env={**os.environ, "REQUESTS_CA_BUNDLE": ""})  # fmt: skip
    return time.perf_counter() - began


def calsync_run(local, remote, store) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    CountingClient.requests = 0
    began = time.perf_counter()
    sync(local, remote, store, Settings(), ListReport())
    return time.perf_counter() - began, CountingClient.requests


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    from accounts.services import tenant_create, user_create
    from events.services import calendar_create
    from integrations.models import Integration
    from sync.store import DbStatusStore

    server, _ = start_radicale()
    url = server.new_calendar("Bench")
    items = make_items(n)
    print(f"Filling Radicale with {n} events...", flush=True)
    fill(server, url, items)

    tenant = tenant_create(slug="caldav-bench", name="Bench")
    user = user_create(tenant=tenant, email="caldav-bench@calsync.test", password="a bench passphrase 42")
    calendar = calendar_create(owner=user, name="Bench")
    integration = Integration.objects.create(tenant=tenant, user=user, provider="caldav", calendar=calendar,
                                             remote_calendar_id=url)  # fmt: skip
    local = CalsyncSide(calendar)
    remote = CalDAVSide(CountingClient(server.base_url, server.username, server.password), url)
    store = DbStatusStore(integration)
    folder = Path(tempfile.mkdtemp(prefix="vdirsyncer-"))
    config = vdirsyncer_config(folder, server, url)
    vdirsyncer(config, "discover")

    results = []
    for phase in ("initial", "no-op", "1% changed"):
        if phase == "1% changed":
            fill(
                server,
                url,
                [replace(i, master=replace(i.master, summary=i.master.summary + " *")) for i in items[::100]],
            )
        seconds, requests = calsync_run(local, remote, store)
        if phase == "initial":
            calsync_run(local, remote, store)  # reads nothing back from Radicale: only its own writes in calsync
        other = vdirsyncer(config, "sync")
        results.append((phase, seconds, requests, other))

    print(f"\n{n} events on Radicale {server.base_url}, two-way")
    print(f"  {'phase':<12} {'calsync':>10} {'requests':>9} {'vdirsyncer':>11} {'calsync/vdirsyncer':>19}")
    for phase, seconds, requests, other in results:
        print(f"  {phase:<12} {seconds:>9.2f}s {requests:>9} {other:>10.2f}s {seconds / other:>18.2f}x")


if __name__ == "__main__":
    main()
