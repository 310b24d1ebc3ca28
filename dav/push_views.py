"""WebDAV-Push requests to calsync's CalDAV server (draft-bitfire-webdav-push, Subscription Management):
POST push-register to a calendar registers (or renews) a Web Push subscription and answers with the
registration URL (Location) and its expiry (Expires); DELETE on that URL unregisters."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from xml.etree.ElementTree import Element

from django.http import HttpResponse
from django.utils.http import http_date

from . import push
from .resources import ROOT, Target
from .views import DavError
from .xml import PUSH, tag

_CLIENT_KEY_NAMES = ("client-public-key", "subscription-public-key")  # current draft; earlier ones (DAVx5 4.4)


def registration_href(key: str) -> str:
    return f"{ROOT}push-registrations/{key}"


def register(target: Target, node: Element | None) -> HttpResponse:
    if node is None or node.tag != tag(PUSH, "push-register"):
        raise DavError(400, None, "POST here takes a WebDAV-Push push-register body.")
    if target.kind != "calendar" or target.calendar is None:
        raise DavError(403, tag(PUSH, "push-not-available"), "Push is offered on calendars.")
    subscription = _subscription(node)
    try:
        registration = push.registration_save(user=target.user, calendar=target.calendar, subscription=subscription)
    except push.Refused as exc:
        raise DavError(exc.status, tag(PUSH, exc.condition), exc.message) from exc
    answer = HttpResponse(status=204)  # registered, with nothing more to tell (the draft's 204)
    answer["Location"] = registration_href(registration.key)
    answer["Expires"] = http_date(registration.expires_at.timestamp())
    return answer


def unregister(target: Target) -> HttpResponse:
    if not push.registration_delete(user=target.user, key=target.segment):
        raise DavError(404, None, "No such push registration (it may have expired).")
    return HttpResponse(status=204)


def _subscription(node: Element) -> push.Subscription:
    web = node.find(f"{tag(PUSH, 'subscription')}/{tag(PUSH, 'web-push-subscription')}")
    if web is None:
        raise DavError(403, tag(PUSH, "invalid-subscription"), "Only Web Push subscriptions are supported.")
    trigger = node.find(tag(PUSH, "trigger"))
    if trigger is None or trigger.find(tag(PUSH, "content-update")) is None:
        # Property updates are not pushed: a subscription asking only for them has no trigger left.
        raise DavError(403, tag(PUSH, "no-supported-trigger"), "Only content updates are pushed.")
    keys = [web.findtext(tag(PUSH, name)) for name in _CLIENT_KEY_NAMES]
    return push.Subscription(
        push_resource=(web.findtext(tag(PUSH, "push-resource")) or "").strip(),
        client_public_key=next((k for k in keys if k), ""),
        auth_secret=web.findtext(tag(PUSH, "auth-secret")) or "",
        expires=_expires(node.findtext(tag(PUSH, "expires"))),
    )


def _expires(text: str | None) -> datetime | None:
    """The requested expiry, an IMF-fixdate (RFC 9110 5.6.7)."""
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError):
        raise DavError(400, None, "expires must be an HTTP date, e.g. Wed, 02 Oct 2024 07:28:00 GMT.") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
