"""Keeps the time index (TimeEntry) in step with the events it is read from.

The index holds, for every master, the rows of the occurrences that start before a horizon: a write indexes up to
its own now + REPORTS_HORIZON_DAYS, and beat moves the horizon every series is known to reach (IndexHorizon)
forward. The horizon is cut on the row's start (floating times read on the owner's clock), so a full reindex and
a reindex then an extension give the same rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from events import recurrence
from events.convert import item_from_event
from events.ical import Component, as_utc
from events.models import Calendar, Event

from . import summary
from .models import IndexHorizon, TimeEntry

_DECLINED = "DECLINED"
# Floating times are stored as if UTC but happen on the owner's clock, at most this far away: expansion windows
# reach this much further, and the rows are cut on their real start.
_ZONE_REACH = timedelta(days=1)
BATCH = 500  # items read, expanded and written at a time: bounded memory, few statements

Progress = Callable[[int, int], None]


def horizon() -> datetime:
    """How far ahead a write expands its series into the index."""
    return timezone.now() + timedelta(days=settings.REPORTS_HORIZON_DAYS)


def reindex(master_ids: Iterable[int], *, until: datetime | None = None) -> int:
    """Replace the index rows of these master events (gone ones just lose theirs); returns rows written. A first
    sync's thousands of items are read and written BATCH at a time, in the caller's transaction."""
    ids, until, rows, stretches = list(master_ids), until or horizon(), 0, Stretches()
    for first in range(0, len(ids), BATCH):
        chunk = ids[first : first + BATCH]
        stretches.removed(TimeEntry.objects.filter(event_id__in=chunk))
        TimeEntry.objects.filter(event_id__in=chunk).delete()
        rows += stretches.added(_write(chunk, since=None, until=until))
    stretches.refresh()
    return rows


def forget(master_ids: list[int]) -> None:
    """Remove the rows of these masters (they are being deleted)."""
    stretches, rows = Stretches(), TimeEntry.objects.filter(event_id__in=master_ids)
    stretches.removed(rows)
    rows.delete()
    stretches.refresh()


class Stretches:
    """The spans of time a write removed or added rows in, per tenant and person: their days are summed again."""

    def __init__(self) -> None:
        self.found: dict[int, dict[int, list[summary.Span]]] = defaultdict(lambda: defaultdict(list))

    def removed(self, rows: QuerySet[TimeEntry]) -> None:
        for tenant_id, user_id, start, end in rows.values_list("tenant_id", "user_id", "start", "end"):
            self.found[tenant_id][user_id].append((start, end))

    def added(self, rows: list[TimeEntry]) -> int:
        for row in rows:
            self.found[row.tenant_id][row.user_id].append((row.start, row.end))
        return len(rows)

    def refresh(self) -> None:
        for tenant_id, spans in self.found.items():
            summary.refresh(tenant_id, spans)
        self.found.clear()


@dataclass(frozen=True)
class Owner:
    """What a row needs of its calendar's owner: who, whose clock floating times are on, whose answer counts."""

    id: int
    zone: ZoneInfo
    email: str


def _owners(calendar_ids: Iterable[int]) -> dict[int, Owner]:
    found = Calendar.objects.filter(pk__in=set(calendar_ids)).values_list("pk", "owner_id", "owner__timezone",
                                                                         "owner__email")  # fmt: skip
    return {pk: Owner(owner_id, ZoneInfo(zone), email) for pk, owner_id, zone, email in found}


def _write(ids: list[int], *, since: datetime | None, until: datetime) -> list[TimeEntry]:
    events = Event.objects.filter(pk__in=ids, parent=None, kind=Event.Kind.EVENT)
    singles = list(events.filter(rrule="", rdates=[]).exclude(pk__in=_with_overrides(ids)).values(*_SINGLE))
    repeating = list(
        events.exclude(pk__in=[e["pk"] for e in singles]).prefetch_related(
            Prefetch("overrides", queryset=Event.objects.order_by("recurrence_id"))
        )
    )
    owners = _owners([e["calendar_id"] for e in singles] + [m.calendar_id for m in repeating])
    rows = [row for e in singles if (row := _single(e, owners[e["calendar_id"]], since, until)) is not None]
    rows += [row for m in repeating for row in entries_for(m, owners[m.calendar_id], until, since=since)]
    _insert(rows)
    return rows


def _insert(rows: list[TimeEntry]) -> None:
    """One executemany of plain values: bulk_create prepares every value of every row through its field, which
    was most of what the index added to a first sync."""
    fields = [f for f in TimeEntry._meta.concrete_fields if not f.primary_key]
    adapt = connection.ops.adapt_datetimefield_value
    convert = [adapt if isinstance(f, models.DateTimeField) else None for f in fields]
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"INSERT INTO {TimeEntry._meta.db_table} ({names}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
    values = [
        [
            c(v) if c is not None and v is not None else v
            for c, v in zip(convert, (getattr(r, f.attname) for f in fields), strict=True)
        ]
        for r in rows
    ]
    with connection.cursor() as cursor:
        for first in range(0, len(values), 1000):
            cursor.executemany(sql, values[first : first + 1000])


