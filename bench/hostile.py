#!/usr/bin/env python
"""Every page and REPORT that reads a calendar holding one hostile item, item by item.

    .venv/bin/python bench/hostile.py                 # SQLite under var/bench
    DATABASE_URL=postgres://... .venv/bin/python bench/hostile.py

Each item of the hostile corpus (tests/hostile.py: SECONDLY/MINUTELY/HOURLY with no end,
COUNT=1000000000, years 1 and 9999, 10,000 EXDATEs or RDATEs, 5,000 overrides, 10,000
attendees, ...) is written straight into the database, past the validation of the entry
points, as an old row would be. Then, through Django's test client, for that item's calendar:
the week view, the list view for a month, a one-month CalDAV calendar-query (ETags and
calendar-data), the same with CALDAV:expand, and the ICS feed. Prints, per item, the slowest
response (wall clock and CPU: the machine may be shared), the peak Python allocation over those
requests (tracemalloc, in a second round) and, at the end, the process's peak RSS. Every response
must be under one second.
"""

from __future__ import annotations

import base64
import logging
import resource
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import django_for_bench

django_for_bench("hostile")

from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.services import tenant_create, user_create  # noqa: E402
from dav.services import app_password_create  # noqa: E402
from events.services import calendar_create  # noqa: E402
from tests.hostile import CORPUS, store_unchecked  # noqa: E402

MONTH = ("20260301T000000Z", "20260401T000000Z")
QUERY = """<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:getetag/>{data}</d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
<c:time-range start="{start}" end="{end}"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"""
LABELS = ["week view", "list view", "calendar-query", "query + expand", "ICS feed"]
EXPAND = f'<c:calendar-data><c:expand start="{MONTH[0]}" end="{MONTH[1]}"/></c:calendar-data>'


def requests(client: Client, user, calendar, auth: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """Name -> a function that makes the request and reads the whole answer."""
    path = f"/caldav/calendars/{user.email}/{calendar.dav_name}/"

    def report(data: str) -> object:
        body = QUERY.format(data=data, start=MONTH[0], end=MONTH[1])
        return client.generic("REPORT", path, body, content_type="application/xml", HTTP_DEPTH="1",
                              HTTP_AUTHORIZATION=auth)  # fmt: skip

    calls = [
        lambda: client.get(reverse("events:calendar") + "?week=2026-03-16"),
        lambda: client.get(reverse("events:calendar_list") + "?from=2026-03-01&to=2026-03-31"),
        lambda: report("<c:calendar-data/>"),
        lambda: report(EXPAND),
        lambda: client.get(reverse("dav:feed", args=[calendar.feed_token])),
    ]
    return dict(zip(LABELS, calls, strict=True))


def prepare(name: str, make, tenant, number: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    user = user_create(tenant=tenant, email=f"hostile{number}@bench.test", password="unused-password-1")
    calendar = calendar_create(owner=user, name=name, dav_name=f"hostile-{number}")
    store_unchecked(calendar, make())
    created = app_password_create(user=user, label="bench")
    auth = "Basic " + base64.b64encode(f"{created.username}:{created.secret}".encode()).decode()
    client = Client()
    client.force_login(user)
    return requests(client, user, calendar, auth)


def run(name: str, label: str, request) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Milliseconds for the request, its whole (streamed) answer read: wall clock, and this process's CPU
    (the fairer figure on a machine others are using)."""
    started, cpu = time.perf_counter(), time.process_time()
    answer = request()
    b"".join(answer.streaming_content) if answer.streaming else answer.content
    elapsed = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
    assert answer.status_code in (200, 207), f"{name}: {label} answered {answer.status_code}"
    return elapsed


def peak_allocation(name: str, calls: dict[str, object]) -> float:
    """MiB: the most Python held at once over the same requests (a second round: tracemalloc slows them)."""
    tracemalloc.start()
    for label, request in calls.items():
        run(name, label, request)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def main() -> None:
    logging.disable(logging.INFO)
    tenant = tenant_create(slug="hostile", name="Hostile")
    for label, request in prepare("warm-up", lambda: CORPUS["INTERVAL=0"](), tenant, 99).items():
        run("warm-up", label, request)  # URL patterns, templates and imports load on the first request
    print(f"{'item':<24}" + "".join(f"{label:>16}" for label in LABELS) + f"{'slowest':>16}{'alloc MiB':>10}")
    print(f"{'':<24}" + f"{'wall/CPU ms':>16}" * (len(LABELS) + 1))
    over = []
    for number, (name, make) in enumerate(CORPUS.items()):
        calls = prepare(name, make, tenant, number)
        times = [run(name, label, request) for label, request in calls.items()]
        peak = peak_allocation(name, calls)
        slowest = max(times, key=lambda t: t[1])
        cells = "".join(f"{wall:>10.0f}/{cpu:<5.0f}" for wall, cpu in [*times, slowest])
        print(f"{name:<24}{cells}{peak:>10.1f}")
        if slowest[1] >= 1000:
            over.append(name)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process over the whole run: {rss:.0f} MiB")
    print("every response under one second of CPU" if not over else f"over one second of CPU: {', '.join(over)}")


if __name__ == "__main__":
    main()
