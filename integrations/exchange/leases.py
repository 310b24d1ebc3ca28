"""Which `ews_listen` process holds which Exchange integration's subscription: a lease on the integration row.

A process claims rows nobody holds, or whose holder stopped renewing, with one conditional UPDATE (the condition is
checked again by the database as it writes, so two processes never both win a row, on PostgreSQL or SQLite), renews
all of its rows with one UPDATE per tick, and learns from that UPDATE's rows which it still holds. A process that
dies stops renewing: its rows are free LEASE seconds later. The subscription ids stay on the rows (push_channel),
so whoever takes a row over first tries to go on with the same subscription, and the events Exchange queued for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from integrations.models import Integration
from integrations.providers import Provider

# A streaming subscription lives this long without a connection; the lease renewal moves it on while we listen.
# https://learn.microsoft.com/exchange/client-developer/exchange-web-services/notification-subscriptions-mailbox-events-and-ews-in-exchange
STREAMING_LIFETIME = timedelta(minutes=30)


def listened() -> QuerySet[Integration]:
    """The integrations a change notice is worth holding a subscription for: Exchange, enabled, automatic, and
    syncing (one awaiting the confirmation of its first sync subscribes to nothing: nothing is written before)."""
    return (
        Integration.objects.filter(
            provider=Provider.EXCHANGE, sync_enabled=True, automatic=True, awaiting_confirmation=False
        )
        .exclude(status=Integration.Status.NEEDS_REAUTH)
        .select_related("tenant")
    )


def leases_claim(*, holder: str, limit: int, now: datetime | None = None) -> list[Integration]:
    """Up to `limit` listened integrations nobody holds (or whose holder went silent) become `holder`'s."""
    if limit <= 0:
        return []
    now = now or timezone.now()
    free = Q(push_holder="") | Q(push_lease_expires_at__lt=now)
    with transaction.atomic():
        ids = list(
            listened().filter(free).select_for_update(skip_locked=True, of=("self",)).order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )  # fmt: skip
        Integration.objects.filter(free, pk__in=ids).update(
            push_holder=holder, push_lease_expires_at=now + timedelta(seconds=settings.EXCHANGE_LISTEN_LEASE_SECONDS)
        )
    return list(listened().filter(pk__in=ids, push_holder=holder))


def leases_renew(*, holder: str, now: datetime | None = None) -> tuple[set[int], set[int]]:
    """Renew every lease `holder` still has. Returns the ids it holds (a row taken over meanwhile is not among them)
    and, of those, the ones still worth listening for (not paused, manual or waiting for new credentials)."""
    now = now or timezone.now()
    mine = Integration.objects.filter(push_holder=holder)
    mine.update(push_lease_expires_at=now + timedelta(seconds=settings.EXCHANGE_LISTEN_LEASE_SECONDS))
    mine.filter(push_state=Integration.PushState.ACTIVE, push_channel__startswith="ews-stream:").update(
        push_expires_at=now + STREAMING_LIFETIME
    )
    held = set(mine.values_list("pk", flat=True))
    return held, set(listened().filter(push_holder=holder).values_list("pk", flat=True))


def leases_release(*, holder: str, ids: set[int] | None = None) -> int:
    """Give rows back (all of them on shutdown): another process may take them at once."""
    rows = Integration.objects.filter(push_holder=holder)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    return rows.update(push_holder="", push_lease_expires_at=None)


def push_recorded(*, integration_id: int, holder: str, channel: str, state: str,
                  expires_at: datetime | None) -> None:  # fmt: skip
    """How push stands for an integration this holder listens for (a row taken over meanwhile is left alone)."""
    Integration.objects.filter(pk=integration_id, push_holder=holder).update(
        push_channel=channel, push_state=state, push_expires_at=expires_at
    )


def push_forgotten(*, integration_id: int) -> None:
    """The subscription was ended (the integration is no longer listened for)."""
    Integration.objects.filter(pk=integration_id).update(
        push_channel="", push_state="", push_expires_at=None, push_holder="", push_lease_expires_at=None
    )
