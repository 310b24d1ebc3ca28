#!/usr/bin/env python
"""Undo at scale: a 10,000-event calendar's first sync against the undo of a run that deleted all 10,000.

    .venv/bin/python bench/operability_undo.py            # 10,000 events
    .venv/bin/python bench/operability_undo.py 2000       # another size

Both calendars are in-memory sides (sync.memory.MemorySide, streaming pages of 500, with get_many and the batch
writes a provider adapter offers), so the figures are the engine's and the undo's own work and request counts, not
a provider's latency: "requests" counts every call on either side (listings, reads, writes). The run that deletes
everything is allowed to (mass-delete guard off), logs each deletion with the version it deleted, and the undo
re-creates each item on both sides from those versions (sync.undoing).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")


def _requests(*sides) -> int:  # type: ignore[no-untyped-def]
    return sum(sum(side.calls.values()) for side in sides)


def main(size: int = 10_000) -> None:
    import django

    django.setup()
    from sync.engine import Settings, Side, sync
    from sync.memory import MemorySide, MemoryStore
    from sync.undoing import Undo, plan_steps
    from tests.sync.items import event
    from tests.sync.test_undo_engine import LogReport

    local, remote, store = MemorySide(page_size=500), MemorySide(page_size=500), MemoryStore()
    for i in range(size):
        local.user_put(event(f"bench{i}@test", f"Event {i}", day=i % 300))
    rules = Settings(mass_delete_threshold=None)

    started = time.perf_counter()
    sync(local, remote, store, rules, LogReport())
    first = time.perf_counter() - started, _requests(local, remote)

    for entry in list(remote.items.values()):
        remote.user_delete(entry.id)
    for side in (local, remote):
        side.calls.clear()
    deleting = LogReport()
    started = time.perf_counter()
    sync(local, remote, store, rules, deleting)
    deleted = time.perf_counter() - started, _requests(local, remote)
    assert not local.items, "the run deleted everything"

    for side in (local, remote):
        side.calls.clear()
    started = time.perf_counter()
    Undo({Side.LOCAL: local, Side.REMOTE: remote}, store, LogReport()).run(plan_steps(deleting.logged))
    undone = time.perf_counter() - started, _requests(local, remote)
    assert len(local.items) == len(remote.items) == size, "everything is back on both sides"

    print(f"{size:,} events, two in-memory sides (pages of 500)")
    for name, (seconds, requests) in (("first sync", first), ("run deleting all", deleted), ("undo of it", undone)):
        print(f"  {name:<18} {seconds:7.2f} s  {requests:>7,} requests")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
