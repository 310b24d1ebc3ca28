"""Graph change notifications in calsync: the webhook's validation handshake, forged notifications ignored, the
subscription made after the first sync, renewed by the hourly task, deleted on disconnect; and, with a real
worker and a live server the emulator posts to, a change in Outlook arriving with no poll, also across `missed`,
`subscriptionRemoved` and an expired subscription."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from io import StringIO
from typing import Any

import msal
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from events.models import Event
from integrations import services as integration_services
from integrations import tasks
from integrations.microsoft import push
from integrations.microsoft.oauth import SCOPES, application
from integrations.models import Integration
from sync import services as sync_services
from tests.conftest import celery_worker, free_port, wait_until

PUSH = "integrations:microsoft_push"
ACTIVE, FAILED = Integration.PushState.ACTIVE, Integration.PushState.FAILED


def _integration(microsoft, member, calendar, upn: str, remote: int = 0) -> Integration:  # type: ignore[no-untyped-def]
    """A connected Outlook calendar (the mailbox's `remote`th), as after "Connect to MS Exchange" (msal's cache
    holding the tokens)."""
    tokens = microsoft.state.authorize(upn, "calsync-test")
    cache = msal.SerializableTokenCache()
    token_endpoint = f"{microsoft.base_url}/common/oauth2/v2.0/token"
    application(cache).token_cache.add({"client_id": "calsync-test", "scope": SCOPES, "response": tokens,
                                        "environment": "127.0.0.1", "token_endpoint": token_endpoint})  # fmt: skip
    account = application(cache).get_accounts()[0]["home_account_id"]
    integration = Integration(tenant=member.tenant, user=member, provider="microsoft", calendar=calendar,
                              remote_calendar_id=microsoft.state.mailboxes[upn].calendars[remote],
                              remote_calendar_name="Calendar", config={"auth": "oauth", "account": upn})  # fmt: skip
    integration.set_credentials({"cache": cache.serialize(), "account": account})
    integration.save()
    return integration


def _notify(client, *items: dict[str, Any]):  # type: ignore[no-untyped-def]
    return client.post(reverse(PUSH), json.dumps({"value": list(items)}), content_type="application/json")


def _outlook_event(microsoft, upn: str, subject: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    start = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:00:00")
    end = (timezone.now() + timedelta(days=1, hours=1)).strftime("%Y-%m-%dT%H:00:00")
    return microsoft.state.create(upn, None, {"subject": subject, "start": {"dateTime": start, "timeZone": "UTC"},  # type: ignore[no-any-return]
                                              "end": {"dateTime": end, "timeZone": "UTC"}})  # fmt: skip


# --- the webhook alone -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_webhook_echoes_the_validation_token_as_plain_text(client) -> None:  # type: ignore[no-untyped-def]
    token = "Validation: Testing client application reachability <b>&</b>"
    answer = client.post(f"{reverse(PUSH)}?validationToken={token.replace('&', '%26')}", content_type="text/plain")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/plain")
    assert answer.content.decode() == token
    assert client.post(f"{reverse(PUSH)}?validationToken=", content_type="text/plain").status_code == 400
    assert client.post(reverse(PUSH), "not json", content_type="application/json").status_code == 400
    assert client.post(reverse(PUSH), "[1]", content_type="application/json").status_code == 400
    assert client.get(reverse(PUSH)).status_code == 405


SUB_1, SUB_2 = str(uuid.uuid4()), str(uuid.uuid4())


def _subscribed(member, calendar, **config: str) -> Integration:  # type: ignore[no-untyped-def]
    """An integration holding subscription SUB_1 in tenant-a, as after a subscription was made."""
    return Integration.objects.create(tenant=member.tenant, user=member, provider="microsoft", calendar=calendar,
                                      remote_calendar_id="cal-1", push_channel=SUB_1,
                                      config={"graph_tenant": "tenant-a", "graph_nonce": "n1", **config})  # fmt: skip


@pytest.mark.django_db
def test_only_genuine_notifications_ask_for_a_sync(client, member, calendar, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    asked: list[int] = []
    monkeypatch.setattr(push, "sync_request_push", lambda *, integration: asked.append(integration.pk))
    ours = _subscribed(member, calendar)
    Integration.objects.create(
        tenant=member.tenant, user=member, provider="microsoft", calendar=calendar, remote_calendar_id="cal-2"
    )  # no subscription: the empty id must match nothing
    genuine = {"subscriptionId": SUB_1, "clientState": push.client_state(ours.pk, "n1"), "tenantId": "TENANT-A",
               "changeType": "updated", "resource": "Users/x/Events/y"}  # fmt: skip
    forged = [{**genuine, "clientState": push.client_state(ours.pk + 1, "n1")},
              {**genuine, "clientState": push.client_state(ours.pk, "n0")},  # an earlier subscription's secret
              {**genuine, "clientState": ""}, {**genuine, "clientState": "\u00e9t\u00e9"},
              {**genuine, "subscriptionId": SUB_2}, {**genuine, "subscriptionId": ""},
              {**genuine, "subscriptionId": f"{SUB_1}\u0000"}, {**genuine, "subscriptionId": ["x"]},
              {**genuine, "tenantId": "tenant-b"}, {**genuine, "tenantId": None},
              {**genuine, "clientState": "guess", "lifecycleEvent": "subscriptionRemoved"}]  # fmt: skip
    for item in forged:
        assert _notify(client, item).status_code == 202
    assert _notify(client, "not an object").status_code == 202
    assert asked == [] and Integration.objects.get(pk=ours.pk).push_expires_at is None  # no repair queued
    assert _notify(client, genuine, {**genuine, "changeType": "deleted"}).status_code == 202  # one sync for both
    assert _notify(client, {**genuine, "lifecycleEvent": "missed"}).status_code == 202  # missed: resync
    assert asked == [ours.pk, ours.pk]


@pytest.mark.django_db
def test_json_nested_too_deep_or_not_json_is_a_400(client) -> None:  # type: ignore[no-untyped-def]
    deep = "[" * 100_000 + "]" * 100_000
    assert client.post(reverse(PUSH), deep, content_type="application/json").status_code == 400
    assert client.post(reverse(PUSH), '{"value": []}', content_type="text/plain").status_code == 400


@pytest.mark.django_db
def test_forged_ids_cost_one_query_however_many(client, member, calendar, monkeypatch,  # type: ignore[no-untyped-def]
                                                django_assert_max_num_queries) -> None:  # fmt: skip
    asked: list[int] = []
    monkeypatch.setattr(push, "sync_request_push", lambda *, integration: asked.append(integration.pk))
    ours = _subscribed(member, calendar)
    genuine = {"subscriptionId": SUB_1, "clientState": push.client_state(ours.pk, "n1"), "tenantId": "tenant-a"}
    forged = [{"subscriptionId": str(uuid.uuid4())} for _ in range(300)] + [
        {"subscriptionId": f"s{n}"} for n in range(300)
    ]
    with django_assert_max_num_queries(1):
        assert _notify(client, *forged).status_code == 202
    assert _notify(client, genuine, *forged).status_code == 202
    many = [{"subscriptionId": str(uuid.uuid4())} for _ in range(push.ITEMS_MAX)]
    assert _notify(client, *many, genuine).status_code == 202  # past the cap: not read
    assert asked == [ours.pk]


@pytest.mark.django_db
def test_a_subscription_made_by_a_run_that_lost_the_race_is_deleted(member, calendar, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A repair and the hourly renewal both read subscription SUB_1; the renewal replaced it first (SUB_2). The
    repair's new subscription must not overwrite that, and must not be left at Graph, unrecorded."""
    ours = _subscribed(member, calendar, note="kept")
    stale = Integration.objects.get(pk=ours.pk)
    Integration.objects.filter(pk=ours.pk).update(push_channel=SUB_2, config={**ours.config, "note": "newer"})
    calls: list[tuple[str, str]] = []
    made = str(uuid.uuid4())

    class Graph:
        prefix = "/me"

        def call(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
            calls.append((method, path))
            return {"id": made, "expirationDateTime": "2030-01-01T00:00:00.0000000Z"}

    monkeypatch.setattr(push, "_client", lambda integration: Graph())
    monkeypatch.setattr(push, "_tenant", lambda integration: "tenant-a")
    push._open(stale)
    fresh = Integration.objects.get(pk=ours.pk)
    assert fresh.push_channel == SUB_2 and fresh.config["note"] == "newer"
    assert calls == [("POST", "/subscriptions"), ("DELETE", f"/subscriptions/{made}")]
    push._open(fresh)  # holding the current one: replaces it, keeps the other config keys, deletes the old one
    fresh = Integration.objects.get(pk=ours.pk)
    assert fresh.push_channel == made and fresh.config["note"] == "newer" and fresh.config["graph_nonce"] != "n1"
    assert calls[-1] == ("DELETE", f"/subscriptions/{SUB_2}")


@pytest.mark.parametrize("document", [{}, {"issuer": None}, {"issuer": "x"}, [], {"issuer": "https://h/v2.0"}])
def test_an_openid_document_without_a_tenant_is_a_push_failure(document: Any) -> None:
    with pytest.raises(ValueError):
        push._issuer_tenant(document)
    tenant = str(uuid.uuid4())
    assert push._issuer_tenant({"issuer": f"https://login.microsoftonline.com/{tenant.upper()}/v2.0"}) == tenant


# --- subscriptions against the emulator -----------------------------------------------------------------


@pytest.fixture
def pushing(microsoft, live_server, settings):  # type: ignore[no-untyped-def]
    """Graph (the emulator) can reach calsync's webhook on the live server."""
    settings.MICROSOFT_WEBHOOK_BASE_URL = live_server.url
    return microsoft


@pytest.mark.django_db(transaction=True)
def test_the_first_sync_subscribes_and_disconnecting_deletes(pushing, microsoft_mailbox, member, calendar) -> None:  # type: ignore[no-untyped-def]
    upn, _ = microsoft_mailbox
    integration = _integration(pushing, member, calendar, upn)
    sync_services.sync_scheduled(integration_id=integration.pk, trigger="scheduled")
    integration.refresh_from_db()
    assert integration.push_state == ACTIVE and integration.push_channel in pushing.state.subscriptions.items
    subscription = pushing.state.subscriptions.items[integration.push_channel]
    assert subscription.calendar_id == integration.remote_calendar_id
    assert integration.config["graph_tenant"] == pushing.state.mailboxes[upn].tenant
    assert integration.push_expires_at > timezone.now() + timedelta(days=6)
    integration_services.integration_disconnect(integration=integration)
    assert subscription.id not in pushing.state.subscriptions.items


@pytest.mark.django_db(transaction=True)
def test_the_hourly_task_renews_only_what_ends_within_a_day(pushing, microsoft_mailbox, member, calendar,  # type: ignore[no-untyped-def]
                                                            live_server, settings) -> None:  # fmt: skip
    upn, _ = microsoft_mailbox
    soon, later, failed = (_integration(pushing, member, calendar, upn, remote) for remote in range(3))
    assert push.subscription_open(integration_id=soon.pk) and push.subscription_open(integration_id=later.pk)
    settings.MICROSOFT_WEBHOOK_BASE_URL = f"http://127.0.0.1:{free_port()}"  # nobody answers the handshake
    assert push.subscription_open(integration_id=failed.pk) is False
    settings.MICROSOFT_WEBHOOK_BASE_URL = live_server.url
    Integration.objects.filter(pk=soon.pk).update(push_expires_at=timezone.now() + timedelta(hours=2))
    before = {i.pk: i for i in Integration.objects.filter(pk__in=[soon.pk, later.pk, failed.pk])}
    assert before[failed.pk].push_state == FAILED and before[failed.pk].push_expires_at <= timezone.now()
    requests_before = pushing.state.requests
    assert tasks.microsoft_renew_subscriptions() == 2  # the one ending soon, and the failed one again
    after = {i.pk: i for i in Integration.objects.filter(pk__in=[soon.pk, later.pk, failed.pk])}
    assert after[soon.pk].push_expires_at > timezone.now() + timedelta(days=6)
    assert after[soon.pk].push_channel == before[soon.pk].push_channel  # renewed (PATCH), not replaced
    assert after[later.pk].push_expires_at == before[later.pk].push_expires_at
    assert after[failed.pk].push_state == ACTIVE and after[failed.pk].push_channel
    assert pushing.state.requests - requests_before == 2  # one PATCH, one POST: nothing for the one not due


@pytest.mark.django_db(transaction=True)
def test_a_subscription_graph_forgot_is_made_again_at_renewal(pushing, microsoft_mailbox, member, calendar) -> None:  # type: ignore[no-untyped-def]
    upn, _ = microsoft_mailbox
    integration = _integration(pushing, member, calendar, upn)
    assert push.subscription_open(integration_id=integration.pk)
    integration.refresh_from_db()
    pushing.state.subscriptions.expire(integration.push_channel)
    assert push.subscription_renew(integration_id=integration.pk)
    fresh = Integration.objects.get(pk=integration.pk)
    assert fresh.push_state == ACTIVE and fresh.push_channel not in ("", integration.push_channel)


@pytest.mark.django_db(transaction=True)
def test_an_organisation_wide_integration_subscribes_for_its_mailbox(pushing, member, calendar, client) -> None:  # type: ignore[no-untyped-def]
    """Through the organisation's app: users/{address}/calendars/{id}/events, and the tenant named by a domain
    in the settings is found as the id notifications carry."""
    from integrations.microsoft import organisation

    upn = f"push-{uuid.uuid4().hex[:8]}@pushorg.example"
    box = pushing.state.mailbox(upn)
    pushing.state.apps["org-app"] = "org-secret"
    pushing.state.admin_consent.add((box.tenant, "org-app"))
    organisation.save(tenant=member.tenant, directory_id="pushorg.example", client_id="org-app", secret="org-secret",
                      enabled=True)  # fmt: skip
    integration = Integration.objects.create(tenant=member.tenant, user=member, provider="microsoft",
                                             calendar=calendar, remote_calendar_id=box.calendars[0],
                                             config={"auth": "organisation", "account": upn})  # fmt: skip
    assert push.subscription_open(integration_id=integration.pk)
    integration.refresh_from_db()
    subscription = pushing.state.subscriptions.items[integration.push_channel]
    assert subscription.body["resource"] == f"users/{upn}/calendars/{box.calendars[0]}/events"
    assert subscription.creator == f"app:{box.tenant}" and integration.config["graph_tenant"] == box.tenant


@pytest.mark.django_db(transaction=True)
def test_the_operator_command_resubscribes_to_a_new_address(pushing, microsoft_mailbox, member, calendar,  # type: ignore[no-untyped-def]
                                                            live_server, settings) -> None:  # fmt: skip
    upn, _ = microsoft_mailbox
    integration = _integration(pushing, member, calendar, upn)
    assert push.subscription_open(integration_id=integration.pk)
    old = Integration.objects.get(pk=integration.pk).push_channel
    settings.MICROSOFT_WEBHOOK_BASE_URL = live_server.url.replace("127.0.0.1", "localhost")  # the address moved
    out = StringIO()
    call_command("microsoft_push", "--resubscribe", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"subscribed": 1, "failed": 0, "states": {"active": 1}}
    new = Integration.objects.get(pk=integration.pk).push_channel
    assert old not in pushing.state.subscriptions.items
    assert pushing.state.subscriptions.items[new].body["notificationUrl"].startswith("http://localhost:")
    settings.MICROSOFT_WEBHOOK_BASE_URL = ""
    with pytest.raises(CommandError, match="push is off"):
        call_command("microsoft_push", "--renew-now")


# --- end to end: a real worker, the emulator posting to a live server --------------------------------


def _worker_env(microsoft, live_server) -> dict[str, str]:  # type: ignore[no-untyped-def]
    from django.conf import settings

    return {"MICROSOFT_CLIENT_ID": "calsync-test", "MICROSOFT_CLIENT_SECRET": "calsync-test-secret",
            "MICROSOFT_AUTHORITY_HOST": microsoft.base_url, "MICROSOFT_GRAPH_URL": f"{microsoft.base_url}/v1.0",
            "MICROSOFT_CA_BUNDLE": settings.MICROSOFT_CA_BUNDLE,
            "MICROSOFT_WEBHOOK_BASE_URL": live_server.url}  # fmt: skip


def _arrived(calendar, title: str) -> bool:  # type: ignore[no-untyped-def]
    return Event.objects.filter(calendar=calendar, title=title).exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_outlook_changes_arrive_without_a_poll_across_missed_removed_and_expired(  # type: ignore[no-untyped-def]
    pushing, microsoft_mailbox, member, calendar, live_server
) -> None:
    upn, _ = microsoft_mailbox
    integration = _integration(pushing, member, calendar, upn)
    sync_services.sync_scheduled(integration_id=integration.pk, trigger="scheduled")  # the first sync subscribes
    integration.refresh_from_db()
    first = integration.push_channel
    far = timezone.now() + timedelta(days=30)  # no poll could be what brings a change
    Integration.objects.filter(pk=integration.pk).update(next_sync_at=far)
    subs = pushing.state.subscriptions
    with celery_worker(**_worker_env(pushing, live_server)) as worker:
        _outlook_event(pushing, upn, "Pushed")
        wait_until(lambda: _arrived(calendar, "Pushed"), worker, "the pushed change")

        subs.drop = 1  # Graph loses the next notification, then says so (`missed`)
        _outlook_event(pushing, upn, "Missed")
        wait_until(lambda: _arrived(calendar, "Missed"), worker, "the change behind `missed`")

        subs.lifecycle(first, "subscriptionRemoved")
        _outlook_event(pushing, upn, "While removed")  # no subscription to tell of it
        wait_until(lambda: Integration.objects.get(pk=integration.pk).push_channel not in ("", first), worker,
                   "a new subscription")  # fmt: skip
        wait_until(lambda: _arrived(calendar, "While removed"), worker, "the change made while removed")
        _outlook_event(pushing, upn, "After")
        wait_until(lambda: _arrived(calendar, "After"), worker, "a change through the new subscription")

        second = Integration.objects.get(pk=integration.pk).push_channel
        subs.lifecycle(second, "reauthorizationRequired")
        wait_until(lambda: not subs.items[second].needs_reauthorization, worker, "the subscription reauthorized")

        subs.expire(second)  # renewal came too late: Graph let it end, and a change went unnotified
        Integration.objects.filter(pk=integration.pk).update(push_expires_at=timezone.now())
        _outlook_event(pushing, upn, "While expired")
        assert tasks.microsoft_renew_subscriptions() == 1  # beat's hourly run: subscribes again, and syncs
        wait_until(lambda: _arrived(calendar, "While expired"), worker, "the change made while expired")
        assert Integration.objects.get(pk=integration.pk).push_channel not in ("", first, second)


def test_production_refuses_a_plain_http_webhook_address() -> None:
    """Graph posts only to https; a plain-http address would leave every subscription failing silently."""
    from tests.calsync.test_health_and_settings import GOOD, _boot

    result = _boot(**GOOD, MICROSOFT_WEBHOOK_BASE_URL="http://calsync.example.com")
    assert result.returncode != 0 and "MICROSOFT_WEBHOOK_BASE_URL must be https://" in result.stderr
    assert _boot(**GOOD, MICROSOFT_WEBHOOK_BASE_URL="https://calsync.example.com").returncode == 0
