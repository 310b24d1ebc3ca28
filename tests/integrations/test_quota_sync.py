"""Quotas met by real syncs and providers: a sync that reaches calsync's own quota for a mailbox is deferred through
the run's back-off, says "throttled, will retry" instead of failing, and completes on its retry with nothing lost or
written twice; Exchange's "server busy" holds back that login. Runs on whichever store the settings give (Redis
under CI, the in-process one without it)."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail

from events import services as events
from integrations import quota
from integrations.models import Integration
from sync import services as sync_services
from sync.errors import TransientError
from sync.models import SyncRun
from tests.sync.items import event

from .test_microsoft import connect, outlook, sync_now

pytestmark = pytest.mark.django_db


def test_a_throttled_sync_is_deferred_and_completes_later(member_client, calendar, microsoft, run_on_commit,
                                                          monkeypatch, settings) -> None:  # fmt: skip
    login = f"quota-{uuid.uuid4().hex[:8]}@contoso.example"
    integration = connect(member_client, microsoft, login, calendar, run_on_commit)
    for n in range(3):
        events.item_save(calendar=calendar, item=event(f"q{n}@x", f"Local {n}", day=n))
    served = microsoft.state.requests
    settings.MICROSOFT_QUOTA_PER_MAILBOX_PER_10_MINUTES = 20  # two requests now, then one every 33 seconds
    deferred: list[float] = []
    reached: list[int] = []
    real = sync_services.sync_request

    def later(**kwargs):  # type: ignore[no-untyped-def]
        if kwargs.get("trigger") == SyncRun.Trigger.RETRY:
            deferred.append(kwargs["delay"])
            reached.append(microsoft.state.requests)
            # When the retry runs, the mailbox has room again (as it would 33 seconds later).
            settings.MICROSOFT_QUOTA_PER_MAILBOX_PER_10_MINUTES = 10_000
            kwargs["delay"] = 0
        return real(**kwargs)

    monkeypatch.setattr(sync_services, "sync_request", later)
    mail.outbox.clear()
    throttled = sync_now(integration, run_on_commit)
    assert throttled.status == SyncRun.Status.RETRYING
    assert throttled.error.startswith("Microsoft: throttled, will retry")
    assert reached == [served + 2]  # the two requests the quota let through; nothing more reached Graph
    assert len(deferred) == 1 and deferred[0] >= 33  # the quota's wait, which is longer than the first back-off
    retry = integration.runs.get(trigger=SyncRun.Trigger.RETRY)
    assert retry.status == SyncRun.Status.SUCCESS
    assert retry.attempt == throttled.attempt  # being held back by the quota used up none of the run's attempts
    integration.refresh_from_db()
    assert integration.status == Integration.Status.OK and mail.outbox == []  # no error, no email
    titles = sorted(e.item.master.summary for e in outlook(microsoft, login).changes(None).changed)
    assert titles == ["Local 0", "Local 1", "Local 2"]


def test_exchange_server_busy_holds_back_that_login_only(exchange) -> None:  # type: ignore[no-untyped-def]
    """ErrorServerBusy with BackOffMilliseconds pauses the login on its server: its next request, from this worker
    or any other, is held back without reaching Exchange; another login on the same server goes on."""
    from exchangelib.folders import Calendar, Root

    from integrations.exchange.client import Server, account, translated

    names = [f"{who}{uuid.uuid4().hex[:8]}" for who in ("busy", "calm")]
    for name in names:
        exchange.state.mailbox(f"{name}@corp.example", password="pw-quota", username=f"CORP\\{name}")
    busy, calm = (Server(exchange.url, name, "pw-quota", "CORP") for name in names)

    def read(server: Server) -> str:
        with translated():
            return Calendar.get_distinguished(
                root=Root(account=account(server, f"{server.username}@corp.example"))
            ).name

    assert read(busy) == "Calendar"
    exchange.state.faults.update(busy=1, back_off_ms=30_000)
    with pytest.raises(TransientError) as first:
        read(busy)
    assert first.value.retry_after == 30 and not isinstance(first.value, quota.Throttled)
    before = exchange.state.requests
    with pytest.raises(quota.Throttled) as held:
        read(busy)
    assert held.value.retry_after >= 29 and exchange.state.requests == before  # nothing reached Exchange
    assert read(calm) == "Calendar"
