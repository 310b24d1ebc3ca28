"""The one way calsync expands a recurring item: lazily, inside a window, within a per-request budget.

Every reader (calendar pages, CalDAV time-range filters and `expand`, free-busy, span computation,
provider adapters) goes through `occurrences` or `rule_starts`, so a hostile rule stored long ago
(FREQ=SECONDLY with no end, DTSTART in year 1, 10,000 EXDATEs) costs each request a bounded
number of rule steps and occurrences, never a stuck worker.

Two things keep a rule cheap:

- The rule is never iterated from a distant DTSTART: its start is moved forward by whole periods
  of the rule (INTERVAL x FREQ), which leaves the set of occurrences unchanged, to just before the
  window. A COUNT can be moved along only where each period yields exactly one occurrence.
- A `Budget` counts rule steps (every start dateutil generates, in the window or not), occurrences
  handed out and elapsed time; when any runs out expansion stops and `budget.truncated` says so.
"""

from __future__ import annotations

import heapq
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import icalendar
from dateutil import rrule as du
from django.conf import settings

from .ical import Component, Item, Temporal, as_utc

_CLOCK_EVERY = 256  # look at the clock this often (in steps): cheap enough, and often enough
_FIXED_SECONDS = {du.SECONDLY: 1, du.MINUTELY: 60, du.HOURLY: 3600, du.DAILY: 86400, du.WEEKLY: 7 * 86400}
# A fall-back hour repeats wall-clock times: start this much before the window's wall-clock start.
_MARGIN = timedelta(hours=1)


@dataclass
class Budget:
    """What one request may spend on expansion; shared by every item the request expands."""

    max_occurrences: int
    max_steps: int
    seconds: float
    steps: int = 0
    occurrences: int = 0
    truncated: bool = False
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.seconds

    @classmethod
    def for_request(cls) -> Budget:
        """The budget the settings give one request (read per request, so an operator's change applies at once)."""
        return cls(
            max_occurrences=settings.RECURRENCE_MAX_OCCURRENCES,
            max_steps=settings.RECURRENCE_MAX_STEPS,
            seconds=settings.RECURRENCE_TIME_BUDGET,
        )

    def step(self) -> bool:
        """Account for one start the rule generated; False (and truncated) once steps or time run out."""
        self.steps += 1
        if self.steps > self.max_steps or (self.steps % _CLOCK_EVERY == 0 and time.monotonic() > self._deadline):
            self.truncated = True
        return not self.truncated

    def take(self) -> bool:
        """Account for one occurrence handed to the caller; False (and truncated) once the limit is reached."""
        if self.truncated or self.occurrences >= self.max_occurrences:
            self.truncated = True
            return False
        self.occurrences += 1
        return True


@dataclass(frozen=True)
class Occurrence:
    """One occurrence: its start and end in the item's own terms, and the component that describes it."""

    start: Temporal
    end: Temporal
    recurrence_id: Temporal | None  # the original start; None for an item that does not repeat
    component: Component  # the master, or the override that replaces this occurrence

    @property
    def is_override(self) -> bool:
        return self.component.recurrence_id is not None


def duration(component: Component) -> timedelta:
    """How long each occurrence of `component` lasts."""
    if component.start is None:
        return timedelta(0)
    if component.end is None and component.due is not None:
        return _instant(component.due) - _instant(component.start)  # a task from DTSTART to DUE
    if component.end is None:
        # RFC 5545 3.6.1: without an end, an all-day event lasts the day and a timed one takes no time.
        return timedelta(0) if isinstance(component.start, datetime) else timedelta(days=1)
    return _instant(component.end) - _instant(component.start)


def occurrences(item: Item, *, start: datetime, end: datetime, budget: Budget) -> Iterator[Occurrence]:
    """The item's occurrences that overlap [start, end) (an instant at `start` included): masters first, in
    order, then overrides. Stops when `budget` runs out; the caller reads `budget.truncated`."""
    master = item.master
    anchor = master.start if master.start is not None else master.due
    if anchor is None:
        return
    length = duration(master)
    if not (master.rrule or master.rdates):
        if _overlaps(_instant(anchor), length, start, end) and budget.take():
            yield Occurrence(anchor, _plus(anchor, length), None, master)
        return
    replaced = {_instant(o.recurrence_id) for o in item.overrides if o.recurrence_id is not None}
    excluded = {_instant(v) for v in master.exdates} | replaced
    for original in _starts(master, anchor, start - length, end, budget):
        moment = _instant(original)
        if moment in excluded or not _overlaps(moment, length, start, end):
            continue
        if not budget.take():
            return
        yield Occurrence(original, _plus(original, length), original, master)
    yield from changed_occurrences(item, start=start, end=end, budget=budget)


