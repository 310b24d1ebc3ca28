"""Undo a sync run, or every run of an integration since a moment: what the undo page shows, asking for one, and
carrying it out under the integration's lock as a run of its own (trigger UNDO), logged and undoable like any.

What an undo puts back, and which items it leaves alone, is said in sync.undoing. Here: which runs and log entries
it reads, what the page counts, and the run. The page's "changed since" comes from the log (a later run changed
the item, or a deleted item is synced again); the run also compares what each side holds now with what the runs
left, and leaves alone (and logs) what changed there without a sync knowing yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce

from events.ical import ICalError, Item, parse_item
from events.models import Event
from events.services import changes_unannounced
from integrations.models import Integration

from .engine import Direction, Settings, Side
from .errors import QueueUnavailable
from .models import CHANGES, SyncLogEntry, SyncMapping, SyncRun
from .store import DbStatusStore, RunReport
from .undoing import Logged, Step, Undo, may_write, plan_steps

UNDONE = (*CHANGES, "withheld")  # the log entries an undo reads
CHANGED_LISTED = 500  # items changed since that the undo page lists (with a checkbox each)
_FIELDS = ("action", "side", "uid", "title", "after_hash", "private", "kept")
_UNFINISHED = (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)


class UndoRefused(Exception):
    """Why this undo cannot be asked for now (shown to the user as it is)."""


# --- selectors -------------------------------------------------------------------------------------


def undo_runs(*, integration: Integration, run: SyncRun | None = None, since: datetime | None = None) -> QuerySet:
    """The runs an undo puts back: `run`, or every finished run of the integration since `since`."""
    runs = integration.runs.exclude(status__in=_UNFINISHED)
    if run is not None:
        return runs.filter(pk=run.pk)
    return runs.filter(Q(started_at__gte=since) | Q(started_at=None, created_at__gte=since))  # when they ran


def undo_steps(
    *, integration: Integration, runs: QuerySet, with_before: bool = False, attempts: list[int] | None = None
) -> list[Step]:
    """One step per item the runs changed (sync.undoing.plan_steps), each marked `later` when a run after them
    changed it again or a deleted item is synced again. `with_before`: read and parse the kept versions (the
    run needs them; the page only counts). `attempts`: earlier attempts of this undo, whose writes are its own."""
    entries = (
        SyncLogEntry.objects.filter(run__in=runs, action__in=UNDONE)
        .annotate(kept=ExpressionWrapper(~Q(before=""), output_field=BooleanField()))
        .annotate(ran=Coalesce(F("run__started_at"), F("run__created_at")))
        .order_by("ran", "id")
        .values(*_FIELDS, *(("before",) if with_before else ()))
    )
    steps = plan_steps(_logged(entries.iterator(chunk_size=500)))
    _mark_later(integration, runs, steps, attempts or [])
    return steps


def _logged(rows: Iterator[dict[str, Any]]) -> Iterator[Logged]:
    for row in rows:
        text, kept = row.pop("before", None), row.pop("kept")
        before = _parsed(text) if text else None
        if text is not None:  # read with the versions: only one that parses can be put back
            kept = before is not None
        side = Side(row.pop("side"))
        yield Logged(**row, side=side, before=before, kept=kept)


def _parsed(text: str) -> Item | None:
    try:
        return parse_item(text) if text else None
    except ICalError:
        return None


def _mark_later(integration: Integration, runs: QuerySet, steps: list[Step], attempts: list[int]) -> None:
    last = _ran(runs).order_by("-ran").values_list("ran", flat=True).first()
    if last is None or not steps:
        return
    later = set(
        SyncLogEntry.objects.annotate(ran=Coalesce(F("run__started_at"), F("run__created_at")))
        .filter(run__integration=integration, ran__gt=last, action__in=CHANGES)
        .exclude(run__in=attempts)
        .values_list("uid", flat=True)
        .distinct()
    )
    own = set(SyncLogEntry.objects.filter(run__in=attempts).values_list("uid", flat=True)) if attempts else set()
    deleted = [s.uid for s in steps if s.last.action == "deleted"]
    synced = set()
    for start in range(0, len(deleted), 500):
        chunk = deleted[start : start + 500]
        synced |= set(SyncMapping.objects.filter(integration=integration, uid__in=chunk).values_list("uid", flat=True))
    for step in steps:
        step.later = step.uid in later or (step.uid in synced and step.uid not in own)
    _mark_changed_in_calsync(integration, [s for s in steps if not s.later and s.uid not in own])


def _mark_changed_in_calsync(integration: Integration, steps: list[Step]) -> None:
    """An edit or deletion in calsync that no sync has carried yet makes an item changed since, on the page too
    (two queries per 500 items): the calendar holds another version than the mapping records, or holds again an
    item the runs deleted. The provider's own such edits are found when the undo reads it (sync.undoing)."""
    steps = [s for s in steps if s.last.action != "withheld"]
    for start in range(0, len(steps), 500):
        page = steps[start : start + 500]
        uids = [s.uid for s in page]
        held = dict(
            Event.objects.filter(calendar=integration.calendar, parent=None, uid__in=uids).values_list("uid", "seq")
        )
        recorded = dict(
            SyncMapping.objects.filter(integration=integration, uid__in=uids).values_list("uid", "local_version")
        )
        for step in page:
            if step.last.action == "deleted":
                step.later = step.uid in held
            elif step.uid in recorded:
                step.later = str(held.get(step.uid, "")) != recorded[step.uid]


