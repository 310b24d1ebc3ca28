"""What an integration copies, per direction: the user's sync controls, as pure values the engine reads.

A *flow* is one direction (into calsync, or out of it). It decides, for an item of its source side:
- whether the item is copied at all (`admit`: None, or the reason it is filtered out);
- what the copy holds (`shape`): everything, the time only as "Busy", or the title only. A shaped copy is a
  mirror: the engine never writes its content back over the source (see sync.engine).

The sync *window* is the span of time an integration looks at: items wholly outside it are left alone on both
sides (neither copied nor deleted), so events that drift into the past are never removed for it.

Nothing here reads the database: sync.services builds Controls from the integration and the owner's facts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import MINYEAR, UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from events.ical import Component, Item, is_private


class Copy(StrEnum):
    ALL = "all"
    BUSY = "busy"  # the time only, titled "Busy": no description, location, attendees or alarms
    TITLE = "title"  # the time and the title only


class Conflicts(StrEnum):
    PRIMARY = "primary"  # the primary calendar's version wins; the loser is logged
    KEEP_BOTH = "keep_both"  # the primary's version wins, and the losing version is kept as a second event


BUSY_TITLE = "Busy"
# Why an edit is not copied when both sides held the item before calsync paired them (see sync.judging._held).
HELD = "Held back: both calendars already had this event, and these settings copy only part of it; each keeps its own."
# Carried by every shaped copy (on each component), so that another integration syncing the same calsync calendar
# can tell a mirror from a user's item (see sync.engine.plan). Never part of a content hash.
SHAPED = "X-CALSYNC-SHAPED"
SHAPED_HELD = (
    "Held back: both calendars already had this event, and calsync's copy only mirrors part of another "
    "calendar's; each keeps its own."
)


@dataclass(frozen=True)
class Owner:
    """Facts about the integration's owner that filters read: the addresses they answer invitations as, and
    their working hours (weekday, Monday 0 -> (start, end)) on their own clock."""

    emails: frozenset[str] = frozenset()
    hours: Mapping[int, tuple[time, time]] = field(default_factory=dict)
    zone: str = "UTC"


@dataclass(frozen=True)
class Flow:
    """One direction's settings."""

    copy: Copy = Copy.ALL
    private_as_busy: bool = False  # events marked private or confidential always go as "Busy"
    skip_free: bool = False
    skip_declined: bool = False  # events the owner declined
    skip_tentative: bool = False  # tentative events, and invitations the owner answered "maybe"
    skip_all_day: bool = False
    not_before: date | None = None  # skip events that end before this day
    not_after: date | None = None  # skip events that start after this day
    keywords: tuple[str, ...] = ()  # skip events whose title or description holds one of these (any case)
    working_hours_only: bool = False  # skip timed events wholly outside the owner's working hours

    @property
    def shapes(self) -> bool:
        """Copies through this flow may differ from their source (so they are mirrors)."""
        return self.copy is not Copy.ALL or self.private_as_busy

    @property
    def filters(self) -> bool:
        return self != Flow(copy=self.copy, private_as_busy=self.private_as_busy)

    def admit(self, item: Item, owner: Owner) -> str | None:
        """None if the item is copied; else why it is filtered out, in the user's words."""
        master = item.master
        for applies, reason in (
            (self.skip_free and _free(master), "free time"),
            (self.skip_declined and _answered(master, owner, "DECLINED"), "declined"),
            (self.skip_tentative and _tentative(master, owner), "tentative"),
            (self.skip_all_day and _all_day(master), "all-day"),
            (bool(self.keywords) and _matches(master, self.keywords), "matches a keyword"),
            (self.not_before is not None and _ends_before(item, self.not_before, owner), "before the start date"),
            (self.not_after is not None and _starts_after(item, self.not_after, owner), "after the end date"),
            (self.working_hours_only and _outside_hours(master, owner), "outside working hours"),
        ):
            if applies:
                return f"Filtered: {reason}."
        return None

    def shapes_item(self, item: Item) -> bool:
        """This flow's copy of `item` holds back part of it (so the copy is a mirror). Decided per item: "private
        as busy" alone leaves ordinary events whole, and their copies stay plain two-way pairs."""
        return self._copy_of(item) is not Copy.ALL

    def _copy_of(self, item: Item) -> Copy:
        return Copy.BUSY if self.private_as_busy and is_private(item) else self.copy

    def shape(self, item: Item) -> Item:
        """The copy this flow writes of `item` (the item itself when nothing is held back)."""
        copy = self._copy_of(item)
        if copy is Copy.ALL:
            return item
        return Item(master=_shaped(item.master, copy), overrides=tuple(_shaped(o, copy) for o in item.overrides))

    def to_json(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["copy"] = self.copy.value
        values["keywords"] = list(self.keywords)
        for name in ("not_before", "not_after"):
            values[name] = values[name].isoformat() if values[name] else None
        return values

    @classmethod
    def from_json(cls, values: Mapping[str, Any] | None) -> Flow:
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        if "copy" in values:
            values["copy"] = Copy(values["copy"])
        if "keywords" in values:
            values["keywords"] = tuple(k for k in values["keywords"] if k.strip())
        for name in ("not_before", "not_after"):
            if values.get(name):
                values[name] = date.fromisoformat(values[name])
        return cls(**values)


@dataclass(frozen=True)
class Window:
    """The span of time synced: from a day (or from now on) to so many days ahead; None means no bound."""

    start: date | None = None
    from_now: bool = False
    days_ahead: int | None = None

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.from_now or self.days_ahead is not None

    def bounds(self, now: datetime) -> tuple[datetime | None, datetime | None]:
        lower = now if self.from_now else (datetime.combine(self.start, time(), UTC) if self.start else None)
        upper = now + timedelta(days=self.days_ahead) if self.days_ahead is not None else None
        return lower, upper

    def holds(self, item: Item, now: datetime) -> bool:
        """Does the item have any time inside the window? (An item without a time always counts.)"""
        from events.convert import item_span

        if not self.bounded:
            return True
        first, last = item_span(item)
        if first is None:
            return True
        lower, upper = self.bounds(now)
        if upper is not None and first >= upper:
            return False
        return not (lower is not None and last is not None and last <= lower)

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat() if self.start else None, "from_now": self.from_now,
                "days_ahead": self.days_ahead}  # fmt: skip

    @classmethod
    def from_json(cls, values: Mapping[str, Any] | None) -> Window:
        values = values or {}
        start = values.get("start")
        return cls(start=date.fromisoformat(start) if start else None, from_now=bool(values.get("from_now")),
                   days_ahead=values.get("days_ahead"))  # fmt: skip


