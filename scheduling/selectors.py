"""What a viewer may see of colleagues' time, and the rules that frame a search: one place for each.

`access` is the single decision "what may viewer V see of person P's time"; every page, command and API
asks it (in bulk, for the people on the page) after reaching P through accounts.tenancy's Scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q

from accounts.models import Tenant, User

from .models import CalendarShare, PersonalScheduling, SchedulingPolicy

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Access:
    """What one viewer may see of one person's time: nothing, busy blocks, or titles on some calendars."""

    free_busy: bool
    details: frozenset[int] = frozenset()  # calendar ids whose titles the viewer may read
    edit: frozenset[int] = frozenset()  # calendar ids the viewer may change
    own: bool = False  # the viewer's own time: private titles too


NOTHING = Access(free_busy=False)


def policy_for(tenant: Tenant) -> SchedulingPolicy:
    """The organisation's policy, or the defaults (weekdays 9-17, no weekends) until an admin saves one."""
    return SchedulingPolicy.objects.filter(tenant=tenant).first() or SchedulingPolicy(tenant=tenant)


def personal_for(people: list[User]) -> dict[int, PersonalScheduling]:
    rows = PersonalScheduling.objects.filter(user__in=people).prefetch_related("free_busy_with")
    return {row.user_id: row for row in rows}


def access(*, viewer: User, people: list[User]) -> dict[int, Access]:
    """For each person, what `viewer` may see of their time. Another tenant's person: nothing, ever."""
    if viewer.tenant_id is None:
        return {p.pk: NOTHING for p in people}
    colleagues = [p for p in people if p.tenant_id == viewer.tenant_id]
    policy = policy_for(viewer.tenant)  # type: ignore[arg-type]
    personal = personal_for(colleagues)
    details, edit = _shared_calendars(viewer, colleagues)
    result = {p.pk: NOTHING for p in people}
    for person in colleagues:
        if person.pk == viewer.pk:
            result[person.pk] = Access(True, _own_calendars(person), _own_calendars(person), own=True)
        else:
            shows = _shows_free_busy(personal.get(person.pk), policy, viewer)
            result[person.pk] = Access(
                free_busy=shows, details=details.get(person.pk, frozenset()), edit=edit.get(person.pk, frozenset())
            )
    return result


def _own_calendars(person: User) -> frozenset[int]:
    return frozenset(person.calendars.values_list("pk", flat=True))


def _shows_free_busy(personal: PersonalScheduling | None, policy: SchedulingPolicy, viewer: User) -> bool:
    mode = personal.free_busy_sharing if personal else PersonalScheduling.Sharing.DEFAULT
    if mode == PersonalScheduling.Sharing.DEFAULT:
        return policy.default_free_busy == SchedulingPolicy.FreeBusyDefault.ORGANISATION
    if mode == PersonalScheduling.Sharing.CHOSEN:
        return personal is not None and any(u.pk == viewer.pk for u in personal.free_busy_with.all())
    return mode == PersonalScheduling.Sharing.ORGANISATION


def _shared_calendars(viewer: User, people: list[User]) -> tuple[dict[int, frozenset[int]], dict[int, frozenset[int]]]:
    """Calendars of these people shared with the viewer (or with everyone), by owner: details, then edit."""
    shares = CalendarShare.objects.filter(
        Q(grantee=viewer) | Q(grantee=None), tenant_id=viewer.tenant_id, calendar__owner__in=people
    ).values_list("calendar__owner_id", "calendar_id", "level")
    details: dict[int, set[int]] = {}
    edit: dict[int, set[int]] = {}
    for owner_id, calendar_id, level in shares:
        details.setdefault(owner_id, set()).add(calendar_id)
        if level == CalendarShare.Level.EDIT:
            edit.setdefault(owner_id, set()).add(calendar_id)
    return {k: frozenset(v) for k, v in details.items()}, {k: frozenset(v) for k, v in edit.items()}


# --- working hours ---------------------------------------------------------------------------------------------


def weekly_hours(personal: PersonalScheduling | None, policy: SchedulingPolicy) -> dict[int, tuple[time, time]]:
    """Working hours by weekday (Monday 0) in the person's zone: theirs if they set any, else the organisation's."""
    if personal is not None and personal.working_hours:
        return {
            int(day): (time.fromisoformat(a), time.fromisoformat(b)) for day, (a, b) in personal.working_hours.items()
        }
    return {day: (policy.work_start, policy.work_end) for day in policy.work_days}


def working_intervals(hours: dict[int, tuple[time, time]], zone: str, start: datetime, end: datetime) -> list[Interval]:
    """UTC intervals of working time between start and end; each day's hours are read on that day's own
    clock, so a DST change moves them in UTC as it does for the person."""
    tz = ZoneInfo(zone)
    day: date = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    result: list[Interval] = []
    while day <= last:
        if day.weekday() in hours:
            begin, finish = hours[day.weekday()]
            a = datetime.combine(day, begin, tzinfo=tz).astimezone(UTC)
            b = datetime.combine(day, finish, tzinfo=tz).astimezone(UTC)
            if b > start and a < end:
                result.append((max(a, start), min(b, end)))
        day += timedelta(days=1)
    return result
