"""Hypothesis strategies for valid calsync `Item`s (see events.ical).

Every generated value is in the form the parser reads back: RRULE parts in
icalendar's canonical order, escaped raw values for unknown properties, wall
times that exist exactly once in their zone, and so on.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta

import icalendar
from hypothesis import strategies as st

from events.ical import UTC, Alarm, Attendee, Component, Item, Person, Temporal, as_utc

ZONES = (
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
    "America/St_Johns",
    "Asia/Kolkata",
    "Europe/London",
    "America/New_York",
    "Europe/Berlin",
)
FORMS = ("date", "floating", "utc", "zoned", "zoned")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MIN_DAY = date(1971, 1, 1)
MAX_DAY = date(2036, 6, 30)  # leaves room for durations and series before 2038

# Printable unicode, with the characters iCalendar text has to escape mixed in often.
_SPECIAL = st.sampled_from([",", ";", "\\", "\n", ":", '"', "'", "^", " ", "\\n", "é", "日本", "🎉"])
_PIECES = st.one_of(_SPECIAL, st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=6))
text = st.lists(_PIECES, max_size=6).map("".join)
non_empty_text = st.lists(_PIECES, min_size=1, max_size=4).map("".join)
# Parameter values cannot hold control characters other than a newline (RFC 6868 ^n). Backslashes
# are left out: RFC 5545 gives them no meaning in parameters, but icalendar's reader treats "\\;",
# "\\," and a trailing backslash as escapes and drops them (a library limitation, not ours).
param_text = st.lists(_PIECES.map(lambda p: p.replace("\\", "/")), max_size=4).map("".join)
word = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
email = st.builds("{}@{}.test".format, word, word)


def zone_key(value: Temporal | None) -> str | None:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.tzinfo.key  # type: ignore[attr-defined]
    return None


def is_unambiguous(wall: datetime, zone: zoneinfo.ZoneInfo) -> bool:
    """True when `wall` exists exactly once in `zone` (not in a DST gap or fold)."""
    early, late = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    back = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return early.utcoffset() == late.utcoffset() and back == wall.replace(tzinfo=None)


def in_form(wall: datetime, form: str, zone: str) -> Temporal | None:
    """`wall` in the given form, or None when that wall time does not exist once there."""
    if form == "date":
        return wall.date()
    if form == "floating":
        return wall
    tz = UTC if form == "utc" else zoneinfo.ZoneInfo(zone)
    return wall.replace(tzinfo=tz) if is_unambiguous(wall, tz) else None


def shift(value: Temporal, days: int = 0, minutes: int = 0) -> Temporal | None:
    """`value` moved by wall-clock days/minutes in its own form; None when that lands on a DST edge."""
    if not isinstance(value, datetime):
        return value + timedelta(days=days)
    wall = value.replace(tzinfo=None) + timedelta(days=days, minutes=minutes)
    if value.tzinfo is None:
        return wall
    return wall.replace(tzinfo=value.tzinfo) if is_unambiguous(wall, value.tzinfo) else None  # type: ignore[arg-type]


walls = st.builds(
    datetime.combine,
    st.dates(MIN_DAY, MAX_DAY),
    st.times().map(lambda t: t.replace(microsecond=0, second=t.second if t.second % 7 == 0 else 0)),
)
forms = st.sampled_from(FORMS)
zones = st.sampled_from(ZONES)


@st.composite
def starts(draw: st.DrawFn, form: str | None = None, zone: str | None = None) -> Temporal:
    form = form or draw(forms)
    zone = zone or draw(zones)
    wall = draw(walls)
    value = in_form(wall, form, zone)
    if value is None:  # a DST gap or fold: noon of that day exists once in every zone used here
        value = in_form(wall.replace(hour=12, minute=0, second=0), form, zone)
    assert value is not None
    return value


@st.composite
def end_after(draw: st.DrawFn, start: Temporal) -> Temporal:
    """An end in the same form as `start`, never before it; timed ends may use another zone."""
    if not isinstance(start, datetime):
        return start + timedelta(days=draw(st.integers(0, 5)))
    minutes = draw(st.sampled_from([0, 15, 30, 60, 90, 24 * 60 + 30]) | st.integers(0, 3 * 24 * 60))
    end = shift(start, minutes=minutes)
    if end is None or as_utc(end) < as_utc(start):
        end = start
    if start.tzinfo is not None and draw(st.integers(0, 9)) == 0:
        zone = zoneinfo.ZoneInfo(draw(zones))
        end = end.astimezone(zone)
        if not is_unambiguous(end.replace(tzinfo=None), zone):
            end = start
    return end


def _until_text(value: Temporal) -> str:
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if value.tzinfo is None:
        return value.strftime("%Y%m%dT%H%M%S")
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@st.composite
def rrules(draw: st.DrawFn, start: Temporal) -> str:
    """FREQ, then UNTIL/COUNT, INTERVAL and BYDAY: the order icalendar writes them in."""
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY"]))
    parts = [f"FREQ={freq}"]
    bound = draw(st.sampled_from(["count", "until", "none"]))
    if bound == "count":
        parts.append(f"COUNT={draw(st.integers(1, 30))}")
    elif bound == "until":
        parts.append(f"UNTIL={_until_text(shift(start, days=draw(st.integers(0, 400))) or start)}")
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 4))}")
    if freq == "WEEKLY" and draw(st.booleans()):
        days = draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1))
        parts.append("BYDAY=" + ",".join(d for d in WEEKDAYS if d in days))
    return ";".join(parts)


@st.composite
def same_form_values(draw: st.DrawFn, start: Temporal, max_size: int = 3) -> tuple[Temporal, ...]:
    """RDATE/EXDATE values: whole days away from `start`, in its form and zone."""
    offsets = draw(st.lists(st.integers(-30, 400).filter(bool), max_size=max_size, unique=True))
    return tuple(v for v in (shift(start, days=d) for d in offsets) if v is not None)


attendees = st.builds(
    Attendee,
    email=email,
    name=param_text,
    partstat=st.sampled_from(["NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED"]),
    role=st.sampled_from(["REQ-PARTICIPANT", "OPT-PARTICIPANT", "NON-PARTICIPANT", "CHAIR"]),
    rsvp=st.booleans(),
)
people = st.builds(Person, email=email, name=param_text)

_X_NAMES = st.builds("X-{}".format, st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=8)).filter(
    lambda n: not n.startswith(("X-CALSYNC-", "X-WR-")) and not n.endswith("-")
)
_X_PARAM_NAMES = st.builds("X-{}".format, st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=6))
# icalendar's lenient reader strips blanks around an unquoted value, and only CN gets quoted for them.
_param_values = param_text.map(str.strip)


def _escaped(value: str) -> str:
    return icalendar.vText(value).to_ical().decode()


@st.composite
def extra_properties(draw: st.DrawFn, max_size: int = 3) -> tuple[tuple[str, tuple[tuple[str, str], ...], str], ...]:
    """Unknown X- properties: (name, sorted params, escaped raw value), one per name, by name as written."""
    names = sorted(draw(st.lists(_X_NAMES, max_size=max_size, unique=True)))
    result = []
    for name in names:
        params = draw(st.dictionaries(_X_PARAM_NAMES, _param_values, max_size=2))
        result.append((name, tuple(sorted(params.items())), _escaped(draw(text))))
    return tuple(result)


# In the form icalendar writes them back (it spells "PT0S" as "P0D" and "-P1W" as "-P7D").
_TRIGGERS = ["-PT15M", "-PT5M", "-PT1H", "-PT1H30M", "-P1D", "-P1DT12H", "P0D", "PT10M", "-P7D"]


@st.composite
def alarms(draw: st.DrawFn) -> Alarm:
    if draw(st.booleans()):
        absolute = draw(st.datetimes(datetime(1971, 1, 1), datetime(2037, 12, 31)))
        trigger, related_end = absolute.strftime("%Y%m%dT%H%M%SZ"), False
    else:
        trigger, related_end = draw(st.sampled_from(_TRIGGERS)), draw(st.booleans())
    # RFC 5545 3.6.6: a DISPLAY alarm must have a DESCRIPTION, an AUDIO alarm need not.
    action = draw(st.sampled_from(["DISPLAY", "AUDIO"]))
    description = draw(non_empty_text) if action == "DISPLAY" else ""
    extra = draw(extra_properties(max_size=1))
    return Alarm(
        trigger=trigger, action=action, description=description, related_end=related_end, extra_properties=extra
    )


def _sub_component(name: str, props: dict[str, str]) -> str:
    sub = icalendar.Component()
    sub.name = name
    for key, value in props.items():
        sub.add(key, value)
    return sub.to_ical().decode()


extra_components = st.lists(
    st.sampled_from(
        [
            _sub_component("X-FOO", {"X-BAR": "1"}),
            _sub_component("VLOCATION", {"UID": "loc-1", "NAME": "Room, 1"}),
            _sub_component("X-THING", {"X-A": "a;b", "X-B": "ü"}),
        ]
    ),
    max_size=2,
    unique=True,
).map(tuple)

urls = st.sampled_from(["", "https://example.test/", "https://example.test/a?b=1&c=2", "mailto:x@example.test"])
categories = st.lists(non_empty_text, max_size=3).map(tuple)


def _common(draw: st.DrawFn) -> dict:
    return {
        "summary": draw(text),
        "description": draw(text),
        "location": draw(text),
        "organizer": draw(st.none() | people),
        "attendees": tuple(draw(st.lists(attendees, max_size=3))),
        "alarms": tuple(draw(st.lists(alarms(), max_size=2))),
        "categories": draw(categories),
        "url": draw(urls),
        "sequence": draw(st.integers(0, 1000)),
        "client": draw(text),
        "project": draw(text),
        "activity_type": draw(text),
        "extra_properties": draw(extra_properties()),
        "extra_components": draw(extra_components),
    }


uids = st.builds("{}@calsync.test".format, word)


@st.composite
def overrides(draw: st.DrawFn, master: Component) -> tuple[Component, ...]:
    """Moved, renamed or cancelled occurrences; RECURRENCE-IDs in the master's form and zone."""
    assert master.start is not None
    days = draw(st.lists(st.integers(0, 60), max_size=3, unique=True))
    result = []
    for day in days:
        recurrence_id = shift(master.start, days=day)
        if recurrence_id is None:
            continue
        start = shift(recurrence_id, days=draw(st.integers(-3, 100)), minutes=draw(st.integers(-600, 600)))
        if start is None:
            continue
        end = draw(end_after(start)) if master.end is not None else None
        result.append(
            Component(
                uid=master.uid,
                recurrence_id=recurrence_id,
                start=start,
                end=end,
                summary=draw(text),
                status=draw(st.sampled_from(["", "CONFIRMED", "CANCELLED"])),
                sequence=draw(st.integers(0, 5)),
                attendees=master.attendees,
                organizer=master.organizer,
                extra_properties=draw(extra_properties(max_size=1)),
            )
        )
    result.sort(key=lambda c: as_utc(c.recurrence_id))
    return tuple(result)


