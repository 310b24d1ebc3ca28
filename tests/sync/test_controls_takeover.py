"""Review 3: a shaped copy never takes over an item calsync finds, "private as busy" shapes per item, a pair both
sides already held never leaks through a shaping flow, and filtered items are not reported again and again.

calsync is the local side. The hub scenarios put two integrations on one calsync calendar: two stores, one local
side (calsync's calendar) and two remote ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sync.controls import Controls, Copy, Flow
from sync.engine import Direction, Side
from sync.memory import MemorySide, MemoryStore

from .items import event
from .test_engine_controls import run

BUSY_IN = Controls(into_calsync=Flow(copy=Copy.BUSY))
TITLE_IN = Controls(into_calsync=Flow(copy=Copy.TITLE))


def titles(side: MemorySide) -> dict[str, str]:
    return {e.uid: e.item.master.summary for e in side.items.values()}


def test_a_busy_copy_never_overwrites_an_event_another_integration_brought() -> None:
    cal, google, outlook = MemorySide(), MemorySide(), MemorySide()
    a, b = MemoryStore(), MemoryStore()  # A: Google -> calsync busy-only; B: calsync <-> Outlook in full
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    run(cal, outlook, b)
    outlook.user_put(event("invite@x", "Board meeting"))
    run(cal, outlook, b)
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    google.user_put(event("invite@x", "Board meeting"))  # the same invitation lands in Google
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    run(cal, outlook, b)
    assert titles(cal)["invite@x"] == "Board meeting"
    assert titles(outlook)["invite@x"] == "Board meeting"


def test_a_busy_copy_never_overwrites_the_users_own_event() -> None:
    cal, google, a = MemorySide(), MemorySide(), MemoryStore()
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    cal.user_put(event("invite@x", "My own accepted invite"))
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    google.user_put(event("invite@x", "My own accepted invite", description="notes"))
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    google.user_put(event("invite@x", "Moved", description="more notes"), id=google.find("invite@x").id)
    report = run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    assert titles(cal)["invite@x"] == "My own accepted invite"
    assert not [e for e in cal.items.values() if e.item.master.description]
    assert report.of("filtered")  # the held-back edit is said
    cal.user_put(event("invite@x", "Mine, edited"), id=cal.find("invite@x").id)
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)  # one-way: the user's edit is not undone
    assert titles(cal)["invite@x"] == "Mine, edited"
    assert titles(google)["invite@x"] == "Moved"


def test_two_shaping_integrations_on_one_calendar_settle() -> None:
    cal, google, outlook = MemorySide(), MemorySide(), MemorySide()
    a, b = MemoryStore(), MemoryStore()
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    run(cal, outlook, b, TITLE_IN, direction=Direction.TO_LOCAL)
    google.user_put(event("invite@x", "Board meeting"))
    outlook.user_put(event("invite@x", "Board meeting"))
    for _ in range(3):
        run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
        run(cal, outlook, b, TITLE_IN, direction=Direction.TO_LOCAL)
    quiet_a = run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    quiet_b = run(cal, outlook, b, TITLE_IN, direction=Direction.TO_LOCAL)
    assert (quiet_a.of("applied"), quiet_b.of("applied")) == ([], [])
    assert len(cal.items) == 1


def test_private_as_busy_keeps_two_way_edits_of_ordinary_events() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    controls = Controls(into_calsync=Flow(private_as_busy=True))
    remote.user_put(event("m@x", "Planning"))
    remote.user_put(event("p@x", "Doctor", visibility="PRIVATE"))
    run(local, remote, store, controls)
    assert sorted(titles(local).values()) == ["Busy", "Planning"]
    copy = local.find("m@x")
    local.user_put(replace(copy.item, master=replace(copy.item.master, summary="Planning, room 4")), id=copy.id)
    run(local, remote, store, controls)
    assert titles(local)["m@x"] == titles(remote)["m@x"] == "Planning, room 4"
    busy = local.find("p@x")
    local.user_put(replace(busy.item, master=replace(busy.item.master, summary="Edited")), id=busy.id)
    run(local, remote, store, controls)
    assert (titles(local)["p@x"], titles(remote)["p@x"]) == ("Busy", "Doctor")  # a mirror: the source wins


def test_busy_only_never_leaks_when_both_sides_held_the_uid() -> None:
    local, remote, store = MemorySide(), MemorySide(), MemoryStore()
    local.user_put(event("u@x", "Team sync"))
    remote.user_put(event("u@x", "Team sync", description="salary talk with HR"))
    controls = {"direction": Direction.TO_LOCAL, "controls": BUSY_IN}
    run(local, remote, store, **controls)
    edited = remote.find("u@x")
    remote.user_put(replace(edited.item, master=replace(edited.item.master, summary="Salary talk")), id=edited.id)
    run(local, remote, store, **controls)
    assert [e.item.master.description for e in local.items.values()] == [""]
    assert titles(local)["u@x"] == "Team sync"


def test_a_plain_integration_never_copies_another_integrations_busy_copy_over_its_users_item() -> None:
    """Found by a hub state machine (review 3, finding 12), not fixed yet: A brings Google in busy-only, B syncs
    Outlook two-way in full, and the same invitation is only in Google and Outlook. A makes calsync's copy "Busy";
    B pairs that copy with Outlook's own item and, calsync being its primary, writes "Busy" over it."""
    cal, google, outlook = MemorySide(), MemorySide(), MemorySide()
    a, b = MemoryStore(), MemoryStore()
    google.user_put(event("invite@x", "Board meeting"))
    outlook.user_put(event("invite@x", "Board meeting"))
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    run(cal, outlook, b, primary=Side.LOCAL)
    assert titles(outlook)["invite@x"] == "Board meeting"


