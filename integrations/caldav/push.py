"""WebDAV-Push from the client side (draft-bitfire-webdav-push): where a CalDAV server offers it, calsync registers
a Web Push subscription on the integration's calendar whose push resource is calsync's own endpoint, a tokenised
URL under SITE_URL (only the token's SHA-256 is stored, in Integration.push_channel). A push message there queues
the integration's sync at once (sync.services.sync_request_push); it is then polled only as a safety net
(sync.polling). Servers without push (Radicale, Xandikos, most others) are asked again once a day and polled
adaptively meanwhile.

The registration is renewed CALDAV_PUSH_RENEW_HOURS before it ends (with a fresh token; the old registration is
deleted) and deleted when the integration is disconnected. Push messages are encrypted for a key pair made for
the registration (the draft requires it); calsync does not read them: the token says which integration changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from defusedxml.ElementTree import ParseError, fromstring
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from dav.webpush import b64url
from integrations.models import Integration
from integrations.providers import Provider
from sync.errors import SyncError

from .client import CalDAVClient

log = logging.getLogger(__name__)

P = "https://bitfire.at/webdav-push"
_PROPFIND = (
    '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:P="https://bitfire.at/webdav-push">'
    "<d:prop><P:transports/><P:topic/><P:supported-triggers/></d:prop></d:propfind>"
)
_XML = {"Content-Type": 'application/xml; charset="utf-8"'}
RECHECK = timedelta(days=1)  # a server without push is asked again after this long
_SHORTEST = timedelta(days=3)  # the draft's floor, assumed when a server sends no usable Expires


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def push_keep(integration: Integration, client: CalDAVClient) -> None:
    """After a sync: register where the server offers push and none is active, renew one ending soon. Costs
    nothing (no query, no request) while a registration is good or the server was asked lately."""
    if not _wanted(integration) or not _due(integration, timezone.now()):
        return
    try:
        offered = _offers_push(client, integration.remote_calendar_id)
        if offered:
            _register(integration, client)
        else:
            _record(integration, Integration.PushState.POLLING, checked=True)
    except SyncError as exc:  # the sync itself went well: push waits for the next check, polling goes on
        log.warning("webdav-push registration failed", extra={"integration": integration.pk, "reason": str(exc)})
        _record(integration, Integration.PushState.FAILED, checked=True)


def push_drop(integration: Integration, client: CalDAVClient) -> None:
    """Unregister at the server (the draft's Subscription Removal); a server that cannot be reached lets it
    expire by itself."""
    location = integration.config.get("push", {}).get("registration")
    if not location:
        return
    try:
        client.request("DELETE", location, passed=(200, 204, 404, 410))
    except SyncError as exc:
        log.warning("webdav-push unregister failed", extra={"integration": integration.pk, "reason": str(exc)})


def push_received(*, token: str) -> bool:
    """A push message arrived at the endpoint with this token: the integration's sync is queued on the push queue.
    False, and nothing changed, for a token that is not one of ours."""
    from sync.services import sync_request_push

    if not token:
        return False
    integration = Integration.objects.filter(provider=Provider.CALDAV, push_channel=token_digest(token)).first()
    if integration is None:
        return False
    if integration.sync_enabled and integration.automatic:
        sync_request_push(integration=integration)
    return True


def _wanted(integration: Integration) -> bool:
    return settings.CALDAV_PUSH_ENABLED and integration.sync_enabled and integration.automatic


def _due(integration: Integration, now: datetime) -> bool:
    if integration.push_state == Integration.PushState.ACTIVE:
        renew = timedelta(hours=settings.CALDAV_PUSH_RENEW_HOURS)
        return integration.push_expires_at is None or integration.push_expires_at <= now + renew
    checked = integration.config.get("push", {}).get("checked_at")
    return not checked or datetime.fromisoformat(checked) <= now - RECHECK


def _offers_push(client: CalDAVClient, url: str) -> bool:
    """The calendar lists the Web Push transport and content-update triggers (the draft's Collection Properties)."""
    answer = client.request("PROPFIND", url, _PROPFIND, headers={**_XML, "Depth": "0"}, passed=(207, 400, 403, 404))
    if answer.status != 207:
        return False
    try:
        root = fromstring(answer.body, forbid_dtd=True)
    except ParseError:
        return False
    web_push = root.find(f".//{{{P}}}transports/{{{P}}}web-push")
    triggers = root.find(f".//{{{P}}}supported-triggers")
    return web_push is not None and (triggers is None or triggers.find(f"{{{P}}}content-update") is not None)


def _register(integration: Integration, client: CalDAVClient) -> None:
    token = secrets.token_urlsafe(32)
    resource = settings.SITE_URL + reverse("integrations:caldav_push", args=[token])
    answer = client.request("POST", integration.remote_calendar_id, _register_body(resource), headers=_XML,
                            passed=(201, 204, 400, 403, 404, 405, 415))  # fmt: skip
    location = answer.headers.get("location", "")
    if answer.status not in (201, 204) or not location:
        log.info("webdav-push refused", extra={"integration": integration.pk, "status": answer.status})
        _record(integration, Integration.PushState.FAILED, checked=True)
        return
    previous = integration.config.get("push", {}).get("registration")
    expires = _expires(answer.headers.get("expires", ""))
    _record(integration, Integration.PushState.ACTIVE, registration=urljoin(integration.remote_calendar_id, location),
            channel=token_digest(token), expires=expires)  # fmt: skip
    if previous and previous != integration.config["push"]["registration"]:
        client.request("DELETE", previous, passed=(200, 204, 404, 410))  # the renewed one's predecessor


def _register_body(resource: str) -> str:
    """A Web Push subscription for content updates of the calendar itself (the draft's push-register)."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    public = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return (
        '<?xml version="1.0" encoding="utf-8"?><P:push-register xmlns:D="DAV:" xmlns:P="https://bitfire.at/webdav-push">'
        f"<P:subscription><P:web-push-subscription><P:push-resource>{resource}</P:push-resource>"
        f'<P:client-public-key type="p256dh">{b64url(public)}</P:client-public-key>'
        f"<P:auth-secret>{b64url(os.urandom(16))}</P:auth-secret></P:web-push-subscription></P:subscription>"
        "<P:trigger><P:content-update><D:sync-level>1</D:sync-level></P:content-update></P:trigger></P:push-register>"
    )


def _expires(header: str) -> datetime:
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return timezone.now() + _SHORTEST
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _record(integration: Integration, state: str, *, checked: bool = False, registration: str = "",
            channel: str = "", expires: datetime | None = None) -> None:  # fmt: skip
    """One UPDATE of the push columns, mirrored on the instance (the sync ending now schedules by them)."""
    push: dict[str, Any] = {"registration": registration} if registration else {}
    if checked:
        push["checked_at"] = timezone.now().isoformat()
    integration.config = {**integration.config, "push": push}
    integration.push_state, integration.push_channel, integration.push_expires_at = state, channel, expires
    Integration.objects.filter(pk=integration.pk).update(
        config=integration.config, push_state=state, push_channel=channel, push_expires_at=expires
    )
