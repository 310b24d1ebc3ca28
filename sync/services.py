"""Running syncs: request, claim the lock, run the engine, record the outcome, schedule the next one.

No provider is called inside a database transaction: each calsync write is its
own short transaction in events.services, and the run's bookkeeping is written
around the engine, not around it in one block.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from calsync.crypto import SecretUnreadable
from calsync.queue import UNREACHABLE, publish
from events.services import changes_unannounced
from integrations import registry
from integrations.models import Integration
from integrations.providers import Provider

from . import engine, liveness, notify
from .errors import AuthRevoked, PermanentError, QueueUnavailable, SafetyStop, SyncError, Throttled, TransientError
from .local import CalsyncSide
from .models import SyncRun
from .signals import run_changed
from .store import DbStatusStore, RunReport

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4  # a transient failure is retried this many times in all, with growing delays
QUEUE_UNREACHABLE = f"{UNREACHABLE}, so this sync did not start. Try again in a few minutes."


def sync_request(
    *, integration: Integration, trigger: str, attempt: int = 1, delay: float = 0, queue: bool = True
) -> SyncRun:
    """A run, handed to the task queue once the current transaction commits (`queue=False`: the caller runs it).

    A queue that cannot be reached fails the run at once, saying so, so no run is left queued that no worker
    will ever start (it would swallow every later "Synchronize now").
    """
    run = SyncRun.objects.create(
        tenant_id=integration.tenant_id,
        integration=integration,
        trigger=trigger,
        attempt=attempt,
        due_at=timezone.now() + timedelta(seconds=delay),
    )
    if queue:
        transaction.on_commit(lambda: _publish(run, delay))
    return run


def _publish(run: SyncRun, delay: float) -> None:
    from .tasks import run_sync

    if not publish(run_sync, run.pk, countdown=delay or None):
        run.status, run.error, run.finished_at = SyncRun.Status.FAILED, QUEUE_UNREACHABLE, timezone.now()
        SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
            status=run.status, error=run.error, finished_at=run.finished_at
        )


def sync_request_manual(
    *, integration: Integration, trigger: str = SyncRun.Trigger.MANUAL, queue: bool = True
) -> SyncRun:
    """'Synchronize now' (or a provider's change notice): a run already queued or running is the one wanted.

    Raises QueueUnavailable when the task queue cannot be reached (nothing is then left queued). Called inside a
    transaction, the queue is reached only at the commit: the run is then failed, but nothing is raised.
    """
    now = timezone.now()
    liveness.runs_end(liveness.dead_runs(now=now, integration=integration), now=now)
    pending = integration.runs.filter(status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]).first()
    if pending is not None:
        return pending
    run = sync_request(integration=integration, trigger=trigger, queue=queue)
    if run.status == SyncRun.Status.FAILED:
        raise QueueUnavailable(QUEUE_UNREACHABLE)
    return run


def dispatch_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Queue every automatic integration whose next sync is due. Cost grows with the number due."""
    moment = now or timezone.now()
    interval = timedelta(seconds=settings.SYNC_INTERVAL_SECONDS)
    due = Integration.objects.filter(
        sync_enabled=True, automatic=True, next_sync_at__isnull=False, next_sync_at__lte=moment
    ).order_by("next_sync_at")
    queued = 0
    for integration in due[:limit]:
        # Push the due time forward first, so a slow queue never gets the same integration twice.
        claimed = Integration.objects.filter(pk=integration.pk, next_sync_at__lte=moment).update(
            next_sync_at=moment + interval
        )
        if not claimed:
            continue
        run = sync_request(integration=integration, trigger=SyncRun.Trigger.AUTOMATIC)
        if run.status == SyncRun.Status.FAILED:
            # The queue is down: leave the rest due, and this one due again, for the next dispatch.
            Integration.objects.filter(pk=integration.pk).update(next_sync_at=moment)
            break
        queued += 1
    return queued


# --- one run -----------------------------------------------------------------------------------


def _claim(integration: Integration) -> str | None:
    """Take the integration's lock, or None if a live sync holds it. A lock past its expiry was a dead worker's."""
    now = timezone.now()
    token = uuid.uuid4().hex
    taken = (
        Integration.objects.filter(pk=integration.pk)
        .filter(Q(lock_token="") | Q(lock_expires_at__lt=now))
        .update(lock_token=token, lock_expires_at=now + timedelta(seconds=settings.SYNC_STALE_SECONDS))
    )
    if not taken:
        return None
    # A run still "running" now held a lock that went silent: its worker died and it will never finish.
    liveness.runs_end(integration.runs.filter(status=SyncRun.Status.RUNNING), now=now)
    return token


def _release(integration: Integration, token: str) -> None:
    Integration.objects.filter(pk=integration.pk, lock_token=token).update(lock_token="", lock_expires_at=None)


def _engine_settings(integration: Integration) -> engine.Settings:
    return engine.Settings(
        direction=engine.Direction(integration.direction),
        primary=engine.Side.LOCAL if integration.primary == Integration.Primary.CALSYNC else engine.Side.REMOTE,
        mass_delete_threshold=None if integration.allow_mass_delete else settings.SYNC_MASS_DELETE_THRESHOLD,
    )


def sync_execute(*, run_id: int) -> SyncRun:
    run = SyncRun.objects.select_related("integration__calendar", "integration__user").get(pk=run_id)
    integration = run.integration
    if run.status != SyncRun.Status.QUEUED:
        return run  # delivered twice
    if not integration.sync_enabled:
        return _finish(run, SyncRun.Status.SKIPPED, error="Sync is paused.")
    token = _claim(integration)
    if token is None:
        return _finish(run, SyncRun.Status.SKIPPED)
    run.status, run.started_at = SyncRun.Status.RUNNING, timezone.now()
    run.save(update_fields=["status", "started_at"])
    report = RunReport(run)
    try:
        with liveness.Heartbeat(integration.pk, token):
            _run_engine(integration, report, token)
    except TransientError as exc:
        _retry_or_fail(run, report, exc)
    except AuthRevoked as exc:
        _problem(run, report, Integration.Status.NEEDS_REAUTH, str(exc))
    except SafetyStop as exc:
        _problem(run, report, Integration.Status.STOPPED, str(exc))
    except (PermanentError, SyncError, SecretUnreadable, LookupError) as exc:
        _problem(run, report, Integration.Status.ERROR, str(exc))
    except Exception:
        _problem(run, report, Integration.Status.ERROR, "An internal error stopped this sync; it has been logged.")
        raise
    else:
        _succeeded(run, report)
    finally:
        _release(integration, token)
        _schedule_next(integration)
    return run


def _run_engine(integration: Integration, report: RunReport, token: str) -> None:
    remote = registry.build_side(integration)
    # A side whose apps may write items back without calsync's hidden fields (events.hidden) sets this flag.
    local = CalsyncSide(
        integration.calendar,
        keep_hidden=getattr(remote, "may_drop_hidden_fields", False),
        origin=integration.provider,
        carry_back=integration.direction != Integration.Direction.TO_CALSYNC,
    )
    store, rules = DbStatusStore(integration, token), _engine_settings(integration)
    with changes_unannounced():  # the sync's own writes must not ask for yet another sync
        engine.sync(local, remote, store, rules, report)
        if local.amended:
            # calsync added to items it received (assignment rules): a second pass carries that back now, as
            # calsync's own change, rather than after an interval in which an edit on the other side would meet
            # it as a conflict. The second pass adds nothing more (the items now carry what the rules set).
            local.amended = 0
            engine.sync(local, remote, store, rules, report)
    registry.after_sync(integration)


def sync_soon(*, calendar_id: int) -> int:
    """A calendar changed outside a sync (web page, CalDAV app): its automatic integrations sync at the next
    dispatch (within SYNC_DISPATCH_SECONDS) instead of waiting out their interval. Returns how many."""
    now = timezone.now()
    return (
        Integration.objects.filter(
            Q(calendar_id=calendar_id) | Q(provider=Provider.CALSYNC, remote_calendar_id=str(calendar_id)),
            sync_enabled=True,
            automatic=True,
            next_sync_at__gt=now,
        )
        .exclude(status=Integration.Status.NEEDS_REAUTH)
        .update(next_sync_at=now)
    )


def _finish(run: SyncRun, status: str, report: RunReport | None = None, error: str = "") -> SyncRun:
    run.status, run.error, run.finished_at = status, error, timezone.now()
    fields = ["status", "error", "finished_at"]
    if report is not None:
        report.flush()
        run.counts, run.conflicts, run.unsynced = report.count_json(), report.conflicts, len(report.unsynced_keys)
        fields += ["counts", "conflicts", "unsynced"]
    run.save(update_fields=fields)
    if report is not None and report.counts:
        run_changed.send(sender=SyncRun, calendar_id=run.integration.calendar_id)
    log.info(
        "sync finished",
        extra={"integration": run.integration_id, "sync_run": run.pk, "run_status": status, "counts": run.counts},
    )
    return run


def _succeeded(run: SyncRun, report: RunReport) -> None:
    report.clear_resolved()
    status = SyncRun.Status.PARTIAL if report.unsynced_keys else SyncRun.Status.SUCCESS
    _finish(run, status, report)
    integration = run.integration
    was_failing = integration.status != Integration.Status.OK
    integration.status, integration.last_error, integration.allow_mass_delete = Integration.Status.OK, "", False
    integration.save(update_fields=["status", "last_error", "allow_mass_delete"])
    if was_failing:
        notify.recovered(integration)


def _problem(run: SyncRun, report: RunReport, status: str, message: str) -> None:
    _finish(
        run, SyncRun.Status.STOPPED if status == Integration.Status.STOPPED else SyncRun.Status.FAILED, report, message
    )
    integration = run.integration
    integration.status, integration.last_error = status, message
    integration.save(update_fields=["status", "last_error"])
    notify.problem(integration, run)


def _retry_or_fail(run: SyncRun, report: RunReport, exc: TransientError) -> None:
    if run.attempt >= MAX_ATTEMPTS and not isinstance(exc, Throttled):
        _problem(run, report, Integration.Status.ERROR, f"{exc} (gave up after {run.attempt} attempts)")
        return
    _finish(run, SyncRun.Status.RETRYING, report, str(exc))
    # Exponential backoff (30 s, 2 min, 8 min), or what the provider asked for if that is longer. Held back by
    # calsync's own quota, the run kept what it did and goes on when there is room: that uses up no attempt.
    delay = max(exc.retry_after or 0, 30 * 4 ** (run.attempt - 1))
    attempt = run.attempt if isinstance(exc, Throttled) else run.attempt + 1
    sync_request(integration=run.integration, trigger=SyncRun.Trigger.RETRY, attempt=attempt, delay=delay)


def _schedule_next(integration: Integration) -> None:
    fresh = Integration.objects.only("sync_enabled", "automatic", "status").get(pk=integration.pk)
    next_at = None
    # Retrying refused credentials every 5 minutes can get the user's account locked: wait for new ones.
    if fresh.sync_enabled and fresh.automatic and fresh.status != Integration.Status.NEEDS_REAUTH:
        next_at = timezone.now() + timedelta(seconds=settings.SYNC_INTERVAL_SECONDS)
    Integration.objects.filter(pk=integration.pk).update(next_sync_at=next_at)
