#!/usr/bin/env python
"""Calendar grid benchmark: a user with 10,000 events over two years, 200 of them recurring series with overrides
(moved and retitled occurrences). Prints the server time (median of 10) and the database queries of the grid's
week and month reads (GET /calendar/events.json) and of search (GET /calendar/search/?q=, a page of results as
an agenda), each through Django's full request stack, the same for a user with 1,000 events (20 series) to show
the query count does not grow with the calendar, and the query plan of the grid's main query.

    .venv/bin/python bench/calendar_pages.py                 # SQLite under var/bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/grid_bench .venv/bin/python bench/calendar_pages.py

Goal: the week under 100 ms, and as many queries at 1,000 events as at 10,000.

The searches: "room 2" matches every single event (the page takes the first 50 from the week), "series" every
series (expanded over a growing window until a page is full), "moved" only the series' changed occurrences (their
rules are not run).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import QueryCounter, django_for_bench

django_for_bench("calendar_pages")

from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.models import Tenant, User  # noqa: E402
from events import selectors  # noqa: E402
from events import services as events  # noqa: E402
from events.ical import Component, Item  # noqa: E402

ZONE = ZoneInfo("Europe/Berlin")
FIRST = datetime(2026, 1, 1, tzinfo=ZONE)  # two years: 2026 and 2027
WEEK = {"start": "2026-11-23T00:00:00", "end": "2026-11-30T00:00:00"}
MONTH = {"start": "2026-10-26T00:00:00", "end": "2026-12-07T00:00:00"}  # the six weeks a month view shows
SEARCHES = ("room 2", "series", "moved")  # from the week's first day, as the search page's "From" field says
# One series in ten a weekday stand-up; the rest weekly, fortnightly, monthly or three times a week.
RULES = ["FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", "FREQ=WEEKLY", "FREQ=WEEKLY;INTERVAL=2", "FREQ=MONTHLY",
         "FREQ=WEEKLY;BYDAY=MO,WE,FR", "FREQ=WEEKLY", "FREQ=WEEKLY;INTERVAL=2", "FREQ=MONTHLY", "FREQ=WEEKLY",
         "FREQ=WEEKLY;INTERVAL=2"]  # fmt: skip
RUNS = 10


def _single(rng: random.Random, n: int) -> Item:
    day = FIRST + timedelta(days=rng.randrange(730))
    start = day.replace(hour=rng.randrange(8, 18), minute=rng.choice([0, 15, 30, 45]))
    end = start + timedelta(minutes=rng.choice([30, 45, 60, 90]))
    return Item(master=Component(uid=f"e{n}", summary=f"Event {n}", location="Room 2", start=start, end=end))


def _series(rng: random.Random, n: int) -> Item:
    """A series from somewhere in the two years, a third open-ended, each with three changed occurrences."""
    start = (FIRST + timedelta(days=rng.randrange(600))).replace(hour=rng.randrange(8, 17))
    rule = RULES[n % len(RULES)] + ("" if n % 3 == 0 else f";COUNT={rng.randrange(20, 120)}")
    master = Component(uid=f"s{n}", summary=f"Series {n}", start=start, end=start + timedelta(minutes=30), rrule=rule)
    overrides = []
    for k in (1, 2, 3):  # the k-th week's occurrence: weekly rules have one there; others may not (then unused)
        original = start + timedelta(weeks=k)
        moved = original + timedelta(hours=2)
        overrides.append(Component(uid=master.uid, summary=f"Series {n} (moved)", recurrence_id=original,
                                   start=moved, end=moved + timedelta(minutes=45)))  # fmt: skip
    return Item(master=master, overrides=tuple(overrides))


def make_user(tenant: Tenant, total: int, series: int) -> User:
    rng = random.Random(total)
    user = User.objects.create_user(f"u{total}@bench.test", "x", tenant=tenant, timezone="Europe/Berlin")
    work = events.calendar_create(owner=user, name="Work")
    home = events.calendar_create(owner=user, name="Home")
    items = [_single(rng, n) for n in range(total - series)] + [_series(rng, n) for n in range(series)]
    half = len(items) // 2
    for calendar, part in ((work, items[:half]), (home, items[half:])):
        for i in range(0, len(part), 2000):
            events.items_create_many(calendar=calendar, items=part[i : i + 2000])
    return user


def measure(client: Client, url: str, params: dict[str, str]) -> tuple[float, int, int, bool]:
    """Median milliseconds of RUNS requests, the queries of one, how many occurrences it showed, and whether the
    request's recurrence budget (RECURRENCE_MAX_OCCURRENCES, ..._TIME_BUDGET) cut the expansion short."""
    client.get(url, params)  # warm: the first request pays for imports and connection set-up
    times, counter = [], QueryCounter()
    for _ in range(RUNS):
        counter.count = 0
        with connection.execute_wrapper(counter):
            began = time.perf_counter()
            response = client.get(url, params)
            times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.content[:200]
    shown, cut = _shown(response)
    return statistics.median(times), counter.count, shown, cut


def _shown(response: HttpResponse) -> tuple[int, bool]:
    """The grid's JSON: its events and `truncated`; the search page: its occurrences and the "not shown" notice."""
    if response["Content-Type"].startswith("application/json"):
        data = response.json()  # type: ignore[attr-defined]
        return len(data["events"]), data["truncated"]
    page = response.content.decode()
    return page.count('data-testid="occurrence"'), 'data-testid="truncated"' in page


def print_plan(user: User) -> None:
    """The plan of the main query: the masters whose span touches the week (the span indexes)."""
    from accounts.tenancy import Scope

    calendars = selectors.grid_calendars(Scope(user).editable_calendars())
    start, end = (datetime.fromisoformat(WEEK[k]).replace(tzinfo=ZONE) for k in ("start", "end"))
    masters = selectors.masters_in_range(calendars, start - timedelta(hours=14), end + timedelta(hours=14))
    print(f"\nmain query plan ({connection.vendor}):")
    options = {"analyze": True} if connection.vendor == "postgresql" else {}
    print(masters.explain(**options))


def main() -> None:
    began = time.perf_counter()
    tenant = Tenant.objects.create(slug="bench", name="Bench")
    users = {total: make_user(tenant, total, series) for total, series in ((1_000, 20), (10_000, 200))}
    if connection.vendor == "postgresql":  # statistics, as autovacuum would have them after a bulk load
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{connection.vendor}: users with 1,000 (20 series) and 10,000 (200 series) events over two years, "
          f"made in {time.perf_counter() - began:.0f} s; median of {RUNS} requests each")  # fmt: skip
    for total, user in users.items():
        client = Client()
        client.force_login(user)
        feed, search = reverse("events:grid_events"), reverse("events:search")
        reads = [("week", feed, WEEK), ("month", feed, MONTH)]
        reads += [(f"search {q!r}", search, {"q": q, "from": WEEK["start"][:10]}) for q in SEARCHES]
        for label, url, params in reads:
            median, queries, shown, cut = measure(client, url, params)
            note = "  (budget reached: the page says some are not shown)" if cut else ""
            print(f"  {total:>6,} events  {label:<17} {median:7.1f} ms  {queries:>2} queries  {shown:>4} shown{note}")
    print_plan(users[10_000])


if __name__ == "__main__":
    main()