def changed_occurrences(item: Item, *, start: datetime, end: datetime, budget: Budget) -> Iterator[Occurrence]:
    """Only the item's overridden occurrences that overlap [start, end), without running its rule: for a reader
    that knows nothing else of the series can interest it (a search that matches only a changed occurrence)."""
    for override in item.overrides:
        if override.start is None or not _overlaps(_instant(override.start), duration(override), start, end):
            continue
        if not budget.take():
            return
        yield Occurrence(override.start, _plus(override.start, duration(override)), override.recurrence_id, override)


def rule_starts(
    component: Component, *, budget: Budget, after: datetime | None = None, before: datetime | None = None
) -> Iterator[Temporal]:
    """Starts the RRULE alone generates (no DTSTART, RDATE or EXDATE), from `after` (inclusive) to `before`."""
    anchor = component.start if component.start is not None else component.due
    if not component.rrule or anchor is None:
        return
    rule = _rule(component.rrule, _naive_or_aware(anchor))
    if rule is None or _never(rule):
        return
    if after is not None:
        rule = _jumped(rule, after)
        if rule is None:
            return
    for value in rule:
        if not budget.step():
            return
        found: Temporal = value.date() if not isinstance(anchor, datetime) else value
        moment = _instant(found)
        if before is not None and moment >= before:
            return
        if after is None or moment >= after:
            yield found


def _starts(
    master: Component, anchor: Temporal, after: datetime, before: datetime, budget: Budget
) -> Iterator[Temporal]:
    """Original starts in [after, before): DTSTART, the rule's and the RDATEs, in order, each once."""
    extra = sorted({anchor, *master.rdates}, key=_instant)
    first = bisect_left([_instant(v) for v in extra], after)
    listed = (v for v in extra[first:] if _instant(v) < before)
    previous = None
    for value in heapq.merge(rule_starts(master, budget=budget, after=after, before=before), listed, key=_instant):
        moment = _instant(value)
        if moment != previous:
            previous = moment
            yield value


def _overlaps(moment: datetime, length: timedelta, start: datetime, end: datetime) -> bool:
    # RFC 4791 9.9: a zero-length occurrence matches at its instant.
    if not length:
        return start <= moment < end
    return moment < end and moment + length > start


def _plus(value: Temporal, length: timedelta) -> Temporal:
    """`value` + `length` as exact time (RFC 5545 3.8.5.3), in the value's own zone: a DST change between
    does not stretch or shrink an occurrence."""
    try:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return (value.astimezone(UTC) + length).astimezone(value.tzinfo)
        return value + length
    except OverflowError:  # an occurrence at the end of year 9999: it ends where time does
        return datetime.max.replace(tzinfo=value.tzinfo) if isinstance(value, datetime) else date.max


def _instant(value: Temporal) -> datetime:
    """as_utc, for values at the very edge of time too (year 1 east of Greenwich, 9999 west of it)."""
    try:
        return as_utc(value)
    except OverflowError:
        low = isinstance(value, datetime) and value.year == 1
        return (datetime.min if low else datetime.max).replace(tzinfo=UTC)


def _naive_or_aware(anchor: Temporal) -> datetime:
    return anchor if isinstance(anchor, datetime) else datetime(anchor.year, anchor.month, anchor.day)


# --- the rule itself --------------------------------------------------------------------------------------


def parse_rule(text: str, anchor: datetime) -> du.rrule:
    """dateutil's rule for `text` exactly as written (UNTIL as given), from `anchor`; ValueError (or TypeError,
    OverflowError) when it cannot be read. For checking a rule at the door; readers expand with `occurrences`."""
    rule = du.rrulestr(text, dtstart=anchor)
    if not isinstance(rule, du.rrule):
        raise ValueError("one RRULE was expected")
    return rule


def never_occurs(rule: du.rrule) -> bool:
    """Whether the rule generates no start at all beyond what its day filters rule out (30 February)."""
    return _never(rule)


def _rule(text: str, anchor: datetime) -> du.rrule | None:
    """dateutil's rule for `text` from `anchor`, UNTIL read in the anchor's terms (aware, floating or a date)."""
    parts = [p for p in text.upper().split(";") if p and not p.startswith("UNTIL=")]
    until = next((p[6:] for p in text.upper().split(";") if p.startswith("UNTIL=")), None)
    try:
        rule = parse_rule(";".join(parts), anchor)
        if until is not None:
            rule = rule.replace(until=_until(until, anchor))
    except (ValueError, TypeError, OverflowError):
        return None  # a rule the door would refuse, stored before it did: no occurrences beyond DTSTART
    # INTERVAL=0 never moves on: dateutil would yield DTSTART, or spin, forever.
    return rule if isinstance(rule, du.rrule) and rule._interval >= 1 else None


def _until(text: str, anchor: datetime) -> datetime:
    value = icalendar.vDDDTypes.from_ical(text)
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, 23, 59, 59)
    if anchor.tzinfo is None:
        return _instant(value).replace(tzinfo=None) if value.tzinfo else value
    return value if value.tzinfo else value.replace(tzinfo=anchor.tzinfo)


