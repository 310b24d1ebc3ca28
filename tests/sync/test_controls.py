"""sync.controls: what each flow admits and how it shapes copies, the window, and the stored form."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

from events.ical import Attendee, Component, Item
from sync.controls import BUSY_TITLE, PERSONAL_FLOW, Conflicts, Controls, Copy, Flow, Owner, Window
from sync.engine import Settings

from .items import START, event, series

ME = Owner(emails=frozenset({"me@example.com"}), hours={d: (time(9), time(17)) for d in range(5)}, zone="Europe/Berlin")


def with_master(item: Item, **fields: object) -> Item:
    return replace(item, master=replace(item.master, **fields))


def test_default_controls_are_default_and_any_setting_is_not() -> None:
    assert Controls().default and Settings().controlled is False
    assert Controls(owner=ME, personal=True).default  # facts and labels alone change nothing
    for changed in (
        Controls(into_calsync=Flow(skip_free=True)),
        Controls(out_of_calsync=Flow(copy=Copy.BUSY)),
        Controls(window=Window(days_ahead=30)),
        Controls(conflicts=Conflicts.KEEP_BOTH),
    ):
        assert not changed.default and Settings(controls=changed).controlled


def test_each_filter_names_its_reason() -> None:
    invited = event("i@test", attendees=(Attendee(email="ME@example.com", partstat="DECLINED"),))
    cases = [
        (Flow(skip_free=True), event("f@test", transparency="TRANSPARENT"), "free time"),
        (Flow(skip_free=True), event("f@test", busy_status="FREE"), "free time"),
        (Flow(skip_declined=True), invited, "declined"),
        (Flow(skip_tentative=True), event("t@test", status="TENTATIVE"), "tentative"),
        (Flow(skip_all_day=True), Item(Component(uid="a@test", start=date(2026, 11, 23))), "all-day"),
        (Flow(keywords=("  PRIVATE ",)), event("k@test", description="a private matter"), "matches a keyword"),
        (Flow(not_before=date(2026, 11, 24)), event("b@test"), "before the start date"),
        (Flow(not_after=date(2026, 11, 22)), event("b@test"), "after the end date"),
        (Flow(working_hours_only=True), with_master(event("w@test"), start=START.replace(hour=20),
                                                    end=START.replace(hour=21)), "outside working hours"),
    ]  # fmt: skip
    for flow, item, reason in cases:
        assert flow.admit(item, ME) == f"Filtered: {reason}.", reason
        assert Flow().admit(item, ME) is None


def test_filters_let_through_what_they_do_not_name() -> None:
    accepted = event("i@test", attendees=(Attendee(email="me@example.com", partstat="ACCEPTED"),))
    assert Flow(skip_declined=True, skip_tentative=True).admit(accepted, ME) is None
    assert Flow(keywords=("", " ")).admit(event("k@test"), ME) is None  # blank keywords match nothing
    assert Flow(working_hours_only=True).admit(event("w@test"), ME) is None  # 10:00 Berlin, a Monday
    all_day = Item(Component(uid="a@test", start=date(2026, 11, 28)))  # a Saturday: days are not hours
    assert Flow(working_hours_only=True).admit(all_day, ME) is None
    assert Flow(not_before=date(2026, 11, 23), not_after=date(2026, 11, 23)).admit(event("d@test"), ME) is None
    # An endless series never ends before a date.
    assert Flow(not_before=date(2030, 1, 1)).admit(series("s@test"), ME) is None


def test_busy_copy_keeps_time_and_recurrence_only() -> None:
    item = series("s@test", "Salary talk", moved_summary="Moved talk")
    item = with_master(item, description="secret", location="Room 1", visibility="PRIVATE",
                       attendees=(Attendee(email="boss@example.com"),))  # fmt: skip
    busy = Flow(copy=Copy.BUSY).shape(item)
    assert busy.master.summary == BUSY_TITLE and busy.overrides[0].summary == BUSY_TITLE
    assert (busy.master.description, busy.master.location, busy.master.attendees) == ("", "", ())
    assert (busy.master.start, busy.master.rrule, busy.uid) == (item.master.start, "FREQ=WEEKLY", "s@test")
    assert busy.overrides[0].recurrence_id == item.overrides[0].recurrence_id
    titled = Flow(copy=Copy.TITLE).shape(item)
    assert titled.master.summary == "Salary talk" and titled.master.description == ""


def test_private_as_busy_shapes_private_items_only() -> None:
    flow = Flow(private_as_busy=True)
    assert flow.shapes and not Flow().shapes and Flow(copy=Copy.TITLE).shapes
    public = event("p@test", "Lunch")
    assert flow.shape(public) is public
    assert flow.shape(with_master(public, visibility="confidential")).master.summary == BUSY_TITLE
    assert PERSONAL_FLOW.shape(public).master.summary == BUSY_TITLE


def test_window_holds_items_touching_it_and_leaves_the_rest() -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    ahead = Window(from_now=True, days_ahead=7)
    assert ahead.holds(event("in@test"), now)  # 23 Nov
    assert not ahead.holds(event("later@test", day=10), now)
    assert not ahead.holds(event("past@test", day=-10), now)
    assert ahead.holds(series("s@test"), now)  # an endless series reaches into every window
    assert ahead.holds(Item(Component(uid="t@test", kind="VTODO")), now)  # no time at all: always in
    started = Window(start=date(2026, 11, 24))
    assert not started.holds(event("e@test"), now) and started.holds(event("e@test", day=1), now)
    assert Window().holds(event("e@test", day=-1000), now) and not Window().bounded
    assert Controls(window=ahead).in_window(event("x@test"), now)


def test_stored_form_round_trips_and_tolerates_unknown_and_blank_values() -> None:
    controls = Controls(
        into_calsync=Flow(skip_free=True, keywords=("x",), not_before=date(2026, 1, 2)),
        out_of_calsync=PERSONAL_FLOW,
        window=Window(start=date(2026, 1, 1), days_ahead=90),
        conflicts=Conflicts.KEEP_BOTH,
        personal=True,
    )
    assert Controls.from_json(controls.to_json(), owner=ME) == replace(controls, owner=ME)
    assert Controls.from_json(None) == Controls()
    assert Flow.from_json({"copy": "busy", "keywords": ["a", " "], "unknown": 1}) == Flow(
        copy=Copy.BUSY, keywords=("a",)
    )
    assert Controls.from_json({"conflicts": ""}).conflicts is Conflicts.PRIMARY
    assert Controls().flow("calsync") is Controls().out_of_calsync
