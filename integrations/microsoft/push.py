"""Graph change notifications: one subscription per Microsoft integration on its calendar's events, so a change
in Outlook starts a sync within seconds instead of at the next poll (which goes on as a safety net).

https://learn.microsoft.com/graph/change-notifications-delivery-webhooks and
https://learn.microsoft.com/graph/change-notifications-lifecycle-events. The subscription's id is the
integration's `push_channel` (indexed: a notification finds its integration by it), its end `push_expires_at`
(indexed: the hourly renewal reads what ends soon). clientState is an HMAC of the integration id and a random
nonce drawn for each subscription (kept in config["graph_nonce"]; without SECRET_KEY it proves nothing), so a new
subscription gets a new secret; it is compared in constant time.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from calsync.queue import publish
from integrations.models import Integration, MicrosoftOrganisation
from integrations.providers import Provider
from sync.errors import NotFound, SyncError
from sync.services import sync_request_push

from .client import GraphClient

log = logging.getLogger(__name__)
PushState = Integration.PushState
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Graph batches notifications into one collection; past this many items, the rest of a request is not read (one
# query looks up all their subscription ids however many there are; this bounds the clientState checks).
ITEMS_MAX = 1000


def push_available() -> bool:
    return bool(settings.MICROSOFT_WEBHOOK_BASE_URL)


def client_state(integration_id: int, nonce: str) -> str:
    """The secret Graph sends back with each notification of one subscription: only calsync can compute it."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"calsync-graph-push:{integration_id}:{nonce}".encode(), hashlib.sha256).hexdigest()


def _client(integration: Integration) -> GraphClient:
    from .provider import client_for

    return client_for(integration)


def _expiry() -> datetime:
    return timezone.now() + timedelta(minutes=settings.MICROSOFT_PUSH_MINUTES)


def _graph_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _tenant(integration: Integration) -> str:
    """The Microsoft tenant (directory) id notifications must carry: the signed-in account's (msal's
    home_account_id is "<object id>.<tenant id>"), or the organisation's, resolved from a domain if it was
    given as one (its OpenID configuration's issuer names the id)."""
    if integration.config.get("auth") != "organisation":
        return str(integration.credentials.get("account", "")).rpartition(".")[2].lower()
    organisation = MicrosoftOrganisation.objects.get(tenant_id=integration.tenant_id)
    directory = organisation.directory_id.lower()
    if _GUID.match(directory):
        return directory
    from .oauth import _http

    url = f"{settings.MICROSOFT_AUTHORITY_HOST}/{quote(directory)}/v2.0/.well-known/openid-configuration"
    return _issuer_tenant(_http().get(url, timeout=settings.MICROSOFT_TIMEOUT_SECONDS).json())


def _issuer_tenant(document: Any) -> str:
    """ "https://login.microsoftonline.com/<tenant id>/v2.0" -> the id; ValueError (a push failure, not a failed
    sync) for a document that does not name one."""
    issuer = document.get("issuer") if isinstance(document, dict) else None
    parts = str(issuer or "").rstrip("/").split("/")
    if len(parts) < 2 or not _GUID.match(parts[-2].lower()):
        raise ValueError("the OpenID configuration names no tenant id")
    return parts[-2].lower()


def subscription_open(*, integration_id: int) -> bool:
    """Subscribe to the integration's calendar (replacing any earlier subscription); False if push is off or
    Graph refused, in which case push_state says FAILED and polling goes on."""
    integration = Integration.objects.filter(pk=integration_id, provider=Provider.MICROSOFT).first()
    if integration is None or not push_available():
        return False
    return _open(integration)