def _with_overrides(ids: list[int]) -> QuerySet[Event]:
    return Event.objects.filter(parent_id__in=ids).values("parent_id")


# A first sync writes thousands of single events: their one row is read from the stored columns, not from the
# item rebuilt and expanded (the rules are those of events.convert and events.recurrence.duration).
_SINGLE = ("pk", "tenant_id", "calendar_id", "start", "end", "timezone", "end_timezone", "all_day", "title",
           "client_ref_id", "project_ref_id", "activity_ref_id", "origin", "visibility", "transparency",
           "busy_status", "attendees", "status")  # fmt: skip


def _single(event: dict, owner: Owner, since: datetime | None, until: datetime) -> TimeEntry | None:
    if event["start"] is None:
        return None
    start = _stored_instant(event["start"], event["timezone"], event["all_day"], owner)
    if event["end"] is not None:
        end = _stored_instant(event["end"], event["end_timezone"] or event["timezone"], event["all_day"], owner)
    else:  # RFC 5545 3.6.1: an all-day event without an end lasts the day, a timed one takes no time
        end = start + timedelta(days=1) if event["all_day"] else start
    if not (start < until and (since is None or start >= since)):
        return None
    return TimeEntry(
        tenant_id=event["tenant_id"], event_id=event["pk"], calendar_id=event["calendar_id"], user_id=owner.id,
        recurrence_id=None, start=start, end=end, all_day=event["all_day"], title=event["title"][:500],
        client_id=event["client_ref_id"], project_id=event["project_ref_id"], activity_id=event["activity_ref_id"],
        provider=event["origin"], private=event["visibility"].upper() in ("PRIVATE", "CONFIDENTIAL"),
        free=(event["busy_status"] or ("FREE" if event["transparency"] == Event.Transparency.FREE else "")) == "FREE",
        declined=any(a["email"].lower() == owner.email.lower() and a["partstat"] == _DECLINED
                     for a in event["attendees"]),
        cancelled=event["status"].upper() == "CANCELLED",
    )  # fmt: skip


def _stored_instant(stored: datetime, zone: str, all_day: bool, owner: Owner) -> datetime:
    """A stored instant as the index keeps it: floating times (no zone) were stored as if UTC; they are the
    owner's clock time."""
    stored = stored.astimezone(UTC)
    return stored.replace(tzinfo=owner.zone).astimezone(UTC) if not zone and not all_day else stored


def entries_for(master: Event, owner: Owner, until: datetime, *, since: datetime | None = None) -> list[TimeEntry]:
    """The index rows of one master: every occurrence that starts in [since, until), within the expansion budget."""
    if master.span_start is None:
        return []
    overrides = {o.recurrence_id: o for o in master.overrides.all()}
    budget = recurrence.Budget(
        max_occurrences=settings.REPORTS_MAX_OCCURRENCES, max_steps=settings.REPORTS_MAX_OCCURRENCES * 20, seconds=5.0
    )
    item = item_from_event(master, list(overrides.values()))
    lower = master.span_start if since is None else max(master.span_start, since)
    rows = []
    window = {"start": lower - _ZONE_REACH, "end": until + _ZONE_REACH, "budget": budget}
    for found in recurrence.occurrences(item, **window):
        rid = as_utc(found.recurrence_id) if found.recurrence_id is not None else None
        row_event = overrides.get(rid, master) if found.is_override else master
        row = _entry(master, row_event, found.component, found.start, found.end, rid, owner)
        if row.start < until and (since is None or row.start >= since):
            rows.append(row)
    return rows


def _entry(
    master: Event,
    row: Event,
    component: Component,
    start: object,
    end: object,
    rid: datetime | None,
    owner: Owner,
) -> TimeEntry:
    all_day = not isinstance(start, datetime)
    return TimeEntry(
        tenant_id=master.tenant_id,
        event_id=master.pk,
        calendar_id=master.calendar_id,
        user_id=owner.id,
        recurrence_id=rid,
        start=_instant(start, owner.zone),
        end=_instant(end, owner.zone),
        all_day=all_day,
        title=component.summary[:500],
        client_id=row.client_ref_id,
        project_id=row.project_ref_id,
        activity_id=row.activity_ref_id,
        provider=master.origin,
        private=component.visibility.upper() in ("PRIVATE", "CONFIDENTIAL"),
        free=(component.busy_status or ("FREE" if component.transparency == Event.Transparency.FREE else "")) == "FREE",
        declined=any(a.email.lower() == owner.email.lower() and a.partstat == _DECLINED for a in component.attendees),
        cancelled=component.status.upper() == "CANCELLED",
    )


