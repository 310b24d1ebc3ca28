"""Running syncs: request, claim the lock, run the engine, record the outcome, schedule the next one.

No provider is called inside a database transaction: each calsync write is its
own short transaction in events.services, and the run's bookkeeping is written
around the engine, not around it in one block.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from calsync.crypto import SecretUnreadable
from calsync.queue import SYNC_MANUAL, SYNC_POLLED, SYNC_PUSH, UNREACHABLE, publish
from events.services import changes_unannounced
from integrations import registry
from integrations.models import Integration
from integrations.providers import Provider

from . import engine, liveness, notify, polling
from .adapter import CalendarSide
from .controls import Controls, Window
from .errors import AuthRevoked, PermanentError, QueueUnavailable, SafetyStop, SyncError, Throttled, TransientError
from .local import CalsyncSide
from .models import SyncPreview, SyncRun
from .signals import run_changed
from .store import DbStatusStore, RunReport

log = logging.getLogger(__name__)

Work = Callable[[Integration, RunReport, str], None]  # what a run does under the integration's lock

THROTTLED_MIN_DELAY = 30  # seconds a scheduled sync held back by calsync's own quota waits at least
MAX_ATTEMPTS = 4  # a transient failure is retried this many times in all, with growing delays
_UNDO_FIELDS = ("undo_of", "undo_since", "undo_options")  # what an undo run undoes (sync.undo)
QUEUE_UNREACHABLE = f"{UNREACHABLE}, so this sync did not start. Try again in a few minutes."
# Integration.config keys: the next run compares everything (controls changed); when one last did.
COMPARE_ALL = "compare_all"
COMPARED_ALL_AT = "compared_all_at"
COMPARE_ALL_EVERY = timedelta(days=1)  # a window with a moving bound is compared whole this often
AWAITING_CONFIRMATION = "The first sync waits until its preview is confirmed."


def sync_request(
    *,
    integration: Integration,
    trigger: str,
    attempt: int = 1,
    delay: float = 0,
    queue: bool = True,
    undo: dict[str, Any] | None = None,
) -> SyncRun:
    """A run, handed to the task queue once the current transaction commits (`queue=False`: the caller runs it).
    `undo`: an undo run's fields (undo_of, undo_since, undo_options; sync.undo).

    A queue that cannot be reached fails the run at once, saying so, so no run is left queued that no worker
    will ever start (it would swallow every later "Synchronize now").
    """
    run = SyncRun.objects.create(
        tenant_id=integration.tenant_id,
        integration=integration,
        trigger=trigger,
        attempt=attempt,
        due_at=timezone.now() + timedelta(seconds=delay),
        **(undo or {}),
    )
    if queue:
        transaction.on_commit(lambda: _publish(run, delay))
    return run


# A user watching (first sync, "Synchronize now") is served first; retries wait with the scheduled syncs.
_WATCHED = (SyncRun.Trigger.MANUAL, SyncRun.Trigger.FIRST, SyncRun.Trigger.RESYNC, SyncRun.Trigger.UNDO)
WAIT_FOR_LOCK = 3  # seconds a watched run waits, and asks again, while another sync holds the lock
_QUEUE_OF = {SyncRun.Trigger.MANUAL: SYNC_MANUAL, SyncRun.Trigger.FIRST: SYNC_MANUAL, SyncRun.Trigger.PUSH: SYNC_PUSH,
             SyncRun.Trigger.RESYNC: SYNC_MANUAL, SyncRun.Trigger.UNDO: SYNC_MANUAL}  # fmt: skip


def _publish(run: SyncRun, delay: float) -> None:
    from .tasks import run_sync

    if not publish(run_sync, run.pk, countdown=delay or None, queue=_QUEUE_OF.get(run.trigger, SYNC_POLLED)):
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


def resync_request(*, integration: Integration) -> SyncRun:
    """ "Resync from scratch": the next run lists both calendars whole and pairs every item again through the
    mappings and UIDs, so it duplicates nothing; deletions it finds pass the mass-delete guard as in any run.

    The cursors are cleared by the run itself, under its lock (the compare-all mark, _compare_all_when_due), so
    a run going on now cannot save its cursors over cleared ones. Raises QueueUnavailable as "Synchronize now"."""
    integration.config_merge({COMPARE_ALL: True})
    return sync_request_manual(integration=integration, trigger=SyncRun.Trigger.RESYNC)


def sync_request_push(*, integration: Integration) -> None:
    """A provider's change notice: a sync of this integration on the push queue, with no run row written unless
    it finds something. A queue that cannot be reached leaves the integration due for the next dispatch."""
    from .tasks import sync_scheduled

    def queue() -> None:
        if not publish(sync_scheduled, integration.pk, SyncRun.Trigger.PUSH.value, queue=SYNC_PUSH):
            Integration.objects.filter(pk=integration.pk, sync_enabled=True, automatic=True).update(
                next_sync_at=timezone.now(), push_pending=True
            )

    transaction.on_commit(queue)


# --- one run -----------------------------------------------------------------------------------


def _claim(integration: Integration, trigger: str) -> str | None:
    """Take the integration's lock, or None if a live sync holds it. A lock past its expiry was a dead worker's.
    The run reads every change made until now, so a sync a change asked for (push_pending) is served by it."""
    now = timezone.now()
    token = uuid.uuid4().hex
    expires = now + timedelta(seconds=settings.SYNC_STALE_SECONDS)
    taken = (
        Integration.objects.filter(pk=integration.pk)
        .filter(Q(lock_token="") | Q(lock_expires_at__lt=now))
        .update(lock_token=token, lock_expires_at=expires, push_pending=False, lock_taken_at=now, lock_trigger=trigger)
    )
    if not taken:
        return None
    integration.lock_trigger = trigger  # what the run was asked by, for the side built for it (registry)
    if integration.lock_token:
        # The lock we took over went silent: a run still "running" under it will never finish (its worker died).
        liveness.runs_end(integration.runs.filter(status=SyncRun.Status.RUNNING), now=now)
    return token


def _release(integration: Integration, token: str) -> None:
    Integration.objects.filter(pk=integration.pk, lock_token=token).update(lock_token="", lock_expires_at=None)


def _engine_settings(integration: Integration) -> engine.Settings:
    from integrations.selectors import integration_controls

    from .undo import logged_stop

    # A stop logs what it holds back unless a stop of the same streak did (a query only while stopped, not on the
    # quiet path): after a retry, a pause or retention's pruning the offer to put them back is not lost.
    stopped = integration.status == Integration.Status.STOPPED
    return engine.Settings(
        direction=engine.Direction(integration.effective_direction),
        primary=engine.Side.LOCAL if integration.primary == Integration.Primary.CALSYNC else engine.Side.REMOTE,
        mass_delete_threshold=None if integration.allow_mass_delete else settings.SYNC_MASS_DELETE_THRESHOLD,
        log_withheld=not stopped or logged_stop(integration) is None,
        controls=integration_controls(integration),
    )


def _compare_all_when_due(integration: Integration, token: str) -> None:
    """Under the lock, before the engine: clear both cursors so this run compares everything, when the controls
    changed since the last complete comparison, or the window has a moving bound (from now on, days ahead) and
    the last complete comparison is a day old (items drifting into the window are copied then).

    Only then are the controls and config read afresh (row locked): controls saved since the run read the
    integration are the ones it compares with, and keys written meanwhile (a colour) are kept. A run that has
    nothing due by the row it loaded costs no query here (a no-op sync stays two writes); a compare-all mark
    saved since it loaded is seen by the next run, whose cursors the mark keeps cleared."""
    now = timezone.now()
    if not _compare_all_due(integration.config, Controls.from_json(integration.controls).window, now):
        return
    with transaction.atomic():
        row = (
            Integration.objects.select_for_update()
            .filter(pk=integration.pk, lock_token=token)
            .values("controls", "config")
            .first()
        )
        if row is None:
            return  # the lock was lost: the run that holds it decides
        integration.controls, config = row["controls"], row["config"]
        due = _compare_all_due(config, Controls.from_json(integration.controls).window, now)
        if due:
            config = {**{k: v for k, v in config.items() if k != COMPARE_ALL}, COMPARED_ALL_AT: now.isoformat()}
            # What the remote cursor keeps beyond a position (an ICS feed's stable identities) survives (registry).
            remote_cursor = registry.reset_cursor(integration)
            Integration.objects.filter(pk=integration.pk).update(
                local_cursor="", remote_cursor=remote_cursor, config=config
            )
    integration.config = config
    if due:
        integration.local_cursor, integration.remote_cursor = "", remote_cursor


def _compare_all_due(config: dict[str, Any], window: Window, now: datetime) -> bool:
    moving = window.from_now or window.days_ahead is not None
    last = config.get(COMPARED_ALL_AT)
    stale = last is None or now - datetime.fromisoformat(last) >= COMPARE_ALL_EVERY
    return bool(config.get(COMPARE_ALL)) or (moving and stale)


def _waits_for_lock(run: SyncRun) -> bool:
    """A run someone is watching, not yet waiting long, whose lock a sync without a run row holds (a sync with a
    row, running or about to, is the one the user sees: this one is skipped)."""
    fresh = timezone.now() - run.created_at < timedelta(seconds=settings.SYNC_STALE_SECONDS)
    return (
        run.trigger in _WATCHED
        and fresh
        and not run.integration.runs.filter(status__in=[SyncRun.Status.RUNNING, SyncRun.Status.QUEUED])
        .exclude(pk=run.pk)
        .exists()
    )


def sync_execute(*, run_id: int) -> SyncRun:
    """A sync whose run row was written when it was asked for (first sync, "Synchronize now", a retry)."""
    run = SyncRun.objects.select_related("integration__calendar", "integration__user").get(pk=run_id)
    integration = run.integration
    if run.status != SyncRun.Status.QUEUED:
        return run  # delivered twice
    if not integration.sync_enabled:
        return _finish(RunReport(run), SyncRun.Status.SKIPPED, error="Sync is paused.")
    if integration.awaiting_confirmation:
        return _finish(RunReport(run), SyncRun.Status.SKIPPED, error=AWAITING_CONFIRMATION)
    token = _claim(integration, run.trigger)
    if token is None:
        if _waits_for_lock(run):
            # A scheduled sync (which leaves no run row) holds the lock: the user asked for a sync of their own,
            # so it waits its turn instead of being skipped.
            SyncRun.objects.filter(pk=run.pk).update(due_at=timezone.now() + timedelta(seconds=WAIT_FOR_LOCK))
            _publish(run, WAIT_FOR_LOCK)
            return run
        return _finish(RunReport(run), SyncRun.Status.SKIPPED)
    run.status, run.started_at = SyncRun.Status.RUNNING, timezone.now()
    run.save(update_fields=["status", "started_at"])
    _execute(integration, RunReport(run), token, work=_work(run))
    return run


def _work(run: SyncRun) -> Work:
    """What a run does under the lock: a sync, or for an undo run, the undo (sync.undo)."""
    if run.trigger == SyncRun.Trigger.UNDO:
        from .undo import undo_work

        return undo_work
    return _run_engine


def sync_scheduled(*, integration_id: int, trigger: str) -> SyncRun | None:
    """A polled or pushed sync, queued with only the integration's id. Nobody is watching, so its run row is
    written only once it has something to say; a sync that found nothing ends with one small write on the
    integration (quiet_syncs). Returns the run, or None if there was none to show."""
    integration = Integration.objects.select_related("calendar", "user").filter(pk=integration_id).first()
    if integration is None or not integration.sync_enabled or integration.awaiting_confirmation:
        return None  # deleted or paused since it was queued, or its first sync not confirmed yet
    token = _claim(integration, trigger)
    if token is None:
        if trigger == SyncRun.Trigger.PUSH:
            # The running sync may have read before the change that asked for this one: it is due again as soon
            # as that sync ends (_next_sync_at keeps a pending push's turn).
            Integration.objects.filter(pk=integration.pk).update(push_pending=True, next_sync_at=timezone.now())
        return None  # a polled sync: the running one reads what this one would have
    report = RunReport(integration=integration, trigger=trigger, started_at=timezone.now())
    _execute(integration, report, token)
    return report.written


def _execute(integration: Integration, report: RunReport, token: str, work: Work | None = None) -> None:
    """Run the engine (or `work`: an undo) under the lock just taken, record how it ended, release the lock,
    schedule the next."""
    ended_quietly = False
    deferred_until = None
    not_before: float | None = None  # the server's Retry-After: no scheduled sync comes sooner
    poll = integration.poll_seconds  # a failure keeps the interval; a success shortens it, a quiet check lengthens it
    try:
        with liveness.Heartbeat(integration.pk, token):
            (work or _run_engine)(integration, report, token)
    except TransientError as exc:
        if isinstance(exc, Throttled) and report.quiet:
            # Held back by calsync's own quota before it had anything to say: a scheduled sync simply comes back
            # when there is room, leaving no run rows (while a quota stays exhausted they would pile up).
            deferred_until = timezone.now() + timedelta(seconds=max(exc.retry_after or 0, THROTTLED_MIN_DELAY))
        else:
            not_before = exc.retry_after
            _retry_or_fail(report, exc)
    except AuthRevoked as exc:
        _problem(report, Integration.Status.NEEDS_REAUTH, str(exc))
    except SafetyStop as exc:
        _problem(report, Integration.Status.STOPPED, str(exc))
    except (PermanentError, SyncError, SecretUnreadable, LookupError) as exc:
        _problem(report, Integration.Status.ERROR, str(exc))
    except Exception:
        _problem(report, Integration.Status.ERROR, "An internal error stopped this sync; it has been logged.")
        raise
    else:
        ended_quietly = _quiet_end(integration, report, token)
        if not ended_quietly:
            poll = polling.next_poll_seconds(integration, busy=bool(report.counts), now=timezone.now())
            _succeeded(report)
    finally:
        if not ended_quietly:
            _release(integration, token)
            if deferred_until is not None:
                Integration.objects.filter(pk=integration.pk).update(next_sync_at=deferred_until)
            else:
                _schedule_next(integration, poll=poll, not_before=not_before)


def build_sides(integration: Integration) -> tuple[CalsyncSide, CalendarSide]:
    """The integration's two sides as a run reads and writes them (an undo writes through them, a preview wraps
    them)."""
    remote = registry.build_side(integration)
    # A side whose apps may write items back without calsync's hidden fields (events.hidden) sets this flag.
    local = CalsyncSide(
        integration.calendar,
        keep_hidden=getattr(remote, "may_drop_hidden_fields", False),
        origin=integration.provider,
        carry_back=integration.effective_direction != Integration.Direction.TO_CALSYNC,
    )
    return local, remote


def _run_engine(integration: Integration, report: RunReport, token: str) -> None:
    local, remote = build_sides(integration)
    _compare_all_when_due(integration, token)
    store, rules = DbStatusStore(integration, token), _engine_settings(integration)
    # The sync's own writes must not ask for yet another sync. What calsync adds to items it receives
    # (assignment rules) goes back in the same run: the engine reads back what it wrote (engine.sync).
    with changes_unannounced():
        engine.sync(local, remote, store, rules, report)
    registry.after_sync(integration)


def sync_soon(*, calendar_id: int) -> int:
    """A calendar changed outside a sync (web page, CalDAV app): its automatic integrations sync at the next
    dispatch (a second under `manage.py dispatch`, SYNC_DISPATCH_SECONDS under beat alone), on the push queue,
    instead of waiting out their interval. Returns how many."""
    now = timezone.now()
    return (
        Integration.objects.filter(
            Integration.syncing(calendar_id),
            sync_enabled=True,
            automatic=True,
            next_sync_at__gt=now,
        )
        .exclude(status=Integration.Status.NEEDS_REAUTH)
        .update(next_sync_at=now, push_pending=True)
    )


def _finish(report: RunReport, status: str, error: str = "") -> SyncRun:
    run = report.run  # written now if the run had not needed its row before
    run.status, run.error, run.finished_at = status, error, timezone.now()
    report.flush()
    run.counts, run.conflicts, run.unsynced = report.count_json(), report.conflicts, len(report.unsynced_keys)
    run.save(update_fields=["status", "error", "finished_at", "counts", "conflicts", "unsynced"])
    if report.counts:
        integration = run.integration
        run_changed.send(sender=SyncRun, calendar_id=integration.calendar_id)
        if integration.provider == Provider.CALSYNC:  # the other side is a calsync calendar too: it changed as well
            run_changed.send(sender=SyncRun, calendar_id=int(integration.remote_calendar_id))
    log.info(
        "sync finished",
        extra={"integration": run.integration_id, "sync_run": run.pk, "run_status": status, "counts": run.counts},
    )
    return run


def _next_sync_at(now: datetime, seconds: float) -> Case:
    """The next automatic sync, in SQL: `seconds` on (sync.polling), unless paused, manual, or waiting for new
    credentials (retrying refused credentials every 5 minutes can get the user's account locked). A change that
    asked for a sync while this one ran (sync_soon) keeps its turn at the next dispatch: this run may have read too
    early."""
    scheduled = Q(sync_enabled=True, automatic=True) & ~Q(status=Integration.Status.NEEDS_REAUTH)
    next_at = now + timedelta(seconds=seconds)
    return Case(
        When(scheduled & Q(push_pending=True), then=F("next_sync_at")),
        When(scheduled, then=Value(next_at)),
        default=Value(None),
        output_field=DateTimeField(),
    )


def _quiet_end(integration: Integration, report: RunReport, token: str) -> bool:
    """A scheduled sync that found nothing to do, on a healthy integration, leaves no run row: one UPDATE
    releases the lock, schedules the next sync and counts it. False if it has something to say after all."""
    if not report.quiet or integration.status != Integration.Status.OK:
        return False
    now = timezone.now()
    poll = polling.next_poll_seconds(integration, busy=False, now=now)
    polling.owner_polled(integration)
    return bool(
        Integration.objects.filter(pk=integration.pk, lock_token=token).update(
            lock_token="",
            lock_expires_at=None,
            next_sync_at=_next_sync_at(now, polling.interval(integration, poll)),
            poll_seconds=poll if polling.is_polled(integration) else integration.poll_seconds,
            allow_mass_delete=False,
            last_synced_at=now,
            quiet_syncs=F("quiet_syncs") + 1,
            quiet_since=Coalesce(F("quiet_since"), Value(now)),
        )
    )


def _succeeded(report: RunReport) -> None:
    report.clear_resolved()
    status = SyncRun.Status.PARTIAL if report.unsynced_keys else SyncRun.Status.SUCCESS
    run = _finish(report, status)
    integration = run.integration
    if run.trigger == SyncRun.Trigger.UNDO and not report.counts and integration.status == Integration.Status.STOPPED:
        return  # an undo that put nothing back leaves the stop as it was (its next poll would only stop again)
    was_failing = integration.status != Integration.Status.OK
    if integration.status == Integration.Status.STOPPED:  # the stop is over: "allow the deletion" is stale
        from .previews import preview_discard

        preview_discard(integration=integration, reason=SyncPreview.Reason.DELETIONS)
    integration.status, integration.last_error, integration.allow_mass_delete = Integration.Status.OK, "", False
    integration.last_synced_at = run.finished_at
    fields = ["status", "last_error", "allow_mass_delete", "last_synced_at"]
    if report.counts:  # the count of checks that found nothing starts again from this change
        integration.quiet_syncs, integration.quiet_since = 0, run.finished_at
        fields += ["quiet_syncs", "quiet_since"]
    integration.save(update_fields=fields)
    if was_failing:
        from operations.health import reconnect_ask_forget

        notify.recovered(integration)
        reconnect_ask_forget(integration)


def _problem(report: RunReport, status: str, message: str) -> None:
    run = _finish(
        report, SyncRun.Status.STOPPED if status == Integration.Status.STOPPED else SyncRun.Status.FAILED, message
    )
    integration = run.integration
    integration.status, integration.last_error = status, message
    integration.save(update_fields=["status", "last_error"])
    notify.problem(integration, run)


def _retry_or_fail(report: RunReport, exc: TransientError) -> None:
    run = report.run
    if run.attempt >= MAX_ATTEMPTS and not isinstance(exc, Throttled):
        _problem(report, Integration.Status.ERROR, f"{exc} (gave up after {run.attempt} attempts)")
        return
    _finish(report, SyncRun.Status.RETRYING, str(exc))
    # Exponential backoff (30 s, 2 min, 8 min), or what the provider asked for if that is longer. Held back by
    # calsync's own quota, the run kept what it did and goes on when there is room: that uses up no attempt.
    delay = max(exc.retry_after or 0, 30 * 4 ** (run.attempt - 1))
    attempt = run.attempt if isinstance(exc, Throttled) else run.attempt + 1
    trigger, undo = SyncRun.Trigger.RETRY, None
    if run.trigger == SyncRun.Trigger.UNDO:  # retried as the same undo (sync.undo), not as a sync of what it left
        trigger, undo = run.trigger, {name: getattr(run, name) for name in _UNDO_FIELDS}
    sync_request(integration=run.integration, trigger=trigger, attempt=attempt, delay=delay, undo=undo)


def _schedule_next(integration: Integration, *, poll: int, not_before: float | None = None) -> None:
    """The next sync after this one, never sooner than the server asked (Retry-After)."""
    if not polling.is_polled(integration):
        poll = integration.poll_seconds
    seconds = max(polling.interval(integration, poll), not_before or 0)
    Integration.objects.filter(pk=integration.pk).update(
        next_sync_at=_next_sync_at(timezone.now(), seconds), poll_seconds=poll
    )
    polling.owner_polled(integration)
