#!/usr/bin/env python
"""Load: many Google integrations synced by 1, 2 and 4 real Celery worker processes and the dispatcher.

    CALSYNC_VAR_DIR=/tmp/var-load DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/load.py                                     # quick: 20,000 integrations
    .venv/bin/python bench/load.py --integrations 100000 --syncs 2000      # the full size

It makes a scratch database beside DATABASE_URL's (PostgreSQL only) and a private redis-server, bulk-inserts
tenants (100 integrations each), users, calendars and Google integrations whose first sync is done (cursors on
both sides), and fills the project's Google emulator (one account per user, its real HTTP API on a thread of
this process). Each phase takes the next `--syncs` integrations, gives `--changed` of them one change (half a
new event in Google, half a new event in calsync), starts the workers, makes those integrations due and starts
the dispatcher, and waits until every one is synced. The rest of the syncs are no-ops, as in production.

Per phase it prints syncs per second, and per sync: the statements the workers sent (counted in each worker
process by bench/loadprobe.py) and the dispatcher's, PostgreSQL's transactions and rows written
(pg_stat_database of the scratch database; pg_stat_statements calls when the server preloads it), Redis
commands (INFO commandstats of the private server), worker CPU (/proc, the workers' whole process trees), and
the emulator's requests. Everything started is stopped, and the database dropped, at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import loadstack  # noqa: E402
from benchsetup import QueryCounter, django_for_bench  # noqa: E402

BATCH = 5_000
PER_TENANT = 100
FAR = timedelta(days=1)  # due times outside a phase, and the interval the workers schedule the next sync at


@dataclass(frozen=True)
class Member:
    integration_id: int
    calendar_id: int
    email: str


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--integrations", type=int, default=20_000, help="how many to create (default 20,000)")
    parser.add_argument("--tenants", type=int, default=0, help=f"default: one per {PER_TENANT} integrations")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, one phase each")
    parser.add_argument("--dispatchers", type=int, default=1)
    parser.add_argument("--syncs", type=int, default=200, help="due syncs per phase (default 200)")
    parser.add_argument("--changed", type=float, default=0.05, help="share of a phase's syncs with a change")
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' logs (their folder is printed)")
    args = parser.parse_args()
    args.workers = [int(n) for n in args.workers.split(",")]
    args.tenants = args.tenants or max(1, args.integrations // PER_TENANT)
    if args.syncs * len(args.workers) > args.integrations:
        parser.error("--integrations must be at least --syncs times the number of phases")
    return args


def main() -> None:
    args = options()
    server = os.environ.get("DATABASE_URL", loadstack.LOCAL_POSTGRES)
    with (
        loadstack.scratch_database(server) as database,
        loadstack.private_redis() as redis_url,
        tempfile.TemporaryDirectory(prefix="calsync-load-") as folder,
    ):
        env = worker_environment(database, redis_url, Path(folder))
        os.environ.update(env)
        django_for_bench("load")
        bench = Bench(args, env, Path(folder))
        try:
            bench.run()
        finally:
            bench.close()
            if args.keep_logs:
                shutil.copytree(folder, f"{folder}-kept")
                print(f"logs kept in {folder}-kept")


def worker_environment(database: str, redis_url: str, folder: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "CELERY_BROKER_URL"}
    return env | {
        "DATABASE_URL": database,
        "REDIS_URL": f"{redis_url}/0",
        "CACHE_URL": f"{redis_url}/1",
        "CONN_MAX_AGE": "60",  # production's value: a worker keeps its connection between tasks
        "LOG_FORMAT": "json",
        "SYNC_INTERVAL_SECONDS": str(int(FAR.total_seconds())),
        "GOOGLE_WEBHOOK_BASE_URL": "",  # polling: no push channel is opened
        "MICROSOFT_WEBHOOK_BASE_URL": "",  # nor a Graph subscription
        "LOADPROBE_DIR": str(folder),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH), os.environ.get("PYTHONPATH")])),
    }


class Bench:
    def __init__(self, args: argparse.Namespace, env: dict[str, str], folder: Path) -> None:
        import redis
        from django.conf import settings

        from emulators.google.app import serve

        self.args, self.folder = args, folder
        self.app, self.server = serve(clients={settings.GOOGLE_CLIENT_ID: settings.GOOGLE_CLIENT_SECRET})
        env["GOOGLE_EMULATOR_URL"] = self.app.base_url
        self.fleet = loadstack.Fleet(folder, env)
        self.redis = redis.Redis.from_url(env["REDIS_URL"])
        self.results: list[dict[str, float]] = []

    def close(self) -> None:
        self.fleet.stop()
        self.server.shutdown()

    def run(self) -> None:
        began = time.perf_counter()
        members = populate(self.app.state, self.args.integrations, self.args.tenants)
        print(f"{len(members):,} Google integrations of {self.args.tenants:,} tenants (users, calendars, first "
              f"syncs done) in PostgreSQL and the emulator in {time.perf_counter() - began:.0f} s")  # fmt: skip
        print(f"{self.args.syncs} due syncs a phase, {self.args.changed:.0%} of them with one change; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")  # fmt: skip
        print(HEADER)
        for phase, workers in enumerate(self.args.workers):
            chosen = members[phase * self.args.syncs : (phase + 1) * self.args.syncs]
            self.results.append(self.phase(workers, chosen))
            print(row(self.results[-1]))
        print(LEGEND)
        print(
            f"\nload average {os.getloadavg()[0]:.1f}; syncs per second against {self.args.workers[0]} worker(s): "
            + ", ".join(f"{r['workers']:.0f}: {r['rate'] / self.results[0]['rate']:.2f}x" for r in self.results)
        )

    def phase(self, workers: int, chosen: list[Member]) -> dict[str, float]:
        from django.db import connection

        expected = make_changes(self.app.state, chosen, self.args.changed)
        for stale in self.folder.glob("*.json"):
            stale.unlink()
        self.fleet.start_workers(workers)
        before = self.counters()
        own = QueryCounter()
        with connection.execute_wrapper(own):
            mark = make_due(chosen)
            self.fleet.start_dispatchers(self.args.dispatchers)
            started = time.perf_counter()
            database = loadstack.DatabaseCpu()
            polls = wait_until_synced(chosen, mark, self.redis, self.folder, database)
            elapsed = time.perf_counter() - started
            database.sample()
            cpu = (self.fleet.worker_cpu_seconds() - before["cpu"], database.seconds())
            self.fleet.stop()
            after = self.counters()
        check_arrived(self.app.state, chosen, expected)
        return figures(before, after, own.count, polls, len(chosen), workers, elapsed, cpu, self.folder)

    def counters(self) -> dict[str, float]:
        """PostgreSQL server processes report their statistics as they exit: ours is closed, the workers' were."""
        from django.db import connection

        connection.close()
        time.sleep(1)
        return {
            **loadstack.database_counters(),
            **{f"redis:{name}": calls for name, calls in loadstack.redis_calls(self.redis).items()},
            "cpu": self.fleet.worker_cpu_seconds(),
            "bench_cpu": sum(os.times()[:2]),
            "requests": self.app.state.requests,
        }


