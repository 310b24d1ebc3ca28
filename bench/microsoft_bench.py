#!/usr/bin/env python
"""Microsoft Graph sync against the project's Microsoft emulator (HTTPS, msal-issued tokens): the provider side's
listing alone, a first sync each way (with the run that reads its echo back), a no-op sync, 1% changed in Outlook
and 1% changed in calsync, each case in a child process of its own (bench/providerbench.py says how, and what
cold and warm mean). Two sizes show whether peak memory stays flat.

    .venv/bin/python bench/microsoft_bench.py                     # 2,000 and 10,000 events, SQLite
    .venv/bin/python bench/microsoft_bench.py 200 1000 --before /tmp/before   # beside a checkout of older code
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/microsoft_bench.py
"""

from __future__ import annotations

import os
import ssl
import sys
import tempfile
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from wsgiref.simple_server import make_server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from providerbench import Spec, Traffic, main

START = datetime(2026, 1, 5, 9, tzinfo=UTC)
WEEKLY = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
          "range": {"type": "numbered", "numberOfOccurrences": 20, "startDate": "2026-01-05"}}  # fmt: skip


def start() -> tuple[Any, Traffic, str]:
    from emulators.http import QuietHandler, ThreadingServer
    from emulators.microsoft.app import MicrosoftEmulator, self_signed_certificate
    from emulators.microsoft.state import State

    cert, key = self_signed_certificate(Path(tempfile.mkdtemp(prefix="ms-bench-")))
    os.environ["BENCH_MICROSOFT_CA"] = str(cert)  # for the children too
    app = MicrosoftEmulator(State())
    traffic = Traffic(app)
    server = make_server("127.0.0.1", 0, traffic, server_class=ThreadingServer, handler_class=QuietHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    app.base_url = f"https://127.0.0.1:{server.server_port}"
    app.state.apps["bench"] = "bench-secret"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, traffic, app.base_url


def configure(base: str) -> None:
    from django.conf import settings

    settings.MICROSOFT_CLIENT_ID, settings.MICROSOFT_CLIENT_SECRET = "bench", "bench-secret"
    settings.MICROSOFT_AUTHORITY_HOST, settings.MICROSOFT_GRAPH_URL = base, f"{base}/v1.0"
    settings.MICROSOFT_CA_BUNDLE = os.environ["BENCH_MICROSOFT_CA"]
    settings.MICROSOFT_WEBHOOK_BASE_URL = ""  # polling: no subscription is made
    # The window reaches back to the first event.
    settings.MICROSOFT_SYNC_PAST_DAYS = (datetime.now(UTC) - START).days + 1
    settings.MICROSOFT_SYNC_FUTURE_DAYS = 800


def _when(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def fill(state: Any, upn: str, n: int) -> str:
    """n events every 100 minutes, 2% of them weekly series."""
    calendar_id: str = state.mailbox(upn).calendars[0]
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


def integration_for(app: Any, label: str, n: int) -> Any:
    import msal

    from accounts.services import tenant_create, user_create
    from events.services import calendar_create
    from integrations.microsoft.oauth import SCOPES, application
    from integrations.models import Integration

    tag = uuid.uuid4().hex[:8]
    upn = f"{label}-{tag}@contoso.example"
    calendar_id = fill(app.state, upn, n)
    tokens = app.state.authorize(upn, "bench")
    cache = msal.SerializableTokenCache()
    msal_app = application(cache)
    msal_app.token_cache.add({"client_id": "bench", "scope": SCOPES, "response": tokens, "environment": "127.0.0.1",
                              "token_endpoint": f"{app.base_url}/common/oauth2/v2.0/token"})  # fmt: skip
    account = msal_app.get_accounts()[0]["home_account_id"]
    tenant = tenant_create(slug=f"m{label}-{tag}", name="Bench")
    user = user_create(tenant=tenant, email=f"m{tag}@calsync.test", password="a bench passphrase 42")
    integration = Integration(tenant=tenant, user=user, provider="microsoft", calendar=calendar_create(owner=user,
                              name="Outlook"), remote_calendar_id=calendar_id, remote_calendar_name="Calendar",
                              config={"auth": "oauth", "account": upn})  # fmt: skip
    integration.set_credentials({"cache": cache.serialize(), "account": account})
    integration.save()
    return integration


def change(app: Any, integration: Any, round_: int, n: int) -> None:
    """1% of the single events retitled in Outlook (other ones each round)."""
    upn = integration.config["account"]
    events = app.state.calendars[integration.remote_calendar_id].events
    by_tag = {body.get("transactionId"): event_id for event_id, body in events.items()}
    for i in range(1 + round_ * 7, n, 100):
        if i % 50:
            app.state.update(upn, by_tag[f"bench-{i}"], {"subject": f"Event {i} (changed)"}, None)


SPEC = Spec("microsoft", start, configure, integration_for, lambda app, label: integration_for(app, label, 0), change)

if __name__ == "__main__":
    main(SPEC, __file__)
