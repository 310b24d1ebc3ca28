"""Subscribing to a published calendar by its URL: check the address, fetch it once, connect it read only."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from django.conf import settings
from django.db import transaction

from accounts.models import User
from events.ical import ICalError, parse_calendar_lenient
from events.models import Calendar
from integrations import services as integration_services
from integrations.addresses import check_public_address, server_address
from integrations.models import Integration
from integrations.providers import Provider
from sync.errors import SyncError

from . import client

MAX_URL_CHARS = 2000
HIDDEN = "…"
_SECRET_WORDS = re.compile(r"token|key|secret|auth|pass|sig|private|session|code|hash|access", re.IGNORECASE)
_TOKEN_LIKE = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_\-.=%~+]{16,}$|^[0-9a-fA-F]{16,}$")


class SubscriptionError(ValueError):
    """Why calsync will not subscribe to this address; the message is for the form (no URL in it, only the host)."""


@dataclass(frozen=True)
class FeedCheck:
    url: str  # the address to fetch (webcal:// made https://)
    events: int  # events and tasks found in it
    unreadable: int  # items calsync cannot read (reported "Not synced" once subscribed)


def subscription_url(text: str) -> str:
    """The address to fetch, or SubscriptionError: http(s) or webcal, a host, and not inside calsync's network."""
    url = client.feed_url(text)
    if len(url) > MAX_URL_CHARS:
        raise SubscriptionError(f"The address is longer than {MAX_URL_CHARS} characters.")
    try:
        parts = server_address(url, allow_http=True, userinfo=True, what="calendar's",
                               example="https://example.com/calendar.ics or webcal://…")  # fmt: skip
    except ValueError as exc:
        raise SubscriptionError(str(exc)) from None
    if "://" not in url:  # no scheme: https, as server_address reads it
        url = urlunsplit(parts)
    if parts.scheme == "http" and parts.password and not settings.CALDAV_ALLOW_HTTP:
        raise SubscriptionError("This address carries a password: use https:// so that it does not travel in clear.")
    try:
        check_public_address(url)
    except ValueError as exc:  # AddressRefused, Unresolvable: the messages name the host only
        raise SubscriptionError(str(exc)) from None
    return url


def shown_url(url: str) -> str:
    """The address as pages and logs may show it: credentials, token-like query values and path segments
    (Google's private addresses, booking systems' keys) replaced by an ellipsis."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if parts.username or parts.password:
        netloc = f"{HIDDEN}@{netloc}"
    path = "/".join(HIDDEN if _TOKEN_LIKE.match(segment) else segment for segment in parts.path.split("/"))
    query = "&".join(
        f"{name}={HIDDEN if _SECRET_WORDS.search(name) or _TOKEN_LIKE.match(value) else value}"
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    )
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def feed_check(*, text: str) -> FeedCheck:
    """Fetch the calendar once (no provider call happens in a transaction: this runs before anything is saved)."""
    url = subscription_url(text)
    try:
        fetched = client.fetch(url)
        items, problems = parse_calendar_lenient(fetched.body or b"") if (fetched.body or b"").strip() else ([], [])
    except SyncError as exc:
        raise SubscriptionError(str(exc)) from None
    except ICalError as exc:
        raise SubscriptionError(f"{client.host_of(url)} does not serve a calendar calsync can read: {exc}") from None
    return FeedCheck(url=url, events=len(items), unreadable=len(problems))


def feed_id(url: str) -> str:
    """What the integration records as the remote calendar: a digest, so that the same feed is not subscribed to
    twice into one calendar, without the address itself (it may be a secret)."""
    return "ics:" + hashlib.sha256(url.encode()).hexdigest()[:40]


def ics_subscribe(*, user: User, check: FeedCheck, name: str, calendar: Calendar, automatic: bool,
                  error_email: str, sync_enabled: bool = True) -> Integration:  # fmt: skip
    """Connect the checked feed into `calendar`, one way (it cannot be written); the first sync starts once this
    commits. The full address is stored encrypted, like every credential; config keeps only its shown form."""
    with transaction.atomic():
        integration = integration_services.integration_create(
            user=user,
            provider=Provider.ICS,
            calendar=calendar,
            remote_calendar_id=feed_id(check.url),
            remote_calendar_name=name.strip() or client.host_of(check.url),
            config={"url": shown_url(check.url)},
            credentials={"url": check.url},
            sync_enabled=sync_enabled,
            direction=Integration.Direction.TO_CALSYNC,
            primary=Integration.Primary.REMOTE,
            automatic=automatic,
            error_email=error_email,
            remote_read_only=True,
        )
        integration.poll_seconds = settings.ICS_POLL_SECONDS
        integration.push_state = Integration.PushState.POLLING
        integration.save(update_fields=["poll_seconds", "push_state"])
    return integration