def _jumped(rule: du.rrule, after: datetime) -> du.rrule | None:
    """The same rule started at its last period boundary before `after` (None: it ends before that)."""
    start: datetime = rule._dtstart
    target = _wall_clock(after, start)
    if target <= start:
        return rule
    if rule._freq in _FIXED_SECONDS:
        period = timedelta(seconds=_FIXED_SECONDS[rule._freq] * rule._interval)
        periods = (target - start) // period
        moved = start + periods * period
        changes: dict[str, object] = {}
    else:
        months = 12 if rule._freq == du.YEARLY else 1
        periods = ((target.year - start.year) * 12 + target.month - start.month) // (months * rule._interval)
        shift = periods * months * rule._interval
        year, month = divmod(start.month - 1 + shift, 12)
        moved = start.replace(year=start.year + year, month=month + 1, day=1)
        changes = _pinned_day(rule)
    if periods <= 0:
        return rule
    if rule._count:
        if not _one_per_period(rule):
            return rule  # occurrences cannot be counted without generating them: the step budget bounds it
        if periods >= rule._count:
            return None
        changes["count"] = rule._count - periods
    return rule.replace(dtstart=moved, **changes)


def _wall_clock(after: datetime, start: datetime) -> datetime:
    """`after` on the rule's clock; early by the hour a fall-back repeats, in a zone that has one."""
    if start.tzinfo is None:
        return _instant(after).replace(tzinfo=None)  # floating times and dates are read as UTC
    local = after.astimezone(start.tzinfo)
    return local if str(start.tzinfo) == "UTC" else local - _MARGIN


def _pinned_day(rule: du.rrule) -> dict[str, object]:
    """A monthly or yearly rule that takes its day (and month) from DTSTART keeps them when DTSTART moves."""
    original = rule._original_rule
    if any(original.get(name) for name in ("byweekno", "byyearday", "bymonthday", "byweekday", "byeaster")):
        return {}
    start = rule._dtstart
    pinned: dict[str, object] = {"bymonthday": start.day}
    if rule._freq == du.YEARLY and not original.get("bymonth"):
        pinned["bymonth"] = start.month
    return pinned


def _one_per_period(rule: du.rrule) -> bool:
    """Each period yields exactly one start: a fixed-length FREQ with nothing but DTSTART's own defaults."""
    if rule._freq not in _FIXED_SECONDS or rule._bysetpos:
        return False
    return not any(rule._original_rule.get(name) for name in ("bymonth", "bymonthday", "byyearday", "byweekno",
                                                               "byweekday", "byhour", "byminute", "bysecond",
                                                               "byeaster"))  # fmt: skip


def _never(rule: du.rrule) -> bool:
    """Whether the rule's day filters match no day at all (BYMONTH=2;BYMONTHDAY=30): dateutil would walk
    day by day to year 9999 looking for one. The calendar repeats every 400 years, so one cycle decides."""
    # BYDAY filters a DAILY or finer rule (a WEEKLY one expands into the week: RFC 5545 3.3.10's table).
    period = _FIXED_SECONDS[rule._freq] * rule._interval if rule._freq >= du.DAILY else 1
    if period % (7 * 86400) == 0 and rule._byweekday and rule._dtstart.weekday() not in rule._byweekday:
        return True  # every step lands on DTSTART's weekday, and BYDAY names others
    original = rule._original_rule
    if not any(original.get(name) for name in ("bymonth", "bymonthday", "byyearday", "byweekno")):
        return False
    weekdays = tuple(sorted(int(getattr(w, "weekday", w)) for w in _as_tuple(original.get("byweekday"))))
    return _no_day_matches(
        _as_tuple(original.get("bymonth")), _as_tuple(original.get("bymonthday")),
        _as_tuple(original.get("byyearday")), _as_tuple(original.get("byweekno")), weekdays, rule._wkst,
    )  # fmt: skip


def _as_tuple(value: object) -> tuple[int, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, Iterable) else (value,)  # type: ignore[arg-type]


@lru_cache(maxsize=256)
def _no_day_matches(
    months: tuple[int, ...], monthdays: tuple[int, ...], yeardays: tuple[int, ...], weeknos: tuple[int, ...],
    weekdays: tuple[int, ...], wkst: int,
) -> bool:  # fmt: skip
    # The last 400-year cycle datetime can hold: dateutil stops at year 9999, so this search is bounded.
    probe = du.rrule(
        du.YEARLY, dtstart=datetime(9600, 1, 1), wkst=wkst, bymonth=months or None, bymonthday=monthdays or None,
        byyearday=yeardays or None, byweekno=weeknos or None, byweekday=weekdays or None,
    )  # fmt: skip
    return next(iter(probe), None) is None
