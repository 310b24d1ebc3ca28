"""Undo between two in-memory calendars (sync.undoing): random runs with edits, deletions and conflicts on both
sides; undoing one run puts both sides back as they were before it for every item not changed since; undoing the
undo returns to after it; the next sync finds nothing to do."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.ical import Item
from sync.engine import Settings, Side, content_hash, sync
from sync.errors import SafetyStop
from sync.memory import ListReport, MemorySide, MemoryStore
from sync.undoing import Logged, Step, Undo, plan_steps

from .items import event

UIDS = [f"item{i}@test" for i in range(8)]


@dataclass
class LogReport(ListReport):
    """ListReport that also keeps what a run logs for an undo (as the RunReport writes it to the database)."""

    logged: list[Logged] = field(default_factory=list)

    def applied(  # type: ignore[override]
        self,
        target: Side,
        action: str,
        uid: str,
        title: str,
        item: Item | None = None,
        before: Item | None = None,
        private: bool = False,
    ) -> None:
        super().applied(target, action, uid, title, item, before, private)
        self.logged.append(Logged(action, target, uid, title, before, content_hash(item) if item else "", private))

    def withheld(self, side: Side, uid: str, title: str, item: Item | None = None) -> None:
        super().withheld(side, uid, title, item)
        self.logged.append(Logged("withheld", side, uid, title))


def state(side: MemorySide) -> dict[str, str]:
    return {e.uid: content_hash(e.item) for e in side.items.values()}


def run_sync(sides: dict[Side, MemorySide], store: MemoryStore, **options: object) -> LogReport:
    report = LogReport()
    sync(sides[Side.LOCAL], sides[Side.REMOTE], store, Settings(mass_delete_threshold=None, **options), report)  # type: ignore[arg-type]
    return report


def undo(sides: dict[Side, MemorySide], store: MemoryStore, steps: list[Step]) -> tuple[Undo, LogReport]:
    report = LogReport()
    done = Undo(dict(sides), store, report)  # type: ignore[arg-type]
    done.run(steps)
    return done, report


def user_edit(sides: dict[Side, MemorySide], op: tuple[str, Side, str, str]) -> None:
    kind, side, uid, title = op
    memory = sides[side]
    entry = next((e for e in memory.items.values() if e.uid == uid), None)
    if kind == "put":
        memory.user_put(event(uid, title))
    elif entry is not None:
        memory.user_delete(entry.id)


OPS = st.tuples(
    st.sampled_from(["put", "put", "delete"]),
    st.sampled_from(list(Side)),
    st.sampled_from(UIDS),
    st.sampled_from(["Alpha", "Beta", "Gamma"]),
)
RUNS = st.lists(st.lists(OPS, max_size=6), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    runs=RUNS,
    pick=st.integers(0, 3),
    primary=st.sampled_from(list(Side)),
    streamed=st.sampled_from([None, 2]),
    remove_created=st.booleans(),
)
def test_undoing_a_run_restores_both_sides_then_the_undo_of_it_returns(  # type: ignore[no-untyped-def]
    runs, pick, primary, streamed, remove_created
) -> None:
    sides = {Side.LOCAL: MemorySide(page_size=streamed), Side.REMOTE: MemorySide(page_size=streamed)}
    store = MemoryStore()
    for i, uid in enumerate(UIDS[:5]):
        sides[Side.LOCAL if i % 2 else Side.REMOTE].user_put(event(uid, "Start"))
    run_sync(sides, store, primary=primary)
    logs, befores, afters = [], [], []
    for ops in runs:
        for op in ops:
            user_edit(sides, op)
        befores.append({side: state(sides[side]) for side in Side})
        logs.append(run_sync(sides, store, primary=primary).logged)
        afters.append({side: state(sides[side]) for side in Side})
    k = pick % len(runs)
    before_undo = {side: state(sides[side]) for side in Side}
    # Changed since: a later run logged a change of it, or (a later run may only forget an item deleted on both
    # sides, logging nothing) either side holds it otherwise than right after the run undone.
    later = {entry.uid for log in logs[k + 1 :] for entry in log} | {
        uid for side in Side for uid in UIDS if afters[k][side].get(uid) != before_undo[side].get(uid)
    }
    steps = [s for s in plan_steps(logs[k]) if remove_created or not s.created]
    for step in steps:
        step.later = step.uid in {entry.uid for log in logs[k + 1 :] for entry in log}

    done, report = undo(sides, store, steps)

    assert {s.uid for s in done.left_alone} == later & {s.uid for s in steps}, "only items changed since are left"
    after = {side: state(sides[side]) for side in Side}
    for step in steps:
        if step.uid in later:
            continue
        expected = None if step.kind == "remove" else befores[k][step.first.side].get(step.uid)
        assert after[Side.LOCAL].get(step.uid) == after[Side.REMOTE].get(step.uid) == expected, step
    assert run_sync(sides, store, primary=primary).of("applied") == [], "the next sync has nothing to do"

    # Undo the undo: both sides hold again what they held before it, for every item the undo changed.
    again, _ = undo(sides, store, plan_steps(report.logged))
    assert again.left_alone == []
    undone = {entry.uid for entry in report.logged}
    for side in Side:
        now = state(sides[side])
        assert {u: now.get(u) for u in undone} == {u: before_undo[side].get(u) for u in undone}
    assert run_sync(sides, store, primary=primary).of("applied") == []


def test_a_safety_stop_logs_what_it_held_back_and_an_undo_copies_it_back(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    for i in range(6):
        local.user_put(event(f"s{i}@test", f"Shift {i}"))
    sync(local, remote, store, Settings(), LogReport())
    for entry in list(remote.items.values()):
        remote.user_delete(entry.id)  # emptied by mistake at the provider
    stopped = LogReport()
    try:
        sync(local, remote, store, Settings(), stopped)
    except SafetyStop:
        pass
    else:
        raise AssertionError("no safety stop")
    assert sorted((e.action, e.side, e.title) for e in stopped.logged) == [
        ("withheld", Side.LOCAL, f"Shift {i}") for i in range(6)
    ]
    assert len(local.items) == 6 and not remote.items

    done, _ = undo({Side.LOCAL: local, Side.REMOTE: remote}, store, plan_steps(stopped.logged))

    assert done.left_alone == [] and state(remote) == state(local) and len(remote.items) == 6
    assert run_sync({Side.LOCAL: local, Side.REMOTE: remote}, store).lines == []


def test_updates_and_deletions_are_logged_with_the_version_they_overwrote(sides) -> None:  # type: ignore[no-untyped-def]
    local, remote, store = sides
    local.user_put(event("a@test", "Old A"))
    local.user_put(event("b@test", "Old B"))
    sync(local, remote, store, Settings(), LogReport())
    local.user_put(event("a@test", "New A"))
    local.user_delete(next(e.id for e in local.items.values() if e.uid == "b@test"))
    report = LogReport()
    sync(local, remote, store, Settings(), report)
    logged = {(e.action, e.side, e.uid): e for e in report.logged}
    updated, deleted = logged[("updated", Side.REMOTE, "a@test")], logged[("deleted", Side.REMOTE, "b@test")]
    assert updated.before is not None and updated.before.master.summary == "Old A"
    assert updated.after_hash == content_hash(event("a@test", "New A"))
    assert deleted.before is not None and deleted.before.master.summary == "Old B"
