"""Subscribing to a published calendar by its URL: check the address, fetch it once, connect it read only."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from django.conf import settings
from django.core.cache import cache
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
DEFAULT_PORTS = {"http": 80, "https": 443}
CHECK_WINDOW_SECONDS = 3600
PLAIN_SEGMENT_CHARS = 32
# Words, each capitalised at most at its start, joined by - or _: "holidays", "US-holidays" is not (a token's
# mixed case is not), "basic", "Team_calendar".
_PLAIN_WORDS = re.compile(r"^[A-Za-z][a-z]*(?:[-_][A-Za-z][a-z]*)*$")


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
    """The address as pages and logs may show it: scheme, host and port, and the last path segment when it reads
    as plain words (holidays.ics, basic.ics); credentials, every query value and every other path segment are
    replaced by an ellipsis. Private addresses hide their key anywhere (Google's /private-…/, booking systems'
    ?s=…, /u/<name>/<token>.ics), so no guess at what looks like a token decides what is shown."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if parts.username or parts.password:
        netloc = f"{HIDDEN}@{netloc}"
    segments = parts.path.split("/")[1:]
    path = "/" + "/".join([HIDDEN] * (len(segments) > 1) + [_shown_segment(segments[-1])]) if segments else ""
    query = "&".join(f"{name}={HIDDEN}" for name, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _shown_segment(segment: str) -> str:
    stem, dot, extension = segment.partition(".")
    if not stem or (_PLAIN_WORDS.match(stem) and len(stem) <= PLAIN_SEGMENT_CHARS):
        return segment
    return HIDDEN + (dot + extension if _PLAIN_WORDS.match(extension) else "")


def feed_check(*, text: str, user: User | None = None) -> FeedCheck:
    """Fetch the calendar once (no provider call happens in a transaction: this runs before anything is saved),
    with the short ICS_CHECK_TIMEOUT_SECONDS: someone is waiting. Given the user who asked, counted against their
    ICS_CHECKS_PER_HOUR first (calsync must not become anyone's tool for probing hosts)."""
    url = subscription_url(text)
    if user is not None:
        _count_check(user)
    try:
        fetched = client.fetch(url, timeout=settings.ICS_CHECK_TIMEOUT_SECONDS)
        items, problems = parse_calendar_lenient(fetched.body or b"") if (fetched.body or b"").strip() else ([], [])
    except SyncError as exc:
        raise SubscriptionError(str(exc)) from None
    except ICalError as exc:
        raise SubscriptionError(f"{client.host_of(url)} does not serve a calendar calsync can read: {exc}") from None
    return FeedCheck(url=url, events=len(items), unreadable=len(problems))


def _count_check(user: User) -> None:
    """One more fetch for `user` this hour (a fixed window from their first), or SubscriptionError past the limit."""
    key = f"ics-check:{user.pk}:{user.date_joined.timestamp():.0f}"  # a new user with a reused id starts afresh
    if cache.add(key, 1, CHECK_WINDOW_SECONDS):
        return
    try:
        count = cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.add(key, 1, CHECK_WINDOW_SECONDS)
        return
    if count > settings.ICS_CHECKS_PER_HOUR:
        raise SubscriptionError("You have checked many calendar addresses in the last hour; try again later.")


def feed_id(url: str) -> str:
    """What the integration records as the remote calendar: a digest, so that the same feed is not subscribed to
    twice into one calendar, without the address itself (it may be a secret). The address is normalised first
    (webcal:// is https://, scheme and host lowercase, no default port), so that https://X/cal.ics and
    https://x:443/cal.ics are one feed; path and query are kept as they are (servers may tell case apart)."""
    return "ics:" + hashlib.sha256(_normalised(url).encode()).hexdigest()[:40]


def _normalised(url: str) -> str:
    parts = urlsplit(client.feed_url(url))
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port if parts.port and parts.port != DEFAULT_PORTS.get(scheme) else None
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + host + (f":{port}" if port else "")
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def ics_subscribe(*, user: User, check: FeedCheck, name: str, calendar: Calendar, automatic: bool,
                  error_email: str, sync_enabled: bool = True, preview_first: bool = False) -> Integration:  # fmt: skip
    """Connect the checked feed into `calendar`, one way (it cannot be written); the first sync starts once this
    commits (with `preview_first`, once its preview is confirmed: integration_create). The full address is stored
    encrypted, like every credential; config keeps only its shown form."""
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
            preview_first=preview_first,
        )
        integration.poll_seconds = settings.ICS_POLL_SECONDS
        integration.push_state = Integration.PushState.POLLING
        integration.save(update_fields=["poll_seconds", "push_state"])
    return integration