def _open(integration: Integration) -> bool:
    url = settings.MICROSOFT_WEBHOOK_BASE_URL + reverse("integrations:microsoft_push")
    nonce = secrets.token_hex(16)
    try:
        client = _client(integration)
        body = {"changeType": "created,updated,deleted", "notificationUrl": url, "lifecycleNotificationUrl": url,
                "resource": f"{client.prefix.lstrip('/')}/calendars/{integration.remote_calendar_id}/events",
                "expirationDateTime": _graph_time(_expiry()),
                "clientState": client_state(integration.pk, nonce)}  # fmt: skip
        tenant = _tenant(integration)
        made = client.call("POST", "/subscriptions", json=body)
    except (SyncError, ValueError, OSError, MicrosoftOrganisation.DoesNotExist) as exc:
        return _failed(integration, exc)
    old = integration.push_channel
    recorded = integration.config_merge(
        {"graph_tenant": tenant, "graph_nonce": nonce},
        holding={"push_channel": old},
        push_channel=made["id"],
        push_state=PushState.ACTIVE,
        push_expires_at=_parse(made["expirationDateTime"]),
    )
    if not recorded:
        # Another renewal or repair replaced the subscription since we read it: theirs stands, ours would never be
        # deleted (nothing records it), so it goes now.
        _delete(client, made["id"])
        return Integration.objects.filter(pk=integration.pk, push_state=PushState.ACTIVE).exists()
    if old and old != made["id"]:
        _delete(client, old)
    return True


def _failed(integration: Integration, exc: Exception) -> bool:
    """Polling goes on; with no live subscription, push_expires_at says "due now", so the hourly renewal (which
    reads that indexed column alone) tries again. A subscription another run made meanwhile is left standing."""
    log.warning("graph subscription not made", extra={"integration": integration.pk, "error": str(exc)})
    Integration.objects.filter(pk=integration.pk, push_channel=integration.push_channel).update(
        push_state=PushState.FAILED, push_expires_at=timezone.now()
    )
    return False


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)  # Graph's seven fractional digits and "Z" are read since Python 3.11


def subscription_renew(*, integration_id: int) -> bool:
    """A later end for the subscription (which also answers reauthorizationRequired); one Graph forgot is made
    anew."""
    integration = Integration.objects.filter(pk=integration_id, provider=Provider.MICROSOFT).first()
    if integration is None or not push_available():
        return False
    return _renew(integration)


def _renew(integration: Integration) -> bool:
    if not integration.push_channel:
        return _open(integration)
    try:
        made = _client(integration).call("PATCH", f"/subscriptions/{integration.push_channel}",
                                         json={"expirationDateTime": _graph_time(_expiry())})  # fmt: skip
    except NotFound:  # expired or removed: changes since may not have been notified
        return _open(integration) and _sync_missed(integration)
    except SyncError as exc:
        return _failed(integration, exc)
    Integration.objects.filter(pk=integration.pk, push_channel=integration.push_channel).update(
        push_expires_at=_parse(made["expirationDateTime"]), push_state=PushState.ACTIVE
    )
    return True


def subscriptions_renew() -> int:
    """Hourly: subscriptions ending within MICROSOFT_PUSH_RENEW_BEFORE_HOURS are renewed, the soonest first, then
    failed ones tried again, at most MICROSOFT_PUSH_RENEW_BATCH in all and for at most
    MICROSOFT_PUSH_RENEW_SECONDS (so one run ends before the next begins; what is left is still due then). Returns
    how many now stand."""
    if not push_available():
        return 0
    soon = timezone.now() + timedelta(hours=settings.MICROSOFT_PUSH_RENEW_BEFORE_HOURS)
    due = (
        Integration.objects.filter(provider=Provider.MICROSOFT, sync_enabled=True, push_expires_at__lt=soon)
        .exclude(status=Integration.Status.NEEDS_REAUTH)
        .order_by("push_expires_at")
    )
    budget = settings.MICROSOFT_PUSH_RENEW_BATCH
    live = list(due.exclude(push_state=PushState.FAILED)[:budget])
    failed = list(due.filter(push_state=PushState.FAILED)[: budget - len(live)]) if budget > len(live) else []
    stop = time.monotonic() + settings.MICROSOFT_PUSH_RENEW_SECONDS
    renewed = 0
    for integration in live + failed:
        if time.monotonic() > stop:
            log.warning("graph renewal stopped at its time limit", extra={"renewed": renewed})
            break
        renewed += _renew(integration)
    return renewed


def subscriptions_resubscribe() -> tuple[int, int]:
    """Every enabled Microsoft integration subscribes anew (the old subscription deleted): after
    MICROSOFT_WEBHOOK_BASE_URL changed, since a renewal keeps the address Graph posts to. (made, failed)."""
    if not push_available():
        return 0, 0
    made = failed = 0
    for integration in Integration.objects.filter(provider=Provider.MICROSOFT, sync_enabled=True).iterator():
        if _open(integration):
            made += 1
        else:
            failed += 1
    return made, failed


