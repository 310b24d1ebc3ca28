#!/usr/bin/env python
"""Bounded pages benchmark, each figure beside the way it was before, measured in the same run and process:

1. A sync run with 10,000 log entries (one in ten a conflict with its losing version): the operator admin's run
   page as it was (every entry inlined) against the run page now (entries on their own list, 100 a page), and the
   user's run page (first and last page): time, bytes, queries. Then pruning that run: statements and time.
2. The events list for a user with 10,000 events (a year of single events and 100 series): the list as it was
   (any range up to 366 days, expanded on every view) against the list now (at most 92 days a page), for the
   default range (31 days) and the longest range, with the expansion cache cold and warm.
3. The Google webhook's lookup among N integrations (default 100,000), each with an open channel: by the JSON key
   `config__channel__id` as before against the indexed `push_channel`; the query plans; and the whole webhook
   request.

Every page through Django's full request stack (the test client), in one process, warm templates and connection.

    .venv/bin/python bench/pages.py                   # SQLite under var/bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pages_bench .venv/bin/python bench/pages.py
    PAGES_ENTRIES=1000 PAGES_EVENTS=1000 PAGES_INTEGRATIONS=10000 .venv/bin/python bench/pages.py   # quick
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import QueryCounter, django_for_bench

django_for_bench("pages")

from django.conf import settings  # noqa: E402
from django.contrib import admin  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402
from django.shortcuts import render  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import include, path, reverse  # noqa: E402

from accounts.models import Tenant, User  # noqa: E402
from accounts.tenancy import Scope  # noqa: E402
from events import selectors  # noqa: E402
from events import services as events  # noqa: E402
from events.ical import Component, Item  # noqa: E402
from integrations.models import Integration  # noqa: E402
from sync import retention  # noqa: E402
from sync.models import SyncLogEntry, SyncRun  # noqa: E402

ENTRIES = int(os.environ.get("PAGES_ENTRIES", 10_000))
EVENTS = int(os.environ.get("PAGES_EVENTS", 10_000))
INTEGRATIONS = int(os.environ.get("PAGES_INTEGRATIONS", 100_000))
ZONE = ZoneInfo("Europe/Berlin")
YEAR = datetime(2027, 1, 1, tzinfo=ZONE)
RUNS = 5


# --- the peers: the pages as they were -----------------------------------------------------------------------

old_site = admin.AdminSite(name="old_admin")


class _InlinedEntries(admin.TabularInline):  # the run admin before: every entry of the run on its page
    model = SyncLogEntry
    extra = 0
    readonly_fields = ("created_at", "level", "action", "uid", "title", "message")
    exclude = ("detail",)


old_site.register(SyncRun, admin.ModelAdmin, inlines=[_InlinedEntries])


def old_list(request: Any) -> Any:
    """The events list before: any range up to 366 days, every occurrence expanded on every view."""
    first = date.fromisoformat(request.GET["from"])
    last = min(date.fromisoformat(request.GET["to"]), first + timedelta(days=366))
    found = selectors.occurrences(calendars=Scope(request.user).calendars(), start=_midnight(first),
                                  end=_midnight(last + timedelta(days=1)))  # fmt: skip
    context = {"occurrences": found, "truncated": found.truncated, "first": first, "last": last, "hidden": set()}
    return render(request, "events/list.html", {**context, "calendars": Scope(request.user).calendars()})


urlpatterns = [path("old-operator/", old_site.urls), path("old-list/", old_list), path("", include("calsync.urls"))]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=ZONE)


# --- measuring -----------------------------------------------------------------------------------------------


def measure(client: Client, url: str, params: dict[str, str] | None = None, runs: int = RUNS,
            before: Callable[[], None] = lambda: None) -> tuple[float, int, int]:  # fmt: skip
    """Median milliseconds of `runs` GETs (each after `before()`), the bytes and queries of the last."""
    times, counter = [], QueryCounter()
    for _ in range(runs):
        before()
        counter.count = 0
        with connection.execute_wrapper(counter):
            began = time.perf_counter()
            response = client.get(url, params or {})
            times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times), len(response.content), counter.count


def row(label: str, figures: tuple[float, int, int], peer: tuple[float, int, int] | None = None) -> None:
    ms, size, queries = figures
    ratio = f"  {ms / peer[0]:6.3f}x the time of the page before" if peer else ""
    print(f"  {label:<48} {ms:9.1f} ms {size / 1024:9.1f} KB {queries:5} queries{ratio}")


# --- 1. a run with 10,000 entries ----------------------------------------------------------------------------


def make_run(user: User) -> SyncRun:
    work, other = events.calendar_create(owner=user, name="Work"), events.calendar_create(owner=user, name="Other")
    integration = Integration.objects.create(tenant=user.tenant, user=user, provider="calsync", calendar=work,
                                             remote_calendar_id=str(other.pk))  # fmt: skip
    run = SyncRun.objects.create(tenant=user.tenant, integration=integration, trigger="first", status="partial")
    lost = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:the version that lost\r\n" + "DESCRIPTION:x\r\n" * 20
    entries = (
        SyncLogEntry(run=run, action="conflict", level="warning", uid=f"u{n}@bench", title=f"Meeting {n}",
                     message=f"“Meeting {n}” changed on both sides; calsync won.", detail=lost + "END:VEVENT\r\n")
        if n % 10 == 0
        else SyncLogEntry(run=run, action="created", uid=f"u{n}@bench", title=f"Meeting {n}",
                          message=f"“Meeting {n}” created in calsync.")
        for n in range(ENTRIES)
    )  # fmt: skip
    SyncLogEntry.objects.bulk_create(entries, batch_size=2000)
    SyncRun.objects.create(tenant=user.tenant, integration=integration, trigger="automatic", status="success")
    return run


def bench_run_pages(user: User, run: SyncRun) -> None:
    operator = User.objects.create_superuser(email="ops@bench.test", password="x")
    ops, member = Client(), Client()
    ops.force_login(operator)
    member.force_login(user)
    print(f"\n1. a run with {ENTRIES:,} log entries ({ENTRIES // 10:,} conflicts with their losing versions)")
    before = measure(ops, f"/old-operator/sync/syncrun/{run.pk}/change/", runs=1)
    row("operator run page before (entries inlined)", before)
    row("operator run page now", measure(ops, reverse("admin:sync_syncrun_change", args=[run.pk])), before)
    entries = reverse("admin:sync_synclogentry_changelist")
    row("operator entries list now (100 a page)", measure(ops, entries, {"run__id__exact": str(run.pk)}), before)
    detail = reverse("integrations:run_detail", args=[run.pk])
    row("user run page now, first page", measure(member, detail), before)
    row("user run page now, last page", measure(member, detail, {"page": str(-(-ENTRIES // 100))}), before)
    row("user run page now, warnings only, page 2", measure(member, detail, {"level": "warning", "page": "2"}))
    SyncRun.objects.filter(pk=run.pk).update(created_at=run.created_at - timedelta(days=400))
    began = time.perf_counter()
    pruned = retention.prune(tenant=user.tenant)
    print(f"  pruning it (batches of {settings.RETENTION_PRUNE_BATCH}): "
          f"{(time.perf_counter() - began) * 1000:.0f} ms, {pruned.counts['entries']:,} entries and "
          f"{pruned.counts['runs']} run in {pruned.statements} statements, at most {pruned.largest_statement:,} "
          f"rows each")  # fmt: skip


# --- 2. the events list --------------------------------------------------------------------------------------


def make_events(user: User) -> None:
    rng = random.Random(EVENTS)
    calendar = events.calendar_create(owner=user, name="Busy")
    series = max(EVENTS // 100, 1)
    items = []
    for n in range(EVENTS - series):
        start = (YEAR + timedelta(days=rng.randrange(365))).replace(hour=rng.randrange(7, 19))
        items.append(Item(master=Component(uid=f"e{n}@bench", summary=f"Visit {n}", location="Site",
                                           start=start, end=start + timedelta(minutes=45))))  # fmt: skip
    for n in range(series):
        start = (YEAR + timedelta(days=rng.randrange(300))).replace(hour=rng.randrange(8, 17))
        rule = ("FREQ=WEEKLY", "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=80", "FREQ=MONTHLY")[n % 3]
        items.append(Item(master=Component(uid=f"s{n}@bench", summary=f"Round {n}", start=start,
                                           end=start + timedelta(minutes=30), rrule=rule)))  # fmt: skip
    for i in range(0, len(items), 2000):
        events.items_create_many(calendar=calendar, items=items[i : i + 2000])


def bench_list(user: User) -> None:
    client = Client()
    client.force_login(user)
    now_url = reverse("events:calendar_list")
    print(f"\n2. the events list, {EVENTS:,} events in 2027 ({max(EVENTS // 100, 1)} of them series); cache: "
          f"{settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}")  # fmt: skip
    ranges = [("31 days (the default)", "2027-03-01", "2027-03-31"),
              ("a year asked: 366 before, 92 now", "2027-01-01", "2027-12-31")]  # fmt: skip
    for label, first, last in ranges:
        params = {"from": first, "to": last}
        before = measure(client, "/old-list/", params, runs=3)
        row(f"{label}, before", before)
        row(f"{label}, now cold", measure(client, now_url, params, runs=3, before=cache.clear), before)
        measure(client, now_url, params, runs=1)  # fills the cache
        row(f"{label}, now warm", measure(client, now_url, params), before)


# --- 3. the webhook ------------------------------------------------------------------------------------------


def make_integrations(user: User) -> list[str]:
    calendar = events.calendar_create(owner=user, name="Hooks")
    ids = []
    for start in range(0, INTEGRATIONS, 5000):
        rows = []
        for n in range(start, min(start + 5000, INTEGRATIONS)):
            channel = {"id": f"calsync-{n}-{n:016x}", "token": f"token-{n}", "resource_id": "r", "expiration": 0}
            ids.append(channel["id"])
            rows.append(Integration(tenant=user.tenant, user=user, provider="google", calendar=calendar,
                                    remote_calendar_id=f"cal{n}@bench", config={"channel": channel},
                                    push_channel=channel["id"], sync_enabled=False))  # fmt: skip
        Integration.objects.bulk_create(rows)
    return ids


def _lookups(find: Callable[[str], Any], ids: list[str]) -> float:
    times = []
    for channel_id in ids:
        began = time.perf_counter()
        assert find(channel_id) is not None
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def bench_webhook(ids: list[str]) -> None:
    sample = random.Random(1).sample(ids, 30)
    by_json = lambda c: Integration.objects.filter(provider="google", config__channel__id=c).first()  # noqa: E731
    by_column = lambda c: Integration.objects.filter(provider="google", push_channel=c).first()  # noqa: E731
    total = Integration.objects.count()
    print(f"\n3. the Google webhook among {total:,} integrations, each with an open channel (median of 30)")
    before = _lookups(by_json, sample)
    now = _lookups(by_column, sample)
    print(f"  lookup before, config__channel__id              {before:9.2f} ms")
    print(f"  lookup now, push_channel (indexed)              {now:9.2f} ms  {now / before:6.4f}x the time before")
    client = Client()
    url, channel = reverse("integrations:google_push"), sample[0]
    token = Integration.objects.get(push_channel=channel).config["channel"]["token"]
    times = []
    for _ in range(30):
        began = time.perf_counter()
        answer = client.post(url, HTTP_X_GOOG_CHANNEL_ID=channel, HTTP_X_GOOG_CHANNEL_TOKEN=token,
                             HTTP_X_GOOG_RESOURCE_STATE="sync")  # fmt: skip
        times.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200
    print(f"  whole webhook request now (state 'sync')        {statistics.median(times):9.2f} ms")
    plans = {"before": Integration.objects.filter(provider="google", config__channel__id=channel),
             "now": Integration.objects.filter(provider="google", push_channel=channel)}  # fmt: skip
    for label, query in plans.items():
        lines = query.explain().splitlines()
        print(f"  plan {label}: " + " | ".join(line.strip() for line in lines[:3]))


def main() -> None:
    began = time.perf_counter()
    tenant = Tenant.objects.create(slug="bench", name="Bench")
    user = User.objects.create_user("member@bench.test", "x", tenant=tenant, timezone="Europe/Berlin")
    run = make_run(user)
    make_events(user)
    ids = make_integrations(user)
    if connection.vendor == "postgresql":  # statistics, as autovacuum would have them after a bulk load
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"{connection.vendor}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"data made in {time.perf_counter() - began:.0f} s; medians of {RUNS} requests unless said")  # fmt: skip
    with override_settings(ROOT_URLCONF=__name__, DEBUG=False):
        bench_run_pages(user, run)
        bench_list(user)
        bench_webhook(ids)


if __name__ == "__main__":
    main()
