"""A hypothesis state machine over the engine: users edit both calendars, syncs crash, cursors expire.

After every quiescent sync the invariants of the sync contract must hold, and the run must have read back its own
writes (nothing left for the next run). The sides may stream their changes in tiny pages and the engine may hold
tiny pages, so that items meet across page boundaries.
"""

from __future__ import annotations

import os
from dataclasses import replace

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from sync.engine import Direction, Settings, Side, content_hash, sync
from sync.errors import CursorExpired
from sync.memory import ListReport, MemorySide, MemoryStore

from .items import event, series


class Crash(Exception):
    """The worker died here."""


UIDS = st.sampled_from([f"item{i}@test" for i in range(6)])
TITLES = st.sampled_from(["Alpha", "Beta", "Gamma", "Delta"])


class SyncMachine(RuleBasedStateMachine):
    @initialize(
        direction=st.sampled_from(list(Direction)),
        primary=st.sampled_from(list(Side)),
        streamed=st.sampled_from([None, 1, 3]),  # the sides' pages (None: whole lists)
        page_size=st.sampled_from([2, 3, 500]),  # the engine's pages
    )
    def start(self, direction: Direction, primary: Side, streamed: int | None, page_size: int) -> None:
        self.sides = {Side.LOCAL: MemorySide(page_size=streamed), Side.REMOTE: MemorySide(page_size=streamed)}
        self.store = MemoryStore()
        self.settings = Settings(direction=direction, primary=primary, mass_delete_threshold=None, page_size=page_size)
        # What users did since the last quiescent sync, per UID and side: the content they left, or None (deleted).
        self.edits: dict[str, dict[Side, object]] = {}
        self.ever_deleted: set[str] = set()
        self.clean_epoch = True
        self.engine_writes = {Side.LOCAL: 0, Side.REMOTE: 0}
        self.synced: set[str] = set()  # UIDs on both sides when the current epoch began

    # --- users ------------------------------------------------------------------------------

    def _user_put(self, side: Side, item) -> None:  # type: ignore[no-untyped-def]
        self.sides[side].user_put(item)
        self.edits.setdefault(item.uid, {})[side] = item

    @rule(side=st.sampled_from(list(Side)), uid=UIDS, title=TITLES, day=st.integers(0, 6))
    def put_event(self, side: Side, uid: str, title: str, day: int) -> None:
        self._user_put(side, event(uid, title, day=day))

    @rule(side=st.sampled_from(list(Side)), uid=UIDS, title=TITLES, moved=TITLES)
    def put_series_with_moved_occurrence(self, side: Side, uid: str, title: str, moved: str) -> None:
        self._user_put(side, series(uid, title, moved_summary=moved))

    @rule(side=st.sampled_from(list(Side)), uid=UIDS, title=TITLES)
    def edit_moved_occurrence(self, side: Side, uid: str, title: str) -> None:
        entry = next((e for e in self.sides[side].items.values() if e.uid == uid and e.item.overrides), None)
        if entry is not None:
            override = replace(entry.item.overrides[0], summary=title)
            self._user_put(side, replace(entry.item, overrides=(override,)))

    @rule(side=st.sampled_from(list(Side)), uid=UIDS)
    def delete(self, side: Side, uid: str) -> None:
        entry = next((e for e in self.sides[side].items.values() if e.uid == uid), None)
        if entry is not None:
            self.sides[side].user_delete(entry.id)
            self.edits.setdefault(uid, {})[side] = None
            self.ever_deleted.add(uid)

    # --- the system ------------------------------------------------------------------------------

    def _sync(self) -> ListReport:
        report = ListReport()
        before = {side: self._writes(side) for side in Side}
        try:
            sync(self.sides[Side.LOCAL], self.sides[Side.REMOTE], self.store, self.settings, report)
        finally:
            for side in Side:
                self.engine_writes[side] += self._writes(side) - before[side]
        return report

    def _writes(self, side: Side) -> int:
        calls = self.sides[side].calls
        return sum(calls.get(name, 0) for name in ("create", "update", "delete"))

    @rule(after=st.integers(0, 8), side=st.sampled_from(list(Side)))
    def crashing_sync(self, after: int, side: Side) -> None:
        """A run that dies before its n-th write to one side (mappings saved so far survive, cursors don't move)."""
        count = 0

        def crash(name: str) -> None:
            nonlocal count
            count += 1
            if count > after:
                raise Crash

        self.sides[side].before_write = crash
        # Whether it crashed or not, this run may have synced some edits: later edits are not conflicts with them.
        self.clean_epoch = False
        try:
            self._sync()
        except Crash:
            pass
        finally:
            self.sides[side].before_write = None

    @rule(side=st.sampled_from(list(Side)))
    def expire_cursor(self, side: Side) -> None:
        self.sides[side].expire_cursors()

    @rule()
    def deliver_changes_again(self) -> None:
        """The cursors' save was lost: the next run gets the same changes a second time."""
        self.store.local_cursor = self.store.remote_cursor = None if self.store.local_cursor is None else "0"

    @rule()
    def quiescent_sync(self) -> None:
        self._sync()
        self._check_finished()
        report = self._sync()
        assert report.of("applied") == [], f"a second run still had work: {report.lines}"
        self._check()
        self.edits.clear()
        self.clean_epoch = True
        self.synced = set(self._content(Side.LOCAL)) & set(self._content(Side.REMOTE))

    # --- invariants ------------------------------------------------------------------------------

    def _check_finished(self) -> None:
        """A run ends having read back its own writes: neither side has a change left since the saved cursors."""
        for side, cursor in ((Side.LOCAL, self.store.local_cursor), (Side.REMOTE, self.store.remote_cursor)):
            try:
                changes = self.sides[side].changes(cursor)
            except CursorExpired:
                continue  # expired before this run began (expire_cursor): the next run lists everything, and must
                # then apply nothing (checked by the caller)
            left = [e.uid for e in changes.changed]
            assert left == [] and list(changes.deleted) == [], f"{side} still reports {left} {changes.deleted}"

    def _content(self, side: Side) -> dict[str, str]:
        entries = list(self.sides[side].items.values())
        found = {e.uid: content_hash(e.item) for e in entries}
        assert len(found) == len(entries), f"duplicates on {side}: {sorted(e.uid for e in entries)}"
        return found

    def _check(self) -> None:
        local, remote = self._content(Side.LOCAL), self._content(Side.REMOTE)
        direction = self.settings.direction
        if direction is Direction.BOTH:
            assert local == remote, "two-way sync must leave both calendars the same"
            for uid in self.edits:
                if uid not in self.ever_deleted:
                    assert uid in local, f"{uid} was lost"
            if self.clean_epoch:
                self._check_primary_won(local)
        else:
            source = Side.REMOTE if direction is Direction.TO_LOCAL else Side.LOCAL
            target_content = local if source is Side.REMOTE else remote
            source_content = remote if source is Side.REMOTE else local
            assert self.engine_writes[source] == 0, "a one-way sync wrote to its source"
            for uid, digest in source_content.items():
                assert target_content.get(uid) == digest, f"the target does not mirror {uid}"

    def _check_primary_won(self, content: dict[str, str]) -> None:
        primary = self.settings.primary
        for uid, by_side in self.edits.items():
            both_new = len(by_side) == 2 and all(v is not None for v in by_side.values())
            if len(by_side) < 2 or not (uid in self.synced or both_new):
                continue
            winner = by_side[primary]
            if winner is None:
                assert uid not in content, f"{uid}: the primary deleted it, but it is back"
            else:
                assert content.get(uid) == content_hash(winner), f"{uid}: the primary's version did not win"  # type: ignore[arg-type]


SyncMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("SYNC_MACHINE_EXAMPLES", "150")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestSyncEngine = SyncMachine.TestCase