@dataclass
class UndoSummary:
    """What the undo page shows."""

    put_back: int = 0  # deleted items re-created (and items held back at a safety stop copied back)
    unwritable: int = 0  # items to put back where the direction writes nothing (read-only, one-way): left as they are
    overwrite: int = 0  # items whose earlier version is written back
    remove: int = 0  # items an undo put back, removed again
    created: int = 0  # items the runs created (removed only if the user asks)
    changed: list[Step] = field(default_factory=list)  # changed since: left alone unless picked

    @property
    def empty(self) -> bool:
        return not (self.put_back or self.overwrite or self.remove or self.created or self.changed)


def undo_summary(*, integration: Integration, runs: QuerySet) -> UndoSummary:
    summary, direction = UndoSummary(), _direction(integration)
    for step in undo_steps(integration=integration, runs=runs):
        if not may_write(direction, step.kind, step.first.side):
            summary.unwritable += 1
        elif step.later:
            summary.changed.append(step)
        elif step.created:
            summary.created += 1
        elif step.kind == "remove":
            summary.remove += 1
        elif step.kind == "overwrite":
            summary.overwrite += 1
        else:
            summary.put_back += 1
    return summary


# --- services --------------------------------------------------------------------------------------


def undo_request(
    *, integration: Integration, run: SyncRun | None = None, since: datetime | None = None, options: dict[str, Any]
) -> SyncRun:
    """An undo run (trigger UNDO), queued on the manual queue like "Synchronize now" once the transaction commits.
    `options`: {"uids": items changed since to undo anyway, "remove_created": bool}. Raises UndoRefused."""
    if run is not None and not run.finished:
        raise UndoRefused("This run has not finished yet; it can be undone once it has.")
    if integration.runs.filter(status__in=_UNFINISHED).exists():
        raise UndoRefused("A sync of this integration is going on; undo once it has finished.")
    if not integration.sync_enabled:
        raise UndoRefused("Sync is paused for this integration; resume it to undo.")
    from .services import QUEUE_UNREACHABLE, sync_request

    fields = {"undo_of": run, "undo_since": since, "undo_options": options}
    undo = sync_request(integration=integration, trigger=SyncRun.Trigger.UNDO, undo=fields)
    if undo.status == SyncRun.Status.FAILED:
        raise QueueUnavailable(QUEUE_UNREACHABLE)
    return undo