# --- the population -----------------------------------------------------------------------------------


def populate(state, count: int, tenants: int) -> list[Member]:  # type: ignore[no-untyped-def]
    """Tenants, users, calendars and integrations by bulk insert; each user an emulator account whose
    calendar was listed once, so both cursors are where a finished first sync leaves them."""
    from accounts.models import Tenant, User
    from events.models import Calendar
    from integrations.models import Integration

    firms = Tenant.objects.bulk_create([Tenant(slug=f"load-{t}", name=f"Load {t}") for t in range(tenants)])
    people = User.objects.bulk_create(
        [User(email=f"u{i}@load{i % tenants}.test", username=f"u{i}@load{i % tenants}.test",
              tenant=firms[i % tenants], password="!", can_setup_integrations=True) for i in range(count)],
        batch_size=BATCH,
    )  # fmt: skip
    calendars = Calendar.objects.bulk_create(
        [Calendar(tenant_id=user.tenant_id, owner=user, name="Work") for user in people], batch_size=BATCH
    )
    rows = Integration.objects.bulk_create(
        [google_integration(state, user, calendar) for user, calendar in zip(people, calendars, strict=True)],
        batch_size=BATCH,
    )
    return [Member(row.pk, row.calendar_id, row.remote_calendar_id) for row in rows]


