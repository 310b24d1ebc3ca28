#!/usr/bin/env python
"""Exchange (EWS) sync against the project's EWS emulator: initial sync of a large calendar (with recurring
series that have an edited occurrence), the echo of calsync's own writes, a no-op sync, 1% changed in
Exchange, and 1% retitled in calsync (written to Exchange: GetItem, then UpdateItem of the changed fields).

    .venv/bin/python bench/exchange_bench.py          # 10,000 events
    .venv/bin/python bench/exchange_bench.py 2000

Each phase is one run of the real sync service (lock, engine, log) through exchangelib. Prints wall time, HTTP
requests the emulator received and database queries.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from wsgiref.simple_server import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import RequestCounter, django_for_bench, sync_phase

django_for_bench("exchange")

from django.conf import settings  # noqa: E402

from emulators.exchange.app import ExchangeEmulator  # noqa: E402
from emulators.exchange.state import State  # noqa: E402
from emulators.http import QuietHandler, ThreadingServer  # noqa: E402

START = datetime(2026, 1, 5, 9, tzinfo=UTC)
PASSWORD = "bench-password"


def start_emulator() -> tuple[ExchangeEmulator, RequestCounter, str]:
    app = ExchangeEmulator(State())
    counting = RequestCounter(app)
    server = make_server("127.0.0.1", 0, counting, server_class=ThreadingServer, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.EXCHANGE_ALLOW_HTTP = settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = True
    return app, counting, f"http://127.0.0.1:{server.server_port}/EWS/Exchange.asmx"


def fill(state: State, address: str, n: int) -> str:
    state.mailbox(address, "Bench", password=PASSWORD, username="BENCH\\bench")
    folder = state.folder(address, distinguished="calendar")
    login = state.logins["bench\\bench"]
    for i in range(n):
        start = START + timedelta(minutes=100 * i)
        fields = {"subject": f"Event {i}", "start": start, "end": start + timedelta(hours=1), "uid": f"bench-{i}"}
        if i % 50 == 0:
            fields["recurrence"] = {
                "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [start.strftime("%A").lower()],
                            "firstDayOfWeek": "monday"},
                "range": {"type": "numbered", "numberOfOccurrences": 20, "startDate": start.date().isoformat()},
            }  # fmt: skip
        item = state.create(address, folder.id, fields)
        if i % 50 == 0:
            second = state.occurrence(address, login, item["id"], 2)
            state.update(address, login, second, {"subject": f"Event {i} (moved)"}, set(), None)
    return folder.id


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    from accounts.services import tenant_create, user_create
    from events.models import Event
    from events.services import calendar_create
    from integrations.models import Integration

    app, counting, url = start_emulator()
    address = "bench@corp.example"
    began = time.perf_counter()
    folder_id = fill(app.state, address, n)
    print(f"emulator filled with {n} events ({n // 50} series) in {time.perf_counter() - began:.1f} s\n")
    tenant = tenant_create(slug=f"xbench-{n}", name="Bench")
    user = user_create(tenant=tenant, email=f"xbench{n}@calsync.test", password="a bench passphrase 42")
    calendar = calendar_create(owner=user, name="Exchange")
    integration = Integration(tenant=tenant, user=user, provider="exchange", calendar=calendar,
                              remote_calendar_id=folder_id, remote_calendar_name="Calendar",
                              config={"auth": "password", "account": address, "url": url, "domain": "BENCH",
                                      "username": "bench"})  # fmt: skip
    integration.set_credentials({"password": PASSWORD})
    integration.save()

    def phase(label: str) -> None:
        sync_phase(label, integration, counting)

    print(f"Exchange ({n} events) -> calsync, both ways")
    phase("initial")
    assert Event.objects.filter(calendar=calendar, parent=None).count() == n, "every event arrived"
    phase("echo (own writes back)")
    phase("no-op")
    login = app.state.logins["bench\\bench"]
    items = app.state.folder(address, folder_id).items
    for i in range(1, n, 100):  # 1% (single events)
        item = next(body for body in items.values() if body["uid"] == f"bench-{i}")
        app.state.update(address, login, item, {"subject": f"Event {i} (changed)"}, set(), None)
    phase("1% changed in Exchange")
    retitle_in_calsync(calendar, n // 100)
    phase("1% changed in calsync")


def retitle_in_calsync(calendar: object, count: int) -> None:
    from dataclasses import replace

    from events import services as event_services
    from events.convert import item_from_event
    from events.models import Event

    for row in list(Event.objects.filter(calendar=calendar, parent=None, rrule="").order_by("pk")[:count]):
        item = item_from_event(row, [])
        retitled = replace(item.master, summary=f"{row.title} (edited in calsync)")
        event_services.item_save(calendar=row.calendar, item=replace(item, master=retitled), name=row.name)


if __name__ == "__main__":
    main()