def hub_with_one_invitation() -> tuple[MemorySide, MemorySide, MemorySide, MemoryStore, MemoryStore]:
    """A brings Google in busy-only, B syncs Outlook in full; the invitation is in Google and Outlook, both run."""
    cal, google, outlook = MemorySide(), MemorySide(), MemorySide()
    a, b = MemoryStore(), MemoryStore()
    google.user_put(event("invite@x", "Board meeting"))
    outlook.user_put(event("invite@x", "Board meeting", description="agenda"))
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    run(cal, outlook, b, primary=Side.LOCAL)
    return cal, google, outlook, a, b


def test_the_plain_integration_holds_back_later_changes_of_the_busy_copy_and_says_so() -> None:
    cal, google, outlook, a, b = hub_with_one_invitation()
    assert titles(cal)["invite@x"] == "Busy"
    google.user_put(event("invite@x", "Board meeting", day=1), id=google.find("invite@x").id)  # moved
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    assert cal.find("invite@x").item.master.start == outlook.find("invite@x").item.master.start + timedelta(days=1)
    report = run(cal, outlook, b, primary=Side.LOCAL)
    assert report.of("filtered")
    assert outlook.find("invite@x").item.master.description == "agenda"
    assert titles(outlook)["invite@x"] == "Board meeting"
    assert not report.of("conflict")


def test_an_outlook_edit_of_its_own_invitation_never_ends_as_busy_and_the_hub_settles() -> None:
    cal, google, outlook, a, b = hub_with_one_invitation()
    outlook.user_put(event("invite@x", "Board meeting", description="new agenda"), id=outlook.find("invite@x").id)
    for _ in range(3):
        run(cal, outlook, b, primary=Side.LOCAL)
        run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    assert outlook.find("invite@x").item.master.description == "new agenda"
    assert titles(google)["invite@x"] == "Board meeting"
    assert titles(cal)["invite@x"] == "Busy"
    writes = (len(cal.log), len(outlook.log))
    run(cal, outlook, b, primary=Side.LOCAL)
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    assert (len(cal.log), len(outlook.log)) == writes  # settled: nothing is rewritten in turn


def test_a_busy_copy_with_no_counterpart_still_flows_out_through_a_plain_integration() -> None:
    cal, google, outlook = MemorySide(), MemorySide(), MemorySide()
    a, b = MemoryStore(), MemoryStore()
    google.user_put(event("dentist@x", "Dentist", description="private"))
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    run(cal, outlook, b)
    assert titles(outlook)["dentist@x"] == "Busy"
    google.user_put(event("dentist@x", "Dentist", day=2), id=google.find("dentist@x").id)
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    run(cal, outlook, b)
    assert outlook.find("dentist@x").item.master.start == google.find("dentist@x").item.master.start
    google.user_delete(google.find("dentist@x").id)
    run(cal, google, a, BUSY_IN, direction=Direction.TO_LOCAL)
    run(cal, outlook, b)
    assert "dentist@x" not in titles(outlook)
