"""Find a time for several people: the one function behind the page, the command and the team grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import User

from . import finder, freebusy, selectors

MAX_DAYS = 31
MAX_PEOPLE = 50


@dataclass(frozen=True)
class Search:
    people: list[User]
    duration: timedelta
    first_day: date
    last_day: date
    buffer: timedelta | None = None  # None: the organisation's
    zone: str = "UTC"  # the organiser's: the days are theirs


@dataclass
class Result:
    search: Search
    start: datetime
    end: datetime
    proposals: list[finder.Slot]
    busy: dict[int, freebusy.PersonBusy]
    hours: dict[int, list[finder.Interval]]
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> list[dict[str, object]]:
        return [
            {"start": s.start.isoformat(), "end": s.end.isoformat(),
             "outside_hours": [p.email for p in self.search.people if p.pk in s.outside_hours]}
            for s in self.proposals
        ]  # fmt: skip


def find_time(*, viewer: User, search: Search, now: datetime | None = None, limit: int = 10) -> Result:
    """Proposals for `search` as `viewer` may see it: everyone free, inside working hours (unless the policy
    allows otherwise), buffers kept, never in the past. Refuses people whose time the viewer may not see."""
    _check(search)
    access = selectors.access(viewer=viewer, people=search.people)
    hidden = [p.email for p in search.people if not access[p.pk].free_busy]
    if hidden:
        raise ValidationError(f"You cannot see when {', '.join(hidden)} {'is' if len(hidden) == 1 else 'are'} free: "
                              "they do not share their free/busy time with you.")  # fmt: skip
    policy = selectors.policy_for(viewer.tenant)  # type: ignore[arg-type]
    start, end = _range(search)
    busy = freebusy.busy_for(people=search.people, access=access, start=start, end=end, policy=policy)
    personal = selectors.personal_for(search.people)
    hours = {
        p.pk: selectors.working_intervals(selectors.weekly_hours(personal.get(p.pk), policy), p.timezone, start, end)
        for p in search.people
    }
    proposals = finder.propose(
        busy={pk: [(b.start, b.end) for b in pb.blocks if b.blocking] for pk, pb in busy.items()},
        hours=hours,
        start=max(start, now or timezone.now()),
        end=end,
        duration=search.duration,
        buffer=search.buffer if search.buffer is not None else timedelta(minutes=policy.buffer_minutes),
        outside_allowed=policy.allow_outside_hours,
        limit=limit,
    )
    return Result(search, start, end, proposals, busy, hours, _problems(busy))


def _check(search: Search) -> None:
    if not search.people:
        raise ValidationError("Choose at least one person.")
    if len(search.people) > MAX_PEOPLE:
        raise ValidationError(f"Choose at most {MAX_PEOPLE} people.")
    if not timedelta(minutes=5) <= search.duration <= timedelta(hours=12):
        raise ValidationError("A meeting lasts between 5 minutes and 12 hours.")
    if search.last_day < search.first_day:
        raise ValidationError("The last day comes before the first.")
    if (search.last_day - search.first_day).days >= MAX_DAYS:
        raise ValidationError(f"Search at most {MAX_DAYS} days at a time.")
    if search.buffer is not None and not timedelta(0) <= search.buffer <= timedelta(hours=2):
        raise ValidationError("A buffer is between 0 and 120 minutes.")


def _range(search: Search) -> tuple[datetime, datetime]:
    zone = ZoneInfo(search.zone)
    start = datetime.combine(search.first_day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(search.last_day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def _problems(busy: dict[int, freebusy.PersonBusy]) -> list[str]:
    result = []
    for pb in busy.values():
        result += [f"{pb.person.email}: could not read {problem}" for problem in pb.problems]
        if pb.truncated:
            result.append(f"{pb.person.email}: a recurring series was too large to read in full; check by hand.")
    return result


def book_url(slot: finder.Slot, people: list[User], title: str = "") -> str:
    """The new-meeting page, prefilled with this slot, its people and the title."""
    base = reverse("meetings:new")
    query = {
        "start": slot.start.isoformat(),
        "end": slot.end.isoformat(),
        "attendees": ",".join(p.email for p in people),
        "title": title,
    }
    return f"{base}?{urlencode(query)}"
