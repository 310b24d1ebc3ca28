#!/usr/bin/env python
"""calsync's CalDAV client side by side with vdirsyncer: both as whole processes, on the same server.

    .venv/bin/python bench/caldav_bench.py                      # 1,000 and 5,000 events on Radicale
    .venv/bin/python bench/caldav_bench.py 200 --server xandikos
    DATABASE_URL=postgres://... .venv/bin/python bench/caldav_bench.py 5000

Each run is a new process: calsync as an operator runs it (`manage.py sync_now --inline`: the real sync service,
run log and all), vdirsyncer as `vdirsyncer sync`. This process only serves the CalDAV server (in a thread) and
times the children; peak memory is each child's own maximum RSS (GNU time). The two sync two calendars holding
the same events on the one server, so each reads its first sync from a calendar the server has never listed
(cold); after the no-op and 1%-changed runs, both do their first sync again from scratch against the calendars
the server now has warm. calsync's first sync includes the run that reads back its own writes (the echo run).
Requests are counted at the server (Radicale only).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import ROOT, django_for_bench


def child(integration_id: int) -> None:
    """One sync as a worker runs it (sync_now --inline without the command's URL and system checks), in a fresh
    process: Django, then the sync service."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")
    import django

    django.setup()
    from integrations.caldav.provider import build_side  # noqa: F401  (the untimed first child compiles it)
    from integrations.models import Integration
    from sync.services import sync_execute, sync_request_manual

    if not integration_id:
        return
    run = sync_request_manual(integration=Integration.objects.get(pk=integration_id), queue=False)
    if not run.finished:
        run = sync_execute(run_id=run.pk)
    if run.status != "success":
        sys.exit(f"The sync ended {run.status}: {run.error}")


def profiled(function: Any, integration_id: int) -> None:
    """With CALDAV_BENCH_PROFILE=<folder>, each timed child leaves its cProfile statistics there (start-up
    included), one file per run in order: `python -m pstats <file>` reads them."""
    folder = os.environ.get("CALDAV_BENCH_PROFILE")
    if not folder or not integration_id:
        function(integration_id)
        return
    import cProfile

    Path(folder).mkdir(parents=True, exist_ok=True)
    number = len(list(Path(folder).glob("*.prof")))
    cProfile.runctx("function(integration_id)", globals(), locals(), f"{folder}/{number:02d}-{integration_id}.prof")


@dataclass
class Child:
    seconds: float
    cpu: float  # the child's own user + system time: what the machine's other load changes least
    peak_mb: float
    requests: int | None

    def __add__(self, other: Child) -> Child:
        requests = None if self.requests is None or other.requests is None else self.requests + other.requests
        return Child(self.seconds + other.seconds, self.cpu + other.cpu, max(self.peak_mb, other.peak_mb), requests)


class RequestCount(logging.Handler):
    """Radicale logs each request it receives once, at INFO: counting those counts what reached the server."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += " request for " in record.getMessage()


COUNTER = RequestCount()


def run_child(command: list[str], counted: bool) -> Child:
    """One whole process: its wall time, its own CPU time and peak RSS, and the requests it made. GNU time starts
    it and reads its rusage: the figures of a child forked from this process would start from this process's
    size (Linux carries the peak across exec)."""
    before = COUNTER.count
    with tempfile.NamedTemporaryFile("r") as usage, tempfile.TemporaryFile() as output:
        began = time.perf_counter()
        # In this checkout's folder: something in start-up puts the working directory first on sys.path, and a
        # child started elsewhere (another checkout) would import that one's code.
        done = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", usage.name, *command], stdout=output,
                              stderr=subprocess.STDOUT, env=_child_env(), cwd=ROOT)  # fmt: skip
        seconds = time.perf_counter() - began
        if done.returncode:
            output.seek(0)
            sys.exit(f"{' '.join(command[:3])} failed:\n{output.read().decode(errors='replace')[-3000:]}")
        peak_kb, user, system = usage.read().split()[-3:]
    requests = COUNTER.count - before if counted else None
    return Child(seconds, float(user) + float(system), int(peak_kb) / 1024, requests)


def _child_env() -> dict[str, str]:
    """The children keep compiled bytecode, as an installed calsync (or vdirsyncer, from site-packages) has it;
    one untimed calsync child compiles it first."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