@st.composite
def event_items(draw: st.DrawFn, uid: str | None = None, form: str | None = None) -> Item:
    start = draw(starts(form=form))
    end = draw(st.none() | end_after(start))
    recurring = draw(st.booleans())
    master = Component(
        kind="VEVENT",
        uid=uid or draw(uids),
        start=start,
        end=end,
        status=draw(st.sampled_from(["", "CONFIRMED", "TENTATIVE", "CANCELLED"])),
        transparency=draw(st.sampled_from(["", "TRANSPARENT"])),
        visibility=draw(st.sampled_from(["", "PRIVATE", "CONFIDENTIAL"])),
        rrule=draw(rrules(start)) if recurring else "",
        rdates=draw(same_form_values(start)) if recurring else (),
        exdates=draw(same_form_values(start)) if recurring else (),
        **_common(draw),
    )
    return Item(master=master, overrides=draw(overrides(master)) if recurring else ())


@st.composite
def todo_items(draw: st.DrawFn, uid: str | None = None) -> Item:
    start = draw(st.none() | starts())
    if start is None:
        due = draw(st.none() | starts())
    else:
        due = draw(st.none() | end_after(start).filter(lambda v: zone_key(v) == zone_key(start)))
    completed = draw(st.none() | st.datetimes(datetime(1971, 1, 1), datetime(2037, 12, 31)))
    master = Component(
        kind="VTODO",
        uid=uid or draw(uids),
        start=start,
        due=due,
        completed=completed.replace(microsecond=0, tzinfo=UTC) if completed else None,
        priority=draw(st.none() | st.integers(0, 9)),
        percent_complete=draw(st.none() | st.integers(0, 100)),
        status=draw(st.sampled_from(["", "NEEDS-ACTION", "IN-PROCESS", "COMPLETED", "CANCELLED"])),
        visibility=draw(st.sampled_from(["", "PRIVATE", "CONFIDENTIAL"])),
        **_common(draw),
    )
    return Item(master=master)


items = st.one_of(event_items(), event_items(), event_items(), todo_items())


@st.composite
def item_lists(draw: st.DrawFn, max_size: int = 3) -> list[Item]:
    """Items with distinct UIDs, as one calendar holds them."""
    names = draw(st.lists(word, min_size=1, max_size=max_size, unique=True))
    return [draw(st.one_of(event_items(uid=f"{n}@calsync.test"), todo_items(uid=f"{n}@calsync.test"))) for n in names]