def undo_work(integration: Integration, report: RunReport, token: str) -> None:
    """The undo run's work under the lock (sync.services runs it as a sync: heartbeat, outcome, release)."""
    from .services import _engine_settings, build_sides

    run = report.run
    runs = undo_runs(integration=integration, run=run.undo_of, since=run.undo_since)
    if run.undo_of is None and run.undo_since is None:
        runs = runs.none()  # the run it undid was deleted since (retention): nothing left to put back
    options = run.undo_options or {}
    attempts = _earlier_attempts(run)
    runs = runs.exclude(pk__in=[run.pk, *attempts])
    steps = [
        s
        for s in undo_steps(integration=integration, runs=runs, with_before=True, attempts=attempts)
        if options.get("remove_created") or not s.created
    ]
    if not steps:
        report.note("Nothing to undo.")
        return
    local, remote = build_sides(integration)
    undo = Undo(
        {Side.LOCAL: local, Side.REMOTE: remote},
        DbStatusStore(integration, token),
        report,
        picked=frozenset(options.get("uids", ())),
        settings=_engine_settings(integration),
    )
    with changes_unannounced():  # the undo's own writes must not ask for a sync
        undo.run(steps)


def _earlier_attempts(run: SyncRun) -> list[int]:
    """The attempts of this undo that a transient error ended (sync.services retries an undo as the same undo):
    what they put back is the undo's own work, neither changed since nor to be undone."""
    return list(
        run.integration.runs.filter(
            trigger=SyncRun.Trigger.UNDO,
            status=SyncRun.Status.RETRYING,
            undo_of=run.undo_of,
            undo_since=run.undo_since,
            created_at__lt=run.created_at,
        ).values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class UndoOffer:
    """After a safety stop: the stopped run, and how many deletions it held back (the undo copies them back)."""

    run: SyncRun
    withheld: int
    vanished_from: str  # where the items were deleted: "calsync" or the provider's name
    writable: bool  # the direction writes there; else only the provider (or allowing the deletion) can end the stop


def undo_offer(integration: Integration, last_run: SyncRun | None) -> UndoOffer | None:
    """The offer the integration page shows while the last run is a safety stop (no query otherwise): an undo of
    the stop that logged what this stop holds back (logged_stop)."""
    if integration.status != Integration.Status.STOPPED or last_run is None:
        return None
    if last_run.status != SyncRun.Status.STOPPED:
        return None
    stop = logged_stop(integration)
    if stop is None:
        return None
    held = stop.entries.filter(action="withheld")
    still_on = held.values_list("side", flat=True).first()  # where they still are: deleted on the other side
    vanished_from = integration.get_provider_display() if still_on == Side.LOCAL else "calsync"
    writable = may_write(_direction(integration), "copy_back", Side(still_on or Side.REMOTE))
    return UndoOffer(stop, held.count(), vanished_from, writable)


def _direction(integration: Integration) -> Settings:
    """The part of the sync's settings that says where an undo may write (read from the integration alone)."""
    return Settings(direction=Direction(integration.effective_direction))


# Runs that end a safety stop: they set the integration's status (OK, or an error). A retry, a skipped run (paused,
# or another sync running) and an undo leave the stop going on (an undo that puts items back is followed by a sync).
_ENDS_A_STOP = (SyncRun.Status.SUCCESS, SyncRun.Status.PARTIAL, SyncRun.Status.FAILED)


def logged_stop(integration: Integration) -> SyncRun | None:
    """The newest stop since the stop began that logged the deletions it held back: the one an undo puts them back
    from. None: no stop of this streak logged them (or retention pruned it), so the next stop logs them again
    (sync.services). The one rule for "the same stop", for the offer, the engine and retention."""
    ended = _ran(integration.runs.filter(status__in=_ENDS_A_STOP).exclude(trigger=SyncRun.Trigger.UNDO))
    withheld = SyncLogEntry.objects.filter(run=OuterRef("pk"), action="withheld")
    stops = _ran(integration.runs.filter(Exists(withheld), status=SyncRun.Status.STOPPED))
    if (after := ended.order_by("-ran").values_list("ran", flat=True).first()) is not None:
        stops = stops.filter(ran__gt=after)
    return stops.order_by("-ran", "-pk").first()


def _ran(runs: QuerySet) -> QuerySet:
    """Runs with `ran`: when they ran (a run waiting for the lock is created before one that runs first)."""
    return runs.annotate(ran=Coalesce("started_at", "created_at"))
