#!/usr/bin/env python
"""calsync's CalDAV server beside Radicale and Xandikos, each a whole server process, over real HTTP.

    .venv/bin/python bench/dav_server_bench.py                 # 2,000 events, 10 requests per row
    .venv/bin/python bench/dav_server_bench.py 1000 5
    DATABASE_URL=postgres://... CACHE_URL=redis://.../11 .venv/bin/python bench/dav_server_bench.py
    DAV_BENCH_WORKER=gthread .venv/bin/python bench/dav_server_bench.py  # calsync's connection kept alive too

calsync runs under gunicorn (one sync worker; DEBUG off and database connections kept, as in production) on
the database DATABASE_URL names (a throwaway SQLite file otherwise) and the cache CACHE_URL names (each
process's own memory otherwise); Radicale as `python -m radicale` with htpasswd logins; Xandikos as
`xandikos serve`, which checks no password at all. All three hold the same calendar: calsync filled by its
bulk insert, Radicale by writing its files, Xandikos by one git commit of the same files (a PUT each would
take minutes).

The same client code sends every request, one at a time, on one kept-alive connection. gunicorn's sync worker
(the production image's) closes the connection after every answer, so calsync's figures include a new TCP
connection per request, which Radicale and Xandikos do not pay; with DAV_BENCH_WORKER=gthread calsync runs under
gunicorn's threaded worker instead (one process, four threads), which keeps the connection as the peers do.

Each row is measured twice: *cold* is the first request(s) to a fresh server process with its caches emptied
(calsync's render cache, Radicale's item cache on disk; the operating system's and PostgreSQL's own caches stay
warm), *warm* the median of the requests after. Rows: PROPFIND depth 1 (ETags of every item), calendar-query
for one month (ETags, then with data), calendar-multiget of 100 items, sync-collection from a token taken before
10 changes, GET of single items, PUT of single items (updates with If-Match). GET and PUT send each request to
another item: cold is the mean of the first `rounds` ones in a fresh process, warm the median of `rounds` more
(GET: the same items again). Ratios are calsync's time over the peer's: below 1 calsync is faster.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import ROOT, django_for_bench

django_for_bench("dav_server")

import niquests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.db import connection  # noqa: E402

from accounts.services import tenant_create, user_create  # noqa: E402
from dav.services import app_password_create  # noqa: E402
from events.ical import Component, Item, serialise  # noqa: E402
from events.services import calendar_create, items_create_many  # noqa: E402

BIN = Path(sys.executable).parent
START = datetime(2026, 1, 5, 8, tzinfo=UTC)
MONTH = ("20260601T000000Z", "20260701T000000Z")


def make_items(n: int) -> list[Item]:
    """n events every 100 minutes (about a year per 5,000), 2% of them weekly series with a moved occurrence."""
    items = []
    for i in range(n):
        start = START + timedelta(minutes=100 * i)
        master = Component(uid=f"bench-{i}", summary=f"Event {i}", start=start, end=start + timedelta(hours=1))
        overrides: tuple[Component, ...] = ()
        if i % 50 == 0:
            master = replace(master, rrule="FREQ=WEEKLY;COUNT=20")
            original = start + timedelta(days=7)
            overrides = (replace(master, rrule="", recurrence_id=original, start=original + timedelta(hours=2),
                                 end=original + timedelta(hours=3), summary=f"Event {i} (moved)"),)  # fmt: skip
        items.append(Item(master=master, overrides=overrides))
    return items


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the three servers ------------------------------------------------------------------------------


@dataclass
class Server:
    """How to start one server as a process of its own, and how to empty its caches before a cold start."""

    name: str
    command: Callable[[int], list[str]]
    path: str  # the calendar's path
    auth: tuple[str, str]
    forget: Callable[[], None]
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    def start(self) -> None:
        self.forget()
        port = free_port()
        self.process = subprocess.Popen(self.command(port), cwd=ROOT, env=self.env or os.environ.copy(),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        self.url = f"http://127.0.0.1:{port}{self.path}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None


def _worker_options() -> list[str]:
    worker = os.environ.get("DAV_BENCH_WORKER", "sync")
    if worker == "sync":
        return []
    if worker == "gthread":
        return ["-k", "gthread", "--threads", "4", "--keep-alive", "30"]
    raise SystemExit(f"DAV_BENCH_WORKER is sync or gthread, not {worker!r}")


def calsync_server(items: list[Item]) -> Server:
    tenant = tenant_create(slug="bench", name="Bench")
    user = user_create(tenant=tenant, email="bench@bench.test", password="unused-password-1", role="admin")
    calendar = calendar_create(owner=user, name="bench", dav_name="bench")
    for i in range(0, len(items), 1000):
        items_create_many(calendar=calendar, items=items[i : i + 1000])
    created = app_password_create(user=user, label="bench")
    # As production runs it: DEBUG off, database connections kept for a minute (not opened per request).
    env = {**os.environ, "DEBUG": "false", "CONN_MAX_AGE": "60", "DATABASE_URL": os.environ["DATABASE_URL"]}
    command = [str(BIN / "gunicorn"), "calsync.wsgi", "-w", "1", "--log-level", "warning", *_worker_options(), "-b"]
    return Server("calsync", lambda port: [*command, f"127.0.0.1:{port}"], f"/caldav/calendars/{user.email}/bench/",
                  (created.username, created.secret), forget=cache.clear, env=env)  # fmt: skip


def radicale_server(items: list[Item], folder: Path) -> Server:
    folder.mkdir(parents=True)
    (folder / "users").write_text("alice:pw\n")
    calendar = folder / "collections" / "collection-root" / "alice" / "bench"
    calendar.mkdir(parents=True)
    (calendar / ".Radicale.props").write_text(json.dumps({"tag": "VCALENDAR", "D:displayname": "bench"}))
    for item in items:
        (calendar / f"{item.uid}.ics").write_text(serialise([item]))
    options = ["--storage-filesystem-folder", str(folder / "collections"), "--auth-type", "htpasswd",
               "--auth-htpasswd-filename", str(folder / "users"), "--auth-htpasswd-encryption", "plain",
               "--auth-delay", "0", "--logging-level", "warning"]  # fmt: skip

    def forget() -> None:
        shutil.rmtree(calendar / ".Radicale.cache" / "item", ignore_errors=True)  # its sync tokens stay valid

    return Server("Radicale", lambda port: [sys.executable, "-m", "radicale", *options, "-H", f"127.0.0.1:{port}"],
                  "/alice/bench/", ("alice", "pw"), forget=forget)  # fmt: skip


def xandikos_server(items: list[Item], folder: Path) -> Server:
    folder.mkdir(parents=True)
    xandikos = str(BIN / "xandikos")
    subprocess.run([xandikos, "create-collection", "-d", str(folder), "--type", "calendar", "--name", "bench"],
                   check=True, capture_output=True)  # fmt: skip
    for item in items:
        (folder / "bench" / f"{item.uid}.ics").write_text(serialise([item]))
    git = ["git", "-C", str(folder / "bench"), "-c", "user.name=bench", "-c", "user.email=bench@bench.test"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "fill"], check=True)
    command = [xandikos, "serve", "-d", str(folder), "--state-dir", str(folder.parent / "xandikos-state"), "-p"]
    return Server("Xandikos", lambda port: [*command, str(port)], "/bench/", ("nobody", "unchecked"),
                  forget=lambda: None)  # fmt: skip


# --- the requests -----------------------------------------------------------------------------------

PROPFIND = """<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:getcontenttype/></d:prop>
</d:propfind>"""

QUERY = """<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:getetag/>{data}</d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
<c:time-range start="{start}" end="{end}"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"""

MULTIGET = """<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:getetag/><c:calendar-data/></d:prop>{hrefs}</c:calendar-multiget>"""

SYNC = """<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token>
<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"""


class Client:
    """The one client every server gets: a kept-alive session, Basic auth, the same headers."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.session = niquests.Session()
        self.session.trust_env = False

    def send(self, method: str, url: str, body: str = "", expect: tuple[int, ...] = (207,), **headers: str) -> bytes:
        response = self.session.request(method, url, data=body.encode(), auth=self.server.auth, timeout=600,
                                        headers=headers)  # fmt: skip
        assert response.status_code in expect, (self.server.name, method, response.status_code, response.text[:300])
        return response.content or b""

    def dav(self, method: str, body: str, depth: str = "1") -> bytes:
        return self.send(method, self.server.url, body, Depth=depth, **{"Content-Type": "application/xml"})

    def item(self, uid: str) -> str:
        return f"{self.server.url}{uid}.ics"


