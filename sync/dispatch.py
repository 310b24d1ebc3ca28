"""The dispatcher: claim the integrations whose sync is due, a batch at a time, and queue their syncs.

Claiming pushes an integration's next_sync_at one interval ahead in the same statement that finds it, so any
number of dispatchers can run at once (beat's task, `manage.py dispatch` processes): on PostgreSQL the rows a
dispatcher is claiming are locked and the others skip them (FOR UPDATE SKIP LOCKED), and a row claimed and
committed is no longer due, so none is queued twice and none is passed over. The batch is chosen by turns
across tenants (each tenant's oldest due first, then each one's second...), so one tenant's 100,000 due
integrations never hold back another tenant's few. The cost grows with the number due, never with the
number that exist: only automatic, enabled integrations are in the partial index the query reads.

A scheduled sync is queued with only the integration's id: no run row is written unless the sync has
something to say (sync.services.sync_scheduled).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from calsync.queue import SYNC_POLLED, SYNC_PUSH, publish_many
from integrations.models import Integration

from .models import SyncRun

log = logging.getLogger(__name__)

# The statements are built from these constants alone (S608): every value travels as a parameter.
_DUE = "sync_enabled AND automatic AND next_sync_at IS NOT NULL AND next_sync_at <= %(now)s"

# Each tenant's due integrations numbered oldest first: a batch takes every tenant's first, then seconds...
_NUMBERED = f"""
    SELECT id, next_sync_at, row_number() OVER (PARTITION BY tenant_id ORDER BY next_sync_at, id) AS turn
    FROM integrations_integration WHERE {_DUE}
"""  # noqa: S608
_TURNS = f"SELECT id FROM ({_NUMBERED}) AS due ORDER BY turn, next_sync_at, id LIMIT %(limit)s"  # noqa: S608

# Rows another dispatcher is claiming are skipped, not waited for, and do not count towards the LIMIT (it is
# applied after the locking), so parallel dispatchers each take the next rows in turn. A row whose claim was
# committed meanwhile is checked again against the WHERE (PostgreSQL re-reads it once locked): no longer due.
_CLAIM_POSTGRESQL = f"""
    WITH claimed AS (
        SELECT integration.id, integration.push_pending
        FROM integrations_integration AS integration JOIN ({_NUMBERED}) AS due ON due.id = integration.id
        WHERE integration.sync_enabled AND integration.automatic AND integration.next_sync_at <= %(now)s
        ORDER BY due.turn, due.next_sync_at, due.id
        LIMIT %(limit)s
        FOR UPDATE OF integration SKIP LOCKED
    )
    UPDATE integrations_integration AS integration SET next_sync_at = %(next)s, push_pending = false
    FROM claimed WHERE integration.id = claimed.id
    RETURNING integration.id, claimed.push_pending
"""  # noqa: S608

# SQLite (development) has one writer at a time, so the statement needs no row locks; its RETURNING sees only
# the new row, hence the flag is read just before (a flag set in between only sends that sync to the polled queue).
_PUSHED_SQLITE = f"SELECT id FROM integrations_integration WHERE id IN ({_TURNS}) AND push_pending"  # noqa: S608
_CLAIM_SQLITE = f"""
    UPDATE integrations_integration SET next_sync_at = %(next)s, push_pending = false
    WHERE id IN ({_TURNS}) AND {_DUE}
    RETURNING id
"""  # noqa: S608


@dataclass(frozen=True)
class Claimed:
    integration_id: int
    pushed: bool  # a change asked for this sync (sync_soon): it goes to the push queue


def due_claim(*, now: datetime, limit: int) -> list[Claimed]:
    """Claim up to `limit` due integrations, by turns across tenants, and push their next sync one interval on."""
    params = {"now": now, "limit": limit, "next": now + timedelta(seconds=settings.SYNC_INTERVAL_SECONDS)}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_POSTGRESQL, params)
            return [Claimed(pk, pushed) for pk, pushed in cursor.fetchall()]
    with connection.cursor() as cursor:
        cursor.execute(_PUSHED_SQLITE, params)
        pushed = {pk for (pk,) in cursor.fetchall()}
        cursor.execute(_CLAIM_SQLITE, params)
        return [Claimed(pk, pk in pushed) for (pk,) in cursor.fetchall()]


def due_unclaim(*, integration_ids: list[int], now: datetime, pushed: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    """Claimed integrations whose syncs could not be queued are due again, for the next dispatch (a pushed one
    still on the push queue)."""
    again = Integration.objects.filter(pk__in=integration_ids)
    again.filter(pk__in=pushed).update(next_sync_at=now, push_pending=True)
    again.exclude(pk__in=pushed).update(next_sync_at=now)


def batch_queue(claimed: list[Claimed], *, now: datetime) -> int:
    """Queue the claimed syncs, each on its queue, one broker connection per queue: a pushed sync alone in its
    message (someone may be waiting for it), polled ones SYNC_DISPATCH_PER_MESSAGE to a message. A broker that
    cannot be reached leaves what was not queued due again. Returns how many syncs were queued."""
    from .tasks import sync_scheduled, sync_scheduled_many

    pushed = [c.integration_id for c in claimed if c.pushed]
    polled = [c.integration_id for c in claimed if not c.pushed]
    per = max(1, settings.SYNC_DISPATCH_PER_MESSAGE)
    chunks = [polled[i : i + per] for i in range(0, len(polled), per)]
    sent = publish_many(sync_scheduled, ((pk, SyncRun.Trigger.PUSH.value) for pk in pushed), queue=SYNC_PUSH)
    if sent == len(pushed):
        polled_calls = ((chunk, SyncRun.Trigger.AUTOMATIC.value) for chunk in chunks)
        messages = publish_many(sync_scheduled_many, polled_calls, queue=SYNC_POLLED)
        sent += sum(len(chunk) for chunk in chunks[:messages])
    if sent < len(claimed):
        due_unclaim(integration_ids=[*pushed, *polled][sent:], now=now, pushed=set(pushed))
    return sent


def dispatch_due(*, now: datetime | None = None, batch: int | None = None, batches: int | None = None) -> int:
    """Claim and queue due syncs a batch at a time until none is due (or `batches` were taken); how many queued."""
    size = batch or settings.SYNC_DISPATCH_BATCH
    queued = taken = 0
    while batches is None or taken < batches:
        moment = now or timezone.now()
        claimed = due_claim(now=moment, limit=size)
        taken += 1
        if not claimed:
            break
        sent = batch_queue(claimed, now=moment)
        queued += sent
        if sent < len(claimed):
            log.warning("dispatch stopped: the task queue is unreachable", extra={"queued": queued})
            break
    return queued
