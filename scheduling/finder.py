"""Find a time: pure interval arithmetic over everyone's busy blocks and working hours, no database.

A slot is proposed when it is free for everyone (busy blocks widened by the buffer on both sides) and, unless
the organisation allows otherwise, inside everyone's working hours. Better means fewer people outside their
hours, then earlier; proposals do not overlap one another, so the list offers real alternatives.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Interval = tuple[datetime, datetime]
EPOCH = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday at midnight UTC: slots start on whole steps from it


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    outside_hours: tuple[int, ...] = ()  # people for whom it falls outside working hours

    @property
    def rank(self) -> tuple[int, datetime]:
        return (len(self.outside_hours), self.start)


def merge(intervals: list[Interval]) -> list[Interval]:
    result: list[Interval] = []
    for a, b in sorted(intervals):
        if result and a <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], b))
        else:
            result.append((a, b))
    return result


def _overlaps(merged: list[Interval], starts: list[datetime], a: datetime, b: datetime) -> bool:
    i = bisect_left(starts, b)  # the last interval starting before b is the only one that can reach past a
    return i > 0 and merged[i - 1][1] > a


def _within(merged: list[Interval], starts: list[datetime], a: datetime, b: datetime) -> bool:
    i = bisect_left(starts, a + timedelta(microseconds=1))
    return i > 0 and merged[i - 1][0] <= a and merged[i - 1][1] >= b


def first_step(moment: datetime, step: timedelta) -> datetime:
    """The first whole step at or after `moment`."""
    steps = -((EPOCH - moment) // step)
    return EPOCH + steps * step


def propose(
    *,
    busy: dict[int, list[Interval]],
    hours: dict[int, list[Interval]],
    start: datetime,
    end: datetime,
    duration: timedelta,
    buffer: timedelta = timedelta(0),
    step: timedelta = timedelta(minutes=15),
    outside_allowed: bool = False,
    limit: int = 10,
) -> list[Slot]:
    """The best `limit` slots of `duration` in [start, end) for everyone in `busy` (keys are people)."""
    blocked = {p: merge([(a - buffer, b + buffer) for a, b in busy.get(p, [])]) for p in busy}
    working = {p: merge(hours.get(p, [])) for p in busy}
    blocked_starts = {p: [a for a, _ in v] for p, v in blocked.items()}
    working_starts = {p: [a for a, _ in v] for p, v in working.items()}
    candidates: list[Slot] = []
    for begin, finish in _windows(working, start, end, outside_allowed):
        moment = first_step(begin, step)
        while moment + duration <= finish:
            stop = moment + duration
            if not any(_overlaps(blocked[p], blocked_starts[p], moment, stop) for p in busy):
                outside = tuple(p for p in busy if not _within(working[p], working_starts[p], moment, stop))
                candidates.append(Slot(moment, stop, outside))
            moment += step
    return _best(candidates, limit)


def _windows(working: dict[int, list[Interval]], start: datetime, end: datetime, anywhere: bool) -> list[Interval]:
    """Where a slot may lie: anywhere in the range, or only where everyone is working (checked first, cheaply)."""
    common = [(start, end)]
    if anywhere:
        return common
    for intervals in working.values():
        common = [(max(a, c), min(b, d)) for a, b in common for c, d in intervals if max(a, c) < min(b, d)]
    return common


def _best(candidates: list[Slot], limit: int) -> list[Slot]:
    chosen: list[Slot] = []
    for slot in sorted(candidates, key=lambda s: s.rank):
        if len(chosen) == limit:
            break
        if all(slot.end <= c.start or slot.start >= c.end for c in chosen):
            chosen.append(slot)
    return sorted(chosen, key=lambda s: s.rank)
