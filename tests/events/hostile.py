"""The hostile corpus: calendar items that each once went in as given (or answered 500), with what must refuse them.

Each entry is one calendar object resource (one UID) as a client, an import file or a CalDAV server would send
it, the RFC 4791 precondition calsync names when refusing it, and words the user is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class Hostile:
    name: str
    text: str
    condition: str  # the RFC 4791 5.3.2.1 precondition element of the 403
    says: str  # part of the message the user reads

    # Refused before any item is read (an import then fails as a whole): the text could hurt the parser itself.
    WHOLE_FILE = frozenset({"nested", "tzid-path", "tzid-absolute", "vtimezone-secondly"})

    @property
    def uid(self) -> str:
        return f"hostile-{self.name}@attacker.test"

    @property
    def whole_file(self) -> bool:
        return self.name in self.WHOLE_FILE

    def with_good_event(self) -> str:
        """The same text with an ordinary event of another UID after it, as an import file would carry."""
        good = calendar("good@attacker.test", "DTEND:20261123T110000Z", summary="Good").split("BEGIN:VEVENT")[1]
        return self.text.replace("END:VCALENDAR", "BEGIN:VEVENT" + good.split("END:VCALENDAR")[0] + "END:VCALENDAR")


def calendar(uid: str, *lines: str, start: str = "DTSTART:20261123T100000Z", summary: str = "Hostile",
             before: str = "", after: str = "") -> str:  # fmt: skip
    """One VEVENT with `lines`, after `before` (a VTIMEZONE), then `after` (more components of the same UID)."""
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//attacker//EN", *([before] if before else [])]
    event = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261101T000000Z", start, f"SUMMARY:{summary}", *lines]
    return "\r\n".join([*head, *event, "END:VEVENT", *([after] if after else []), "END:VCALENDAR", ""])


def hourly(count: int) -> list[str]:
    """`count` UTC date-times an hour apart from 2027-01-01 10:00, as iCalendar writes them."""
    first = datetime(2027, 1, 1, 10, tzinfo=UTC)
    return [f"{first + timedelta(hours=n):%Y%m%dT%H%M%SZ}" for n in range(count)]


def _override(uid: str, when: str) -> str:
    return "\r\n".join(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261101T000000Z", f"RECURRENCE-ID:{when}",
                        f"DTSTART:{when}", "SUMMARY:Moved", "END:VEVENT"])  # fmt: skip


_SECONDLY_ZONE = "\r\n".join([
    "BEGIN:VTIMEZONE", "TZID:Hostile/Seconds", "BEGIN:STANDARD", "DTSTART:19700101T000000", "RRULE:FREQ=SECONDLY",
    "TZOFFSETFROM:+0100", "TZOFFSETTO:+0000", "END:STANDARD", "END:VTIMEZONE",
])  # fmt: skip


def _make(name: str, condition: str, says: str, *lines: str, **kw: str) -> Hostile:
    return Hostile(name, calendar(f"hostile-{name}@attacker.test", *lines, **kw), condition, says)


def _build() -> list[Hostile]:
    hours = hourly(10_000)
    uid = "hostile-overrides@attacker.test"
    overrides = "\r\n".join(_override(uid, when) for when in hours[:5_000])
    every_second = ",".join(map(str, range(60)))
    alarm = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT{}M\r\nDESCRIPTION:r\r\nEND:VALARM"
    guest = "ATTENDEE;CN=Guest {0}:mailto:guest{0}@attacker.test"
    path, tokyo, los_angeles = "TZID=../../../../etc/passwd", "TZID=Asia/Tokyo", "TZID=America/Los_Angeles"
    valid, instances = "valid-calendar-data", "max-instances"
    return [
        _make("secondly", valid, "at most hourly", "RRULE:FREQ=SECONDLY"),
        _make("minutely", valid, "at most hourly", "RRULE:FREQ=MINUTELY;INTERVAL=1"),
        _make("every-second-by-list", valid, "at most hourly",
              f"RRULE:FREQ=HOURLY;BYMINUTE={every_second};BYSECOND={every_second}"),
        _make("count", instances, "COUNT", "RRULE:FREQ=DAILY;COUNT=1000000000"),
        _make("interval-zero", valid, "INTERVAL", "RRULE:FREQ=DAILY;INTERVAL=0"),
        _make("never-occurs", valid, "never occurs", "RRULE:FREQ=HOURLY;BYMONTH=2,4;BYMONTHDAY=31,-31;COUNT=10"),
        _make("exdates", instances, "excluded dates", "RRULE:FREQ=HOURLY", *(f"EXDATE:{h}" for h in hours)),
        _make("rdates", instances, "extra dates", *(f"RDATE:{h}" for h in hours)),
        Hostile("overrides", calendar(uid, "RRULE:FREQ=HOURLY", start="DTSTART:20270101T100000Z", after=overrides),
                instances, "changed occurrences"),
        _make("attendees", "max-attendees-per-instance", "attendees", "ORGANIZER:mailto:boss@attacker.test",
              *(guest.format(n) for n in range(10_000))),
        _make("nested", valid, "nested", *(["BEGIN:X-DEEP"] * 10_000), *(["END:X-DEEP"] * 10_000)),
        _make("tzid-path", valid, "not a time zone name", f"DTEND;{path}:20261123T110000",
              start=f"DTSTART;{path}:20261123T100000"),
        _make("tzid-absolute", valid, "not a time zone name", start="DTSTART;TZID=/etc/passwd:20261123T100000"),
        _make("tzid-unknown", valid, "unknown", start="DTSTART;TZID=Atlantis/Capital:20261123T100000"),
        _make("year-0001", "min-date-time", "before the year 1900", "RRULE:FREQ=HOURLY",
              start="DTSTART:00010101T000000Z"),
        _make("year-0001-zoned", "min-date-time", "before the year 1900", "RRULE:FREQ=HOURLY",
              start=f"DTSTART;{tokyo}:00010101T000000"),
        _make("year-9999", "max-date-time", "after the year 2200", "RRULE:FREQ=HOURLY",
              start="DTSTART:99991231T000000Z"),
        _make("year-9999-zoned", "max-date-time", "after the year 2200",
              start=f"DTSTART;{los_angeles}:99991231T230000"),
        _make("until-9999", "max-date-time", "after the year 2200", "RRULE:FREQ=HOURLY;UNTIL=99991231T000000Z"),
        _make("count-past-2200", "max-date-time", "past the year 2200", "RRULE:FREQ=YEARLY;INTERVAL=1000;COUNT=100"),
        # Its second occurrence is 9999-12-31 23:00 in Los Angeles: year 10000 in UTC (a 500 when its span was stored).
        _make("count-to-9999-zoned", "max-date-time", "past the year 2200", "RRULE:FREQ=YEARLY;INTERVAL=7973;COUNT=2",
              start=f"DTSTART;{los_angeles}:20261231T230000"),
        _make("vtimezone-secondly", valid, "yearly", before=_SECONDLY_ZONE,
              start="DTSTART;TZID=Hostile/Seconds:20261123T100000"),
        _make("duration-overflow", valid, "out of range", "DURATION:P99999999W"),
        _make("nul-summary", valid, "control character", summary="before\x00after"),
        _make("escape-summary", valid, "control character", "LOCATION:bell\x07 and escape\x1b[2J"),
        _make("huge-value", valid, "longer than", "X-PAYLOAD:" + "A" * 200_000),
        _make("many-parameters", valid, "parameters", "X-PARAMS;" + ";".join(f"X-P{n}=v" for n in range(200)) + ":v"),
        _make("many-properties", valid, "other properties", *(f"X-PROP-{n}:v" for n in range(2_000))),
        _make("many-alarms", valid, "reminders", *(alarm.format(n) for n in range(500))),
    ]  # fmt: skip


CORPUS = _build()
BY_NAME = {h.name: h for h in CORPUS}
