"""Keeps the time index (TimeEntry) in step with the events it is read from."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Prefetch
from django.utils import timezone

from events import recurrence
from events.convert import item_from_event
from events.ical import Component, as_utc
from events.models import Event

from .models import TimeEntry

_DECLINED = "DECLINED"


def horizon() -> datetime:
    """How far ahead series are expanded into the index: beat moves it forward (reports.tasks)."""
    return timezone.now() + timedelta(days=settings.REPORTS_HORIZON_DAYS)


def reindex(master_ids: Iterable[int]) -> int:
    """Replace the index rows of these master events (gone ones just lose theirs); returns rows written."""
    ids = list(master_ids)
    TimeEntry.objects.filter(event_id__in=ids).delete()
    masters = (
        Event.objects.filter(pk__in=ids, parent=None, kind=Event.Kind.EVENT)
        .select_related("calendar__owner")
        .prefetch_related(Prefetch("overrides", queryset=Event.objects.order_by("recurrence_id")))
    )
    until = horizon()
    rows = [row for master in masters for row in entries_for(master, until)]
    TimeEntry.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def entries_for(master: Event, until: datetime) -> list[TimeEntry]:
    """The index rows of one master: every occurrence that starts before `until`, within the expansion budget."""
    if master.span_start is None:
        return []
    owner = master.calendar.owner
    zone = ZoneInfo(owner.timezone)
    overrides = {o.recurrence_id: o for o in master.overrides.all()}
    budget = recurrence.Budget(
        max_occurrences=settings.REPORTS_MAX_OCCURRENCES, max_steps=settings.REPORTS_MAX_OCCURRENCES * 20, seconds=5.0
    )
    item = item_from_event(master, list(overrides.values()))
    rows = []
    for found in recurrence.occurrences(item, start=master.span_start - timedelta(days=1), end=until, budget=budget):
        rid = as_utc(found.recurrence_id) if found.recurrence_id is not None else None
        row_event = overrides.get(rid, master) if found.is_override else master
        rows.append(_entry(master, row_event, found.component, found.start, found.end, rid, zone, owner.email))
    return rows


def _entry(
    master: Event,
    row: Event,
    component: Component,
    start: object,
    end: object,
    rid: datetime | None,
    zone: ZoneInfo,
    owner_email: str,
) -> TimeEntry:
    all_day = not isinstance(start, datetime)
    return TimeEntry(
        tenant_id=master.tenant_id,
        event_id=master.pk,
        calendar_id=master.calendar_id,
        user_id=master.calendar.owner_id,
        recurrence_id=rid,
        start=_instant(start, zone),
        end=_instant(end, zone),
        all_day=all_day,
        title=component.summary[:500],
        client_id=row.client_ref_id,
        project_id=row.project_ref_id,
        activity_id=row.activity_ref_id,
        provider=master.origin,
        private=component.visibility.upper() in ("PRIVATE", "CONFIDENTIAL"),
        free=(component.busy_status or ("FREE" if component.transparency == Event.Transparency.FREE else "")) == "FREE",
        declined=any(a.email.lower() == owner_email.lower() and a.partstat == _DECLINED for a in component.attendees),
        cancelled=component.status.upper() == "CANCELLED",
    )


def _instant(value: object, zone: ZoneInfo) -> datetime:
    """All-day dates as midnight UTC; floating times on the owner's clock; the rest as they are, in UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone).astimezone(UTC) if value.tzinfo is None else as_utc(value)
    assert isinstance(value, date)
    return datetime.combine(value, time(), tzinfo=UTC)
