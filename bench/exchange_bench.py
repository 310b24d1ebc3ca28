#!/usr/bin/env python
"""Exchange (EWS) sync against the project's EWS emulator, through exchangelib: the provider side's listing alone,
a first sync each way (with the run that reads its echo back), a no-op sync, 1% changed in Exchange and 1% changed
in calsync, each case in a child process of its own (bench/providerbench.py says how, and what cold and warm
mean). Two sizes show whether peak memory stays flat.

    .venv/bin/python bench/exchange_bench.py                     # 2,000 and 10,000 events, SQLite
    .venv/bin/python bench/exchange_bench.py 200 1000 --before /tmp/before   # beside a checkout of older code
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/exchange_bench.py
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
PASSWORD = "bench-password"


def start() -> tuple[Any, Traffic, str]:
    from emulators.exchange.app import ExchangeEmulator
    from emulators.exchange.state import State
    from emulators.http import QuietHandler, ThreadingServer

    app = ExchangeEmulator(State())
    traffic = Traffic(app)
    server = make_server("127.0.0.1", 0, traffic, server_class=ThreadingServer, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, traffic, f"http://127.0.0.1:{server.server_port}/EWS/Exchange.asmx"


def configure(base: str) -> None:
    from django.conf import settings

    settings.EXCHANGE_ALLOW_HTTP = settings.CALDAV_ALLOW_PRIVATE_ADDRESSES = True


def fill(state: Any, address: str, login_name: str, n: int) -> str:
    """n events every 100 minutes, 2% of them weekly series with an edited occurrence."""
    state.mailbox(address, "Bench", password=PASSWORD, username=f"BENCH\\{login_name}")
    folder = state.folder(address, distinguished="calendar")
    login = state.logins[f"bench\\{login_name}"]
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
    return str(folder.id)


def integration_for(app: Any, label: str, n: int) -> Any:
    from accounts.services import tenant_create, user_create
    from events.services import calendar_create
    from integrations.models import Integration

    tag = uuid.uuid4().hex[:8]
    address, login_name = f"{label}-{tag}@corp.example", f"bench{tag}"
    folder_id = fill(app.state, address, login_name, n)
    tenant = tenant_create(slug=f"x{label}-{tag}", name="Bench")
    user = user_create(tenant=tenant, email=f"x{tag}@calsync.test", password="a bench passphrase 42")
    integration = Integration(tenant=tenant, user=user, provider="exchange", calendar=calendar_create(owner=user,
                              name="Exchange"), remote_calendar_id=folder_id, remote_calendar_name="Calendar",
                              config={"auth": "password", "account": address, "url": app.url, "domain": "BENCH",
                                      "username": login_name})  # fmt: skip
    integration.set_credentials({"password": PASSWORD})
    integration.save()
    return integration


def change(app: Any, integration: Any, round_: int, n: int) -> None:
    """1% of the single events retitled in Exchange (other ones each round)."""
    address = integration.config["account"]
    login = app.state.logins[f"bench\\{integration.config['username']}"]
    items = app.state.folder(address, integration.remote_calendar_id).items
    by_uid = {body["uid"]: body for body in items.values()}
    for i in range(1 + round_ * 7, n, 100):
        if i % 50:
            app.state.update(address, login, by_uid[f"bench-{i}"], {"subject": f"Event {i} (changed)"}, set(), None)


def start_with_url() -> tuple[Any, Traffic, str]:
    app, traffic, url = start()
    app.url = url
    return app, traffic, url


SPEC = Spec("exchange", start_with_url, configure, integration_for, lambda app, label: integration_for(app, label, 0),
            change)  # fmt: skip

if __name__ == "__main__":
    main(SPEC, __file__)
