"""The processes bench/load.py runs and measures: a scratch PostgreSQL database, a private Redis, Celery workers,
the dispatcher, and the counters read from each (pg_stat_database, INFO commandstats, /proc CPU times).

Each is started fresh and removed afterwards, so the counters hold only what the benchmark did.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
# Every queue a worker serves in production (README "Production": queues).
QUEUES = ("sync_manual", "sync_push", "sync_polled", "celery")
LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"


# --- PostgreSQL ---------------------------------------------------------------------------------------


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database beside the one `server_url` names (dropped afterwards): its pg_stat_database row is ours."""
    import psycopg

    parts = urlsplit(server_url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SystemExit(f"bench/load.py needs PostgreSQL: DATABASE_URL is {parts.scheme}://")
    name = f"{parts.path.strip('/') or 'postgres'}_loadbench"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(url, autocommit=True) as connection, suppress(psycopg.Error):
        # Before any counter is read: creating it writes catalog rows, which pg_stat_database counts.
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_counters() -> dict[str, int]:
    """This database's server-side counters. pg_stat_statements' calls when the server preloads it, else
    transactions: each statement outside a transaction block commits on its own (Django's autocommit)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_returned, tup_fetched "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
        names = ("commits", "rollbacks", "inserted", "updated", "deleted", "returned", "fetched")
        counters = dict(zip(names, cursor.fetchone(), strict=True))
        counters["statements"] = _statement_calls(cursor)
    return counters


class DatabaseCpu:
    """CPU of the PostgreSQL server processes serving the workers and dispatchers (not this process), from /proc.
    They start with the phase (a worker connects at its first task); sampled while it runs, so one that exits
    (a connection closed) still counts, up to its last sample."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}

    def sample(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type IN ('client backend', 'parallel worker')"  # not autovacuum: it has its own pace
            )
            for (pid,) in cursor.fetchall():
                self.seen[pid] = max(self.seen.get(pid, 0.0), tree_cpu_seconds(pid, children=False))

    def seconds(self) -> float:
        return sum(self.seen.values())


def _statement_calls(cursor) -> int:  # type: ignore[no-untyped-def]
    """-1 when pg_stat_statements is not loaded (shared_preload_libraries), which is the usual case."""
    from django.db import DatabaseError

    try:
        cursor.execute(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = current_database()"
        )
        return int(cursor.fetchone()[0])
    except DatabaseError:  # "must be loaded via shared_preload_libraries"
        return -1


# --- Redis ------------------------------------------------------------------------------------------------


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of our own on a free port, so INFO commandstats counts only this benchmark's commands."""
    import redis

    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def redis_calls(client) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in client.info("commandstats").items()}


def queued(client) -> int:  # type: ignore[no-untyped-def]
    """Tasks waiting in a queue or taken by a worker and not yet acknowledged (acks_late): 5 commands."""
    return sum(client.llen(queue) for queue in QUEUES) + client.hlen("unacked")


POLL_COMMANDS = {"llen": len(QUEUES), "hlen": 1}  # what one `queued` call adds to commandstats


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- workers and the dispatcher --------------------------------------------------------------------------


def worker_command(index: int) -> list[str]:
    """One Celery worker process with one prefork child, serving every queue, as docker-compose runs them."""
    return [sys.executable, "-m", "celery", "-A", "calsync", "worker", "-Q", ",".join(QUEUES), "--concurrency=1",
            "--loglevel=INFO", "--without-gossip", "--without-mingle", "-n", f"load{index}@%h",
            "--include", "loadprobe"]  # fmt: skip


def dispatcher_command() -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--dispatcher"]


def run_dispatcher() -> None:
    """The one place the benchmark says how dispatch runs: the project's long-running `manage.py dispatch`
    (stopped by SIGTERM)."""
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")
    django.setup()
    import loadprobe
    from django.core.management import call_command

    loadprobe.count_until_exit("dispatcher")
    call_command("dispatch")


class Fleet:
    """Workers and dispatchers as child processes, with their logs in `folder`."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.workers: list[subprocess.Popen[bytes]] = []
        self.dispatchers: list[subprocess.Popen[bytes]] = []

    def _start(self, command: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = (self.folder / log_name).open("ab")
        return subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def start_workers(self, count: int) -> None:
        self.workers = [self._start(worker_command(i), f"worker{i}.log") for i in range(count)]
        deadline = time.monotonic() + 120
        while not all("ready." in (self.folder / f"worker{i}.log").read_text() for i in range(count)):
            if time.monotonic() > deadline or any(w.poll() is not None for w in self.workers):
                raise SystemExit(f"a worker did not start; see {self.folder}")
            time.sleep(0.2)

    def start_dispatchers(self, count: int) -> None:
        self.dispatchers = [self._start(dispatcher_command(), f"dispatcher{i}.log") for i in range(count)]

    def worker_cpu_seconds(self) -> float:
        return sum(tree_cpu_seconds(worker.pid) for worker in self.workers)

    def stop(self) -> None:
        for process in [*self.dispatchers, *self.workers]:
            process.send_signal(signal.SIGTERM)
        for process in [*self.dispatchers, *self.workers]:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.workers, self.dispatchers = [], []


def tree_cpu_seconds(pid: int, children: bool = True) -> float:
    """User and system CPU of a process and its children (Celery's prefork pool), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in [pid, *(_children(pid) if children else [])]:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


def probe_totals(folder: Path) -> dict[str, int]:
    """What loadprobe wrote in each worker and dispatcher process, added up."""
    totals = {"queries": 0, "tasks": 0, "connections": 0, "dispatcher_queries": 0}
    for path in folder.glob("*.json"):
        data = json.loads(path.read_text())
        if path.stem.startswith("dispatcher"):
            totals["dispatcher_queries"] += data["queries"]
        else:
            totals["queries"] += data["queries"]
            totals["tasks"] += data["tasks"]
            totals["connections"] += data["connections"]
    return totals


if __name__ == "__main__" and sys.argv[1:] == ["--dispatcher"]:
    run_dispatcher()
