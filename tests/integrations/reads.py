"""What every provider's `get_many` must read: each item exactly as `get` reads it."""

from __future__ import annotations

from sync.adapter import CalendarSide, Entry


def assert_read_as_get(side: CalendarSide, found: dict[str, Entry]) -> None:
    for item_id, entry in found.items():
        held = side.get(item_id)
        assert held is not None and (entry.id, entry.version, entry.item) == (held.id, held.version, held.item)
