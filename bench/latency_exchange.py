"""Exchange (EWS) for bench/latency.py: a change made in the EWS emulator, timed until calsync's database holds it,
through `manage.py ews_listen` (a streaming subscription) and a real Celery worker, with no poll running.

    .venv/bin/python bench/latency.py --only exchange --changes 20 --idle 2000
    CELERY_BROKER_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/latency.py --only exchange  # Redis broker

idle_cost(count): `count` calendars of organisations of 2,000 (each one's sync account impersonating its
mailboxes) held by one listener process: its memory (RSS), the GetStreamingEvents connections it keeps open (200
subscriptions each), and the EWS requests per hour that keeps them, measured with the emulator's minute shortened
to a second (EXCHANGE_STREAM_MINUTES, 10 by default, then reopens each connection every 10 s) and scaled back to
real minutes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import ROOT, django_for_bench
from exchange_bench import start as start_emulator

START = datetime(2026, 12, 14, 9, tzinfo=UTC)
PASSWORD = "bench-password"
IDLE_WINDOW = 60.0  # seconds of emulator time counted: an hour of real minutes at minute_seconds=1


def _setup(name: str) -> str:
    """Django on a throwaway database; returns the private queue prefix the worker and the listener share."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}."
    os.environ.update(CELERY_QUEUE_PREFIX=prefix, EXCHANGE_ALLOW_HTTP="true", CALDAV_ALLOW_PRIVATE_ADDRESSES="true")
    django_for_bench(name)
    return prefix


@contextlib.contextmanager
def _process(args: list[str], **env: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**os.environ, **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=60)


def _worker(prefix: str) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    from calsync.queue import SYNC_QUEUES

    queues = ",".join(prefix + q for q in SYNC_QUEUES)
    return _process(["-m", "celery", "-A", "calsync", "worker", "-Q", queues, "--pool=solo", "--loglevel=ERROR"])


def _listener(**env: str) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return _process(["manage.py", "ews_listen"], **env)


def _wait(condition: Any, what: str, seconds: float = 600, every: float = 0.02) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"latency_exchange: timed out waiting for {what}")
        time.sleep(every)


def _tenant() -> tuple[Any, Any, Any]:
    from accounts.models import Tenant, User
    from events.models import Calendar

    tenant = Tenant.objects.create(slug=f"t{uuid.uuid4().hex[:6]}", name="Bench")
    user = User.objects.create(
        tenant=tenant,
        email=f"{tenant.slug}@bench.test",
        username=f"{tenant.slug}@bench.test",
        can_setup_integrations=True,
    )
    return tenant, user, Calendar.objects.create(owner=user, tenant=tenant, name="Work")


def measure(changes: int) -> list[float]:
    prefix = _setup("latency_exchange")
    from calsync.celery import app as celery_app
    from events.models import Event
    from integrations.connecting import MailboxCalendar
    from integrations.exchange.client import Server
    from integrations.exchange.services import exchange_connect
    from integrations.models import Integration

    app, _traffic, url = start_emulator()
    address = "ann@bench.example"
    box = app.state.mailbox(address, "Ann", password=PASSWORD, username="BENCH\\ann")
    folder = next(iter(box.folders.values()))
    _tenant_row, user, calendar = _tenant()
    celery_app.conf.task_always_eager = True  # the first sync here, before the clock starts
    integration = exchange_connect(user=user, server=Server(url, "ann", PASSWORD, domain="BENCH"), mailbox=address,
                                   remote=MailboxCalendar(folder.id, "Calendar", True, default=True),
                                   calendar=calendar, sync_enabled=True, automatic=True)  # fmt: skip
    celery_app.conf.task_always_eager = False
    Integration.objects.filter(pk=integration.pk).update(next_sync_at=START + timedelta(days=365))  # no poll
    seconds = []
    with _worker(prefix), _listener():
        held = Integration.objects.filter(pk=integration.pk, push_state=Integration.PushState.ACTIVE)
        _wait(held.exists, "the listener's subscription")
        time.sleep(3)  # the catch-up sync after subscribing has run
        for n in range(changes):
            title = f"Latency {n}"
            began = time.monotonic()
            app.state.create(address, folder.id, {"subject": title, "start": START + timedelta(hours=n),
                                                  "end": START + timedelta(hours=n, minutes=30)})  # fmt: skip
            _wait(Event.objects.filter(calendar=calendar, title=title).exists, title, 120)
            seconds.append(time.monotonic() - began)
    return seconds


