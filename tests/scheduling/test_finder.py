"""Find a time against a brute-force reference (hypothesis): every proposal is free for everyone, inside their
working hours, buffers kept; and no better slot is missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduling.finder import Slot, first_step, propose

T0 = datetime(2026, 11, 23, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HORIZON = 2 * 24 * 60  # two days, in minutes
STEP = 15


def _interval(lo: int = 0, hi: int = HORIZON):  # type: ignore[no-untyped-def]
    return st.tuples(st.integers(lo, hi), st.integers(5, 8 * 60)).map(lambda t: (t[0], min(t[0] + t[1], hi)))


people = st.integers(1, 4)
calendars = st.lists(st.lists(_interval(), max_size=8), min_size=1, max_size=4)
hours = st.lists(st.lists(_interval(), min_size=0, max_size=4), min_size=4, max_size=4)


def _at(minute: int) -> datetime:
    return T0 + minute * MINUTE


def _reference(busy, work, duration, buffer, outside_allowed, limit):  # type: ignore[no-untyped-def]
    """Minute by minute: which grid starts are free for all, who is outside hours, then the same greedy choice."""
    blocked = [{m for a, b in person for m in range(a - buffer, b + buffer)} for person in busy]
    working = [{m for a, b in person for m in range(a, b)} for person in work]
    candidates = []
    for start in range(0, HORIZON - duration + 1, STEP):
        minutes = set(range(start, start + duration))
        if any(minutes & b for b in blocked):
            continue
        outside = tuple(p for p in range(len(busy)) if not minutes <= working[p])
        if outside_allowed or not outside:
            candidates.append((len(outside), start, outside))
    chosen: list[tuple[int, int, tuple[int, ...]]] = []
    for rank in sorted(candidates):
        if len(chosen) < limit and all(rank[1] + duration <= c[1] or rank[1] >= c[1] + duration for c in chosen):
            chosen.append(rank)
    return [Slot(_at(s), _at(s + duration), o) for _, s, o in sorted(chosen)]


@settings(max_examples=150, deadline=None)
@given(
    busy=calendars,
    work=hours,
    duration=st.sampled_from([15, 30, 45, 60, 90]),
    buffer=st.sampled_from([0, 5, 10, 15]),
    outside_allowed=st.booleans(),
    limit=st.integers(1, 12),
)
def test_proposals_match_a_brute_force_reference(busy, work, duration, buffer, outside_allowed, limit) -> None:  # type: ignore[no-untyped-def]
    work = work[: len(busy)]
    found = propose(
        busy={p: [(_at(a), _at(b)) for a, b in person] for p, person in enumerate(busy)},
        hours={p: [(_at(a), _at(b)) for a, b in person] for p, person in enumerate(work)},
        start=T0, end=_at(HORIZON), duration=duration * MINUTE, buffer=buffer * MINUTE,
        step=STEP * MINUTE, outside_allowed=outside_allowed, limit=limit,
    )  # fmt: skip
    assert found == _reference(busy, work, duration, buffer, outside_allowed, limit)
    for slot in found:  # and, said plainly: free for everyone, inside hours unless allowed
        for person in busy:
            assert all(
                slot.end + buffer * MINUTE <= _at(a) or slot.start >= _at(b) + buffer * MINUTE for a, b in person
            )
        assert outside_allowed or slot.outside_hours == ()


def test_slots_start_on_whole_steps_after_the_start() -> None:
    assert first_step(T0 + 7 * MINUTE, 15 * MINUTE) == T0 + 15 * MINUTE
    assert first_step(T0, 15 * MINUTE) == T0


def test_fewer_people_outside_their_hours_beats_earlier() -> None:
    work = {0: [(_at(600), _at(1020))], 1: [(_at(540), _at(1020))]}
    found = propose(busy={0: [], 1: []}, hours=work, start=T0, end=_at(1440), duration=30 * MINUTE,
                    outside_allowed=True, limit=2)  # fmt: skip
    assert [s.start for s in found] == [_at(600), _at(630)] and all(s.outside_hours == () for s in found)
