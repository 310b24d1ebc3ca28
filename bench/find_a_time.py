#!/usr/bin/env python
"""Find a time benchmark: 20 people, each with 2,000 events of which 50 are recurring series, over two weeks,
30-minute meetings. Prints the time to the first proposals with a cold and a warm free/busy cache, for the
service and for the whole page (rendering and team grid included), and the database queries of each.

    .venv/bin/python bench/find_a_time.py                 # SQLite under var/bench
    DATABASE_URL=postgres://postgres@127.0.0.1/sfree .venv/bin/python bench/find_a_time.py

Goal: under 300 ms warm.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import QueryCounter, django_for_bench

django_for_bench("find_a_time")

from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.models import Tenant, User  # noqa: E402
from events import services as events  # noqa: E402
from events.ical import Component, Item  # noqa: E402
from scheduling import assistant  # noqa: E402

PEOPLE, EVENTS, SERIES = 20, 2000, 50
PEOPLE = int(__import__("os").environ.get("BENCH_PEOPLE", PEOPLE))
ZONES = ["Europe/Berlin", "Europe/London", "Europe/Lisbon", "Europe/Paris"]
FIRST_DAY = date(2027, 3, 22)  # two weeks across Europe's change to summer time (28 March)
HISTORY_START = datetime(2025, 3, 1, tzinfo=ZoneInfo("UTC"))


def _items(rng: random.Random, zone: ZoneInfo) -> list[Item]:
    """Four years of a working life: single events on working days, and series (weekly, fortnightly, monthly,
    three times a week), most of them ended by a COUNT, some open-ended."""
    items = []
    for i in range(EVENTS - SERIES):
        day = HISTORY_START + timedelta(days=rng.randrange(4 * 365))
        start = day.astimezone(zone).replace(hour=rng.randrange(8, 18), minute=rng.choice([0, 15, 30, 45]))
        items.append(Item(master=Component(uid=f"e{i}", summary=f"Event {i}", start=start,
                                           end=start + timedelta(minutes=rng.choice([30, 45, 60, 90])))))  # fmt: skip
    for i in range(SERIES):
        day = HISTORY_START + timedelta(days=rng.randrange(4 * 365))
        start = day.astimezone(zone).replace(hour=rng.randrange(8, 17), minute=0)
        rule = rng.choice(["FREQ=WEEKLY", "FREQ=WEEKLY;INTERVAL=2", "FREQ=MONTHLY", "FREQ=WEEKLY;BYDAY=MO,WE,FR"])
        rule += "" if i % 5 == 0 else f";COUNT={rng.randrange(10, 80)}"
        items.append(Item(master=Component(uid=f"s{i}", summary=f"Series {i}", start=start,
                                           end=start + timedelta(minutes=30), rrule=rule)))  # fmt: skip
    return items


def setup() -> list[User]:
    tenant = Tenant.objects.create(slug="bench", name="Bench")
    rng = random.Random(15)
    people = []
    for n in range(PEOPLE):
        zone = ZONES[n % len(ZONES)]
        person = User.objects.create_user(f"p{n}@bench.test", "x", tenant=tenant, timezone=zone)
        calendar = events.calendar_create(owner=person, name="Work")
        events.items_create_many(calendar=calendar, items=_items(rng, ZoneInfo(zone)))
        people.append(person)
    return people


def timed(call) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        began = time.perf_counter()
        call()
        return (time.perf_counter() - began) * 1000, counter.count


def report(label: str, call) -> None:  # type: ignore[no-untyped-def]
    """Five runs with the free/busy cache emptied first (cold) and five with it filled (warm): median and queries."""
    for state, clear in (("cold", True), ("warm", False)):
        figures = []
        for _ in range(5):
            if clear:
                cache.clear()
            figures.append(timed(call))
        median = statistics.median(f[0] for f in figures)
        print(f"{label}, {state} cache: median {median:.0f} ms, {figures[-1][1]} queries")


def main() -> None:
    began = time.perf_counter()
    people = setup()
    print(f"{connection.vendor}: {PEOPLE} people x {EVENTS} events ({SERIES} series), made in "
          f"{time.perf_counter() - began:.0f} s")  # fmt: skip
    search = assistant.Search(people=people, duration=timedelta(minutes=30), first_day=FIRST_DAY,
                              last_day=FIRST_DAY + timedelta(days=13), zone=people[0].timezone)  # fmt: skip
    now = datetime(2027, 2, 1, tzinfo=ZoneInfo("UTC"))
    found = assistant.find_time(viewer=people[0], search=search, now=now)
    print(f"proposals: {len(found.proposals)}, busy blocks read: {sum(len(b.blocks) for b in found.busy.values())}")
    report("service (first proposals)", lambda: assistant.find_time(viewer=people[0], search=search, now=now))
    client = Client()
    client.force_login(people[0])
    params = {"people": [p.pk for p in people], "duration": 30, "first_day": FIRST_DAY.isoformat(),
              "last_day": (FIRST_DAY + timedelta(days=13)).isoformat()}  # fmt: skip
    url = reverse("scheduling:find_time")
    report("page (proposals and team grid)", lambda: client.get(url, params))


if __name__ == "__main__":
    main()
