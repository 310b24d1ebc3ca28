"""Small calendar items for sync tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from events.ical import Component, Item

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 11, 23, 10, tzinfo=BERLIN)


def event(uid: str, summary: str = "Meeting", day: int = 0, **fields: object) -> Item:
    start = START + timedelta(days=day)
    return Item(master=Component(uid=uid, summary=summary, start=start, end=start + timedelta(hours=1), **fields))  # type: ignore[arg-type]


def series(uid: str, summary: str = "Weekly", moved_summary: str | None = None) -> Item:
    """A weekly series with its second occurrence moved by a day (and retitled if asked)."""
    master = Component(uid=uid, summary=summary, start=START, end=START + timedelta(hours=1), rrule="FREQ=WEEKLY")
    original = START + timedelta(days=7)
    moved = original + timedelta(days=1)
    override = Component(
        uid=uid, recurrence_id=original, summary=moved_summary or summary, start=moved, end=moved + timedelta(hours=1)
    )
    return Item(master=master, overrides=(override,))
