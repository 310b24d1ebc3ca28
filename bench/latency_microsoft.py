"""Microsoft 365 through Graph change notifications, for bench/latency.py.

`measure(changes)`: the project's Microsoft emulator, calsync's Django app on a local server thread (the
notification URL the emulator posts to), a real Celery worker on queues of its own; each change is an event
created in the emulator's calendar, timed until calsync's database holds it. No dispatcher or beat runs, so
only a notification can bring a change.

`idle_cost(count)`: `count` integrations with live subscriptions whose ends are spread as the renewal policy
leaves them (renewed when within MICROSOFT_PUSH_RENEW_BEFORE_HOURS of the end, to MICROSOFT_PUSH_MINUTES
later), one run of the hourly renewal task, and the Graph requests it made: the renewal requests per hour.

Use Redis as the broker (the filesystem broker polls once a second), e.g.
    CELERY_BROKER_URL=redis://127.0.0.1:6379/7 .venv/bin/python bench/latency.py --only microsoft --changes 20
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from wsgiref.simple_server import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import ROOT, django_for_bench


def _django() -> None:
    from django.apps import apps

    if not apps.ready:
        django_for_bench("latency_microsoft")


def _calsync_server() -> str:
    """calsync's WSGI app on a thread: where Graph's notifications go."""
    from django.core.wsgi import get_wsgi_application

    from emulators.http import QuietHandler, ThreadingServer

    server = make_server("127.0.0.1", 0, get_wsgi_application(), server_class=ThreadingServer,
                         handler_class=QuietHandler)  # fmt: skip
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def _setup() -> tuple[Any, str]:
    """The emulator and calsync's settings pointed at it (and at the local server for notifications)."""
    _django()
    from django.conf import settings
    from microsoft_bench import configure, start

    app, _traffic, base = start()
    configure(base)
    settings.MICROSOFT_WEBHOOK_BASE_URL = _calsync_server()
    return app, base


def _worker_env(base: str) -> dict[str, str]:
    from django.conf import settings

    return {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false", "MICROSOFT_CLIENT_ID": "bench",
            "MICROSOFT_CLIENT_SECRET": "bench-secret", "MICROSOFT_AUTHORITY_HOST": base,
            "MICROSOFT_GRAPH_URL": f"{base}/v1.0", "MICROSOFT_CA_BUNDLE": settings.MICROSOFT_CA_BUNDLE,
            "MICROSOFT_WEBHOOK_BASE_URL": settings.MICROSOFT_WEBHOOK_BASE_URL,
            "MICROSOFT_SYNC_PAST_DAYS": str(settings.MICROSOFT_SYNC_PAST_DAYS),
            "MICROSOFT_SYNC_FUTURE_DAYS": str(settings.MICROSOFT_SYNC_FUTURE_DAYS)}  # fmt: skip


@contextlib.contextmanager
def _worker(base: str) -> Iterator[subprocess.Popen[bytes]]:
    """A worker on private queues (this process publishes there too), ready when it answers a ping."""
    from calsync.celery import app
    from calsync.queue import SYNC_QUEUES

    prefix = f"latency-{uuid.uuid4().hex[:6]}."
    queues = ",".join([f"{prefix}default", *(prefix + name for name in SYNC_QUEUES)])
    env = {**_worker_env(base), "CELERY_QUEUE_PREFIX": prefix}
    command = [sys.executable, "-m", "celery", "-A", "calsync", "worker", "-Q", queues, "--pool=solo",
               "--loglevel=WARNING", "-n", f"{prefix}@%h"]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    from django.conf import settings

    saved = settings.CELERY_QUEUE_PREFIX, app.conf.task_default_queue
    settings.CELERY_QUEUE_PREFIX, app.conf.task_default_queue = prefix, f"{prefix}default"
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[f"{prefix}@{os.uname().nodename}"], timeout=0.5):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Celery worker did not start")
        yield process
    finally:
        settings.CELERY_QUEUE_PREFIX, app.conf.task_default_queue = saved
        process.terminate()
        process.wait(timeout=20)


