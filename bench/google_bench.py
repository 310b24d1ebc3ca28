#!/usr/bin/env python
"""Google Calendar sync against the project's Google emulator, through the real client libraries: the provider
side's listing alone, a first sync each way (with the run that reads its echo back), a no-op sync, 1% changed in
Google and 1% changed in calsync, each case in a child process of its own (bench/providerbench.py says how, and
what cold and warm mean). Two sizes show whether peak memory stays flat.

    .venv/bin/python bench/google_bench.py                     # 2,000 and 10,000 events, SQLite
    .venv/bin/python bench/google_bench.py 200 1000 --before /tmp/before   # beside a checkout of older code
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/google_bench.py
"""

from __future__ import annotations

import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from wsgiref.simple_server import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from providerbench import Spec, Traffic, main

START = datetime(2026, 1, 5, 9, tzinfo=UTC)


def start() -> tuple[Any, Traffic, str]:
    from emulators.google.app import GoogleEmulator
    from emulators.google.state import State
    from emulators.http import QuietHandler, ThreadingServer

    app = GoogleEmulator(State())
    traffic = Traffic(app)
    server = make_server("127.0.0.1", 0, traffic, server_class=ThreadingServer, handler_class=QuietHandler)
    app.base_url = f"http://127.0.0.1:{server.server_port}"
    app.state.clients["bench"] = "bench-secret"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, traffic, app.base_url


def configure(base: str) -> None:
    from django.conf import settings

    settings.GOOGLE_CLIENT_ID, settings.GOOGLE_CLIENT_SECRET = "bench", "bench-secret"
    settings.GOOGLE_TOKEN_URI, settings.GOOGLE_API_ENDPOINT = f"{base}/token", f"{base}/calendar/v3/"
    settings.GOOGLE_BATCH_URI, settings.GOOGLE_WEBHOOK_BASE_URL = f"{base}/batch/calendar/v3", ""


def fill(state: Any, email: str, n: int) -> None:
    """n events every 100 minutes, 2% of them weekly series with one moved occurrence."""
    for i in range(n):
        start = START + timedelta(minutes=100 * i)
        body = {"summary": f"Event {i}", "start": _when(start), "end": _when(start + timedelta(hours=1))}
        if i % 50 == 0:
            body["recurrence"] = ["RRULE:FREQ=WEEKLY;COUNT=20"]
        event = state.insert(email, email, body)
        if i % 50 == 0:
            moved = start + timedelta(days=7, hours=2)
            change = {"summary": f"Event {i} (moved)", "start": _when(moved), "end": _when(moved + timedelta(hours=1))}
            state.write(email, email, _instance(event, start + timedelta(days=7)), change, None, patch=True)


def _when(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.isoformat(), "timeZone": "UTC"}


def _instance(event: dict[str, Any], original: datetime) -> str:
    return f"{event['id']}_{original.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def integration_for(app: Any, label: str, n: int) -> Any:
    from accounts.services import tenant_create, user_create
    from events.services import calendar_create
    from integrations.models import Integration

    email, tag = f"{label}-{uuid.uuid4().hex[:8]}@example.com", uuid.uuid4().hex[:8]
    app.state.account(email)
    fill(app.state, email, n)
    tokens = app.state.authorize(email, "bench")
    tenant = tenant_create(slug=f"g{label}-{tag}", name="Bench")
    user = user_create(tenant=tenant, email=f"g{tag}@calsync.test", password="a bench passphrase 42")
    integration = Integration(tenant=tenant, user=user, provider="google", calendar=calendar_create(owner=user,
                              name="Google"), remote_calendar_id=email, remote_calendar_name="Bench",
                              config={"auth": "oauth", "account": email, "time_zone": "UTC"})  # fmt: skip
    integration.set_credentials({"token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                                 "expiry": (datetime.now() + timedelta(hours=1)).isoformat()})  # fmt: skip
    integration.save()
    return integration


def change(app: Any, integration: Any, round_: int, n: int) -> None:
    """1% of the single events retitled in Google (other ones each round)."""
    email = integration.remote_calendar_id
    by_title = {e.get("summary"): e["id"] for e in app.state.calendars[email].events.values()}
    for i in range(1 + round_ * 7, n, 100):
        if i % 50:
            app.state.write(email, email, by_title[f"Event {i}"], {"summary": f"Event {i} (changed)"}, None,
                            patch=True)  # fmt: skip


SPEC = Spec("google", start, configure, integration_for, lambda app, label: integration_for(app, label, 0), change)

if __name__ == "__main__":
    main(SPEC, __file__)