def _instant(value: object, zone: ZoneInfo) -> datetime:
    """All-day dates as midnight UTC; floating times on the owner's clock; the rest as they are, in UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone).astimezone(UTC) if value.tzinfo is None else as_utc(value)
    assert isinstance(value, date)
    return datetime.combine(value, time(), tzinfo=UTC)


# --- rebuilding: deployment, operators, an owner's changes ----------------------------------------------------


def _masters(calendar_id: int) -> list[int]:
    query = Event.objects.filter(calendar_id=calendar_id, parent=None, kind=Event.Kind.EVENT)
    return list(query.order_by("pk").values_list("pk", flat=True))


def _locked(calendar_id: int) -> None:
    """Writes to a calendar hold its row (events.services); holding it too keeps a rebuild from interleaving."""
    Calendar.objects.select_for_update().filter(pk=calendar_id).values_list("pk").first()


def reindex_calendar(calendar_id: int, *, until: datetime | None = None, batch: int = BATCH) -> tuple[int, int]:
    """Rebuild one calendar's rows, `batch` items per transaction; returns (items, rows written)."""
    ids, rows, until = _masters(calendar_id), 0, until or horizon()
    for first in range(0, len(ids), batch):
        with transaction.atomic():
            _locked(calendar_id)
            rows += reindex(ids[first : first + batch], until=until)
    return len(ids), rows


@dataclass(frozen=True)
class Rebuilt:
    calendars: int
    items: int
    rows: int


def reindex_calendars(
    calendar_ids: list[int], *, batch: int = BATCH, progress: Progress | None = None, complete: bool = False
) -> Rebuilt:
    """Rebuild these calendars' rows to one horizon. `complete` (every calendar there is): that horizon becomes
    the one every series is known to reach, and beat carries on from it."""
    until, items, rows = horizon(), 0, 0
    for done, calendar_id in enumerate(calendar_ids, start=1):
        found, written = reindex_calendar(calendar_id, until=until, batch=batch)
        items, rows = items + found, rows + written
        if progress is not None:
            progress(done, rows)
    if complete:
        IndexHorizon.objects.update_or_create(pk=1, defaults={"horizon": until, "rebuilt_at": timezone.now()})
    return Rebuilt(len(calendar_ids), items, rows)


def owner_zone_changed(*, user_id: int) -> int:
    """The owner's clock moved: rows of items with floating times are read again. Returns rows written."""
    floating = Event.objects.filter(calendar__owner_id=user_id, kind=Event.Kind.EVENT, timezone="", all_day=False)
    rows = 0
    for calendar_id, ids in _by_calendar(
        floating.exclude(start=None).values_list("calendar_id", "parent_id", "pk")
    ).items():
        with transaction.atomic():
            _locked(calendar_id)
            rows += reindex(ids)
    return rows


def _by_calendar(found: Iterable[tuple[int, int | None, int]]) -> dict[int, list[int]]:
    """(calendar, parent, row) triples as each calendar's master ids."""
    grouped: dict[int, set[int]] = defaultdict(set)
    for calendar_id, parent_id, pk in found:
        grouped[calendar_id].add(parent_id or pk)
    return {calendar_id: sorted(ids) for calendar_id, ids in grouped.items()}


# --- the horizon, moved forward by beat ----------------------------------------------------------------------


@dataclass(frozen=True)
class Extended:
    horizon: datetime
    items: int
    rows: int


def horizon_extend(*, batch: int = BATCH) -> Extended | None:
    """Add the occurrences between the horizon every series reaches and today's, and move it there. None when
    another run holds the claim."""
    state = _claim()
    if state is None:
        return None
    old, new, items, rows = state.horizon, horizon(), 0, 0
    try:
        reaching = Event.objects.filter(parent=None, kind=Event.Kind.EVENT, span_start__lt=new + _ZONE_REACH).filter(
            Q(span_end=None) | Q(span_end__gte=old - _ZONE_REACH)
        )
        for calendar_id, ids in _by_calendar(reaching.values_list("calendar_id", "parent_id", "pk")).items():
            for first in range(0, len(ids), batch):
                with transaction.atomic():
                    _locked(calendar_id)
                    rows += _extend(ids[first : first + batch], old, new)
            items += len(ids)
        state.horizon = max(new, old)
    finally:
        state.claimed_until = None
        state.save(update_fields=["horizon", "claimed_until"])
    return Extended(state.horizon, items, rows)


def _extend(ids: list[int], old: datetime, new: datetime) -> int:
    """Rows starting in [old, new) of these masters, replacing any (a write may have indexed further)."""
    stretches, replaced = Stretches(), TimeEntry.objects.filter(event_id__in=ids, start__gte=old)
    stretches.removed(replaced)
    replaced.delete()
    rows = stretches.added(_write(ids, since=old, until=new))
    stretches.refresh()
    return rows


_CLAIM = timedelta(hours=6)


def _claim() -> IndexHorizon | None:
    """The horizon row, claimed for one run (first made at today's horizon: writes since the migration reach it)."""
    now = timezone.now()
    IndexHorizon.objects.get_or_create(pk=1, defaults={"horizon": horizon()})
    free = Q(claimed_until=None) | Q(claimed_until__lt=now)
    if not IndexHorizon.objects.filter(free, pk=1).update(claimed_until=now + _CLAIM):
        return None
    return IndexHorizon.objects.get(pk=1)