# --- the server and its calendars ------------------------------------------------------------------------------


_RUNNING: list[object] = []


def start(server_name: str) -> Any:
    from tests.caldav_servers import start_radicale, start_xandikos

    server, keep = start_xandikos() if server_name == "xandikos" else start_radicale()
    _RUNNING.append(keep)  # Radicale stops when its shutdown socket is collected
    if server.name != "radicale":
        return server
    radicale = logging.getLogger("radicale")
    radicale.handlers, radicale.propagate = [COUNTER], False
    radicale.setLevel(logging.INFO)
    return server


def put(server: Any, url: str, items: list[Any]) -> None:
    import niquests

    from events.ical import serialise

    with niquests.Session() as session:
        session.trust_env = False
        for item in items:
            response = session.put(f"{url}{item.uid}.ics", data=serialise([item]).encode(),
                                   auth=(server.username, server.password),
                                   headers={"Content-Type": "text/calendar"}, timeout=300)  # fmt: skip
            assert response.status_code in (201, 204), response.status_code


def fill(server: Any, url: str, items: list[Any]) -> None:
    """Radicale takes a whole calendar in one PUT to the collection (one PUT per item costs it O(n) each); the
    items keep their UIDs, and their hrefs are found by listing."""
    if server.name != "radicale":
        put(server, url, items)
        return
    import niquests

    from events.ical import serialise

    with niquests.Session() as session:
        session.trust_env = False
        response = session.put(url, data=serialise(items).encode(), auth=(server.username, server.password),
                               headers={"Content-Type": "text/calendar"}, timeout=600)  # fmt: skip
    assert response.status_code in (201, 204), response.status_code


def change(server: Any, url: str, items: list[Any]) -> None:
    """Edit these items in place, under the hrefs the server holds them at."""
    import niquests

    from events.ical import serialise

    hrefs = hrefs_by_uid(server, url)
    with niquests.Session() as session:
        session.trust_env = False
        for item in items:
            response = session.put(urljoin(url, hrefs[item.uid]), data=serialise([item]).encode(),
                                   auth=(server.username, server.password),
                                   headers={"Content-Type": "text/calendar"}, timeout=300)  # fmt: skip
            assert response.status_code in (201, 204), response.status_code


def hrefs_by_uid(server: Any, url: str) -> dict[str, str]:
    """One calendar-query for every item's data, read for href and UID only."""
    import niquests

    body = ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            "<d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name=\"VCALENDAR\"/></c:filter>"
            "</c:calendar-query>")  # fmt: skip
    with niquests.Session() as session:
        session.trust_env = False
        response = session.request("REPORT", url, data=body, auth=(server.username, server.password),
                                   headers={"Depth": "1", "Content-Type": "application/xml"}, timeout=600)  # fmt: skip
    found = re.findall(r"<[^>]*href>([^<]+)</.*?^UID:(\S+)", response.text, re.S | re.M)
    return {uid: href for href, uid in found}


# --- the two clients -------------------------------------------------------------------------------------------


class Calsync:
    def __init__(self, server: Any, url: str, label: str) -> None:
        from accounts.services import tenant_create, user_create
        from events.services import calendar_create
        from integrations.models import Integration

        slug = f"caldav-bench-{label}-{os.getpid()}"
        tenant = tenant_create(slug=slug, name="Bench")
        user = user_create(tenant=tenant, email=f"{slug}@calsync.test", password="a bench passphrase 42")
        calendar = calendar_create(owner=user, name="Bench")
        integration = Integration(
            tenant=tenant, user=user, provider="caldav", calendar=calendar, remote_calendar_id=url,
            config={"url": server.base_url, "username": server.username, "components": ["VEVENT", "VTODO"]},
        )  # fmt: skip
        integration.set_credentials({"password": server.password})
        integration.save()
        self.command = [sys.executable, __file__, "--child", str(integration.pk)]

    def sync(self, counted: bool) -> Child:
        return run_child(self.command, counted)


