"""The one contract every calendar side implements: calsync's own calendars, each provider, and tests' fakes.

A side holds *items* (events.ical.Item: a master and its overridden occurrences,
one UID). Each item has the side's own id and a version (etag, sequence number)
that changes whenever the item does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from events.ical import Item


@dataclass(frozen=True)
class Entry:
    """An item as one side holds it."""

    id: str
    version: str
    item: Item

    @property
    def uid(self) -> str:
        return self.item.uid


class LazyEntry(Entry):
    """An entry whose item is built only when first read: a streamed listing the engine may only index (id,
    version, UID) costs no parsing for the items it never copies."""

    def __init__(self, id: str, version: str, uid: str, load: Callable[[], Item]) -> None:
        for name, value in (("id", id), ("version", version), ("_uid", uid), ("_load", load), ("_item", None)):
            object.__setattr__(self, name, value)

    @property
    def uid(self) -> str:
        return self._uid  # type: ignore[attr-defined, no-any-return]

    @property  # type: ignore[override]
    def item(self) -> Item:
        if self._item is None:  # type: ignore[has-type]
            object.__setattr__(self, "_item", self._load())  # type: ignore[attr-defined]
        return self._item  # type: ignore[no-any-return]


@dataclass
class Changes:
    """What a side reports since a cursor.

    `complete` is True when `changed` lists every item the side holds (a first
    sync, or a listing after the cursor expired): an item missing from it is gone.

    `changed` may be a one-pass iterable that reads the side page by page, so a sync holds one page of items at a
    time whatever the calendar's size. A side that streams so fills in `deleted`, `skipped` and `cursor` as it goes:
    the engine reads them only once `changed` is exhausted. `complete` and `window` are known from the start.
    A streaming side raises CursorExpired no later than when its first item is asked for.
    """

    changed: Iterable[Entry]
    deleted: Sequence[str]
    cursor: str
    complete: bool = False
    skipped: Sequence[tuple[str, str]] = field(default=())  # (id, reason) of items the side could not read
    # A side that only lists a window of time (Microsoft's calendarView): `complete` holds within it, and an
    # item entirely outside it that is not listed is not gone.
    window: tuple[datetime, datetime] | None = None


# Of these (id, version) pairs, the ids whose version the sync already records: the engine hands this to a side's
# `changes(cursor, known=...)` when the side sets `takes_known = True`. Such a side leaves those items out of
# `changed` without fetching or parsing them: they are the echo of the sync's own writes.
Known = Callable[[Sequence[tuple[str, str]]], set[str]]


class CalendarSide(Protocol):
    """One calendar. Every method may raise the errors in sync.errors."""

    def changes(self, cursor: str | None) -> Changes:
        """Changes since `cursor`; with None, a complete listing. Raises CursorExpired for a cursor it forgot."""

    def get(self, id: str) -> Entry | None:
        """The item with this id, or None.

        A side may also offer `get_many(ids) -> dict[str, Entry]` (the items it still holds, by id): the engine
        then fetches the items of a page in one go instead of one `get` each."""

    def find(self, uid: str) -> Entry | None:
        """The item carrying this calsync identity (UID), or None: finds creates whose record was lost."""

    def create(self, item: Item) -> Entry:
        """Store a new item; its UID travels with it."""

    def update(self, id: str, item: Item, version: str) -> Entry:
        """Replace the item if it is still at `version`, else PreconditionFailed."""

    def delete(self, id: str, version: str) -> None:
        """Delete the item if it is still at `version` (PreconditionFailed otherwise); NotFound if already gone.

        A side may also offer `check(item) -> Item`: the refusal its create and update start with (ItemRejected,
        e.g. a task for a calendar of events), else the item as its next listing would show it once written,
        where that differs from what it was given and the sync reads it back (calsync's assignment rules). Its
        writes call it, so a preview (sync.preview), which writes nothing, refuses and reads back the same."""


def get_many(side: CalendarSide, ids: list[str]) -> dict[str, Entry]:
    """The items with these ids that `side` still holds, in one request where the side offers `get_many`."""
    if hasattr(side, "get_many"):
        return side.get_many(ids)  # type: ignore[no-any-return]
    return {i: entry for i in ids if (entry := side.get(i)) is not None}
