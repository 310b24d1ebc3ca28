#!/usr/bin/env python
"""calsync's CalDAV server side by side with Radicale, both holding the same 10,000-event calendar.

    .venv/bin/python bench/dav_server_bench.py            # 10,000 events, 5 rounds per request
    .venv/bin/python bench/dav_server_bench.py 2000 3

Both servers run in this process on threaded WSGI servers and answer the same
requests from the same client, one at a time: PROPFIND depth 1 (ETags of every
item), calendar-query for one month (ETags, then ETags and data), calendar-multiget
of 100 items, and sync-collection from a token after 10 changes. Prints the median
time per request, requests per second and the calsync/Radicale ratio (below 1 means
calsync is faster). Radicale is filled by writing its files directly (a PUT each
would take Radicale minutes at this size); calsync by its bulk insert.
"""

from __future__ import annotations

import json
import logging
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import django_for_bench

django_for_bench("dav_server")

import niquests  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.servers.basehttp import ThreadedWSGIServer  # noqa: E402

from accounts.services import tenant_create, user_create  # noqa: E402
from dav.services import app_password_create  # noqa: E402
from events.ical import Component, Item, serialise  # noqa: E402
from events.services import calendar_create, items_create_many  # noqa: E402

START = datetime(2026, 1, 5, 8, tzinfo=UTC)
MONTH = ("20260601T000000Z", "20260701T000000Z")


def make_items(n: int) -> list[Item]:
    """n events every 100 minutes (about two years), 2% of them weekly series with a moved occurrence."""
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


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(app: object) -> str:
    port = free_port()
    server = ThreadedWSGIServer(("127.0.0.1", port), Quiet, allow_reuse_address=True)
    server.set_app(app)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}"


def start_radicale(items: list[Item]) -> tuple[str, tuple[str, str]]:
    import radicale
    import radicale.config

    folder = Path(tempfile.mkdtemp(prefix="radicale-bench-"))
    (folder / "users").write_text("alice:pw\n")
    calendar = folder / "collections" / "collection-root" / "alice" / "bench"
    calendar.mkdir(parents=True)
    (calendar / ".Radicale.props").write_text(json.dumps({"tag": "VCALENDAR", "D:displayname": "bench"}))
    for item in items:
        (calendar / f"{item.uid}.ics").write_text(serialise([item]))
    configuration = radicale.config.load("")
    configuration.update({
        "storage": {"filesystem_folder": str(folder / "collections")},
        "auth": {"type": "htpasswd", "htpasswd_filename": str(folder / "users"), "htpasswd_encryption": "plain",
                 "delay": "0"},
        "logging": {"level": "warning"},
    })  # fmt: skip
    application = radicale.Application(configuration)
    logging.getLogger("radicale").setLevel(logging.WARNING)
    base = serve(application)
    return f"{base}/alice/bench/", ("alice", "pw")


def start_calsync(items: list[Item]) -> tuple[str, tuple[str, str]]:
    tenant = tenant_create(slug="bench", name="Bench")
    user = user_create(tenant=tenant, email="bench@bench.test", password="unused-password-1", role="admin")
    calendar = calendar_create(owner=user, name="bench", dav_name="bench")
    for i in range(0, len(items), 1000):
        items_create_many(calendar=calendar, items=items[i : i + 1000])
    created = app_password_create(user=user, label="bench")
    base = serve(WSGIHandler())
    return f"{base}/caldav/calendars/{user.email}/bench/", (created.username, created.secret)


PROPFIND = """<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:getcontenttype/></d:prop>
</d:propfind>"""

QUERY = """<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:getetag/>{data}</d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
<c:time-range start="{start}" end="{end}"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"""

MULTIGET = """<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
<d:prop><d:getetag/><c:calendar-data/></d:prop>{hrefs}</c:calendar-multiget>"""

SYNC = """<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token>
<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"""


