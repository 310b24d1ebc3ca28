"""Hypothesis feeds the iCalendar parser, and calsync's CalDAV PUT, text that is almost right: real items serialised
and then cut, spliced, repeated and salted with the characters iCalendar gives meaning to. Whatever comes in,
the answer is an ICalError (a 403 over CalDAV) or an item calsync can store and write back; never another
exception, never a 500.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dav.services import app_password_create
from events.ical import ICalError, parse_calendar, serialise
from events.limits import validate_item
from tests.dav.conftest import Dav

from .strategies import items

_TOKENS = [
    "BEGIN:VCALENDAR", "END:VCALENDAR", "BEGIN:VEVENT", "END:VEVENT", "BEGIN:VTODO", "BEGIN:VALARM", "END:VALARM",
    "BEGIN:VTIMEZONE", "BEGIN:STANDARD", "END:STANDARD", "END:VTIMEZONE", "BEGIN:X-DEEP", "RRULE:FREQ=", "SECONDLY",
    "COUNT=", "INTERVAL=0", "UNTIL=", "BYSECOND=1,2", "DTSTART", "DTEND", "DURATION:P", "99999999W", "RECURRENCE-ID",
    "EXDATE", "RDATE", ";VALUE=DATE", ";VALUE=PERIOD", ";TZID=", "../../etc/passwd", "/mozilla.org/x/Europe/Berlin",
    "W. Europe Standard Time", "TRIGGER:", ";RELATED=END", "ATTENDEE;CN=", "mailto:", ":", ";", ",", "=", '"', "\\",
    "\\n", "\r\n", "\r\n ", "\n", "\x00", "\x1b", "\ud800", "\u00e9", "T", "Z", "+", "-", "/", "0", "1", "00010101",
    "99991231T235959Z", "20261123T100000", "PT", "-P1W", "X-", "UID:", "SEQUENCE:", "PRIORITY:99",
]  # fmt: skip
salt = st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=3)), max_size=6).map("".join)


@st.composite
def nearly_icalendar(draw: st.DrawFn) -> str:
    """A real item's text with a few lines cut, repeated, reordered or spliced with salt."""
    lines = serialise(draw(st.lists(items, min_size=1, max_size=2))).split("\r\n")
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["insert", "delete", "splice", "repeat", "swap", "truncate"]))
        if action == "insert":
            lines.insert(at, draw(salt))
        elif action == "delete" and len(lines) > 1:
            del lines[at]
        elif action == "splice":
            cut = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:cut] + draw(salt) + lines[at][cut + draw(st.integers(0, 4)) :]
        elif action == "repeat":
            lines[at:at] = [lines[at]] * draw(st.integers(1, 3))
        elif action == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif action == "truncate":
            lines = lines[: at + 1]
    return "\r\n".join(lines)


def _read(text: str) -> None:
    """What every way in does with text: parse, apply the limits, and (for what is stored) write it back."""
    try:
        read = parse_calendar(text)
        for item in read:
            validate_item(item)
    except ICalError:
        return
    serialise(read)


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings(FUZZ, max_examples=100)
@given(nearly_icalendar())
def test_nearly_icalendar_is_read_or_refused_with_a_reason(text: str) -> None:
    _read(text)


@FUZZ
@given(st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=8)), max_size=40).map("".join))
def test_arbitrary_text_is_read_or_refused_with_a_reason(text: str) -> None:
    _read(text)


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=nearly_icalendar())
def test_caldav_put_never_answers_500(client, member, calendar, text: str) -> None:  # type: ignore[no-untyped-def]
    secret = app_password_create(user=member, label="fuzz")
    dav = Dav(client, secret.username, secret.secret)
    path = f"/caldav/calendars/{member.email}/{calendar.dav_name}/{uuid.uuid4().hex}.ics"
    answer = dav.request("PUT", path, text.encode("utf-8", "surrogatepass"), content_type="text/calendar")
    assert answer.status_code in (201, 204, 403, 409, 412), dav.body(answer)
    if answer.status_code == 201:
        assert dav.request("GET", path).status_code == 200


def test_text_with_a_lone_surrogate_is_refused_with_a_reason() -> None:
    """A str may hold a lone surrogate (a JSON "\\ud800" escape, say); no encoding can write it (the fuzzer's)."""
    text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:s@x\r\nSUMMARY:a\ud800b\r\n"
    text += "END:VEVENT\r\nEND:VCALENDAR\r\n"
    with pytest.raises(ICalError, match="not Unicode"):
        parse_calendar(text)
