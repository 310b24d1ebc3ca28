"""Changing a recurring series from one of its occurrences: this one, this and following, or all of them.

"This and following" ends the series before the occurrence (an UNTIL on the old rule, RFC 5545 3.3.10: UTC for
a timed DTSTART, a DATE for an all-day one, floating for floating time) and starts a new series with a new UID
from it, carrying the RDATEs, EXDATEs and changed occurrences that fall after the cut, and the rest of a COUNT.
Both halves are written in one transaction (events.services.items_save_together), so CalDAV, feeds and every
sync see the split at once. The pure halves (`split_series`, `series_moved`) take and return `Item`s only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import icalendar
from django.conf import settings
from django.db import transaction

from accounts.models import User
from accounts.tenancy import Scope
from meetings import rules as meeting_rules
from meetings.models import Meeting

from . import services
from .convert import item_from_event, occurrence_value
from .ical import UTC, Component, ICalError, Item, Temporal, as_utc
from .models import Calendar, Event
from .recurrence import Budget, duration, occurrences, rule_starts

ChangeScope = Literal["this", "following", "all"]
SCOPES: tuple[ChangeScope, ...] = ("this", "following", "all")
# Names callers may use for a change, and the component field each one sets.
_ALIASES = {"title": "summary"}
_CHANGEABLE = frozenset({
    "summary", "description", "location", "start", "end", "status", "transparency", "visibility", "busy_status",
    "attendees", "alarms", "client", "project", "activity_type", "categories", "url",
})  # fmt: skip
_DAY_PARTS = ("BYMONTH", "BYYEARDAY", "BYWEEKNO", "BYSETPOS")
_TIME_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


class SeriesChangeRefused(ICalError):
    """The change cannot be made to this series as asked; the message says why, for the user."""


def occurrence_change(
    *,
    user: User,
    master: Event,
    recurrence_id: Temporal,
    changes: dict[str, Any],
    scope: ChangeScope,
    if_match: int | None,
) -> services.SaveResult:
    """Change one occurrence of `master`'s series, it and the ones after it, or the whole series.

    `recurrence_id` is the occurrence's original start (a UTC instant will do); `changes` may hold start and end
    (aware datetimes, or dates with all_day), all_day, title (or any component field) and calendar_id (one of
    the user's editable calendars). Raises services.PreconditionFailed when the series is no longer at version
    `if_match`, SeriesChangeRefused (an ICalError) when the change cannot be made, and meetings' OwnerOnlyEdit
    when a colleague's copy of a meeting would change what only its owner may.
    """
    if scope not in SCOPES:
        raise SeriesChangeRefused("Choose this occurrence, this and following, or all occurrences.")
    master = master.parent or master
    if not master.is_recurring:
        raise SeriesChangeRefused("This event does not repeat.")
    if if_match is not None and if_match != master.seq:
        raise services.PreconditionFailed("The series was changed since you last read it.")
    item = item_from_event(master)
    rid = occurrence_value(master, as_utc(recurrence_id))
    current = _occurrence_at(item, rid)
    target = _target_calendar(user, master, changes.get("calendar_id"))
    fields = _fields(changes, current, item.master, user, own_zone=scope == "this")
    version = master.seq if if_match is None else if_match
    if scope == "this":
        if target.pk != master.calendar_id:
            raise SeriesChangeRefused("One occurrence cannot move to another calendar; move the whole series.")
        return services.occurrence_update(master=master, recurrence_id=rid, changes=fields, if_match=version)
    head, tail = split_series(item, rid, services.new_uid(), _split_budget()) if scope == "following" else (None, item)
    if head is None:  # the whole series (or the cut at its first occurrence): one item changes
        return _save_all(master, target, series_moved(item, rid, fields, current), version)
    _refuse_colleagues_split(master)
    return _save_split(master, target, head, series_moved(tail, rid, fields, current), version)


# --- reading the request -------------------------------------------------------------------------------------


def _occurrence_at(item: Item, rid: Temporal) -> Component:
    """The occurrence as it is now (its override, or the series' own values at that start); refused if the
    series has no such occurrence (never generated, removed with an EXDATE)."""
    moment = as_utc(rid)
    for override in item.overrides:
        if override.recurrence_id is not None and as_utc(override.recurrence_id) == moment:
            return override
    budget = Budget.for_request()
    for found in occurrences(item, start=moment, end=moment + timedelta(seconds=1), budget=budget):
        if found.recurrence_id is not None and as_utc(found.recurrence_id) == moment:
            return replace(item.master, start=found.start, end=found.end if item.master.end else None)
    raise SeriesChangeRefused("The series has no occurrence at that time (it may have been removed or moved).")


def _target_calendar(user: User, master: Event, calendar_id: object) -> Calendar:
    if calendar_id in (None, "", master.calendar_id):
        return master.calendar
    try:
        return Scope(user).editable_calendars().get(pk=int(calendar_id))  # type: ignore[call-overload]
    except (Calendar.DoesNotExist, TypeError, ValueError):
        raise SeriesChangeRefused("You cannot add events to that calendar.") from None


def _fields(
    changes: dict[str, Any], current: Component, master: Component, user: User, own_zone: bool
) -> dict[str, Any]:
    """The component fields that change, in the series' own terms (one occurrence, `own_zone`, may keep the zone
    it was given in); values equal to the occurrence's are left out, so a form posting every field back changes
    only what the person changed."""
    wanted = {_ALIASES.get(k, k): v for k, v in changes.items() if k not in ("calendar_id", "all_day")}
    unknown = set(wanted) - _CHANGEABLE
    if unknown:
        raise SeriesChangeRefused(f"These cannot be changed here: {', '.join(sorted(unknown))}.")
    all_day = changes.get("all_day", not isinstance(current.start, datetime))
    if all_day != (not isinstance(current.start, datetime)) and "start" not in wanted:
        raise SeriesChangeRefused("Give a start when changing between all day and timed.")
    for key in ("start", "end"):
        if key in wanted:
            value = wanted[key]
            kept = own_zone and isinstance(value, datetime) and value.tzinfo is not None and not all_day
            wanted[key] = value if kept else _in_form(value, bool(all_day), master.start, user)
    if "start" in wanted and "end" in wanted and as_utc(wanted["end"]) < as_utc(wanted["start"]):
        raise SeriesChangeRefused("The end must not be before the start.")
    changed = {k: v for k, v in wanted.items() if not _same(getattr(current, k), v)}
    if "start" in changed and "end" in wanted:
        changed["end"] = wanted["end"]  # a new start with the same end is a shorter occurrence, not a moved one
    return changed


def _same(old: object, new: object) -> bool:
    if isinstance(old, date) and isinstance(new, date):
        return type(old) is type(new) and as_utc(old) == as_utc(new) and _zone(old) == _zone(new)
    return old == new


def _zone(value: Temporal) -> object:
    return getattr(value, "tzinfo", None)


def _in_form(value: object, all_day: bool, series_start: Temporal | None, user: User) -> Temporal:
    """A start or end as the series keeps its times: a date all day, else in the series' zone (floating time
    stays floating, read on the person's clock)."""
    user_zone = ZoneInfo(user.timezone)
    if all_day:
        if isinstance(value, datetime):
            return (value.astimezone(user_zone) if value.tzinfo else value).date()
        if isinstance(value, date):
            return value
        raise SeriesChangeRefused("A start or end must be a date or a date and time.")
    if not isinstance(value, datetime):
        raise SeriesChangeRefused("A timed start or end needs a time.")
    if isinstance(series_start, datetime) and series_start.tzinfo is None:
        return value.astimezone(user_zone).replace(tzinfo=None) if value.tzinfo else value
    zone = series_start.tzinfo if isinstance(series_start, datetime) else (value.tzinfo or user_zone)
    return value.astimezone(zone) if value.tzinfo else value.replace(tzinfo=zone)


def _split_budget() -> Budget:
    """Counting a COUNT's occurrences before the cut may take up to ICAL_MAX_INSTANCES rule steps, and more
    where day filters skip days; still bounded."""
    steps = max(settings.RECURRENCE_MAX_STEPS, 20 * settings.ICAL_MAX_INSTANCES)
    return Budget(max_occurrences=steps, max_steps=steps, seconds=max(settings.RECURRENCE_TIME_BUDGET, 2.0))


# --- writing ----------------------------------------------------------------------------------------------------


def _save_all(master: Event, target: Calendar, item: Item, version: int) -> services.SaveResult:
    if target.pk == master.calendar_id:
        return services.item_save(calendar=target, item=item, name=master.name, if_match=version)
    if master.attendees and meeting_rules.meeting_of(master.calendar, master.uid) is not None:
        # Deleting it here would cancel the meeting for everyone (meetings.rules.before_delete).
        raise SeriesChangeRefused("A meeting stays in the calendar it was made in; change this and following instead.")
    return services.item_move(event=master, calendar=target, item=item, if_match=version)


def _save_split(master: Event, target: Calendar, head: Item, tail: Item, version: int) -> services.SaveResult:
    with transaction.atomic():  # the new series' meeting row commits with it
        results = services.items_save_together(
            saves=[
                services.ItemSave(calendar=master.calendar, item=head, name=master.name, if_match=version),
                services.ItemSave(calendar=target, item=tail, if_none_match=True),
            ]
        )
        _follow_meeting(master, target, tail)
    return results[1]


def _refuse_colleagues_split(master: Event) -> None:
    """Only a meeting's owner splits it: the end of the series is theirs, as its start and title are."""
    if not master.attendees:
        return
    meeting = meeting_rules.meeting_of(master.calendar, master.uid)
    if meeting is not None and master.calendar.owner_id != meeting.owner_id:
        raise meeting_rules.OwnerOnlyEdit(meeting_rules.refusal(meeting.owner.display_name, meeting.owner.email))


def _follow_meeting(master: Event, target: Calendar, tail: Item) -> None:
    """The new series of the owner's meeting is a meeting too: its colleagues get copies and an invitation."""
    if not tail.master.attendees:
        return
    meeting = meeting_rules.meeting_of(master.calendar, master.uid)
    if meeting is None or target.owner_id != meeting.owner_id:
        return
    new = Meeting.objects.create(tenant_id=meeting.tenant_id, owner_id=meeting.owner_id, calendar=target, uid=tail.uid)
    meeting_rules.after_write(new, target)


# --- the pure halves -------------------------------------------------------------------------------------------


def split_series(item: Item, recurrence_id: Temporal, new_uid: str, budget: Budget) -> tuple[Item | None, Item]:
    """The series cut before the occurrence `recurrence_id`: (what stays, a new series with `new_uid` from that
    occurrence on). The first half is None when nothing comes before the cut. Together they have exactly the
    occurrences the series had."""
    master = item.master
    assert master.start is not None
    cut = as_utc(recurrence_id)
    last, counted, first, live = _around(master, cut, budget)
    excluded = {as_utc(v) for v in master.exdates}
    listed = sorted({as_utc(v): v for v in (*master.rdates, master.start)}.values(), key=as_utc)
    listed_before = [v for v in listed if as_utc(v) < cut and as_utc(v) not in excluded]
    listed_after = [v for v in listed if as_utc(v) >= cut and as_utc(v) not in excluded]
    if not (live or listed_before):
        return None, item  # nothing occurs before the cut: the whole series changes
    if first is None and not listed_after:
        raise SeriesChangeRefused("The series has no occurrence at that time (it may have been removed or moved).")
    head = Item(
        master=_head_master(master, cut, last, listed_before),
        overrides=tuple(o for o in item.overrides if as_utc(o.recurrence_id) < cut),  # type: ignore[arg-type]
    )
    tail = Item(
        master=_tail_master(master, first, counted, listed_after, new_uid),
        overrides=tuple(replace(o, uid=new_uid) for o in item.overrides if as_utc(o.recurrence_id) >= cut),  # type: ignore[arg-type]
    )
    return _single_if_alone(head), _single_if_alone(tail)


def _around(master: Component, cut: datetime, budget: Budget) -> tuple[Temporal | None, int, Temporal | None, bool]:
    """(last rule start before the cut, how many rule starts come before the first one kept, the first rule start
    at or after the cut that no EXDATE removes, whether a rule start before the cut is not removed). The new
    series starts at that first start, so it begins with an occurrence."""
    excluded = {as_utc(v) for v in master.exdates}
    last, counted, first, live = None, 0, None, False
    for value in rule_starts(master, budget=budget):
        moment = as_utc(value)
        if moment >= cut and moment not in excluded:
            first = value
            break
        counted += 1
        if moment < cut:
            last, live = value, live or moment not in excluded
    if budget.truncated:
        raise SeriesChangeRefused("This series repeats too often to be split here; change all of it instead.")
    return last, counted, first, live


def _single_if_alone(head: Item) -> Item:
    """A head left with DTSTART alone is a single event: a change made to that occurrence becomes the event."""
    master = head.master
    if master.rrule or master.rdates:
        return head
    assert master.start is not None
    own = next((o for o in head.overrides if as_utc(o.recurrence_id) == as_utc(master.start)), None)  # type: ignore[arg-type]
    single = replace(own, recurrence_id=None) if own is not None else master
    return Item(master=replace(single, rrule="", rdates=(), exdates=()))


def _head_master(master: Component, cut: datetime, last: Temporal | None, listed: list[Temporal]) -> Component:
    """The old series up to the cut: its rule ends with UNTIL at the last start before the cut."""
    assert master.start is not None
    if as_utc(master.start) < cut:
        rule = _ruled(master.rrule, until=last) if last is not None else ""
        return replace(master, rrule=rule, rdates=_before(master.rdates, cut), exdates=_before(master.exdates, cut))
    # DTSTART is after the cut (an RDATE came before it): the RDATEs before the cut are all that stays.
    return _restarted(master, listed[0], "", tuple(listed[1:]), ())


def _tail_master(
    master: Component, first: Temporal | None, counted: int, listed: list[Temporal], uid: str
) -> Component:
    """The new series from the cut: from the first rule start kept (the rest of a COUNT), with the dates listed
    after the cut (RDATEs, and DTSTART if the rule does not give it) as RDATEs."""
    if first is None:  # the rule has nothing left: the new series is the dates listed from the cut
        return _restarted(master, listed[0], "", tuple(listed[1:]), (), uid)
    rdates = tuple(v for v in listed if as_utc(v) != as_utc(first))
    exdates = tuple(v for v in master.exdates if as_utc(v) > as_utc(first))
    return _restarted(master, first, _ruled(master.rrule, counted=counted), rdates, exdates, uid)


def _restarted(
    master: Component, start: Temporal, rule: str, rdates: tuple[Temporal, ...], exdates: tuple[Temporal, ...],
    uid: str | None = None,
) -> Component:  # fmt: skip
    end = _plus(start, duration(master)) if master.end is not None else None
    if end is not None and isinstance(master.end, datetime) and master.end.tzinfo is not None:
        end = end.astimezone(master.end.tzinfo)  # type: ignore[union-attr]
    return replace(master, uid=uid or master.uid, start=start, end=end, rrule=rule, rdates=rdates, exdates=exdates)


def _before(values: tuple[Temporal, ...], cut: datetime) -> tuple[Temporal, ...]:
    return tuple(v for v in values if as_utc(v) < cut)


def _parts(rule: str) -> list[tuple[str, str]]:
    return [(k.upper(), v) for k, _, v in (p.partition("=") for p in rule.split(";") if p)]


def _joined(parts: list[tuple[str, str]]) -> str:
    """In the order icalendar writes a rule back, so the stored text is what a round trip gives."""
    return icalendar.vRecur.from_ical(";".join(f"{k}={v}" for k, v in parts)).to_ical().decode()


def _ruled(rule: str, *, until: Temporal | None = None, counted: int = 0) -> str:
    """The rule ending at `until` (COUNT dropped), or with `counted` occurrences of its COUNT taken away."""
    parts = _parts(rule)
    if until is not None:
        parts = [(k, v) for k, v in parts if k not in ("COUNT", "UNTIL")]
        return _joined([*parts, ("UNTIL", until_text(until))])
    return _joined([(k, str(int(v) - counted) if k == "COUNT" else v) for k, v in parts])


def until_text(value: Temporal) -> str:
    """UNTIL in the form RFC 5545 3.3.10 requires with a DTSTART like `value`: a DATE for a date, UTC for a
    zoned time, local time for floating time."""
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if value.tzinfo is None:
        return value.strftime("%Y%m%dT%H%M%S")
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _plus(value: Temporal, length: timedelta) -> Temporal:
    """value + length as exact time in the value's own zone (RFC 5545 3.8.5.3); whole days for dates."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return (value.astimezone(UTC) + length).astimezone(value.tzinfo)
    if not isinstance(value, datetime):
        return value + timedelta(days=length.days)
    return value + length


# --- moving a whole series ---------------------------------------------------------------------------------------


def series_moved(item: Item, reference: Temporal, changes: dict[str, Any], current: Component) -> Item:
    """The series with `changes` made to its occurrence `reference` (whose present state is `current`) and so to
    every occurrence: a new start moves them all by as much, a new end gives them all the new length, and other
    fields change on the series and on each changed occurrence that still had the series' value."""
    master = item.master
    assert master.start is not None
    target = changes.get("start", reference)
    move = mover(reference, target)
    length = _length(master, current, changes, reference, target)
    start = move(master.start)
    others = {k: v for k, v in changes.items() if k not in ("start", "end")}
    new_master = replace(
        master,
        **others,
        start=start,
        end=_end(master, start, length),
        rrule=_moved_rule(master.rrule, move, reference),
        rdates=tuple(move(v) for v in master.rdates),
        exdates=tuple(move(v) for v in master.exdates),
    )
    overrides = tuple(
        _moved_override(o, master, changes, move, length, as_utc(o.recurrence_id) == as_utc(reference))  # type: ignore[arg-type]
        for o in item.overrides
    )
    return Item(master=new_master, overrides=overrides)


def mover(reference: Temporal, target: Temporal) -> Callable[[Temporal], Temporal]:
    """Maps each value of the series (in `reference`'s form) to where it goes when `reference` goes to
    `target`: by the same wall-clock shift, into `target`'s form (date, floating or zoned)."""
    if isinstance(target, datetime):
        if isinstance(reference, datetime):
            shift = target.replace(tzinfo=None) - _wall(reference, reference)
            return lambda v: (_wall(v, reference) + shift).replace(tzinfo=target.tzinfo)
        days = target.date() - reference
        return lambda v: datetime.combine(_day(v, reference) + days, target.time(), tzinfo=target.tzinfo)
    shift_days = target - _day(reference, reference)
    return lambda v: _day(v, reference) + shift_days


def _wall(value: Temporal, reference: Temporal) -> datetime:
    """The value's wall-clock time in the reference's zone."""
    if not isinstance(value, datetime):
        return datetime.combine(value, datetime.min.time())
    if value.tzinfo is not None and isinstance(reference, datetime) and reference.tzinfo is not None:
        value = value.astimezone(reference.tzinfo)
    return value.replace(tzinfo=None)


def _day(value: Temporal, reference: Temporal) -> date:
    return _wall(value, reference).date() if isinstance(value, datetime) else value


def _length(
    master: Component, current: Component, changes: dict[str, Any], ref: Temporal, target: Temporal
) -> timedelta:
    if "end" in changes:
        return as_utc(changes["end"]) - as_utc(changes.get("start", current.start))
    if isinstance(ref, datetime) != isinstance(target, datetime):  # all day <-> timed: a day, or an hour
        return timedelta(hours=1) if isinstance(target, datetime) else timedelta(days=1)
    return duration(master)


def _end(master: Component, start: Temporal, length: timedelta) -> Temporal | None:
    if master.end is None and isinstance(start, type(master.start)) and length == duration(master):
        return None
    end = _plus(start, length)
    same_form = isinstance(start, datetime) and isinstance(master.end, datetime) and start.tzinfo is not None
    if same_form and master.end.tzinfo is not None and master.end.tzinfo != start.tzinfo:  # type: ignore[union-attr]
        return end.astimezone(master.end.tzinfo)  # type: ignore[union-attr]
    return end


def _moved_override(
    override: Component, master: Component, changes: dict[str, Any], move: Callable[[Temporal], Temporal],
    length: timedelta, is_reference: bool,
) -> Component:  # fmt: skip
    """An override follows the series where it still had the series' values (its time, if it was not moved)."""
    assert override.recurrence_id is not None
    rid = move(override.recurrence_id)
    fields = {k: v for k, v in changes.items() if k not in ("start", "end")}
    if not is_reference:
        fields = {k: v for k, v in fields.items() if getattr(override, k) == getattr(master, k)}
    unmoved = override.start is not None and as_utc(override.start) == as_utc(override.recurrence_id)
    if is_reference and ("start" in changes or "end" in changes):
        start = changes.get("start", override.start)
        end = changes.get("end") or _plus(start, length)
        return replace(override, **fields, recurrence_id=rid, start=start, end=end)
    if unmoved and duration(override) == duration(master):
        return replace(override, **fields, recurrence_id=rid, start=rid, end=_end(override, rid, length))
    return replace(override, **fields, recurrence_id=rid)


def _moved_rule(rule: str, move: Callable[[Temporal], Temporal], reference: Temporal) -> str:
    """The rule for the moved series: UNTIL moved (and put in the new form), day filters moved by as many days
    where that keeps their meaning; refused where it does not (the 2nd Monday is not "the 2nd Monday plus one")."""
    if not rule:
        return rule
    target = move(reference)
    days = (_day(target, target) - _day(reference, reference)).days
    time_moved = (
        isinstance(target, datetime)
        and isinstance(reference, datetime)
        and (target.replace(tzinfo=None).time() != _wall(reference, reference).time())
    )
    parts = _parts(rule)
    names = {k for k, _ in parts}
    if not isinstance(target, datetime) and dict(parts)["FREQ"] in ("HOURLY", "MINUTELY", "SECONDLY"):
        raise SeriesChangeRefused("A series that repeats within a day cannot become all day.")
    if (time_moved or isinstance(target, datetime) != isinstance(reference, datetime)) and names & set(_TIME_PARTS):
        raise _cannot_move()
    fields = dict(parts)
    if days and int(fields.get("INTERVAL", "1")) > 1 and len(fields.get("BYDAY", "").split(",")) > 1:
        raise _cannot_move()  # days moved across a week's edge would land in weeks the INTERVAL skips
    return _joined([(k, _moved_part(k, v, days, move, reference)) for k, v in parts])


def _moved_part(name: str, value: str, days: int, move: Callable[[Temporal], Temporal], reference: Temporal) -> str:
    if name == "UNTIL":
        return until_text(move(_until_value(value, reference)))
    if not days:
        return value
    if name in _DAY_PARTS:
        raise _cannot_move()
    if name == "BYDAY":
        if any(not d.isalpha() for d in value.split(",")):
            raise _cannot_move()  # "2MO" + 1 day is not "2TU"
        return ",".join(_WEEKDAYS[(_WEEKDAYS.index(d.upper()) + days) % 7] for d in value.split(","))
    if name == "BYMONTHDAY":
        given = [int(v) for v in value.split(",")]
        moved = [v + days for v in given]
        # Every month has days 1-28 (and -28..-1): past them a moved day would skip short months.
        if any(not (1 <= m <= 28 or -28 <= m <= -1) or (m > 0) != (v > 0) for m, v in zip(moved, given, strict=True)):
            raise _cannot_move()
        return ",".join(str(m) for m in moved)
    return value


def _until_value(text: str, reference: Temporal) -> Temporal:

    value = icalendar.vDDDTypes.from_ical(text)
    if isinstance(reference, datetime) and reference.tzinfo is not None and isinstance(value, datetime):
        return value.astimezone(reference.tzinfo) if value.tzinfo else value.replace(tzinfo=reference.tzinfo)
    return value  # type: ignore[no-any-return]


def _cannot_move() -> SeriesChangeRefused:
    return SeriesChangeRefused(
        "Every occurrence of this series cannot move by that much with its repeat rule; change the rule on the "
        "series' edit page, or move just this occurrence."
    )
