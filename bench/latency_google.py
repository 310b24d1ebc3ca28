"""Google for bench/latency.py: a change made in Google, timed until calsync's database holds it, through push.

The whole path is real: the Google emulator (in this process) sends a web_hook notification as Google documents
it (https://developers.google.com/calendar/api/guides/push: X-Goog-Channel-ID, X-Goog-Channel-Token,
X-Goog-Resource-State "sync" then "exists", X-Goog-Message-Number) to a calsync web server (runserver, a child
process), whose push view queues the integration's sync on the push queue for a real Celery worker (another
child process). Nothing polls.

    .venv/bin/python bench/latency.py --only google --changes 20
    REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/latency.py --only google    # a Redis broker

Without REDIS_URL the broker is the development filesystem broker, whose worker looks for messages once a second:
that second is part of what is measured. SQLite under var/bench unless DATABASE_URL is set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

CLIENT, SECRET = "bench", "bench-secret"
START = datetime(2026, 1, 5, 9, tzinfo=UTC)
QUEUE_PREFIX = f"latency-{uuid.uuid4().hex[:8]}."  # queues of its own: no other worker here takes its tasks
GOOGLE = ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GOOGLE_AUTH_URI", "GOOGLE_TOKEN_URI", "GOOGLE_REVOKE_URI",
          "GOOGLE_API_ENDPOINT", "GOOGLE_BATCH_URI", "GOOGLE_WEBHOOK_BASE_URL")  # fmt: skip


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(emulator: str, site: str) -> None:
    """What this process and its children (server, worker) read their settings from."""
    os.environ.update(
        GOOGLE_CLIENT_ID=CLIENT, GOOGLE_CLIENT_SECRET=SECRET, GOOGLE_AUTH_URI=f"{emulator}/o/oauth2/auth",
        GOOGLE_TOKEN_URI=f"{emulator}/token", GOOGLE_REVOKE_URI=f"{emulator}/revoke",
        GOOGLE_API_ENDPOINT=f"{emulator}/calendar/v3/", GOOGLE_BATCH_URI=f"{emulator}/batch/calendar/v3",
        GOOGLE_WEBHOOK_BASE_URL=site, SITE_URL=site, CELERY_TASK_ALWAYS_EAGER="false",
        CELERY_QUEUE_PREFIX=QUEUE_PREFIX, DJANGO_SETTINGS_MODULE="calsync.settings",
    )  # fmt: skip
    os.environ.setdefault("CALSYNC_VAR_DIR", tempfile.mkdtemp(prefix="calsync-latency-"))


def _django() -> None:
    """Django on a fresh database the first time; later (another stack in this process) its Google settings follow
    the new emulator."""
    from django.apps import apps

    if not apps.ready:
        from benchsetup import django_for_bench

        django_for_bench("latency_google")
        return
    from django.conf import settings

    for name in GOOGLE:
        setattr(settings, name, os.environ[name])


@contextmanager
def _emulator() -> Iterator[Any]:
    """The emulator on a thread, every HTTP request it answers counted (app.traffic.count)."""
    from wsgiref.simple_server import make_server

    from benchsetup import RequestCounter

    from emulators.google import GoogleEmulator
    from emulators.http import QuietHandler, ThreadingServer

    app = GoogleEmulator()
    app.traffic = RequestCounter(app)
    server = make_server("127.0.0.1", 0, app.traffic, server_class=ThreadingServer, handler_class=QuietHandler)
    app.base_url = f"http://127.0.0.1:{server.server_port}"
    app.state.clients[CLIENT] = SECRET
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield app
    finally:
        server.shutdown()


@contextmanager
def _child(command: list[str], ready: Any = None) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while ready is not None and not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{command[:4]} did not start")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


@contextmanager
def stack() -> Iterator[Any]:
    """The emulator, Django set up on a fresh database, a calsync web server and a Celery worker."""
    port = _free_port()
    with _emulator() as app:
        _environment(app.base_url, f"http://127.0.0.1:{port}")
        _django()
        from calsync.queue import SYNC_QUEUES

        queues = ",".join(QUEUE_PREFIX + name for name in SYNC_QUEUES)
        server = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
        worker = [sys.executable, "-m", "celery", "-A", "calsync", "worker", "-Q", queues, "--pool=solo",
                  "--loglevel=WARNING"]  # fmt: skip
        with _child(server, lambda: _answers(f"http://127.0.0.1:{port}/healthz")), _child(worker):
            yield app


def integration_for(app: Any, email: str, calendar: Any = None) -> Any:
    """A Google integration on `email`'s calendar, for a new user unless a calsync calendar is given."""
    from accounts.services import tenant_create, user_create
    from events.services import calendar_create
    from integrations.models import Integration

    app.state.account(email)
    tokens = app.state.authorize(email, CLIENT)
    if calendar is None:
        tag = uuid.uuid4().hex[:8]
        tenant = tenant_create(slug=f"latency-{tag}", name="Latency")
        user = user_create(tenant=tenant, email=f"{tag}@calsync.test", password="a bench passphrase 42")
        calendar = calendar_create(owner=user, name="Google")
    integration = Integration(tenant_id=calendar.owner.tenant_id, user=calendar.owner, provider="google",
                              calendar=calendar, remote_calendar_id=email, remote_calendar_name="Latency",
                              config={"auth": "oauth", "account": email, "time_zone": "UTC"},
                              next_sync_at=datetime.now(UTC) + timedelta(hours=1))  # fmt: skip
    integration.set_credentials({"token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                                 "expiry": (datetime.now() + timedelta(hours=1)).isoformat()})  # fmt: skip
    return integration


def _first_sync(integration: Any) -> None:
    from sync import services

    run = services.sync_request(integration=integration, trigger="first", queue=False)
    services.sync_execute(run_id=run.pk)


def _arrived(calendar_id: int, title: str, since: float) -> float:
    from events.models import Event

    while not Event.objects.filter(calendar_id=calendar_id, title=title).exists():
        if time.perf_counter() - since > 60:
            raise SystemExit(f"{title!r} did not reach calsync within a minute: is push working?")
        time.sleep(0.01)
    return time.perf_counter() - since


def measure(changes: int) -> list[float]:
    """Seconds from each insert in Google to the event in calsync's database, one change at a time."""
    with stack() as app:
        from integrations.google.services import channel_open

        email = f"latency-{uuid.uuid4().hex[:8]}@example.com"
        integration = integration_for(app, email)
        integration.save()
        _first_sync(integration)
        channel_open(integration_id=integration.pk)
        _change(app, integration, "Warm-up", START - timedelta(days=1))  # the worker's first task: not counted
        return [_change(app, integration, f"Latency {n}", START + timedelta(hours=n)) for n in range(changes)]


def _change(app: Any, integration: Any, title: str, start: datetime) -> float:
    """One event added in Google Calendar (the emulator then notifies, as Google does); seconds until calsync has it."""
    email = integration.remote_calendar_id
    body = {"summary": title, "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(minutes=30)).isoformat()}}  # fmt: skip
    began = time.perf_counter()
    app.state.insert(email, email, body)
    return _arrived(integration.calendar_id, title, began)


def idle_cost(count: int) -> dict[str, float]:
    """What `count` open channels cost while nothing changes: the hourly renewal task (beat,
    integrations.google_renew_channels) over channels whose expiries are spread as they settle (a 7-day channel
    renewed in the day before it ends: one 144th of them each hour), one run timed and its requests counted."""
    with stack() as app:
        from benchsetup import QueryCounter
        from django.db import connection

        from integrations.google.services import channels_renew
        from integrations.models import Integration

        first = integration_for(app, f"idle-0-{uuid.uuid4().hex[:6]}@example.com")
        first.save()
        rows, now_ms = [first], int(time.time() * 1000)
        rows += [integration_for(app, f"idle-{n}-{uuid.uuid4().hex[:6]}@example.com", first.calendar)
                 for n in range(1, count)]  # fmt: skip
        app.state.notify = None  # channels opened here, without their "sync" message to calsync
        for n, integration in enumerate(rows):
            email = integration.remote_calendar_id
            answer = app.state.watch(email, email, {"id": f"idle-{n}", "type": "web_hook",
                                                    "address": os.environ["GOOGLE_WEBHOOK_BASE_URL"]})  # fmt: skip
            expiration = now_ms + 24 * 3600_000 - 3600_000 + n * (6 * 24 * 3600_000) // count
            integration.config["channel"] = {"id": f"idle-{n}", "token": "t", "resource_id": answer["resourceId"],
                                             "expiration": expiration}  # fmt: skip
            integration.push_channel = f"idle-{n}"
            integration.push_expires_at = datetime.fromtimestamp(expiration / 1000, tz=UTC)  # what renewal reads
        Integration.objects.bulk_update(rows[:1], ["config", "push_channel", "push_expires_at"])
        Integration.objects.bulk_create(rows[1:], batch_size=500)
        before, queries = app.traffic.count, QueryCounter()
        began = time.perf_counter()
        with connection.execute_wrapper(queries):
            renewed = channels_renew()
        elapsed = time.perf_counter() - began
        return {
            "channels renewed per hour": renewed,
            "renewal requests to Google per hour": app.traffic.count - before,
            "seconds of the hourly renewal run": elapsed,
            "database queries of the hourly renewal run": queries.count,
        }
