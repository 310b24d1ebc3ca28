"""events.ical: iCalendar text <-> Items. Pure functions, no database."""

from __future__ import annotations

import dataclasses
import zoneinfo
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from events.convert import normalise_component
from events.ical import (
    UTC,
    Alarm,
    Component,
    ICalError,
    Item,
    parse_calendar,
    parse_calendar_lenient,
    parse_item,
    serialise,
)

from .strategies import item_lists, items

STAMP = datetime(2026, 1, 1, tzinfo=UTC)
PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


def shape(value: Any) -> Any:
    """`value` with every date/time spelled out as (type, wall time, zone), so a zone change shows."""
    if isinstance(value, datetime):
        key = None if value.tzinfo is None else getattr(value.tzinfo, "key", repr(value.tzinfo))
        return ("datetime", value.isoformat(), key)
    if isinstance(value, date):
        return ("date", value.isoformat())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, {f.name: shape(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, list | tuple):
        return tuple(shape(v) for v in value)
    return value


def calendar(*body: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//test//EN", *body, "END:VCALENDAR", ""])


def vevent(*lines: str, uid: str = "e1@test") -> list[str]:
    return ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", *lines, "END:VEVENT"]


# --- properties -------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(items)
def test_round_trip(item: Item) -> None:
    parsed = parse_calendar(serialise([item], stamp=STAMP))
    assert parsed == [item]
    assert shape(parsed) == shape([item])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(item_lists())
def test_round_trip_of_many_items(batch: list[Item]) -> None:
    parsed = parse_calendar(serialise(batch, name="Work", stamp=STAMP))
    assert shape(parsed) == shape(batch)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items)
def test_serialising_twice_is_stable(item: Item) -> None:
    text = serialise([item], stamp=STAMP)
    assert serialise(parse_calendar(text), stamp=STAMP) == text


# --- examples: time zones -------------------------------------------------------------

WINDOWS_BERLIN = [
    "BEGIN:VTIMEZONE",
    "TZID:W. Europe Standard Time",
    "BEGIN:STANDARD",
    "DTSTART:16010101T030000",
    "TZOFFSETFROM:+0200",
    "TZOFFSETTO:+0100",
    "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
    "END:STANDARD",
    "BEGIN:DAYLIGHT",
    "DTSTART:16010101T020000",
    "TZOFFSETFROM:+0100",
    "TZOFFSETTO:+0200",
    "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
    "END:DAYLIGHT",
    "END:VTIMEZONE",
]


def test_windows_tzid_resolves_to_iana_zone() -> None:
    data = calendar(
        *WINDOWS_BERLIN,
        *vevent(
            "DTSTART;TZID=W. Europe Standard Time:20260710T090000",
            "DTEND;TZID=W. Europe Standard Time:20260710T100000",
            "EXDATE;TZID=W. Europe Standard Time:20260717T090000",
            "RRULE:FREQ=WEEKLY;COUNT=4",
        ),
    )
    master = parse_item(data).master
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    assert shape(master.start) == shape(datetime(2026, 7, 10, 9, tzinfo=berlin))
    assert shape(master.end) == shape(datetime(2026, 7, 10, 10, tzinfo=berlin))
    assert shape(master.exdates) == shape((datetime(2026, 7, 17, 9, tzinfo=berlin),))


def test_unknown_custom_timezone_keeps_the_instant() -> None:
    data = calendar(
        "BEGIN:VTIMEZONE",
        "TZID:My Office Time",
        "BEGIN:STANDARD",
        "DTSTART:19700101T000000",
        "TZOFFSETFROM:+0330",
        "TZOFFSETTO:+0330",
        "END:STANDARD",
        "END:VTIMEZONE",
        *vevent("DTSTART;TZID=My Office Time:20260301T120000", "DTEND;TZID=My Office Time:20260301T130000"),
    )
    master = parse_item(data).master
    assert isinstance(master.start, datetime) and isinstance(master.end, datetime)
    assert master.start == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    assert master.end == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert master.start.tzinfo is not None and master.start.utcoffset() is not None


@pytest.mark.parametrize(
    ("lines", "start", "end"),
    [
        (
            ["DTSTART;TZID=Europe/Berlin:20260310T090000", "DURATION:PT1H30M"],
            datetime(2026, 3, 10, 9, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")),
            datetime(2026, 3, 10, 10, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")),
        ),
        (["DTSTART;VALUE=DATE:20260310", "DURATION:P2D"], date(2026, 3, 10), date(2026, 3, 12)),
        (["DTSTART:20260310T090000", "DURATION:P1DT2H"], datetime(2026, 3, 10, 9), datetime(2026, 3, 11, 11)),
        # A day is nominal: the same wall time on the next day, even across a DST change.
        (
            ["DTSTART;TZID=America/New_York:20260307T120000", "DURATION:P1D"],
            datetime(2026, 3, 7, 12, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
            datetime(2026, 3, 8, 12, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
        ),
        # Hours are exact: one hour after 01:30 EST on the spring-forward day is 03:30 EDT.
        (
            ["DTSTART;TZID=America/New_York:20260308T013000", "DURATION:PT1H"],
            datetime(2026, 3, 8, 1, 30, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
            datetime(2026, 3, 8, 3, 30, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
        ),
    ],
)
def test_duration_instead_of_dtend(lines: list[str], start: Any, end: Any) -> None:
    master = parse_item(calendar(*vevent(*lines))).master
    assert shape((master.start, master.end)) == shape((start, end))
    # Written back as a DURATION (clients may search for events without DTEND), meaning the same end.
    written = serialise([Item(normalise_component(master), ())])
    assert "DURATION" in written and "DTEND" not in written
    again = parse_item(written).master
    assert shape((again.start, again.end)) == shape((start, end))


def test_vendor_prefixed_tzid_and_period_rdate() -> None:
    data = calendar(
        *vevent(
            "DTSTART;TZID=/mozilla.org/20050126_1/Europe/Berlin:20260101T100000",
            "RRULE:FREQ=DAILY",
            "RDATE;VALUE=PERIOD:20260105T100000Z/PT1H",
            "EXDATE;TZID=Europe/Berlin:20260107T100000,20260108T100000",
        )
    )
    with pytest.warns(UserWarning, match="globally unique TZID"):
        item = parse_item(data)
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    assert shape(item.master.start) == shape(datetime(2026, 1, 1, 10, tzinfo=berlin))
    assert shape(item.master.exdates) == shape(
        (datetime(2026, 1, 7, 10, tzinfo=berlin), datetime(2026, 1, 8, 10, tzinfo=berlin))
    )
    assert item.master.extra_properties == (("RDATE", (("VALUE", "PERIOD"),), "20260105T100000Z/PT1H"),)
    assert shape(parse_calendar(serialise([item]))) == shape([item])


# --- examples: text -------------------------------------------------------------------


def test_text_is_escaped_and_a_literal_backslash_n_kept() -> None:
    component = Component(
        uid="e@test",
        start=date(2026, 1, 5),
        summary="Backup C:\\New folder; then, \\n done",
        description="line 1\nline 2 \\N",
        categories=("a,b", "C:\\New"),
        client="ACME; Inc.\nBerlin",
        alarms=(Alarm(trigger="-PT15M", description="see C:\\Notes"),),
    )
    text = serialise([Item(component)])
    assert "SUMMARY:Backup C:\\\\New folder\\; then\\, \\\\n done" in text
    assert "X-CALSYNC-CLIENT:ACME\\; Inc.\\nBerlin" in text
    assert shape(parse_item(text).master) == shape(component)


# --- examples: structure ----------------------------------------------------------------


def test_multiple_vcalendars_in_one_stream() -> None:
    data = calendar(*vevent("DTSTART:20260101T100000Z", uid="a@test")) + calendar(
        *vevent("DTSTART:20260102T100000Z", uid="b@test")
    )
    assert [i.uid for i in parse_calendar(data)] == ["a@test", "b@test"]


def test_unknown_property_and_sub_components_are_kept() -> None:
    data = calendar(
        *vevent(
            "DTSTART:20260101T100000Z",
            'X-APPLE-TRAVEL-ADVISORY-BEHAVIOR;X-PARAM="a;b":AUTOMATIC',
            "X-ODD:hello\\, world",
            "BEGIN:VLOCATION",
            "UID:loc-1",
            "NAME:Room 1",
            "END:VLOCATION",
            "BEGIN:X-FOO",
            "X-BAR:1",
            "END:X-FOO",
        )
    )
    master = parse_item(data).master
    assert master.extra_properties == (
        ("X-APPLE-TRAVEL-ADVISORY-BEHAVIOR", (("X-PARAM", "a;b"),), "AUTOMATIC"),
        ("X-ODD", (), "hello\\, world"),
    )
    assert [text.splitlines()[0] for text in master.extra_components] == ["BEGIN:VLOCATION", "BEGIN:X-FOO"]
    out = serialise([parse_item(data)])
    assert 'X-APPLE-TRAVEL-ADVISORY-BEHAVIOR;X-PARAM="a;b":AUTOMATIC' in out
    assert "X-ODD:hello\\, world" in out
    assert "BEGIN:VLOCATION" in out and "X-BAR:1" in out
    assert parse_item(out) == parse_item(data)


def test_busy_status_and_event_type_are_modelled_and_written_back() -> None:
    data = calendar(
        *vevent("DTSTART:20260101T100000Z", "X-MICROSOFT-CDO-BUSYSTATUS:oof", "X-CALSYNC-EVENT-TYPE:focusTime")
    )
    master = parse_item(data).master
    assert (master.busy_status, master.event_type, master.extra_properties) == ("OOF", "focusTime", ())
    out = serialise([parse_item(data)])
    assert "X-MICROSOFT-CDO-BUSYSTATUS:OOF" in out and "X-CALSYNC-EVENT-TYPE:focusTime" in out
    assert normalise_component(master) == master


def test_unknown_busy_status_or_event_type_reads_as_plain() -> None:
    master = parse_item(
        calendar(*vevent("DTSTART:20260101T100000Z", "X-MICROSOFT-CDO-BUSYSTATUS:NAP", "X-CALSYNC-EVENT-TYPE:x"))
    ).master
    assert (master.busy_status, master.event_type) == ("", "")


def test_three_item_calendar_round_trips() -> None:
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    series = Component(
        uid="s@test",
        summary="Stand-up",
        start=datetime(2026, 3, 23, 9, tzinfo=berlin),
        end=datetime(2026, 3, 23, 9, 15, tzinfo=berlin),
        rrule="FREQ=WEEKLY;UNTIL=20260501T000000Z;BYDAY=MO,WE",
        exdates=(datetime(2026, 3, 25, 9, tzinfo=berlin),),
    )
    moved = Component(
        uid="s@test",
        recurrence_id=datetime(2026, 3, 30, 9, tzinfo=berlin),
        summary="Stand-up (late)",
        start=datetime(2026, 3, 30, 11, tzinfo=berlin),
        end=datetime(2026, 3, 30, 11, 15, tzinfo=berlin),
    )
    holiday = Component(uid="h@test", summary="Holiday", start=date(2026, 4, 3), end=date(2026, 4, 4))
    task = Component(kind="VTODO", uid="t@test", summary="Report", due=datetime(2026, 4, 1, 17), priority=1)
    batch = [Item(series, (moved,)), Item(holiday), Item(task)]
    text = serialise(batch)
    assert text.count("BEGIN:VTIMEZONE") == 1
    assert shape(parse_calendar(text)) == shape(batch)


# --- examples: errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("this is not a calendar", "iCalendar"),
        ("", "iCalendar"),
        (calendar(*vevent("DTSTART:20260101T100000Z", uid="")), "no UID"),
        (calendar(*vevent("SUMMARY:x")), "no start"),
        (calendar(*vevent("DTSTART:20260101T100000Z", "DTEND:20260101T090000Z")), "ends before it starts"),
        (calendar(*vevent("DTSTART:20260101T100000Z", "RRULE:FREQ=SOMETIMES")), "repeat rule"),
        (calendar(*vevent("DTSTART:20260101T100000Z"), *vevent("DTSTART:20260102T100000Z")), "more than one series"),
        (
            calendar(*vevent("RECURRENCE-ID:20260102T100000Z", "DTSTART:20260102T110000Z")),
            "no series",
        ),
        (calendar(*vevent("DTSTART:20260101T100000Z", "DTEND;VALUE=DATE:20260102")), "all-day"),
    ],
)
def test_clear_errors(data: str, message: str) -> None:
    with pytest.raises(ICalError, match=message) as info:
        parse_calendar(data)
    assert str(info.value)


def test_uid_is_stripped_of_space_and_blank_uid_is_missing() -> None:
    with pytest.raises(ICalError, match="no UID"):
        parse_calendar(calendar(*vevent("DTSTART:20260101T100000Z", uid="   ")))


def test_lenient_parse_reports_problems_and_keeps_good_items() -> None:
    data = calendar(
        *vevent("DTSTART:20260101T100000Z", "SUMMARY:good", uid="good@test"),
        *vevent("SUMMARY:no start", uid="nostart@test"),
        *vevent("DTSTART:20260101T100000Z", "RRULE:FREQ=SOMETIMES", uid="badrule@test"),
        *vevent("RECURRENCE-ID:20260102T100000Z", "DTSTART:20260102T110000Z", uid="orphan@test"),
        *vevent("DTSTART;VALUE=DATE:20260105", "SUMMARY:also good", uid="good2@test"),
    )
    items, problems = parse_calendar_lenient(data)
    assert [i.master.summary for i in items] == ["good", "also good"]
    assert {p["uid"] for p in problems} == {"nostart@test", "badrule@test", "orphan@test"}
    assert all(p["reason"] for p in problems)


def test_lenient_parse_still_rejects_garbage() -> None:
    with pytest.raises(ICalError):
        parse_calendar_lenient("garbage")


def test_parse_item_wants_exactly_one_uid() -> None:
    data = calendar(*vevent("DTSTART:20260101T100000Z", uid="a"), *vevent("DTSTART:20260101T100000Z", uid="b"))
    with pytest.raises(ICalError, match="found 2"):
        parse_item(data)


def test_end_equal_to_start_is_allowed() -> None:
    master = parse_item(calendar(*vevent("DTSTART:20260101T100000Z", "DTEND:20260101T100000Z"))).master
    assert master.end == master.start == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert master.end - master.start == timedelta(0)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("SUMMARY:" + "x" * 501, "SUMMARY is longer than calsync stores"),
        ("STATUS:" + "Y" * 17, "STATUS is longer"),
        ("SEQUENCE:99999999999", "SEQUENCE is out of range"),
    ],
)
def test_values_longer_than_calsync_stores_are_refused_with_a_reason(line: str, message: str) -> None:
    data = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:long@test\r\n"
        f"DTSTART:20261123T100000Z\r\n{line}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    with pytest.raises(ICalError, match=message):
        parse_calendar(data)


def test_a_broken_exdate_is_refused_with_a_reason() -> None:
    """Found by test_fuzz: a continuation line glued onto an EXDATE made icalendar raise its own error."""
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20261101T000000Z\r\n"
        "DTSTART:19781024T141600Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\nEXDATE:19790808T141600\r\n o:pg@x.test\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    with pytest.raises(ICalError, match="EXDATE has an invalid value"):
        parse_item(text)
