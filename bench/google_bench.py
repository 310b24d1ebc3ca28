#!/usr/bin/env python
"""Google Calendar sync against the project's Google emulator: initial sync of a large calendar (with
recurring series), the echo of calsync's own writes, a no-op sync, 1% changed in Google, then 1% changed in
calsync (written back as patches).

    .venv/bin/python bench/google_bench.py          # 10,000 events
    .venv/bin/python bench/google_bench.py 2000

Each phase is one run of the real sync service (lock, engine, log) through the real Google client
libraries. Prints wall time, HTTP requests the emulator received and database queries.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from wsgiref.simple_server import make_server
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import RequestCounter, django_for_bench, sync_phase

django_for_bench("google")

from django.conf import settings  # noqa: E402

from emulators.google.app import GoogleEmulator  # noqa: E402
from emulators.google.state import State  # noqa: E402
from emulators.http import QuietHandler, ThreadingServer  # noqa: E402

ZONE = ZoneInfo("Europe/Berlin")
START = datetime(2026, 1, 5, 9, tzinfo=ZONE)


def start_emulator() -> tuple[GoogleEmulator, RequestCounter]:
    app = GoogleEmulator(State())
    counting = RequestCounter(app)
    server = make_server("127.0.0.1", 0, counting, server_class=ThreadingServer, handler_class=QuietHandler)
    app.base_url = f"http://127.0.0.1:{server.server_port}"
    app.state.clients["bench"] = "bench-secret"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = app.base_url
    settings.GOOGLE_CLIENT_ID, settings.GOOGLE_CLIENT_SECRET = "bench", "bench-secret"
    settings.GOOGLE_TOKEN_URI, settings.GOOGLE_API_ENDPOINT = f"{base}/token", f"{base}/calendar/v3/"
    settings.GOOGLE_BATCH_URI, settings.GOOGLE_WEBHOOK_BASE_URL = f"{base}/batch/calendar/v3", ""
    return app, counting


def fill(state: State, email: str, n: int) -> None:
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
    return {"dateTime": moment.isoformat(), "timeZone": "Europe/Berlin"}


def _instance(event: dict, original: datetime) -> str:  # type: ignore[type-arg]
    return f"{event['id']}_{original.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    from accounts.services import tenant_create, user_create
    from events.models import Event
    from events.services import calendar_create
    from integrations.models import Integration

    app, counting = start_emulator()
    email = "bench@example.com"
    app.state.account(email)
    began = time.perf_counter()
    fill(app.state, email, n)
    print(f"emulator filled with {n} events ({n // 50} series) in {time.perf_counter() - began:.1f} s\n")
    tokens = app.state.authorize(email, "bench")
    tenant = tenant_create(slug=f"gbench-{n}", name="Bench")
    user = user_create(tenant=tenant, email=f"gbench{n}@calsync.test", password="a bench passphrase 42")
    calendar = calendar_create(owner=user, name="Google")
    integration = Integration(tenant=tenant, user=user, provider="google", calendar=calendar,
                              remote_calendar_id=email, remote_calendar_name="Bench",
                              config={"auth": "oauth", "account": email, "time_zone": "Europe/Berlin"})  # fmt: skip
    integration.set_credentials({"token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                                 "expiry": (datetime.now() + timedelta(hours=1)).isoformat()})  # fmt: skip
    integration.save()

    def phase(label: str) -> None:
        sync_phase(label, integration, counting)

    print(f"Google ({n} events) -> calsync, both ways")
    phase("initial")
    assert Event.objects.filter(calendar=calendar, parent=None).count() == n
    phase("echo (own writes back)")
    phase("no-op")
    for i in range(1, n, 100):  # 1%
        event_id = next(e["id"] for e in app.state.calendars[email].events.values() if e["summary"] == f"Event {i}")
        app.state.write(email, email, event_id, {"summary": f"Event {i} (changed)"}, None, patch=True)
    phase("1% changed in Google")
    change_in_calsync(calendar, [*range(10, n, 100), *range(0, n, 1000)])
    phase("1% changed in calsync")


def change_in_calsync(calendar: object, numbers: list[int]) -> None:
    """Retitle events in calsync (single events and some series): the write path, patch by patch."""
    from dataclasses import replace

    from events.convert import item_from_event
    from events.models import Event
    from events.services import item_save

    for i in numbers:
        row = Event.objects.get(calendar=calendar, parent=None, title=f"Event {i}")
        item = item_from_event(row)
        item_save(calendar=calendar, item=replace(item, master=replace(item.master, summary=f"Event {i} (calsync)")),
                  name=row.name)  # fmt: skip


if __name__ == "__main__":
    main()
