"""A person's busy time: the union of their calsync calendars and, live, their connected providers' free/busy.

Busy, tentative, out-of-office and working-elsewhere stay apart (a page shows them differently; only the
first three stop a meeting). Private events show as busy with no title. All-day events are busy unless marked
free, or not at all when the organisation turns that off (the Chronus page: an all-day event counts as not
available). Each person's expansion gets its own recurrence budget from events.recurrence, the one expander.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib import import_module
from zoneinfo import ZoneInfo

from accounts.models import User
from calsync.crypto import SecretUnreadable
from events import recurrence
from events.convert import item_from_event
from events.ical import Component, as_utc
from events.models import Calendar, Event
from events.selectors import masters_in_range
from integrations.models import Integration
from integrations.providers import Provider
from sync.errors import SyncError

from . import cache
from .models import SchedulingPolicy
from .selectors import Access

log = logging.getLogger(__name__)

BUSY, TENTATIVE, OOF, ELSEWHERE = "busy", "tentative", "oof", "workingElsewhere"
BLOCKING = frozenset({BUSY, TENTATIVE, OOF})  # working elsewhere is available for meetings
_FLOATING_REACH = timedelta(hours=14)  # floating times happen on the person's clock: read a little wider

# Where each provider's live free/busy is read: a module with `busy(integration, start, end) -> list[Block]`.
SOURCES: dict[str, str] = {
    Provider.GOOGLE: "integrations.google.freebusy",
    Provider.CALDAV: "integrations.caldav.freebusy",
    Provider.MICROSOFT: "integrations.microsoft.freebusy",
    Provider.EXCHANGE: "integrations.exchange.freebusy",
}


@dataclass(frozen=True)
class Block:
    start: datetime  # UTC
    end: datetime
    kind: str  # BUSY, TENTATIVE, OOF or ELSEWHERE
    title: str = ""  # shown only to viewers with details on its calendar, never for private events
    calendar_id: int | None = None  # calsync calendar; None for a provider's free/busy answer
    private: bool = False
    source: str = "calsync"

    @property
    def blocking(self) -> bool:
        return self.kind in BLOCKING


@dataclass
class PersonBusy:
    person: User
    blocks: list[Block] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # sources that could not be read (so may hide busy time)
    truncated: bool = False  # recurring series cut short by the recurrence budget


def busy_for(
    *, people: list[User], access: dict[int, Access], start: datetime, end: datetime, policy: SchedulingPolicy
) -> dict[int, PersonBusy]:
    """Busy time of each person the viewer may see (others are left out), as that viewer may see it."""
    visible = [p for p in people if access[p.pk].free_busy]
    raw = _raw_busy(visible, start, end, policy)
    return {p.pk: _as_seen(raw[p.pk], access[p.pk]) for p in visible}


def _as_seen(busy: PersonBusy, seen: Access) -> PersonBusy:
    def shown(block: Block) -> Block:
        readable = block.calendar_id in seen.details and (seen.own or not block.private)
        return block if readable or not block.title else replace(block, title="")

    return replace(busy, blocks=[shown(b) for b in busy.blocks])


def _raw_busy(people: list[User], start: datetime, end: datetime, policy: SchedulingPolicy) -> dict[int, PersonBusy]:
    """Everything about these people's time over [start, end), from the cache where it is still fresh."""
    found, keys = cache.get_many([p.pk for p in people], start, end)
    missing = [p for p in people if p.pk not in found]
    if missing:
        fresh = _read(missing, start, end, policy)
        cache.put_many({keys[pk]: value for pk, value in fresh.items()})
        found.update(fresh)
    return {p.pk: replace(found[p.pk], person=p) for p in people}


def _read(people: list[User], start: datetime, end: datetime, policy: SchedulingPolicy) -> dict[int, PersonBusy]:
    result = {p.pk: PersonBusy(person=p) for p in people}
    _local(result, start, end, policy)
    for integration in _connected(people):
        _remote(result[integration.user_id], integration, start, end)
    for busy in result.values():
        busy.blocks.sort(key=lambda b: (b.start, b.end))
    return result


# --- calsync's calendars ---------------------------------------------------------------------------------------


def _local(result: dict[int, PersonBusy], start: datetime, end: datetime, policy: SchedulingPolicy) -> None:
    calendars = Calendar.objects.filter(owner__in=[b.person for b in result.values()])
    masters = masters_in_range(calendars, start - _FLOATING_REACH, end + _FLOATING_REACH)
    budgets = {pk: recurrence.Budget.for_request() for pk in result}
    for master in sorted(masters, key=lambda m: m.is_recurring):  # single events cost no budget: first
        busy = result[master.calendar.owner_id]
        zone = ZoneInfo(busy.person.timezone)
        item = item_from_event(master, master.override_rows)
        for found in recurrence.occurrences(item, start=start - _FLOATING_REACH, end=end + _FLOATING_REACH,
                                             budget=budgets[busy.person.pk]):  # fmt: skip
            block = _block(master, found, zone, policy)
            if block is not None and block.start < end and block.end > start:
                busy.blocks.append(block)
    for pk, budget in budgets.items():
        result[pk].truncated = budget.truncated


def kind_of(component: Component, all_day: bool, policy: SchedulingPolicy) -> str | None:
    """How an occurrence shows in free/busy, or None when it leaves the person free."""
    if component.status.upper() == "CANCELLED" or (all_day and not policy.all_day_busy):
        return None
    status = component.busy_status or ("FREE" if component.transparency == Event.Transparency.FREE else "")
    kinds = {"FREE": None, "TENTATIVE": TENTATIVE, "OOF": OOF, "WORKINGELSEWHERE": ELSEWHERE, "BUSY": BUSY}
    if status:
        return kinds[status]
    return TENTATIVE if component.status.upper() == "TENTATIVE" else BUSY


def _block(master: Event, found: recurrence.Occurrence, zone: ZoneInfo, policy: SchedulingPolicy) -> Block | None:
    all_day = not isinstance(found.start, datetime)
    kind = kind_of(found.component, all_day, policy)
    if kind is None:
        return None
    return Block(
        start=_instant(found.start, zone),
        end=_instant(found.end, zone),
        kind=kind,
        title=found.component.summary,
        calendar_id=master.calendar_id,
        private=(found.component.visibility or master.visibility) in ("PRIVATE", "CONFIDENTIAL"),
    )


def _instant(value: object, zone: ZoneInfo) -> datetime:
    """All-day dates and floating times happen on the person's own clock."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=zone).astimezone(UTC)  # type: ignore[attr-defined]
    if value.tzinfo is None:
        return value.replace(tzinfo=zone).astimezone(UTC)
    return as_utc(value)


# --- providers, live -------------------------------------------------------------------------------------------


def _connected(people: list[User]) -> list[Integration]:
    return list(
        Integration.objects.filter(
            user__in=people, provider__in=list(SOURCES), sync_enabled=True, status=Integration.Status.OK
        ).select_related("calendar")
    )


def _remote(busy: PersonBusy, integration: Integration, start: datetime, end: datetime) -> None:
    """One provider calendar's free/busy; a failure is reported beside the answer, never mistaken for free."""
    label = Provider(integration.provider).label
    try:
        blocks = import_module(SOURCES[integration.provider]).busy(integration, start, end)
    except (SyncError, SecretUnreadable, LookupError) as exc:
        log.warning("free/busy unavailable", extra={"integration": integration.pk, "error": str(exc)})
        busy.problems.append(f"{label} ({integration.remote_calendar_name}): {exc}")
        return
    busy.blocks.extend(replace(b, source=label) for b in blocks)
