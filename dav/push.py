"""WebDAV-Push on calsync's CalDAV server (draft-bitfire-webdav-push, Web Push transport).

A client registers a Web Push subscription on a calendar (POST push-register, dav/push_views.py); whenever the
calendar changes (events.signals.calendar_changed for calsync's pages and CalDAV writes, sync.signals.run_changed
once at the end of a sync that wrote) a push message naming the calendar's topic and new sync-token is encrypted
(RFC 8291, dav/webpush.py) and POSTed to each registered push resource, by a Celery task, through the outbound
address guard. Changes within DAV_PUSH_DELAY_SECONDS of each other make one message (the draft allows merging
content updates), so a 500-event sync or a burst of edits sends one push, not 500.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import niquests
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import User
from calsync.queue import publish
from events.models import Calendar
from integrations.addresses import (
    AddressRefused,
    Unresolvable,
    check_public_address,
    guarded_session,
    server_address,
)

from . import webpush
from .models import PushRegistration
from .resources import sync_token
from .xml import DAV, PUSH, document, element, tag

log = logging.getLogger(__name__)

_GONE = (404, 410)  # RFC 8030 7.3: the push service says the subscription no longer exists
_RESOURCE_MAX = PushRegistration._meta.get_field("push_resource").max_length


class Refused(Exception):
    """A registration the draft says to refuse with 403 and this precondition (in the push namespace); 400 when the
    request itself is malformed (an address that is no URL, a field longer than calsync stores)."""

    def __init__(self, condition: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.condition, self.message, self.status = condition, message, status


@dataclass(frozen=True)
class Subscription:
    push_resource: str
    client_public_key: str
    auth_secret: str
    expires: datetime | None = None


def topic(calendar_id: int) -> str:
    """The calendar's push topic: stable, unique on this server, and telling nothing about the calendar."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"dav-push-topic:{calendar_id}".encode(), hashlib.sha256)
    return webpush.b64url(digest.digest()[:16])


def _registered_key(calendar_id: int) -> str:
    return f"dav:push-registered:{calendar_id}"


def subscription_check(subscription: Subscription) -> Subscription:
    """The subscription as calsync stores it (keys in canonical base64url), or Refused (invalid-subscription)
    unless the push resource is an address calsync may reach and the keys are what RFC 8291 needs: the draft
    makes message encryption a MUST."""
    url = subscription.push_resource
    if not url.startswith("https://") and not (settings.CALDAV_ALLOW_HTTP and url.startswith("http://")):
        raise Refused("invalid-subscription", "The push resource must be an https:// URL.")
    if len(url) > _RESOURCE_MAX:
        raise Refused("invalid-subscription", f"The push resource is longer than {_RESOURCE_MAX} characters.", 400)
    try:
        server_address(url, allow_http=settings.CALDAV_ALLOW_HTTP, example="https://push.example.com/…",
                       what="push resource")  # fmt: skip
    except ValueError as exc:
        raise Refused("invalid-subscription", str(exc), 400) from exc
    try:
        check_public_address(url, allow_private=settings.DAV_PUSH_ALLOW_PRIVATE_ADDRESSES)
        key = webpush.client_key(subscription.client_public_key)
        secret = webpush.auth_secret(subscription.auth_secret)
    except (AddressRefused, Unresolvable, webpush.InvalidKey) as exc:
        raise Refused("invalid-subscription", str(exc)) from exc
    return Subscription(url, webpush.b64url(key), webpush.b64url(secret), subscription.expires)


def _expiry(requested: datetime | None, now: datetime) -> datetime:
    longest = now + timedelta(days=settings.DAV_PUSH_MAX_DAYS)
    return longest if requested is None or requested <= now else min(requested, longest)


def registration_save(*, user: User, calendar: Calendar, subscription: Subscription) -> PushRegistration:
    """Register, or renew (the same user's same push resource on the same calendar is one registration: the
    draft's Subscription Updates; another user's is never changed). Refused when the subscription is unusable or
    the calendar has its fill."""
    subscription = subscription_check(subscription)
    now = timezone.now()
    fields = {
        "client_public_key": subscription.client_public_key,
        "auth_secret": subscription.auth_secret,
        "expires_at": _expiry(subscription.expires, now),
    }
    with transaction.atomic():
        found = PushRegistration.objects.select_for_update().filter(
            calendar=calendar, user=user, push_resource=subscription.push_resource
        )
        registration = found.first()
        if registration is None:
            registration = _registration_create(user, calendar, subscription.push_resource, fields, now)
        else:
            for name, value in fields.items():
                setattr(registration, name, value)
            registration.save(update_fields=list(fields))
    cache.set(_registered_key(calendar.pk), 1, timeout=int((registration.expires_at - now).total_seconds()) + 60)
    log.info("push registration saved", extra={"calendar": calendar.pk, "registration": registration.pk})
    return registration