def google_integration(state, user, calendar):  # type: ignore[no-untyped-def]
    from django.conf import settings

    from integrations.models import Integration

    email = state.account(user.email, calendars=False)
    tokens = state.authorize(email, settings.GOOGLE_CLIENT_ID)
    sync_token = state.list(email, email, {})["nextSyncToken"]
    integration = Integration(
        tenant_id=user.tenant_id, user=user, provider="google", calendar=calendar, remote_calendar_id=email,
        remote_calendar_name="Work", config={"auth": "oauth", "account": email, "time_zone": "UTC"},
        local_cursor="0", remote_cursor=sync_token, next_sync_at=datetime.now(UTC) + FAR,
    )  # fmt: skip
    expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    integration.set_credentials(
        {"token": tokens["access_token"], "refresh_token": tokens["refresh_token"], "expiry": expiry.isoformat()}
    )
    return integration


def make_changes(state, chosen: list[Member], share: float) -> dict[str, list[Member]]:  # type: ignore[no-untyped-def]
    """One new event in Google for every other changed integration, one in calsync for the rest."""
    from events.ical import parse_item
    from events.models import Calendar
    from events.services import changes_unannounced, item_save

    changed = chosen[:: max(1, round(1 / share))] if share else []
    google, calsync = changed[0::2], changed[1::2]
    start = datetime(2026, 12, 7, 9, tzinfo=UTC)
    for member in google:
        when = {"start": {"dateTime": start.isoformat()}, "end": {"dateTime": (start + timedelta(hours=1)).isoformat()}}
        state.insert(member.email, member.email, {"summary": "Changed in Google", **when})
    with changes_unannounced():  # made due by the phase, not before it
        for member in calsync:
            item_save(calendar=Calendar.objects.get(pk=member.calendar_id), item=parse_item(ICS % member.calendar_id))
    return {"google": google, "calsync": calsync}


ICS = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calsync//load bench//EN\r\nBEGIN:VEVENT\r\n"
       "UID:load-%s@calsync.test\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20261208T090000Z\r\n"
       "DTEND:20261208T100000Z\r\nSUMMARY:Changed in calsync\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")  # fmt: skip


def check_arrived(state, chosen: list[Member], expected: dict[str, list[Member]]) -> None:  # type: ignore[no-untyped-def]
    """Each change reached the other side: the phase measured real syncs, not skipped ones."""
    from events.models import Event

    ids = [m.calendar_id for m in expected["google"]]
    arrived = Event.objects.filter(calendar_id__in=ids, title="Changed in Google").count()
    written = sum(
        any(e.get("summary") == "Changed in calsync" for e in state.calendars[m.email].events.values())
        for m in expected["calsync"]
    )
    if (arrived, written) != (len(expected["google"]), len(expected["calsync"])):
        raise SystemExit(f"changes lost: {arrived}/{len(expected['google'])} from Google, "
                         f"{written}/{len(expected['calsync'])} to Google")  # fmt: skip


# --- one phase --------------------------------------------------------------------------------------------


def make_due(chosen: list[Member]) -> datetime:
    from integrations.models import Integration

    mark = datetime.now(UTC)
    Integration.objects.filter(pk__range=(chosen[0].integration_id, chosen[-1].integration_id)).update(
        next_sync_at=mark
    )
    return mark