@dataclass(frozen=True)
class Controls:
    """An integration's controls. Sides are named as sync.engine.Side values: "calsync" and "remote"."""

    into_calsync: Flow = Flow()  # items whose source is the other calendar
    out_of_calsync: Flow = Flow()  # items whose source is calsync
    window: Window = Window()
    conflicts: Conflicts = Conflicts.PRIMARY
    # The other calendar is a personal one: new flows from it default to busy-only, private as busy.
    personal: bool = False
    owner: Owner = Owner()

    @property
    def default(self) -> bool:
        """Everything copied both ways, no window, the primary wins: the engine plans as it always did."""
        return (
            self.into_calsync == Flow()
            and self.out_of_calsync == Flow()
            and not self.window.bounded
            and self.conflicts is Conflicts.PRIMARY
        )

    def flow(self, source: str) -> Flow:
        """The flow that copies items whose source is `source` ("calsync" or "remote")."""
        return self.out_of_calsync if source == "calsync" else self.into_calsync

    def admit(self, source: str, item: Item) -> str | None:
        return self.flow(source).admit(item, self.owner)

    def shape(self, source: str, item: Item) -> Item:
        return self.flow(source).shape(item)

    def in_window(self, item: Item, now: datetime | None = None) -> bool:
        return self.window.holds(item, now or datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        """What Integration.controls stores (the owner's facts are not settings and are not stored)."""
        return {"into_calsync": self.into_calsync.to_json(), "out_of_calsync": self.out_of_calsync.to_json(),
                "window": self.window.to_json(), "conflicts": self.conflicts.value,
                "personal": self.personal}  # fmt: skip

    @classmethod
    def from_json(cls, values: Mapping[str, Any] | None, owner: Owner | None = None) -> Controls:
        values = values or {}
        return cls(
            into_calsync=Flow.from_json(values.get("into_calsync")),
            out_of_calsync=Flow.from_json(values.get("out_of_calsync")),
            window=Window.from_json(values.get("window")),
            conflicts=Conflicts(values.get("conflicts") or Conflicts.PRIMARY),
            personal=bool(values.get("personal")),
            owner=owner or Owner(),
        )


PERSONAL_FLOW = Flow(copy=Copy.BUSY, private_as_busy=True)  # the defaults for a flow out of a personal calendar


# --- the filters -------------------------------------------------------------------------------------------


def _free(master: Component) -> bool:
    return master.transparency.upper() == "TRANSPARENT" or master.busy_status.upper() == "FREE"


def _own_answer(master: Component, owner: Owner) -> str:
    emails = {e.lower() for e in owner.emails}
    for attendee in master.attendees:
        if attendee.email.lower() in emails:
            return attendee.partstat.upper()
    return ""


def _answered(master: Component, owner: Owner, partstat: str) -> bool:
    return _own_answer(master, owner) == partstat


def _tentative(master: Component, owner: Owner) -> bool:
    return (
        master.status.upper() == "TENTATIVE"
        or master.busy_status.upper() == "TENTATIVE"
        or _answered(master, owner, "TENTATIVE")
    )


def _all_day(master: Component) -> bool:
    return master.start is not None and not isinstance(master.start, datetime)


def _matches(master: Component, keywords: tuple[str, ...]) -> bool:
    text = f"{master.summary}\n{master.description}".casefold()
    return any(k.strip().casefold() in text for k in keywords if k.strip())


_EARLIEST, _LATEST = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)


