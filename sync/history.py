"""An event's story ("why is this here?"), told from the sync logs, the event in calsync and its tombstone.

Where it came from, every sync that carried it and which way, the conflicts and which side won, what was held
back or put back, and who deleted it where. Read by UID through the log's (uid, run) index across the runs of the
integrations the viewer may see (their own; on the admin pages, the organisation's), a page of steps at a time.

Privacy is one rule (`hidden`): a private or confidential item's title shows to its owner only, on the story, the
search by title and a run's log page alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import BooleanField, Exists, Expression, ExpressionWrapper, F, Max, OuterRef, Q, QuerySet, Value

from accounts.models import User
from accounts.tenancy import Scope
from events.ical import PRIVATE_CLASSES
from events.models import Event, Tombstone

from .models import SyncLogEntry, SyncRun

PRIVATE_TITLE = "Private event"
STEPS_PER_PAGE = 50
FOUND_PER_PAGE = 25
TOMBSTONES_MAX = 20  # deletions of one UID told (re-created and deleted again, many times: the latest ones)
# The search by title matches words in a substring no index serves, so it reads a bounded window: the newest
# SEARCH_ENTRIES log lines of the viewer's newest SEARCH_RUNS runs (an event's story, read by UID, has no bound).
SEARCH_MIN = 3
SEARCH_RUNS = 2000
SEARCH_ENTRIES = 50_000
# Where a deletion in calsync came from (Tombstone.via), when a person made it.
_BY_HAND = {"": "in calsync's pages", "dav": "in a calendar app (CalDAV)", "import": "by an import"}


def hidden(*, viewer: User, owner: int | None = None) -> Expression:
    """Whether a log entry's title (and message) is hidden from `viewer`: the item is private or confidential (the
    entry says so, another entry of its owner's logs for the UID does, or the owner's event in calsync does) and
    the viewer is not its owner. `owner` given: every entry is of that user's logs (one run's page)."""
    if owner == viewer.pk:
        return Value(False)
    ref: Any = owner if owner is not None else OuterRef("run__integration__user_id")
    logged = SyncLogEntry.objects.filter(uid=OuterRef("uid"), run__integration__user_id=ref, private=True)
    held = Event.objects.filter(calendar__owner_id=ref, uid=OuterRef("uid"), parent=None)
    held = held.filter(visibility__in=PRIVATE_CLASSES)
    private = Q(private=True) | Exists(logged) | Exists(held)
    if owner is None:
        private &= ~Q(run__integration__user_id=viewer.pk)
    return ExpressionWrapper(private, output_field=BooleanField())


@dataclass(frozen=True)
class Step:
    when: datetime
    text: str
    kind: str  # the log's action, or "made" / "deleted-by" for what calsync itself recorded
    entry: SyncLogEntry | None = None  # a conflict's entry links to its losing version
    owner: str = ""  # whose calendar (the admin pages tell several people's apart)


@dataclass
class Story:
    uid: str
    title: str
    event: Event | None  # the event in calsync now, if it is there
    origin: str  # where it first appeared, in a sentence
    page: Page[SyncLogEntry]
    steps: list[Step]

    @property
    def deleted(self) -> bool:
        return self.event is None


def event_story(*, scope: Scope, uid: str, organisation: bool = False, page: Any = 1) -> Story | None:
    """The story of the item with this UID as the viewer may see it (None: nothing of it is theirs to see)."""
    viewer = scope.user
    calendars = scope.history_calendars(organisation=organisation)
    entries = _entries(scope, uid, organisation)
    events = Event.objects.filter(calendar__in=calendars, uid=uid, parent=None).select_related("calendar__owner")
    event = next(iter(sorted(events, key=lambda e: e.calendar.owner_id != viewer.pk)), None)
    paged = Paginator(entries, STEPS_PER_PAGE).get_page(page)
    if event is None and not paged.object_list:
        return None
    tombstones = Tombstone.objects.filter(calendar__in=calendars, uid=uid)
    steps = [_step(entry, organisation) for entry in paged]
    steps += _deletions_by_hand(tombstones, paged, entries, organisation)
    steps.sort(key=lambda s: s.when)
    title = _title(viewer, event, entries)
    return Story(uid=uid, title=title, event=event, origin=_origin(event, entries), page=paged, steps=steps)


def _entries(scope: Scope, uid: str, organisation: bool) -> QuerySet[SyncLogEntry]:
    integrations = scope.history_integrations(organisation=organisation)
    return (
        SyncLogEntry.objects.filter(uid=uid, run__integration__in=integrations)
        .select_related("run__integration__user")
        .defer("detail", "before", "run__integration__credentials_encrypted")
        .annotate(hidden=hidden(viewer=scope.user), has_lost=ExpressionWrapper(~Q(detail=""), BooleanField()))
        .order_by("id")
    )


_MADE = {"": "Made in calsync by {owner}.", "dav": "Made by {owner} in a calendar app (CalDAV).",
         "import": "Imported into calsync from an .ics file by {owner}."}  # fmt: skip


def _title(viewer: User, event: Event | None, entries: QuerySet[SyncLogEntry]) -> str:
    if event is not None and not (event.visibility in PRIVATE_CLASSES and event.calendar.owner_id != viewer.pk):
        return event.title or event.uid
    named = entries.filter(hidden=False).exclude(title="").exclude(title=F("uid"))  # a deletion's line has the UID
    latest = named.order_by("-id").values_list("title", flat=True).first()
    return latest or PRIVATE_TITLE


def _origin(event: Event | None, entries: QuerySet[SyncLogEntry]) -> str:
    """Where the item first appeared: made in calsync (and how), copied in from a provider, or on both sides."""
    first = entries.filter(action="created").first()
    if first is not None and first.side == "calsync":
        return f"Copied into calsync from {first.run.integration} by sync {first.run_id}."
    if event is not None and event.origin in _MADE:
        return _MADE[event.origin].format(owner=event.calendar.owner.email)
    if first is not None:
        return f"Made in calsync, then copied to {first.run.integration} by sync {first.run_id}."
    if entries.exists():
        return "Found in both calendars at the first sync: nothing had to be copied."
    return "In calsync; no sync has carried it yet."


def _step(entry: SyncLogEntry, organisation: bool) -> Step:
    integration = entry.run.integration
    owner = integration.user.email if organisation else ""
    if entry.hidden:  # type: ignore[attr-defined]
        return Step(entry.created_at, f"{entry.action_label} (sync {entry.run_id}).", entry.action, owner=owner)
    key, undo = (entry.action, entry.side), entry.run.trigger == SyncRun.Trigger.UNDO  # an undo's writes: nobody's
    told = (_UNDO_TOLD.get(key) if undo else None) or _TOLD.get(key, "{message}")
    text = told.format(provider=integration, run=entry.run_id, message=entry.message)
    return Step(entry.created_at, text, entry.action, entry if entry.has_lost else None, owner)  # type: ignore[attr-defined]


# What each logged change means, told with its direction (the side is where the change was made).
_TOLD = {
    ("created", "calsync"): "{provider} → calsync: copied into calsync by sync {run}.",
    ("created", "remote"): "calsync → {provider}: copied to {provider} by sync {run}.",
    ("updated", "calsync"): "{provider} → calsync: changed at {provider}; sync {run} carried the change into calsync.",
    ("updated", "remote"): "calsync → {provider}: changed in calsync; sync {run} carried the change to {provider}.",
    ("deleted", "calsync"): "{provider} → calsync: deleted at {provider} first; sync {run} deleted it in calsync.",
    ("deleted", "remote"): "calsync → {provider}: deleted in calsync first; sync {run} deleted it at {provider}.",
    ("restored", "calsync"): "Put back in calsync by an undo (sync {run}).",
    ("restored", "remote"): "Put back at {provider} by an undo (sync {run}).",
    ("withheld", "calsync"): "Its deletion in calsync was held back at a safety stop (sync {run}).",
    ("withheld", "remote"): "Its deletion at {provider} was held back at a safety stop (sync {run}).",
    ("conflict", "calsync"): "Conflict, calsync won (sync {run}): {message}",
    ("conflict", "remote"): "Conflict, {provider} won (sync {run}): {message}",
    ("unsynced", ""): "Not synced (sync {run}): {message}",
    ("filtered", ""): "Filtered (sync {run}): {message}",
}


# What an undo's writes mean: it puts an earlier version back, or removes again what an earlier undo put back.
_UNDO_TOLD = {
    ("updated", "calsync"): "Its earlier version put back in calsync by an undo (sync {run}).",
    ("updated", "remote"): "Its earlier version put back at {provider} by an undo (sync {run}).",
    ("deleted", "calsync"): "Removed again from calsync by an undo (sync {run}).",
    ("deleted", "remote"): "Removed again from {provider} by an undo (sync {run}).",
}


def _deletions_by_hand(
    tombstones: QuerySet[Tombstone], paged: Page[SyncLogEntry], entries: QuerySet[SyncLogEntry], organisation: bool
) -> list[Step]:
    """The deletions a person made in calsync (a sync's own are in its log; calsync's own, a cancelled meeting's
    copy, say, have nobody) that fall on this page of steps."""
    rows = tombstones.filter(via__in=list(_BY_HAND), deleted_by__isnull=False)
    rows = rows.select_related("deleted_by", "calendar__owner")
    if paged.number > 1:
        rows = rows.filter(deleted_at__gte=paged[0].created_at)
    if paged.has_next():
        rows = rows.filter(deleted_at__lt=entries[paged.end_index()].created_at)
    return [_deletion(t, organisation) for t in rows.order_by("-deleted_at")[:TOMBSTONES_MAX]]


def _deletion(tombstone: Tombstone, organisation: bool) -> Step:
    text = f"Deleted in calsync {_BY_HAND[tombstone.via]} by {tombstone.deleted_by.email}."  # type: ignore[union-attr]
    return Step(tombstone.deleted_at, text, "deleted-by", owner=tombstone.calendar.owner.email if organisation else "")


@dataclass(frozen=True)
class Found:
    uid: str
    title: str
    owner: str
    deleted: bool
    last_seen: datetime


def events_find(*, scope: Scope, q: str, organisation: bool = False, page: Any = 1) -> Page[Found] | None:
    """Items whose logged title contains `q`, deleted ones too, newest first, a page at a time (None: fewer than
    SEARCH_MIN characters). Private items of others are never found (their titles are hidden)."""
    if len(q := q.strip()[:200]) < SEARCH_MIN:
        return None
    matches = (
        _searched(scope, organisation)
        .filter(title__icontains=q)
        .exclude(title=F("uid"))  # a deletion's line names the item by its UID
        .annotate(hidden=hidden(viewer=scope.user))
        .filter(hidden=False)
        .values("uid", "run__integration__user_id")
        .annotate(last=Max("id"))
        .order_by("-last")
    )
    paged = Paginator(matches, FOUND_PER_PAGE).get_page(page)
    paged.object_list = _found(list(paged.object_list))
    return paged


def _searched(scope: Scope, organisation: bool) -> QuerySet[SyncLogEntry]:
    """The log lines a search by title reads (see SEARCH_RUNS): the runs through their (integration or tenant,
    -created_at) index, their lines through the run's."""
    integrations = scope.history_integrations(organisation=organisation)
    runs = SyncRun.objects.filter(integration__in=integrations).order_by("-created_at", "-id").values("pk")
    newest = SyncLogEntry.objects.filter(run__in=runs[:SEARCH_RUNS]).order_by("-id").values("pk")
    return SyncLogEntry.objects.filter(pk__in=newest[:SEARCH_ENTRIES])


def _found(rows: list[dict[str, Any]]) -> list[Found]:
    latest = SyncLogEntry.objects.filter(pk__in=[r["last"] for r in rows]).select_related("run__integration__user")
    by_pk = {e.pk: e for e in latest.only("pk", "uid", "title", "created_at", "run__integration__user__email")}
    present = set(
        Event.objects.filter(
            calendar__owner_id__in={r["run__integration__user_id"] for r in rows},
            uid__in={r["uid"] for r in rows},
            parent=None,
        ).values_list("calendar__owner_id", "uid")
    )
    return [
        Found(
            uid=r["uid"],
            title=by_pk[r["last"]].title,
            owner=by_pk[r["last"]].run.integration.user.email,
            deleted=(r["run__integration__user_id"], r["uid"]) not in present,
            last_seen=by_pk[r["last"]].created_at,
        )
        for r in rows
    ]