PER_ORGANISATION = 2000  # what one sync account's 10 connections carry


def idle_cost(count: int) -> dict[str, float]:
    prefix = _setup("latency_exchange_idle")
    from integrations.models import Integration

    app, traffic, url = start_emulator()
    # A second per minute (heartbeats as often, relatively): the figures are scaled back to real minutes.
    app.state.notifications.configure({"minute_seconds": 1, "heartbeat_seconds": 45 / 60})
    Integration.objects.update(sync_enabled=False)  # measure()'s, if it ran: not counted
    tenants = [_organisation(app, url, n, min(PER_ORGANISATION, count - n)) for n in range(0, count, PER_ORGANISATION)]
    active = Integration.objects.filter(tenant__in=tenants, push_state=Integration.PushState.ACTIVE)
    with _listener(EXCHANGE_LISTEN_CAPACITY=str(count)) as listening:
        began = time.monotonic()
        _wait(lambda: active.count() == count, f"{count} subscriptions", 3600, every=0.5)
        subscribed_in = time.monotonic() - began
        time.sleep(5)  # the catch-up sync requests are published; the connections opened
        before = traffic.requests
        time.sleep(IDLE_WINDOW)
        minutes = IDLE_WINDOW / app.state.notifications.switches["minute_seconds"]  # real minutes the window stands for
        per_hour = (traffic.requests - before) * 60 / minutes
        rss = _rss_mb(listening.pid)
        streams = app.state.notifications.streams
    _purge(prefix)
    return {"organisations": len(tenants), "listener RSS MB": rss, "GetStreamingEvents connections": streams,
            "EWS requests per hour": per_hour, "seconds to subscribe all": subscribed_in}  # fmt: skip


def _organisation(app: Any, url: str, first: int, calendars: int) -> Any:
    """A tenant whose sync account impersonates `calendars` mailboxes, each connected."""
    from calsync import crypto
    from integrations.models import ExchangeServer, Integration

    name = f"sync{first}"
    app.state.mailbox(f"{name}@bench.example", "Sync", password=PASSWORD, username=f"BENCH\\{name}")
    app.state.add_login(f"BENCH\\{name}", PASSWORD, f"{name}@bench.example", impersonation=True)
    tenant, user, calendar = _tenant()
    ExchangeServer.objects.create(tenant=tenant, ews_url=url, domain="BENCH", username=name,
                                  password_encrypted=crypto.encrypt({"password": PASSWORD}),
                                  sync_email=f"{name}@bench.example", enabled=True, test_ok=True)  # fmt: skip
    rows = []
    for n in range(first, first + calendars):
        address = f"user{n}@bench.example"
        folder = next(iter(app.state.mailbox(address).folders.values()))
        rows.append(Integration(tenant=tenant, user=user, calendar=calendar, provider="exchange",
                                remote_calendar_id=folder.id, remote_calendar_name="Calendar",
                                config={"auth": "organisation", "account": address}, sync_enabled=True,
                                automatic=True, next_sync_at=START + timedelta(days=365)))  # fmt: skip
    Integration.objects.bulk_create(rows, batch_size=500)
    return tenant


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _purge(prefix: str) -> None:
    """The catch-up sync requests nobody ran (no worker here): out of the broker."""
    from calsync.celery import app as celery_app
    from calsync.queue import SYNC_QUEUES

    with celery_app.connection_for_write() as connection:
        for queue in SYNC_QUEUES:
            with contextlib.suppress(Exception):
                connection.default_channel.queue_purge(prefix + queue)