class Peer:
    def __init__(self, name: str, url: str, auth: tuple[str, str]) -> None:
        self.name, self.url, self.auth = name, url, auth
        self.session = niquests.Session()
        self.session.trust_env = False
        self.path = niquests.utils.urlparse(url).path

    def request(self, method: str, body: str, depth: str = "1", expect: int = 207, url: str = "") -> bytes:
        response = self.session.request(method, url or self.url, data=body.encode(), auth=self.auth, timeout=600,
                                        headers={"Depth": depth, "Content-Type": "application/xml"})  # fmt: skip
        assert response.status_code == expect, (self.name, method, response.status_code, response.text[:500])
        return response.content or b""

    def hrefs(self, body: bytes) -> int:
        return body.count(b"<D:href>") + body.count(b"<href>") + body.count(b"<d:href>")


def timed(peer: Peer, rounds: int, method: str, body: str) -> tuple[float, float, int]:
    """(first request, median of the rest, hrefs in the answer): the first one may fill caches."""
    times, size = [], 0
    for _ in range(rounds + 1):
        started = time.perf_counter()
        content = peer.request(method, body)
        times.append(time.perf_counter() - started)
        size = peer.hrefs(content)
    return times[0], statistics.median(times[1:]), size


def sync_token(content: bytes) -> str:
    text = content.decode()
    for tag in ("<D:sync-token>", "<sync-token>", "<d:sync-token>"):
        if tag in text:
            return text.split(tag)[-1].split("<")[0]
    raise AssertionError("no sync-token in the answer")


def change_ten(peer: Peer, items: list[Item]) -> None:
    for item in items[1:1000:100]:
        changed = replace(item, master=replace(item.master, summary=item.master.summary + " (changed)"))
        response = peer.session.put(f"{peer.url}{item.uid}.ics", data=serialise([changed]).encode(), auth=peer.auth,
                                    headers={"Content-Type": "text/calendar"}, timeout=60)  # fmt: skip
        assert response.status_code in (201, 204), (peer.name, response.status_code, response.text[:300])


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    items = make_items(count)
    started = time.perf_counter()
    calsync = Peer("calsync", *start_calsync(items))
    print(f"calsync filled with {count} events in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    radicale = Peer("Radicale", *start_radicale(items))
    print(f"Radicale filled with {count} events in {time.perf_counter() - started:.1f} s")
    peers = (calsync, radicale)
    for peer in peers:  # warm up: Radicale builds its item cache on first read
        peer.request("PROPFIND", PROPFIND)

    tokens = {p.name: sync_token(p.request("REPORT", SYNC.format(token=""))) for p in peers}
    for peer in peers:
        change_ten(peer, items)

    cases = [
        ("PROPFIND depth 1 (getetag)", "PROPFIND", lambda p: PROPFIND),
        ("calendar-query, one month (getetag)", "REPORT",
         lambda p: QUERY.format(data="", start=MONTH[0], end=MONTH[1])),
        ("calendar-query, one month (+ data)", "REPORT",
         lambda p: QUERY.format(data="<c:calendar-data/>", start=MONTH[0], end=MONTH[1])),
        ("calendar-multiget, 100 items", "REPORT",
         lambda p: MULTIGET.format(hrefs="".join(f"<d:href>{p.path}{item.uid}.ics</d:href>"
                                                 for item in items[:: max(1, count // 100)][:100]))),
        ("sync-collection, 10 changes", "REPORT", lambda p: SYNC.format(token=tokens[p.name])),
    ]  # fmt: skip
    print(f"\n{count} events; median of {rounds} requests after a first one (which may fill caches)\n")
    print(f"{'request':38} {'calsync':>19} {'Radicale':>19} {'ratio':>6}   {'first request':>22}")
    for label, method, body in cases:
        results = {p.name: timed(p, rounds, method, body(p)) for p in peers}
        (our_first, ours, our_size), (their_first, theirs, their_size) = results["calsync"], results["Radicale"]
        assert our_size == their_size, (label, our_size, their_size)
        print(
            f"{label:38} {ours * 1000:8.1f} ms {1 / ours:5.1f}/s {theirs * 1000:8.1f} ms {1 / theirs:5.1f}/s "
            f"{ours / theirs:5.2f}x   {our_first * 1000:8.1f} / {their_first * 1000:8.1f} ms   ({our_size} hrefs)"
        )


if __name__ == "__main__":
    main()