def hrefs(body: bytes) -> int:
    return body.count(b"<D:href>") + body.count(b"<href>") + body.count(b"<d:href>") + body.count(b"<ns0:href>")


def sync_token(content: bytes) -> str:
    text = content.decode()
    for tag in ("<D:sync-token>", "<sync-token>", "<d:sync-token>", "<ns0:sync-token>"):
        if tag in text:
            return text.split(tag)[-1].split("<")[0]
    raise AssertionError("no sync-token in the answer")


def etag_of(client: Client, uid: str) -> str:
    response = client.session.head(client.item(uid), auth=client.server.auth, timeout=60)
    return str(response.headers["ETag"])


def edited(item: Item, label: str) -> str:
    return serialise([replace(item, master=replace(item.master, summary=f"{item.master.summary} ({label})"))])


@dataclass
class Row:
    label: str
    # (client, round) -> seconds and a check value (hrefs in the answer, or the status)
    run: Callable[[Client, int], tuple[float, int]]
    per_item: bool = False  # GET and PUT: every request another item


def report_row(label: str, method: str, body: Callable[[Client], str]) -> Row:
    def run(client: Client, _: int) -> tuple[float, int]:
        text = body(client)
        started = time.perf_counter()
        content = client.dav(method, text)
        return time.perf_counter() - started, hrefs(content)

    return Row(label, run)


