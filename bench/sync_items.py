"""The events the sync benchmarks write and read, made one at a time (no Django needed)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from events.ical import Component, Item

ZONE = ZoneInfo("Europe/Berlin")
START = datetime(2026, 1, 5, 9, tzinfo=ZONE)


def make_item(i: int) -> Item:
    """Event i; every 50th a weekly series with a moved occurrence (2% of the events)."""
    start = START + timedelta(hours=i % 2000)
    master = Component(uid=f"bench-{i}@calsync", summary=f"Event {i}", start=start, end=start + timedelta(hours=1))
    if i % 50:
        return Item(master=master)
    master = replace(master, rrule="FREQ=WEEKLY;COUNT=20")
    original = start + timedelta(days=7)
    override = replace(master, rrule="", recurrence_id=original, start=original + timedelta(hours=2),
                       end=original + timedelta(hours=3), summary=f"Event {i} (moved)")  # fmt: skip
    return Item(master=master, overrides=(override,))


def make_items(n: int) -> list[Item]:
    return [make_item(i) for i in range(n)]


def edited(item: Item) -> Item:
    return replace(item, master=replace(item.master, summary=item.master.summary + " *"))
