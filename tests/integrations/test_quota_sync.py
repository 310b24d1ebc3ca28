"""A sync that reaches calsync's own quota for a mailbox is deferred through the run's back-off, says "throttled,
will retry" instead of failing, and completes on its retry with nothing lost or written twice. Runs on whichever
store the settings give (Redis under CI, the in-process one without it)."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail

from events import services as events
from integrations.models import Integration
from sync import services as sync_services
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
    integration.refresh_from_db()
    assert integration.status == Integration.Status.OK and mail.outbox == []  # no error, no email
    titles = sorted(e.item.master.summary for e in outlook(microsoft, login).changes(None).changed)
    assert titles == ["Local 0", "Local 1", "Local 2"]
