"""The live sync state the pages poll (integrations:live): own integrations only, what runs and why, cheap 304s."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from integrations.models import Integration
from integrations.services import integration_create
from sync import liveness, services
from tests.factories import CalendarFactory

pytestmark = pytest.mark.django_db

URL = reverse("integrations:live")


def connect(user, run_on_commit) -> Integration:  # type: ignore[no-untyped-def]
    main, other = CalendarFactory(owner=user, name="Work"), CalendarFactory(owner=user, name="Home")
    with run_on_commit():
        return integration_create(user=user, provider="calsync", calendar=main, remote_calendar_id=str(other.pk),
                                  remote_calendar_name=other.name)  # fmt: skip


def states(client) -> dict[int, dict]:  # type: ignore[no-untyped-def]
    response = client.get(URL)
    assert response.status_code == 200 and response["ETag"]
    return {state["id"]: state for state in response.json()["integrations"]}


def test_a_member_sees_only_their_own_integrations(client, member, outsider, tenant, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import UserFactory

    mine = connect(member, run_on_commit)
    connect(outsider, run_on_commit)
    connect(UserFactory(tenant=tenant), run_on_commit)  # a colleague's, in the same tenant
    client.force_login(member)
    seen = states(client)
    assert list(seen) == [mine.pk]
    assert seen[mine.pk]["last_run"]["status"] == "success" and seen[mine.pk]["running"] is None
    assert seen[mine.pk]["next_check"] is not None and seen[mine.pk]["push_label"] == "Checked regularly"


def test_a_sync_without_a_run_row_shows_running_since_and_what_started_it(client, member, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = connect(member, run_on_commit)
    client.force_login(member)
    assert states(client)[integration.pk]["running"] is None
    token = services._claim(integration, "push")  # what a pushed sync holds while it runs, before any run row
    assert token is not None
    running = states(client)[integration.pk]["running"]
    assert running["trigger"] == "push" and running["trigger_label"] == "Change at the provider"
    assert running["since"] is not None and running["queued"] is False
    services._release(integration, token)
    assert states(client)[integration.pk]["running"] is None


def test_a_queued_synchronize_now_shows_as_waiting(client, member, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = connect(member, run_on_commit)
    services.sync_request(integration=integration, trigger="manual", queue=False)
    client.force_login(member)
    running = states(client)[integration.pk]["running"]
    assert running == {**running, "queued": True, "trigger": "manual", "trigger_label": "Synchronize now"}


def test_an_unchanged_state_answers_304_after_one_query_of_its_own(client, member, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = connect(member, run_on_commit)
    connect(member, run_on_commit)
    client.force_login(member)
    etag = client.get(URL)["ETag"]
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, headers={"If-None-Match": etag})
    assert response.status_code == 304 and response["ETag"] == etag
    # The session, its user, the user's tenant (the tenancy helper), and the fingerprint: however many integrations.
    assert len(queries) == 4, [q["sql"] for q in queries]
    # Anything the page shows changes the answer: a sync asked for, push turned on, the lock going stale.
    services.sync_request(integration=integration, trigger="manual", queue=False)
    changed = client.get(URL, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed["ETag"] != etag
    etag = changed["ETag"]
    Integration.objects.filter(pk=integration.pk).update(push_state=Integration.PushState.ACTIVE)
    changed = client.get(URL, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    pushed = states(client)[integration.pk]
    # A calsync-to-calsync integration has no webhook to configure: nothing arrives at once whatever push_state says.
    assert pushed["push_state"] == "active" and pushed["push_label"] == "Checked regularly"


def test_a_heartbeat_keeps_the_etag_and_a_lock_gone_stale_changes_it(client, member, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = connect(member, run_on_commit)
    token = services._claim(integration, "automatic")
    client.force_login(member)
    etag = client.get(URL)["ETag"]
    assert liveness.lock_renew(integration_id=integration.pk, token=token)  # the running sync's heartbeat
    assert client.get(URL, headers={"If-None-Match": etag}).status_code == 304
    Integration.objects.filter(pk=integration.pk).update(lock_expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(URL, headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.json()["integrations"][0]["running"] is None


def test_signed_out_is_sent_to_sign_in(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get(URL).status_code == 302


def test_the_pages_carry_the_live_state_and_name_the_integrations_sharing_a_calendar(  # type: ignore[no-untyped-def]
    client, member, run_on_commit
) -> None:
    first = connect(member, run_on_commit)
    third = CalendarFactory(owner=member, name="Family")
    with run_on_commit():
        second = integration_create(user=member, provider="calsync", calendar=first.calendar,
                                    remote_calendar_id=str(third.pk), remote_calendar_name="Family")  # fmt: skip
    client.force_login(member)
    settings_page = client.get(reverse("settings")).content.decode()
    assert f'data-live-url="{URL}"' in settings_page
    assert all(f'data-live-integration="{i.pk}"' in settings_page for i in (first, second))
    detail = client.get(reverse("integrations:detail", args=[first.pk])).content.decode()
    assert f'data-live-integration="{first.pk}"' in detail and f'data-live-url="{URL}?id={first.pk}"' in detail
    assert 'data-testid="also-synced">Also synced with: Another calsync calendar (Family)' in detail
    alone = connect(member, run_on_commit)
    assert 'data-testid="also-synced"' not in client.get(reverse("integrations:detail", args=[alone.pk])).text


def test_the_full_state_costs_the_same_queries_for_one_integration_or_many(client, member, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    integration = connect(member, run_on_commit)
    client.force_login(member)
    with CaptureQueriesContext(connection) as one:
        assert client.get(URL).status_code == 200
    for _ in range(4):
        services.sync_request(integration=connect(member, run_on_commit), trigger="manual", queue=False)
    with CaptureQueriesContext(connection) as five:
        seen = states(client)
    # Session, user, tenant, fingerprint, the integrations, and one query for all their recent runs.
    assert len(five) == len(one) == 6, [q["sql"] for q in five]
    assert len(seen) == 5 and sum(1 for s in seen.values() if s["running"]) == 4
    assert seen[integration.pk]["last_run"]["status"] == "success" and seen[integration.pk]["running"] is None


def test_the_integration_page_asks_for_its_own_integration_only(client, member, outsider, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    mine, other = connect(member, run_on_commit), connect(member, run_on_commit)
    theirs = connect(outsider, run_on_commit)
    client.force_login(member)
    assert [s["id"] for s in client.get(URL, {"id": mine.pk}).json()["integrations"]] == [mine.pk]
    assert client.get(URL, {"id": theirs.pk}).json()["integrations"] == []
    assert client.get(URL, {"id": "x"}).status_code == 400
    detail = client.get(reverse("integrations:detail", args=[other.pk])).text
    assert f'data-live-url="{URL}?id={other.pk}"' in detail


def test_a_weak_etag_from_a_proxy_still_matches(client, member, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    connect(member, run_on_commit)
    client.force_login(member)
    etag = client.get(URL)["ETag"]
    assert client.get(URL, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304


def test_push_says_changes_arrive_at_once_only_while_they_do(client, member, run_on_commit, settings) -> None:  # type: ignore[no-untyped-def]
    integration = connect(member, run_on_commit)
    settings.MICROSOFT_WEBHOOK_BASE_URL = "https://calsync.example.com"
    later = timezone.now() + timedelta(days=3)
    Integration.objects.filter(pk=integration.pk).update(provider="microsoft", push_state="active",
                                                         push_expires_at=later)  # fmt: skip
    client.force_login(member)

    def label() -> str:
        return states(client)[integration.pk]["push_label"]  # type: ignore[no-any-return]

    assert label() == "Changes arrive at once"
    Integration.objects.filter(pk=integration.pk).update(sync_enabled=False)
    assert label() == "Not checked while paused"
    Integration.objects.filter(pk=integration.pk).update(sync_enabled=True, status="needs_reauth")
    assert label() == "Not checked until reconnected"
    Integration.objects.filter(pk=integration.pk).update(status="ok", push_expires_at=timezone.now())
    assert label() == "Checked regularly"  # the subscription ended and was not renewed
    Integration.objects.filter(pk=integration.pk).update(push_expires_at=later)
    etag = client.get(URL)["ETag"]
    settings.MICROSOFT_WEBHOOK_BASE_URL = ""  # push turned off: Graph posts nowhere
    assert client.get(URL, headers={"If-None-Match": etag}).status_code == 200
    assert label() == "Checked regularly"
