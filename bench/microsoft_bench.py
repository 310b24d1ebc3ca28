#!/usr/bin/env python
"""Microsoft Graph sync against the project's Microsoft emulator (HTTPS): initial sync of a large calendar
(with recurring series), the echo of calsync's own writes, a no-op sync, 1% changed in Outlook, and 1% changed
in calsync (written back to Outlook).

    .venv/bin/python bench/microsoft_bench.py          # 10,000 events
    .venv/bin/python bench/microsoft_bench.py 2000

Each phase is one run of the real sync service (lock, engine, log) through msal-issued tokens and Graph over
HTTPS. Prints wall time, HTTP requests the emulator received and database queries.
"""

from __future__ import annotations

import ssl
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from wsgiref.simple_server import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchsetup import RequestCounter, django_for_bench, sync_phase

django_for_bench("microsoft")

from django.conf import settings  # noqa: E402

from emulators.http import QuietHandler, ThreadingServer  # noqa: E402
from emulators.microsoft.app import MicrosoftEmulator, self_signed_certificate  # noqa: E402
from emulators.microsoft.state import State  # noqa: E402

START = datetime(2026, 1, 5, 9, tzinfo=UTC)
WEEKLY = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
          "range": {"type": "numbered", "numberOfOccurrences": 20, "startDate": "2026-01-05"}}  # fmt: skip


def start_emulator() -> tuple[MicrosoftEmulator, RequestCounter]:
    cert, key = self_signed_certificate(Path(tempfile.mkdtemp(prefix="ms-bench-")))
    app = MicrosoftEmulator(State())
    counting = RequestCounter(app)
    server = make_server("127.0.0.1", 0, counting, server_class=ThreadingServer, handler_class=QuietHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    app.base_url = f"https://127.0.0.1:{server.server_port}"
    app.state.apps["bench"] = "bench-secret"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.MICROSOFT_CLIENT_ID, settings.MICROSOFT_CLIENT_SECRET = "bench", "bench-secret"
    settings.MICROSOFT_AUTHORITY_HOST, settings.MICROSOFT_GRAPH_URL = app.base_url, f"{app.base_url}/v1.0"
    settings.MICROSOFT_CA_BUNDLE = str(cert)
    return app, counting


def _when(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def fill(state: State, upn: str, n: int) -> str:
    box = state.mailbox(upn)
    calendar_id = box.calendars[0]
    for i in range(n):
        start = START + timedelta(minutes=100 * i)
        body = {"subject": f"Event {i}", "start": _when(start), "end": _when(start + timedelta(hours=1)),
                "transactionId": f"bench-{i}"}  # fmt: skip
        if i % 50 == 0:
            body["recurrence"] = {
                "range": {**WEEKLY["range"], "startDate": start.date().isoformat()},
                "pattern": {**WEEKLY["pattern"], "daysOfWeek": [start.strftime("%A").lower()]},
            }
        state.create(upn, calendar_id, body)
    return calendar_id


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    from accounts.services import tenant_create, user_create
    from events.models import Event
    from events.services import calendar_create
    from integrations.models import Integration

    app, counting = start_emulator()
    upn = "bench@contoso.example"
    began = time.perf_counter()
    calendar_id = fill(app.state, upn, n)
    days = (datetime.now(UTC) - START).days + 1
    settings.MICROSOFT_SYNC_PAST_DAYS, settings.MICROSOFT_SYNC_FUTURE_DAYS = days, 800
    print(f"emulator filled with {n} events ({n // 50} series) in {time.perf_counter() - began:.1f} s; "
          f"window {days} days back, 800 ahead\n")  # fmt: skip
    import msal

    from integrations.microsoft.oauth import SCOPES, application

    tokens = app.state.authorize(upn, "bench")
    cache = msal.SerializableTokenCache()
    msal_app = application(cache)
    endpoint = f"{app.base_url}/common/oauth2/v2.0/token"
    msal_app.token_cache.add(
        {"client_id": "bench", "scope": SCOPES, "token_endpoint": endpoint, "response": tokens,
         "environment": "127.0.0.1"}
    )  # fmt: skip
    account = msal_app.get_accounts()[0]["home_account_id"]
    tenant = tenant_create(slug=f"mbench-{n}", name="Bench")
    user = user_create(tenant=tenant, email=f"mbench{n}@calsync.test", password="a bench passphrase 42")
    calendar = calendar_create(owner=user, name="Outlook")
    integration = Integration(tenant=tenant, user=user, provider="microsoft", calendar=calendar,
                              remote_calendar_id=calendar_id, remote_calendar_name="Calendar",
                              config={"auth": "oauth", "account": upn})  # fmt: skip
    integration.set_credentials({"cache": cache.serialize(), "account": account})
    integration.save()

    def phase(label: str) -> None:
        sync_phase(label, integration, counting)

    print(f"Outlook ({n} events) -> calsync, both ways")
    phase("initial")
    assert Event.objects.filter(calendar=calendar, parent=None).count() == n, "every event arrived"
    phase("echo (own writes back)")
    phase("no-op")
    events = app.state.calendars[calendar_id].events
    for i in range(1, n, 100):  # 1% (single events)
        event_id = next(e for e, body in events.items() if body.get("transactionId") == f"bench-{i}")
        app.state.update(upn, event_id, {"subject": f"Event {i} (changed)"}, None)
    phase("1% changed in Outlook")
    from dataclasses import replace

    from events.convert import item_from_event
    from events.services import item_save

    for row in Event.objects.filter(calendar=calendar, parent=None, rrule="").order_by("pk")[::100]:
        item = item_from_event(row, [])
        item_save(calendar=calendar, item=replace(item, master=replace(item.master, client="Bench client")),
                  name=row.name)  # fmt: skip
    phase("1% changed in calsync (a client set)")


if __name__ == "__main__":
    main()
