"""CalDAV latency for bench/latency.py: a change on the server, timed until calsync's database holds it.

Two paths, each with a real Celery worker (and `manage.py dispatch` for the polls), a calsync web server in a
thread of this process (SITE_URL), and the settings in BENCH_ENV (printed with the figures):
- polled: Radicale, which has no push; calsync polls adaptively (SYNC_POLL_MIN_SECONDS while the calendar is busy,
  doubling while quiet). The changes come at random pauses of up to PAUSE seconds, so some find the interval
  backed off.
- push: calsync's own CalDAV server as the remote (it offers WebDAV-Push): calsync's CalDAV client registered for
  push at its first sync; a change written over CalDAV is pushed to calsync's endpoint, which queues the sync.

A Redis at REDIS_URL (if set) is the broker and the shared cache; without one, the filesystem broker.
"""

from __future__ import annotations

import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import ROOT, django_for_bench

BENCH_ENV = {
    "SYNC_POLL_MIN_SECONDS": "2",
    "SYNC_POLL_MAX_SECONDS": "16",
    "SYNC_DISPATCH_IDLE_SECONDS": "0.2",
    "DAV_PUSH_DELAY_SECONDS": "0.3",
    "CALDAV_ALLOW_PRIVATE_ADDRESSES": "true",
    "DAV_PUSH_ALLOW_PRIVATE_ADDRESSES": "true",  # calsync's server pushes to calsync's own endpoint on loopback
    "CALDAV_ALLOW_HTTP": "true",
}
PAUSE = 12.0  # seconds, at most, between two changes
_state: dict[str, Any] = {}


class _Threaded(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start() -> None:
    """Django on a throwaway database, its web server in a thread, a worker and a dispatcher beside it."""
    if _state:
        return
    port = _free_port()
    os.environ.update(BENCH_ENV, SITE_URL=f"http://127.0.0.1:{port}")
    os.environ.setdefault("CALSYNC_VAR_DIR", str(ROOT / "var" / "bench" / "latency_caldav"))
    django_for_bench("latency_caldav")
    from django.core.wsgi import get_wsgi_application

    server = make_server("127.0.0.1", port, get_wsgi_application(), server_class=_Threaded, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    python = sys.executable
    worker = subprocess.Popen([python, "-m", "celery", "-A", "calsync", "worker", "--pool=threads", "--concurrency=4",
                               "--loglevel=WARNING"], cwd=ROOT)  # fmt: skip
    dispatcher = subprocess.Popen([python, "manage.py", "dispatch"], cwd=ROOT, stdout=subprocess.DEVNULL)
    _state.update(site=f"http://127.0.0.1:{port}", processes=[worker, dispatcher])
    import atexit

    atexit.register(lambda: [p.terminate() for p in _state["processes"]])


def _wait(condition: Any, what: str, limit: float = 120) -> float:
    started = time.perf_counter()
    while not condition():
        assert all(p.poll() is None for p in _state["processes"]), "the worker or dispatcher died"
        assert time.perf_counter() - started < limit, f"timed out waiting for {what}"
        time.sleep(0.02)
    return time.perf_counter() - started


def _owner(name: str) -> Any:
    from tests.factories import CalendarFactory, UserFactory

    user = UserFactory(email=f"{name}@bench.test")
    return user, CalendarFactory(owner=user, tenant=user.tenant, name="calsync")


def _connect(user: Any, calendar: Any, url: str, username: str, password: str, remote_url: str) -> Any:
    from integrations.caldav.services import caldav_connect, caldav_discover

    found = caldav_discover(url=url, username=username, password=password)
    remote = next(c for c in found if c.url.endswith(remote_url.split("//", 1)[-1].split("/", 1)[-1]))
    integration = caldav_connect(user=user, url=url, username=username, password=password, remote=remote,
                                 calendar=calendar, sync_enabled=True)  # fmt: skip
    _wait(lambda: _fresh(integration).last_synced_at is not None, "the first sync")
    return integration


def _fresh(integration: Any) -> Any:
    integration.refresh_from_db()
    return integration


def _time_changes(calendar: Any, remote: Any, changes: int, label: str) -> list[float]:
    """Write `changes` events into `remote` (a caldav library calendar), each after a random pause, and time each
    until calsync's copy of `calendar` holds it."""
    from events.models import Event

    seconds = []
    for n in range(changes):
        time.sleep(random.uniform(0, PAUSE))
        uid = f"{label}-{n}@bench"
        remote.add_event(_ics(uid))
        seconds.append(_wait(lambda uid=uid: Event.objects.filter(calendar=calendar, uid=uid).exists(), uid))
    return seconds


def _ics(uid: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261102T090000Z\r\nDTEND:20261102T100000Z\r\n"
            "SUMMARY:Bench\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")  # fmt: skip


def measure_polled(changes: int) -> list[float]:
    import caldav

    from tests.caldav_servers import start_radicale

    server, _ = start_radicale()
    url = server.new_calendar("Bench")
    user, calendar = _owner("polled")
    _connect(user, calendar, server.base_url, server.username, server.password, url)
    client = caldav.DAVClient(url=server.base_url, username=server.username, password=server.password)
    client.session.trust_env = False
    return _time_changes(calendar, client.calendar(url=url), changes, "polled")


def measure_pushed(changes: int) -> list[float]:
    import caldav

    from dav.resources import calendar_href
    from dav.services import app_password_create
    from integrations.models import Integration
    from tests.factories import CalendarFactory

    user, calendar = _owner("pushed")
    phone = CalendarFactory(owner=user, tenant=user.tenant, name="Phone")
    login = app_password_create(user=user, label="bench")
    site = _state["site"]
    integration = _connect(user, calendar, f"{site}/caldav/", login.username, login.secret,
                           site + calendar_href(user, phone))  # fmt: skip
    assert _fresh(integration).push_state == Integration.PushState.ACTIVE, "calsync did not register for push"
    device = caldav.DAVClient(url=f"{site}/caldav/", username=login.username, password=login.secret)
    device.session.trust_env = False
    return _time_changes(calendar, device.calendar(url=site + calendar_href(user, phone)), changes, "pushed")


def measure(changes: int) -> list[float]:
    """Both paths; each one's figures printed here, all of them returned."""
    _start()
    print(f"    settings: {' '.join(f'{k}={v}' for k, v in BENCH_ENV.items())}, pauses up to {PAUSE:g} s", flush=True)
    found = []
    for label, path in (("polled (Radicale)", measure_polled), ("push (calsync's own server)", measure_pushed)):
        seconds = path(changes)
        ordered = sorted(seconds)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"    {label:<28} median {statistics.median(seconds):.2f} s, p95 {p95:.2f} s, max {max(seconds):.2f} s",
              flush=True)  # fmt: skip
        found += seconds
    return found


def idle_cost(count: int) -> dict[str, float]:
    """What `count` quiet CalDAV integrations cost, from the settings (computed, not measured): requests an hour at
    the longest interval, and push renewals an hour where the server pushes."""
    from django.conf import settings

    longest = settings.SYNC_POLL_MAX_SECONDS
    lifetime_hours = settings.DAV_PUSH_MAX_DAYS * 24 - settings.CALDAV_PUSH_RENEW_HOURS
    return {
        f"polls per hour, quiet, at SYNC_POLL_MAX_SECONDS={longest} (computed)": count * 3600 / longest,
        "polls per hour, quiet, at the default 900 s (computed)": count * 3600 / 900,
        f"push renewals per hour, registrations of {lifetime_hours} h (computed)": count / max(1, lifetime_hours),
    }