def push_status() -> dict[str, int]:
    """How many Microsoft integrations stand in each push state ("" for never subscribed)."""
    rows = Integration.objects.filter(provider=Provider.MICROSOFT).values_list("push_state").annotate(n=Count("pk"))
    return {state or "none": n for state, n in rows}


def subscription_close(integration: Integration) -> None:
    """On disconnect: Graph stops notifying (an error leaves it to expire on its own within a week)."""
    if not integration.push_channel:
        return
    try:
        _delete(_client(integration), integration.push_channel)
    except SyncError:
        log.warning("graph subscription not deleted", extra={"integration": integration.pk})


def _delete(client: GraphClient, subscription_id: str) -> None:
    with contextlib.suppress(NotFound):
        client.call("DELETE", f"/subscriptions/{subscription_id}")


# --- notifications ------------------------------------------------------------------------------------


def notifications_received(*, items: list[Any]) -> int:
    """A changeNotificationCollection (or lifecycle notifications): each genuine one (a subscription we hold, its
    clientState, its tenant) asks for a sync, one per integration however many items name it, or, for lifecycle
    events, the repair it needs. Returns how many were genuine; forged ones change nothing. No provider call here:
    Graph wants an answer within 3 seconds."""
    items = [item for item in items[:ITEMS_MAX] if isinstance(item, dict)]
    found = _subscribed({_subscription_id(item) for item in items} - {""})
    to_sync: dict[int, Integration] = {}
    genuine = 0
    for item in items:
        integration = found.get(_subscription_id(item))
        if integration is None or not _signed(integration, item):
            continue
        genuine += 1
        event = item.get("lifecycleEvent")
        if event in ("reauthorizationRequired", "subscriptionRemoved"):
            _repair_soon(integration, str(event))
        elif integration.sync_enabled:  # a change, or `missed`: either way, the sync reads what changed
            to_sync[integration.pk] = integration
    for integration in to_sync.values():
        sync_request_push(integration=integration)
    return genuine


def _repair_soon(integration: Integration, event: str) -> None:
    """Queued, not done here; should the queue lose it, the subscription is due at the next hourly renewal, which
    renews it or, if Graph removed it, subscribes again."""
    from integrations.tasks import microsoft_push_repair

    Integration.objects.filter(pk=integration.pk).update(push_expires_at=timezone.now())
    transaction.on_commit(lambda: publish(microsoft_push_repair, integration.pk, event))


def _subscription_id(item: dict[str, Any]) -> str:
    """The item's subscriptionId if it has the shape of Graph's (a GUID), else "" (which matches nothing, and
    keeps NUL and other junk out of the query)."""
    value = item.get("subscriptionId")
    return value if isinstance(value, str) and _GUID.match(value.lower()) else ""


def _subscribed(subscription_ids: set[str]) -> dict[str, Integration]:
    """The integrations holding these subscriptions, in one query however many ids a request names."""
    if not subscription_ids:
        return {}
    rows = Integration.objects.filter(provider=Provider.MICROSOFT, push_channel__in=subscription_ids)
    return {row.push_channel: row for row in rows}


def _signed(integration: Integration, item: dict[str, Any]) -> bool:
    """The clientState only calsync can compute, and the tenant of the account the subscription watches."""
    expected = client_state(integration.pk, str(integration.config.get("graph_nonce", "")))
    if not hmac.compare_digest(expected.encode(), str(item.get("clientState") or "").encode()):
        return False
    return str(item.get("tenantId") or "").lower() == integration.config.get("graph_tenant", "")


def push_repair(*, integration_id: int, event: str) -> None:
    """reauthorizationRequired: renew (which reauthorizes); subscriptionRemoved: subscribe again, then sync, as a
    change may have come in between."""
    integration = Integration.objects.filter(pk=integration_id, provider=Provider.MICROSOFT).first()
    if integration is None:
        return
    if event == "reauthorizationRequired":
        _renew(integration)
        return
    Integration.objects.filter(pk=integration.pk).update(push_channel="")
    integration.push_channel = ""
    _open(integration)
    _sync_missed(integration)


def _sync_missed(integration: Integration) -> bool:
    """A sync reads whatever changed while no subscription told us."""
    if integration.sync_enabled:
        sync_request_push(integration=integration)
    return True