def rows(items: list[Item], tokens: dict[str, str], rounds: int) -> list[Row]:
    step = max(1, len(items) // 100)
    sample = items[::step][:100]
    targets = items[7 :: max(1, len(items) // (4 * rounds + 1))][: 4 * rounds]  # GET and PUT: each its own

    def get(client: Client, i: int) -> tuple[float, int]:
        started = time.perf_counter()
        client.send("GET", client.item(targets[i % rounds].uid), expect=(200,))  # warm: the cold ones again
        return time.perf_counter() - started, 200

    def put(client: Client, i: int) -> tuple[float, int]:
        item = targets[2 * rounds + i]
        etag = etag_of(client, item.uid)  # not timed: a client holds the ETag from its last sync
        started = time.perf_counter()
        client.send("PUT", client.item(item.uid), edited(item, f"edit {i}"), expect=(204, 201),
                    **{"Content-Type": "text/calendar; charset=utf-8", "If-Match": etag})  # fmt: skip
        return time.perf_counter() - started, 204

    return [
        report_row("PROPFIND depth 1 (getetag)", "PROPFIND", lambda c: PROPFIND),
        report_row("calendar-query, one month (getetag)", "REPORT",
                   lambda c: QUERY.format(data="", start=MONTH[0], end=MONTH[1])),
        report_row("calendar-query, one month (+ data)", "REPORT",
                   lambda c: QUERY.format(data="<c:calendar-data/>", start=MONTH[0], end=MONTH[1])),
        report_row("calendar-multiget, 100 items", "REPORT",
                   lambda c: MULTIGET.format(hrefs="".join(f"<d:href>{c.server.path}{i.uid}.ics</d:href>"
                                                           for i in sample))),
        report_row("sync-collection, 10 changes", "REPORT", lambda c: SYNC.format(token=tokens[c.server.name])),
        Row("GET one item", get, per_item=True),
        Row("PUT one item (If-Match)", put, per_item=True),
    ]  # fmt: skip


def measure(server: Server, row: Row, rounds: int) -> tuple[float, float, int]:
    """(cold, warm, check): a fresh process with empty caches for the cold figure, the same process for warm."""
    server.start()
    try:
        client = Client(server)
        client.send("OPTIONS", server.url, expect=(200,))  # the connection, and the process's own start-up
        if row.per_item:
            cold = statistics.mean(row.run(client, i)[0] for i in range(rounds))
            warm_times = [row.run(client, rounds + i) for i in range(rounds)]
        else:
            cold = row.run(client, 0)[0]
            warm_times = [row.run(client, i) for i in range(1, rounds + 1)]
        return cold, statistics.median(t for t, _ in warm_times), warm_times[-1][1]
    finally:
        server.stop()


def prepare(servers: list[Server], items: list[Item]) -> dict[str, str]:
    """A sync token per server, then the same 10 changes on each."""
    tokens = {}
    for server in servers:
        server.start()
        try:
            client = Client(server)
            tokens[server.name] = sync_token(client.dav("REPORT", SYNC.format(token="")))
            for item in items[1:1000:100][:10]:
                client.send("PUT", client.item(item.uid), edited(item, "changed"), expect=(204, 201),
                            **{"Content-Type": "text/calendar; charset=utf-8"})  # fmt: skip
        finally:
            server.stop()
    return tokens


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    items = make_items(count)
    folder = Path(tempfile.mkdtemp(prefix="dav-server-bench-"))
    started = time.perf_counter()
    servers = [calsync_server(items), radicale_server(items, folder / "radicale"),
               xandikos_server(items, folder / "xandikos")]  # fmt: skip
    connection.close()  # the bench process holds no connection while gunicorn serves
    database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    worker = os.environ.get("DAV_BENCH_WORKER", "sync")
    print(f"{count} events in each server, filled in {time.perf_counter() - started:.1f} s; calsync on {database}, "
          f"cache {backend}, gunicorn {worker} worker; load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    tokens = prepare(servers, items)
    names = [s.name for s in servers]
    print(f"\nwarm: median of {rounds} requests; cold: a fresh process with empty caches (mean of {rounds} for "
          "GET and PUT)\n")  # fmt: skip
    print(f"{'request':38} {'':5} " + "".join(f"{n:>11}" for n in names) + "   calsync / Radicale, / Xandikos")
    try:
        for row in rows(items, tokens, rounds):
            results = {s.name: measure(s, row, rounds) for s in servers}
            checks = {name: r[2] for name, r in results.items()}
            for phase, index in (("cold", 0), ("warm", 1)):
                times = [results[n][index] for n in names]
                ratios = "  ".join(f"{times[0] / t:6.2f}x" for t in times[1:])
                label = row.label if phase == "cold" else ""
                differ = "" if phase == "cold" or len(set(checks.values())) == 1 else f"   (answers: {checks})"
                figures = "".join(f"{t * 1000:8.1f} ms" for t in times)
                print(f"{label:38} {phase:5} {figures}   {ratios}{differ}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
