"""A hypothesis state machine over the engine under changing sync controls: users edit both calendars while the
filters, shapes and window change over time (each change clears the cursors, as sync.services does).

After every quiescent sync:
(a) the copies calsync made on each side are exactly the flow's transform of the admitted source items in the
    window (a plain copy the other side edited into something its own flow filters, or out of the window, is that
    side's edit held back: it is left as it is);
(b) nothing vanished during a sync unless a user deleted that UID at some point, or it was a copy calsync made
    whose source the controls now filter out (or is gone);
(c) no UID twice on a side; and a second run finds nothing to do;
(d) an item a user made (a UID no side held yet) never gets a shaped copy written over it: its content is the
    user's own or the other side's whole version (a two-way edit, a conflict, a one-way restore), never "Busy" or
    a title without its description (review 3: shaped copies took over the user's own events);
(e) the mass-delete guard is on: when it stops a run, that run deleted nothing (the user then allows it).
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from events.ical import Item
from sync.controls import Conflicts, Controls, Copy, Flow, Window
from sync.engine import Direction, Mapping, Settings, Side, content_hash, sync
from sync.errors import SafetyStop
from sync.memory import ListReport, MemorySide, MemoryStore

from .items import event

UIDS = st.sampled_from([f"item{i}@test" for i in range(6)])
TITLES = st.sampled_from(["Alpha", "Beta", "Gamma"])
FLOWS = st.sampled_from(
    [Flow(), Flow(copy=Copy.BUSY), Flow(copy=Copy.TITLE), Flow(skip_free=True), Flow(keywords=("gamma",)),
     Flow(copy=Copy.BUSY, skip_free=True), Flow(private_as_busy=True)]
)  # fmt: skip
WINDOWS = st.sampled_from([Window(), Window(start=date(2026, 11, 26))])  # items fall on 23 to 29 November


class ControlsMachine(RuleBasedStateMachine):
    @initialize(
        direction=st.sampled_from(list(Direction)),
        primary=st.sampled_from(list(Side)),
        keep_both=st.booleans(),
        streamed=st.sampled_from([None, 2]),
        page_size=st.sampled_from([2, 500]),
    )
    def start(self, direction: Direction, primary: Side, keep_both: bool, streamed: int | None, page_size: int) -> None:
        self.sides = {side: MemorySide(page_size=streamed) for side in Side}
        self.store = MemoryStore()
        conflicts = Conflicts.KEEP_BOTH if keep_both else Conflicts.PRIMARY
        self.settings = Settings(direction=direction, primary=primary, mass_delete_threshold=3,
                                 page_size=page_size, controls=Controls(conflicts=conflicts))  # fmt: skip
        self.user_deleted: set[str] = set()  # UIDs users deleted (a deletion may win over a later re-save)
        self.owned: set[tuple[Side, str]] = set()  # items users made: (side, UID), made when no side held the UID

    # --- users -----------------------------------------------------------------------------------------

    @rule(side=st.sampled_from(list(Side)), uid=UIDS, title=TITLES, day=st.integers(0, 6), free=st.booleans(),
          private=st.booleans())  # fmt: skip
    def put_event(self, side: Side, uid: str, title: str, day: int, free: bool, private: bool) -> None:
        fields = {"transparency": "TRANSPARENT" if free else "", "visibility": "PRIVATE" if private else ""}
        if not any(uid in self._content(s) for s in Side):
            self.owned.add((side, uid))
        self.sides[side].user_put(event(uid, title, day=day, description=f"about {title}", **fields))

    @rule(side=st.sampled_from(list(Side)), uid=UIDS)
    def delete(self, side: Side, uid: str) -> None:
        entry = next((e for e in self.sides[side].items.values() if e.uid == uid), None)
        if entry is not None:
            self.sides[side].user_delete(entry.id)
            self.user_deleted.add(uid)
            self.owned.discard((side, uid))

    @rule(into=FLOWS, out=FLOWS, window=WINDOWS)
    def change_controls(self, into: Flow, out: Flow, window: Window) -> None:
        controls = Controls(into_calsync=into, out_of_calsync=out, window=window,
                            conflicts=self.settings.controls.conflicts)  # fmt: skip
        self.settings = replace(self.settings, controls=controls)
        self.store.local_cursor = self.store.remote_cursor = None

    # --- the system ---------------------------------------------------------------------------------------

    def _run(self) -> ListReport:
        report = ListReport()
        before = {side: set(self._content(side)) for side in Side}
        try:
            sync(self.sides[Side.LOCAL], self.sides[Side.REMOTE], self.store, self.settings, report)
        except SafetyStop:
            assert all(before[side] <= set(self._content(side)) for side in Side), "the guard stopped too late"
            allowed = replace(self.settings, mass_delete_threshold=None)  # the user allows the deletion
            sync(self.sides[Side.LOCAL], self.sides[Side.REMOTE], self.store, allowed, report)
        return report

    @rule()
    def quiescent_sync(self) -> None:
        before = {side: self._content(side) for side in Side}
        made = {m.uid: m.origin for m in self.store.mappings.values()}
        self._run()
        report = self._run()
        assert report.of("applied") == [], f"a second run still had work: {report.lines}"
        for side in Side:
            for uid in set(before[side]) - set(self._content(side)):
                assert uid in self.user_deleted or self._removed_copy(side, uid, made), f"{uid} deleted on {side}"
                self.owned.discard((side, uid))
        self._check_copies()
        self._check_owned()

    def _removed_copy(self, side: Side, uid: str, made: dict[str, str]) -> bool:
        """A copy calsync made on `side`, whose source is gone or now filtered out."""
        if made.get(uid) != side.other.value:
            return False
        source = self._content(side.other).get(uid)
        return source is None or self.settings.controls.admit(side.other, source) is not None

    def _check_owned(self) -> None:
        for side, uid in self.owned:
            master = self._content(side)[uid].master
            shaped = master.summary not in ("Alpha", "Beta", "Gamma") or master.description != f"about {master.summary}"
            assert not shaped, f"{uid}: a shaped copy was written over the user's own item on {side}"

    # --- invariants -------------------------------------------------------------------------------------

    def _content(self, side: Side) -> dict[str, Item]:
        entries = list(self.sides[side].items.values())
        found = {e.uid: e.item for e in entries}
        assert len(found) == len(entries), f"duplicates on {side}: {sorted(e.uid for e in entries)}"
        return found

    @invariant()
    def no_duplicates(self) -> None:
        if hasattr(self, "sides"):
            for side in Side:
                self._content(side)

    def _flows(self, side: Side) -> bool:
        direction = self.settings.direction
        return direction is Direction.BOTH or (direction is Direction.TO_LOCAL) == (side is Side.REMOTE)

    def _check_copies(self) -> None:
        controls = self.settings.controls
        mappings: dict[str, Mapping] = {m.uid: m for m in self.store.mappings.values()}
        for source in Side:
            if not self._flows(source):
                continue
            here, there = self._content(source), self._content(source.other)
            for uid, item in here.items():
                mapping = mappings.get(uid)
                if mapping is not None and mapping.origin != source.value:
                    continue  # not a copy calsync made from this side
                if not controls.in_window(item):
                    continue  # left alone
                if controls.admit(source, item) is not None:
                    assert mapping is None, f"{uid} of {source} is filtered, yet copied"  # (a UID both hold: no)
                    continue
                assert uid in there and mapping is not None, f"{uid} of {source} has no copy"
                copy = there[uid]
                if self._held_back(source.other, copy, item):
                    continue
                expected = controls.shape(source, item)
                assert content_hash(copy) == content_hash(expected), f"{uid}: the copy is not the source's transform"

    def _held_back(self, side: Side, copy: Item, source: Item) -> bool:
        """A plain copy edited on `side` into something the controls keep from the source: the edit stays there.
        (A copy is a mirror, never plain, only when its flow shapes that source item.)"""
        controls = self.settings.controls
        if controls.flow(side.other).shapes_item(source) or not self._flows(side):
            return False
        return not controls.in_window(copy) or controls.admit(side, copy) is not None


ControlsMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("CONTROLS_MACHINE_EXAMPLES", "60")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestControlsEngine = ControlsMachine.TestCase