def _event(moment: datetime, subject: str) -> dict[str, Any]:
    def when(at: datetime) -> dict[str, str]:
        return {"dateTime": at.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}

    return {"subject": subject, "start": when(moment), "end": when(moment + timedelta(hours=1))}


def measure(changes: int) -> list[float]:
    app, base = _setup()
    from microsoft_bench import integration_for

    from events.models import Event
    from integrations.models import Integration
    from sync import services as sync_services

    integration = integration_for(app, "latency", 20)
    sync_services.sync_scheduled(integration_id=integration.pk, trigger="scheduled")  # the first sync subscribes
    integration.refresh_from_db()
    if integration.push_state != Integration.PushState.ACTIVE:
        raise RuntimeError("no Graph subscription was made; see the log")
    Integration.objects.filter(pk=integration.pk).update(next_sync_at=datetime.now(UTC) + timedelta(days=30))
    upn, seconds = integration.config["account"], []
    soon = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    with _worker(base) as worker:
        for n in range(changes):
            title = f"Latency {n} {uuid.uuid4().hex[:6]}"
            started = time.perf_counter()
            app.state.create(upn, integration.remote_calendar_id, _event(soon + timedelta(hours=n), title))
            while not Event.objects.filter(calendar_id=integration.calendar_id, title=title).exists():
                if worker.poll() is not None or time.perf_counter() - started > 120:
                    raise RuntimeError(f"change {n} did not arrive")
                time.sleep(0.01)
            seconds.append(time.perf_counter() - started)
    return seconds


def idle_cost(count: int) -> dict[str, float]:
    app, _base = _setup()
    from django.conf import settings
    from microsoft_bench import integration_for

    from emulators.microsoft.subscriptions import Subscription
    from integrations import tasks
    from integrations.microsoft.push import client_state
    from integrations.models import Integration

    model = integration_for(app, "idle", 0)
    now = datetime.now(UTC)
    lifetime = timedelta(minutes=settings.MICROSOFT_PUSH_MINUTES)
    period = lifetime - timedelta(hours=settings.MICROSOFT_PUSH_RENEW_BEFORE_HOURS)  # between two renewals
    before = timedelta(hours=settings.MICROSOFT_PUSH_RENEW_BEFORE_HOURS)
    rows, subs = [], app.state.subscriptions
    for n in range(count):
        # In the steady state ends are spread evenly over one renewal period; those within the last hour before
        # the renewal window are the ones this hour's run finds due.
        ends = now + before - timedelta(hours=1) + period * (n / count)
        sub_id = str(uuid.uuid4())
        body = {"changeType": "updated", "resource": "me/events", "notificationUrl": "http://127.0.0.1:9/"}
        upn = model.config["account"]
        subs.items[sub_id] = Subscription(sub_id, "bench", upn, "", upn, model.remote_calendar_id, body, ends)
        rows.append(Integration(tenant_id=model.tenant_id, user_id=model.user_id, provider="microsoft",
                                calendar_id=model.calendar_id, remote_calendar_id=f"idle-{n}",
                                config=model.config, credentials_encrypted=model.credentials_encrypted,
                                push_channel=sub_id, push_expires_at=ends, push_state="active"))  # fmt: skip
    Integration.objects.bulk_create(rows, batch_size=1000)
    assert client_state(model.pk, "nonce")  # derived from the integration and a per-subscription nonce
    requests_before, started = app.state.requests, time.perf_counter()
    renewed = tasks.microsoft_renew_subscriptions()
    elapsed = time.perf_counter() - started
    return {
        "renewal requests per hour (policy)": count / (period / timedelta(hours=1)),
        "renewal requests per hour (measured, one hourly run)": float(app.state.requests - requests_before),
        "subscriptions renewed by that run": float(renewed),
        "seconds the run took": elapsed,
        "hours between two renewals of one subscription": period / timedelta(hours=1),
    }