class Vdirsyncer:
    def __init__(self, server: Any, url: str) -> None:
        folder = Path(tempfile.mkdtemp(prefix="vdirsyncer-"))
        (folder / "events").mkdir()
        self.config = folder / "config"
        self.config.write_text(f"""[general]
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
        subprocess.run([*self._command(), "discover"], check=True, capture_output=True)

    def _command(self) -> list[str]:
        return [str(Path(sys.executable).parent / "vdirsyncer"), "-c", str(self.config)]

    def sync(self, counted: bool) -> Child:
        return run_child([*self._command(), "sync"], counted)


# --- the phases ---------------------------------------------------------------------------------------------------


def measure(server: Any, n: int) -> dict[str, tuple[Child, Child]]:
    counted = server.name == "radicale"
    from sync_bench import make_items

    items = make_items(n)
    ours, theirs = server.new_calendar("calsync"), server.new_calendar("vdirsyncer")
    print(f"Filling two {server.name} calendars with {n} events...", flush=True)
    for url in (ours, theirs):
        fill(server, url, items)
    calsync, vdirsyncer = Calsync(server, ours, f"{n}-cold"), Vdirsyncer(server, theirs)
    results: dict[str, tuple[Child, Child]] = {}
    first = calsync.sync(counted)
    echo = calsync.sync(counted)
    results["first, cold: run 1"] = (first, vdirsyncer.sync(counted))
    results["  echo run (calsync)"] = (echo, Child(0, 0, 0, 0 if counted else None))
    results["first incl. echo, cold"] = (first + echo, results["first, cold: run 1"][1])
    results["no-op"] = (calsync.sync(counted), vdirsyncer.sync(counted))
    edited = [replace(i, master=replace(i.master, summary=i.master.summary + " *")) for i in items[::100]]
    for url in (ours, theirs):
        change(server, url, edited)
    results["1% changed"] = (calsync.sync(counted), vdirsyncer.sync(counted))
    calsync, vdirsyncer = Calsync(server, ours, f"{n}-warm"), Vdirsyncer(server, theirs)
    first = calsync.sync(counted)
    results["first incl. echo, warm"] = (first + calsync.sync(counted), vdirsyncer.sync(counted))
    return results


def report(server: Any, n: int, results: dict[str, tuple[Child, Child]]) -> None:
    database = "PostgreSQL" if os.environ["DATABASE_URL"].startswith("postgres") else "SQLite"
    print(
        f"\n{n} events on {server.name}, calsync on {database}; whole processes; wall time, the child's CPU "
        f"time, requests at the server, the child's peak RSS; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"  {'phase':<24} | {'calsync':^34} | {'vdirsyncer':^34} | {'calsync/vdirsyncer':^19}")
    print(f"  {'':<24} | {'wall':>8} {'cpu':>8} {'req':>5} {'peak':>9} | {'wall':>8} {'cpu':>8} {'req':>5} "
          f"{'peak':>9} | {'wall':>8} {'cpu':>8}")  # fmt: skip
    for phase, (ours, theirs) in results.items():
        print(f"  {phase:<24} | {_columns(ours)} | {_columns(theirs)} | {_ratio(ours.seconds, theirs.seconds)} "
              f"{_ratio(ours.cpu, theirs.cpu)}")  # fmt: skip


def _columns(child: Child) -> str:
    if not child.seconds:
        return " " * 34
    return f"{child.seconds:>7.2f}s {child.cpu:>7.2f}s {_count(child):>5} {child.peak_mb:>6.0f} MB"


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:>7.2f}x" if theirs else " " * 8


def _count(child: Child) -> str:
    return "-" if child.requests is None else str(child.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[1000, 5000])
    parser.add_argument("--server", choices=("radicale", "xandikos"), default="radicale")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # one timed calsync run (an integration id)
    args = parser.parse_args()
    if args.child is not None:
        profiled(child, args.child)
        return
    django_for_bench("caldav")
    server = start(args.server)
    run_child([sys.executable, __file__, "--child", "0"], counted=False)
    peaks = []
    for n in args.sizes:
        results = measure(server, n)
        report(server, n, results)
        first = results["first incl. echo, cold"]
        peaks.append((n, first[0].peak_mb, first[1].peak_mb))
    if len(peaks) > 1:
        print("\nPeak memory of a first sync by calendar size (flat is the goal):")
        for n, ours, theirs in peaks:
            print(f"  {n:>7} events   calsync {ours:>5.0f} MB   vdirsyncer {theirs:>5.0f} MB")


if __name__ == "__main__":
    main()
