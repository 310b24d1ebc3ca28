"""Adaptive polling: how long a calendar without push waits before its next check.

A CalDAV server (or an ICS feed) cannot tell calsync that something changed, so calsync asks. It asks every
SYNC_POLL_MIN_SECONDS while the calendar is busy (the last sync found changes) or while its owner is using calsync
(a page view in the last SYNC_OWNER_ACTIVE_SECONDS; CalDAV clients' background requests do not count), and each
check that finds nothing doubles the wait, up to SYNC_POLL_MAX_SECONDS. The interval is kept in
Integration.poll_seconds, so the page can say it, and is computed before the one UPDATE that ends a quiet sync
(sync.services._quiet_end): no extra query.

Providers with push of their own (Google, Microsoft, Exchange) keep the operator's SYNC_INTERVAL_SECONDS; a CalDAV
server that pushes (WebDAV-Push, push_state ACTIVE) is polled at the longest interval only as a safety net.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone

from integrations.models import Integration
from integrations.providers import Provider

ADAPTIVE = (Provider.CALDAV, Provider.ICS)  # no push of their own: calsync polls them


def polled() -> Q:
    """The integrations whose interval adapts: a provider without push, and no WebDAV-Push channel working."""
    return Q(provider__in=ADAPTIVE) & ~Q(push_state=Integration.PushState.ACTIVE)


def is_polled(integration: Integration) -> bool:
    return integration.provider in ADAPTIVE and integration.push_state != Integration.PushState.ACTIVE


def owner_active(integration: Integration, now: datetime) -> bool:
    until = integration.owner_active_until
    return until is not None and until > now


def next_poll_seconds(integration: Integration, *, busy: bool, now: datetime) -> int:
    """The interval after this check: the shortest while busy or watched, else twice the last, within the bounds."""
    low, high = _bounds(integration)
    if busy or owner_active(integration, now):
        return low
    return min(high, max(low, integration.poll_seconds * 2))


def _bounds(integration: Integration) -> tuple[int, int]:
    """The shortest and longest wait. A published feed (ICS) changes rarely and its publisher serves many: it is
    never asked more often than ICS_POLL_SECONDS, busy or not."""
    low, high = settings.SYNC_POLL_MIN_SECONDS, settings.SYNC_POLL_MAX_SECONDS
    if integration.provider == Provider.ICS:
        low = max(low, settings.ICS_POLL_SECONDS)
    return low, max(low, high)


def interval(integration: Integration, poll_seconds: int) -> int:
    """Seconds until the next scheduled sync of this integration, given its (new) poll interval."""
    if is_polled(integration):
        return poll_seconds
    if integration.provider in ADAPTIVE:  # pushed: the poll is only a safety net
        return settings.SYNC_POLL_MAX_SECONDS
    return settings.SYNC_INTERVAL_SECONDS


def _polls_key(user_id: int) -> str:
    return f"sync:polls-for:{user_id}"


def owner_polled(integration: Integration) -> None:
    """Remember, in the cache, that this user has a polled calendar: only their requests are worth a write."""
    if is_polled(integration):
        cache.set(_polls_key(integration.user_id), 1, timeout=2 * settings.SYNC_POLL_MAX_SECONDS)


def owner_seen(*, user_id: int, now: datetime | None = None) -> int:
    """The user is using calsync's pages: their polled calendars are checked at the shortest
    interval for a while, and those not checked lately at the next dispatch. Nothing is read from the database for
    a user without a polled calendar, and the write is made at most once every quarter of SYNC_OWNER_ACTIVE_SECONDS
    per user (cache keys say so): a request costs one or two cache calls. How many were brought forward."""
    active = settings.SYNC_OWNER_ACTIVE_SECONDS
    if cache.get(_polls_key(user_id)) is None:
        return 0
    if not cache.add(f"sync:owner-seen:{user_id}", 1, timeout=max(1, active // 4)):
        return 0
    now = now or timezone.now()
    mine = Integration.objects.filter(polled(), user_id=user_id)
    waking = sum(_wake(mine, provider, now) for provider in ADAPTIVE)
    mine.update(owner_active_until=now + timedelta(seconds=active))
    return waking


def _wake(mine: QuerySet[Integration], provider: str, now: datetime) -> int:
    """Bring this provider's polled calendars forward to now, at their own shortest interval. A feed (ICS) checked
    less than its floor ago keeps its schedule: being watched never asks a publisher more often than that."""
    low, _ = _bounds(Integration(provider=provider))
    due = (
        mine.filter(provider=provider)
        .filter(Q(owner_active_until__isnull=True) | Q(owner_active_until__lte=now))
        .filter(sync_enabled=True, automatic=True, next_sync_at__gt=now)
        .exclude(status=Integration.Status.NEEDS_REAUTH)
    )
    if low > settings.SYNC_POLL_MIN_SECONDS:
        due = due.filter(Q(last_synced_at__isnull=True) | Q(last_synced_at__lte=now - timedelta(seconds=low)))
    return due.update(next_sync_at=now, poll_seconds=low)


def describe(integration: Integration) -> str:
    """How often the page's reader can expect the calendar to be checked, and why."""
    if not integration.automatic or not integration.sync_enabled:
        return ""
    if integration.provider in ADAPTIVE and integration.push_state == Integration.PushState.ACTIVE:
        return f"The server announces its changes; it is also checked every {_span(interval(integration, 0))}."
    if not is_polled(integration):
        return ""
    seconds = integration.poll_seconds or settings.SYNC_POLL_MIN_SECONDS
    if seconds <= settings.SYNC_POLL_MIN_SECONDS:
        why = "while you are using calsync" if owner_active(integration, timezone.now()) else "while it is busy"
    elif seconds >= settings.SYNC_POLL_MAX_SECONDS:
        why = "while it is quiet; sooner when it changes or you use calsync"
    else:
        why = "and less often while nothing changes"
    return f"This server cannot announce changes, so it is checked every {_span(seconds)} {why}."


def _span(seconds: int) -> str:
    if seconds % 60:
        return f"{seconds} seconds" if seconds != 1 else "second"
    minutes = seconds // 60
    return "minute" if minutes == 1 else f"{minutes} minutes"