def _registration_create(
    user: User, calendar: Calendar, resource: str, fields: dict[str, object], now: datetime
) -> PushRegistration:
    live = PushRegistration.objects.filter(calendar=calendar, expires_at__gt=now).count()
    if live >= settings.DAV_PUSH_MAX_PER_CALENDAR:
        raise Refused("push-not-available", "This calendar has as many push registrations as it may have.")
    try:
        with transaction.atomic():
            return PushRegistration.objects.create(tenant_id=calendar.tenant_id, user=user, calendar=calendar,
                                                   key=secrets.token_urlsafe(18), push_resource=resource,
                                                   **fields)  # fmt: skip
    except IntegrityError as exc:  # the same resource registered at the same moment, or by another user
        raise Refused("invalid-subscription", "This push resource is registered on this calendar already.") from exc


def registration_delete(*, user: User, key: str) -> bool:
    """The client's unsubscribe: its own registration, by the key in the registration URL. False if none."""
    deleted, _ = PushRegistration.objects.filter(user=user, key=key).delete()
    return bool(deleted)


def registrations_prune(*, now: datetime | None = None) -> int:
    """Expired registrations are never used again (the draft's Expiration); beat removes them hourly, and says
    again which calendars have live ones (a cache that was emptied stops missing their changes within the hour)."""
    now = now or timezone.now()
    deleted, _ = PushRegistration.objects.filter(expires_at__lte=now).delete()
    live = PushRegistration.objects.values("calendar_id").annotate(until=Max("expires_at")).order_by()
    for row in live.iterator():
        cache.set(_registered_key(row["calendar_id"]), 1, timeout=int((row["until"] - now).total_seconds()) + 60)
    return deleted


# --- sending -----------------------------------------------------------------------------------


def push_soon(*, calendar_id: int) -> bool:
    """The calendar changed (after the commit): a push message to its registrations in a moment, one for every
    change until then. Costs one cache call for a calendar nobody registered on (a cache key says who has)."""
    if cache.get(_registered_key(calendar_id)) is None:
        return False
    delay = settings.DAV_PUSH_DELAY_SECONDS
    # The key lasts no longer than the message waits: a change after it expired finds it gone and sends its own.
    if not cache.add(f"dav:push-due:{calendar_id}", 1, timeout=delay):
        return False  # a message is already on its way and will read this change too
    from .tasks import push_calendar

    return publish(push_calendar, calendar_id, countdown=delay or None)


def message(calendar: Calendar) -> bytes:
    """The push message: the calendar's topic and the sync-token after the change (the draft's Push Message)."""
    update = element(tag(PUSH, "content-update"), children=[element(tag(DAV, "sync-token"), sync_token(calendar))])
    return document(element(tag(PUSH, "push-message"), children=[element(tag(PUSH, "topic"), topic(calendar.pk)),
                                                                 update])).encode()  # fmt: skip


def push_send(*, calendar_id: int) -> int:
    """POST the calendar's push message, encrypted for each live registration; a push service saying the
    subscription is gone removes it. Returns how many messages were accepted."""
    calendar = Calendar.objects.filter(pk=calendar_id).first()
    if calendar is None:
        return 0
    live = list(PushRegistration.objects.filter(calendar=calendar, expires_at__gt=timezone.now()))
    if not live:
        return 0
    body, accepted = message(calendar), 0
    with guarded_session(allow_private=settings.DAV_PUSH_ALLOW_PRIVATE_ADDRESSES) as session:
        for registration in live:
            accepted += _deliver(session, registration, body, topic(calendar_id))
    return accepted


def _deliver(session: niquests.Session, registration: PushRegistration, body: bytes, name: str) -> bool:
    payload = webpush.encrypt(body, client_public=webpush.client_key(registration.client_public_key),
                              secret=webpush.auth_secret(registration.auth_secret))  # fmt: skip
    headers = {
        "Content-Type": 'application/xml; charset="UTF-8"',
        "Content-Encoding": "aes128gcm",
        "TTL": str(settings.DAV_PUSH_MAX_DAYS * 86400),
        "Topic": name[:32],  # RFC 8030 5.4: a newer message replaces an undelivered one of the same topic
        "Urgency": "normal",
    }
    try:
        # Only the status matters: the body (whatever size the push service sends) is never read.
        answer = session.post(registration.push_resource, data=payload, headers=headers, stream=True,
                              timeout=settings.DAV_PUSH_TIMEOUT_SECONDS, allow_redirects=False)  # fmt: skip
        answer.close()
    except (AddressRefused, niquests.exceptions.RequestException) as exc:
        log.warning("push not delivered", extra={"registration": registration.pk, "reason": type(exc).__name__})
        return False
    if answer.status_code in _GONE:
        registration.delete()
        return False
    if not 200 <= (answer.status_code or 0) < 300:
        log.warning("push refused", extra={"registration": registration.pk, "status": answer.status_code})
        return False
    return True