def wait_until_synced(chosen: list[Member], mark: datetime, broker, folder: Path, database) -> int:  # type: ignore[no-untyped-def]
    """Until the workers have run a task for every integration of the phase and none is due, locked, queued or
    unacknowledged (a retry). Returns how many times the broker was asked. Gives up after two silent minutes."""
    from django.db.models import Q

    from integrations.models import Integration

    phase = Integration.objects.filter(pk__range=(chosen[0].integration_id, chosen[-1].integration_id))
    busy = phase.filter(Q(next_sync_at__lte=mark) | ~Q(lock_token=""))
    polls, done, progress = 0, 0, time.monotonic()
    while True:
        time.sleep(0.2)
        database.sample()
        tasks = loadstack.probe_totals(folder)["tasks"]
        if tasks > done:
            done, progress = tasks, time.monotonic()
        elif time.monotonic() - progress > 120:
            raise SystemExit(f"no sync finished for two minutes ({done} of {len(chosen)}); rerun with --keep-logs")
        if done < len(chosen) or busy.exists():
            continue
        polls += 1
        if loadstack.queued(broker) == 0:
            return polls


def figures(before, after, own_queries, polls, syncs, workers, elapsed, cpu, folder) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Per sync, without what the benchmark itself asked: its polls, its UPDATE that made the phase due."""
    probe = loadstack.probe_totals(folder)
    redis = sum(v - before.get(k, 0) for k, v in after.items() if k.startswith("redis:") and k != "redis:info")
    redis -= polls * sum(loadstack.POLL_COMMANDS.values())
    delta = {key: after[key] - before[key] for key in before if not key.startswith("redis:")}
    return {
        "workers": workers, "syncs": syncs, "seconds": elapsed, "rate": syncs / elapsed,
        "connections": probe["connections"] / syncs,
        "queries": probe["queries"] / syncs, "dispatch": probe["dispatcher_queries"] / syncs,
        "transactions": (delta["commits"] - own_queries) / syncs,
        "statements": delta["statements"] / syncs if before["statements"] >= 0 else -1,
        "written": (delta["inserted"] + delta["updated"] - syncs + delta["deleted"]) / syncs,
        "redis": redis / syncs, "cpu_ms": cpu[0] * 1000 / syncs, "db_cpu_ms": cpu[1] * 1000 / syncs,
        "bench_cpu_ms": delta["bench_cpu"] * 1000 / syncs, "requests": delta["requests"] / syncs,
    }  # fmt: skip


HEADER = (f"{'workers':>7} {'syncs':>6} {'s':>6} {'syncs/s':>8} {'queries':>8} {'dispatch':>8} {'xacts':>6} "
          f"{'rows w.':>7} {'redis':>6} {'CPU ms':>7} {'PG ms':>6} {'emu ms':>7} {'HTTP':>5} {'conns':>5}")  # fmt: skip


LEGEND = (
    "per sync: queries = statements the workers sent, dispatch = the dispatcher's, xacts = PostgreSQL commits,\n"
    "rows w. = rows inserted, updated or deleted, redis = Redis commands, CPU ms = the workers' CPU, PG ms = the\n"
    "PostgreSQL server processes' CPU, emu ms = this process's CPU (the emulator), HTTP = requests to the emulator,\n"
    "conns = database connections the workers opened"
)


def row(r: dict[str, float]) -> str:
    return (f"{r['workers']:>7.0f} {r['syncs']:>6.0f} {r['seconds']:>6.1f} {r['rate']:>8.1f} {r['queries']:>8.1f} "
            f"{r['dispatch']:>8.1f} {r['transactions']:>6.1f} {r['written']:>7.1f} {r['redis']:>6.1f} "
            f"{r['cpu_ms']:>7.1f} {r['db_cpu_ms']:>6.1f} {r['bench_cpu_ms']:>7.1f} {r['requests']:>5.1f} "
            f"{r['connections']:>5.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