def _midnight(day: date, owner: Owner) -> datetime:
    """The day's start on the owner's clock, in UTC; the calendar's first and last days saturate at its ends
    (their midnight may lie outside what datetime holds once moved to UTC)."""
    try:
        return datetime.combine(day, time(), ZoneInfo(owner.zone)).astimezone(UTC)
    except OverflowError:
        return _EARLIEST if day.year == MINYEAR else _LATEST


def _ends_before(item: Item, day: date, owner: Owner) -> bool:
    from events.convert import item_span

    _, last = item_span(item)
    return last is not None and last <= _midnight(day, owner)


def _starts_after(item: Item, day: date, owner: Owner) -> bool:
    from events.convert import item_span

    first, _ = item_span(item)
    following = _LATEST if day == date.max else _midnight(day + timedelta(days=1), owner)
    return first is not None and first >= following


def _outside_hours(master: Component, owner: Owner) -> bool:
    """A timed event whose first occurrence does not touch the owner's working hours that day (a series is judged
    by its first occurrence). All-day events are days, not hours: never outside them."""
    if not isinstance(master.start, datetime) or not isinstance(master.end, datetime) or not owner.hours:
        return False
    from scheduling.selectors import working_intervals

    start, end = master.start.astimezone(UTC), master.end.astimezone(UTC)
    if end <= start:
        end = start + timedelta(minutes=1)
    return not working_intervals(dict(owner.hours), owner.zone, start, end)


# --- the shapes -------------------------------------------------------------------------------------------


# What a shaped copy keeps of each component. Its CLASS too: a private event's "Busy" copy is private where it goes,
# and its log lines (sync.store) stay private by the copy, even once the source is gone.
_TRAVELS = ("kind", "uid", "recurrence_id", "start", "end", "end_as_duration", "due", "status", "transparency",
            "busy_status", "visibility", "rrule", "rdates", "exdates")  # fmt: skip


def _shaped(component: Component, copy: Copy) -> Component:
    """The component as `copy` lets it travel: its time, recurrence and free/busy always; its title for TITLE."""
    kept = {name: getattr(component, name) for name in _TRAVELS}
    summary = component.summary if copy is Copy.TITLE else BUSY_TITLE
    return replace(Component(), **kept, summary=summary, extra_properties=((SHAPED, (), copy.value),))


def is_shaped(item: Item) -> bool:
    """The item is (or was read back from) a shaped copy some integration wrote."""
    return any(name.upper() == SHAPED for name, _, _ in item.master.extra_properties)
