"""A change made in Google reaches calsync with no poll: the emulator notifies calsync's web server as Google does,
the push view queues the sync on the push queue, and a real worker process runs it."""

from __future__ import annotations

import pytest

from events.models import Event
from integrations.models import Integration
from sync.models import SyncRun
from tests.conftest import celery_worker, wait_until
from tests.integrations import test_google as g
from tests.sync.items import event

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_google_change_arrives_through_push_and_a_real_worker(  # type: ignore[no-untyped-def]
    member_client, calendar, google, live_server, settings, run_on_commit
) -> None:
    settings.GOOGLE_WEBHOOK_BASE_URL = live_server.url
    email = "pushed.worker@example.com"
    integration = g.connect(member_client, google, email, calendar, run_on_commit)  # opens the channel
    integration.refresh_from_db()
    assert integration.push_state == Integration.PushState.ACTIVE and integration.push_channel
    channel = google.state.channels[integration.push_channel]
    # The worker is a process of its own: Google's endpoints reach it through its environment.
    endpoints = {name: getattr(settings, name) for name in ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET",
                 "GOOGLE_TOKEN_URI", "GOOGLE_API_ENDPOINT", "GOOGLE_BATCH_URI", "GOOGLE_WEBHOOK_BASE_URL")}  # fmt: skip
    with celery_worker(**endpoints) as worker:
        messages = channel.messages
        g.google_side(google, email).create(event("pushed@x", "Made in Google"))
        wait_until(lambda: Event.objects.filter(calendar=calendar, uid="pushed@x").exists(), worker,
                   "the pushed change to reach calsync")  # fmt: skip
    assert channel.messages == messages + 1  # one notification, "exists", with the next message number
    run = SyncRun.objects.get(integration=integration, trigger=SyncRun.Trigger.PUSH)
    assert run.status == "success" and run.to_calsync["created"] == 1
    assert not integration.runs.filter(trigger=SyncRun.Trigger.AUTOMATIC).exists()  # no poll ran it
