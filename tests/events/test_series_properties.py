"""Properties of a split: the two series together have exactly the original's occurrences, with the change made to
those from the cut on. Pure (no database): events.series works on Items."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from events.ical import UTC, Component, Item, Temporal, as_utc
from events.recurrence import Budget, duration, occurrences
from events.series import SeriesChangeRefused, mover, series_moved, split_series
from tests.events.strategies import event_items

_FAR = timedelta(days=3 * 366)


def _budget() -> Budget:
    return Budget(max_occurrences=100_000, max_steps=200_000, seconds=30.0)


def _window(item: Item) -> tuple[datetime, datetime]:
    anchor = as_utc(item.master.start)
    return anchor - timedelta(days=400), anchor + _FAR


def _seen(items: list[Item], window: tuple[datetime, datetime]) -> Counter[tuple[datetime, datetime, str]]:
    budget = _budget()
    found = Counter(
        (as_utc(o.start), as_utc(o.end), o.component.summary)
        for item in items
        for o in occurrences(item, start=window[0], end=window[1], budget=budget)
    )
    assert not budget.truncated
    return found


recurring = event_items().filter(lambda i: bool(i.master.rrule))


@st.composite
def cuts(draw: st.DrawFn) -> tuple[Item, Temporal]:
    """A recurring item and the original start of one of its occurrences (in the series' form)."""
    item = _without_orphans(draw(recurring))
    window = _window(item)
    found = [o.recurrence_id for o in occurrences(item, start=window[0], end=window[1], budget=_budget())]
    found = [rid for rid in found if rid is not None]
    assume(found)
    return item, draw(st.sampled_from(found))


def _without_orphans(item: Item) -> Item:
    """Changed occurrences of occurrences the series has (the strategy also makes some of starts it never has,
    which RFC 5545 gives no meaning; a split keeps only real ones)."""
    master = replace(item.master, exdates=())
    anchor = as_utc(master.start)
    budget = _budget()
    real = {as_utc(o.start) for o in occurrences(Item(master=master), start=anchor, end=anchor + _FAR, budget=budget)}
    excluded = {as_utc(v) for v in item.master.exdates}
    kept = tuple(o for o in item.overrides if as_utc(o.recurrence_id) in real - excluded)  # type: ignore[arg-type]
    return replace(item, overrides=kept)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(cuts())
def test_a_split_keeps_every_occurrence(case: tuple[Item, Temporal]) -> None:
    item, rid = case
    head, tail = split_series(item, rid, "new@calsync.test", _budget())
    window = _window(item)
    halves = [tail] if head is None else [head, tail]
    assert _seen(halves, window) == _seen([item], window)
    if head is not None:
        assert tail.uid == "new@calsync.test" and all(o.uid == tail.uid for o in tail.overrides)
        assert "COUNT=" not in head.master.rrule
        _until_has_the_start_form(head.master)


def _until_has_the_start_form(master: Component) -> None:
    """RFC 5545 3.3.10: UNTIL is a DATE with a DATE DTSTART, UTC with a zoned one, local with a floating one."""
    until = next((p[6:] for p in master.rrule.split(";") if p.startswith("UNTIL=")), None)
    if until is None:
        return
    start = master.start
    if not isinstance(start, datetime):
        assert len(until) == 8
    elif start.tzinfo is None:
        assert len(until) == 15
    else:
        assert until.endswith("Z")


@st.composite
def moves(draw: st.DrawFn) -> tuple[Item, Temporal, Temporal]:
    """A split with a new start for the occurrence: minutes later the same day, or whole days for all-day series."""
    item, rid = draw(cuts())
    if isinstance(rid, datetime):
        room = int((datetime.combine(rid.date(), datetime.max.time()) - rid.replace(tzinfo=None)).total_seconds() // 60)
        target: Temporal = rid + timedelta(minutes=draw(st.integers(-min(rid.hour * 60, 600), min(room, 600))))
        assume(target.date() == rid.date())
    else:
        assume("MONTHLY" not in item.master.rrule)  # a month's day past the 28th is not a plain shift
        target = rid + timedelta(days=draw(st.integers(-3, 3)))
    return item, rid, target


def _expected(item: Item, rid: Temporal, target: Temporal, window: tuple[datetime, datetime], cut: datetime) -> Counter:  # type: ignore[type-arg]
    """The original's occurrences before the cut as they were; those from it moved by the same wall-clock shift
    as `rid` to `target`, except changed occurrences that had been moved to a time of their own."""
    move = mover(rid, target)
    found: Counter = Counter()  # type: ignore[type-arg]
    for o in occurrences(item, start=window[0], end=window[1], budget=_budget()):
        assert o.recurrence_id is not None
        if as_utc(o.recurrence_id) < cut:
            found[(as_utc(o.start), as_utc(o.end), o.component.summary)] += 1
            continue
        own_time = o.is_override and (
            as_utc(o.start) != as_utc(o.recurrence_id) or duration(o.component) != duration(item.master)
        )
        start = o.start if own_time else move(o.start)
        found[(as_utc(start), as_utc(o.end) + (as_utc(start) - as_utc(o.start)), o.component.summary)] += 1
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(moves(), st.booleans())
def test_a_new_start_moves_exactly_the_following_or_all_occurrences(
    case: tuple[Item, Temporal, Temporal], following: bool
) -> None:
    item, rid, target = case
    assume(_exists_once(target))
    current = next((o for o in item.overrides if as_utc(o.recurrence_id) == as_utc(rid)), None)  # type: ignore[arg-type]
    assume(current is None)  # an occurrence already changed takes the new times itself: covered by the unit tests
    current = replace(item.master, start=rid)
    head, tail = split_series(item, rid, "new@calsync.test", _budget()) if following else (None, item)
    try:
        moved = series_moved(tail, rid, {"start": target}, current)
    except SeriesChangeRefused:
        return  # a rule whose days cannot move as a whole; refused rather than changed wrongly
    window = (_window(item)[0] - timedelta(days=4), _window(item)[1])
    got = _seen([moved] if head is None else [head, moved], window)
    cut = as_utc(rid) if following else datetime.min.replace(tzinfo=UTC)
    expected = _expected(item, rid, target, window, cut)
    # An occurrence moved past either end of the window is counted on one side only.
    edge = window[1] - timedelta(days=4)
    assert +Counter({k: v for k, v in got.items() if k[0] < edge}) == +Counter(
        {k: v for k, v in expected.items() if k[0] < edge}
    )


def _exists_once(value: Temporal) -> bool:
    if not isinstance(value, datetime) or value.tzinfo is None:
        return True
    from tests.events.strategies import is_unambiguous

    return is_unambiguous(value.replace(tzinfo=None), value.tzinfo)  # type: ignore[arg-type]


def test_mover_puts_values_in_the_new_form() -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    to_day = mover(datetime(2026, 3, 2, 10, tzinfo=berlin), date(2026, 3, 3))
    assert to_day(datetime(2026, 3, 9, 10, tzinfo=berlin)) == date(2026, 3, 10)
    to_time = mover(date(2026, 3, 2), datetime(2026, 3, 2, 9, tzinfo=berlin))
    assert to_time(date(2026, 3, 30)) == datetime(2026, 3, 30, 9, tzinfo=berlin)  # after the change to summer time
