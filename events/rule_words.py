"""A repeat rule (RFC 5545 RRULE) in plain English: "Every 2 weeks on Monday and Wednesday, until 30 June 2027".

Rules people make in calendar apps read as a sentence; anything else reads as a clear generic one
("Repeats every year on a custom pattern"), never as raw FREQ=... text.
"""

from __future__ import annotations

from datetime import date, datetime

import icalendar

from .ical import Temporal

_UNITS = {"SECONDLY": "second", "MINUTELY": "minute", "HOURLY": "hour", "DAILY": "day", "WEEKLY": "week",
          "MONTHLY": "month", "YEARLY": "year"}  # fmt: skip
_DAYS = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday", "FR": "Friday", "SA": "Saturday",
         "SU": "Sunday"}  # fmt: skip
_WEEKDAYS = ["MO", "TU", "WE", "TH", "FR"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]  # fmt: skip
_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last", -2: "second to last",
             -3: "third to last"}  # fmt: skip
# What a sentence below can say; a rule using anything else gets the generic sentence.
_SAID = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST"}
_GENERIC = "Repeats on a custom schedule"


def rule_in_words(rule: str, start: Temporal | None) -> str:
    """The rule as a sentence, for a series starting at `start` (which gives the day a bare rule repeats on)."""
    try:
        parts = {k.upper(): [str(v) for v in values] for k, values in icalendar.vRecur.from_ical(rule).items()}
        parts.update({k: [v] for k, v in _raw_until(rule).items()})
    except (ValueError, TypeError):
        return _GENERIC
    freq = parts.get("FREQ", [""])[0]
    if freq not in _UNITS:
        return _GENERIC
    ending = _ending(parts, start)
    if set(parts) - _SAID:
        return f"Repeats every {_UNITS[freq]} on a custom pattern{ending}"
    try:
        if freq == "DAILY" and set(parts) - {"COUNT", "UNTIL", "WKST"} == {"FREQ", "BYDAY"}:
            days = _plain_days(parts["BYDAY"])  # a daily rule on some weekdays: "Every weekday"
            return f"Every {'weekday' if days == 'weekdays' else days}{ending}"
        return f"{_every(freq, parts)}{_when(freq, parts, start)}{ending}"
    except _Unsaid:
        return f"Repeats every {_UNITS[freq]} on a custom pattern{ending}"


class _Unsaid(Exception):
    """The rule combines parts in a way no short sentence says."""


def _raw_until(rule: str) -> dict[str, str]:
    found = [p.split("=", 1)[1] for p in rule.split(";") if p.upper().startswith("UNTIL=")]
    return {"UNTIL": found[0]} if found else {}


def _every(freq: str, parts: dict[str, list[str]]) -> str:
    interval = int(parts.get("INTERVAL", ["1"])[0])
    unit = _UNITS[freq]
    if interval < 1:
        raise _Unsaid
    return f"Every {unit}" if interval == 1 else f"Every {interval} {unit}s"


def _when(freq: str, parts: dict[str, list[str]], start: Temporal | None) -> str:
    days, monthdays = parts.get("BYDAY", []), parts.get("BYMONTHDAY", [])
    months, setpos = parts.get("BYMONTH", []), parts.get("BYSETPOS", [])
    if freq in ("SECONDLY", "MINUTELY", "HOURLY"):
        if days or monthdays or months or setpos:
            raise _Unsaid
        return ""
    if freq in ("DAILY", "WEEKLY"):
        if monthdays or months or setpos:
            raise _Unsaid
        if not days:
            return f" on {_DAYS[_weekday(start)]}" if freq == "WEEKLY" and start is not None else ""
        return f" on {_plain_days(days)}"
    in_month = _in_month(days, monthdays, setpos, start, yearly=freq == "YEARLY" and not months)
    if freq == "MONTHLY":
        if months:
            return f" {in_month.strip()} in {_and([_month(m) for m in months])}".replace("  ", " ")
        return in_month
    return _in_year(days, monthdays, months, setpos, start, in_month)


def _in_month(days: list[str], monthdays: list[str], setpos: list[str], start: Temporal | None,
              yearly: bool) -> str:  # fmt: skip
    if days and monthdays:
        raise _Unsaid
    if setpos:
        if not days or len(setpos) != 1:
            raise _Unsaid
        which = _ordinal(int(setpos[0]))
        if sorted(days, key=_day_index) == _WEEKDAYS:
            return f" on the {which} weekday"
        if len(days) != 1 or not days[0].isalpha():
            raise _Unsaid
        return f" on the {which} {_DAYS[days[0]]}"
    if days:
        if all(d.isalpha() for d in days):
            return f" on every {_plain_days(days)}"
        return " on the " + _and([f"{_ordinal(int(d[:-2]))} {_DAYS[d[-2:]]}" for d in days])
    if monthdays:
        return " on the " + _and([_day_of_month(int(d)) for d in monthdays])
    if start is None or yearly:
        return ""
    return f" on the {_day_of_month(start.day)}"


def _in_year(days: list[str], monthdays: list[str], months: list[str], setpos: list[str], start: Temporal | None,
             in_month: str) -> str:  # fmt: skip
    if not months:
        if days or monthdays or setpos or start is None:
            raise _Unsaid  # "the 20th Monday of the year" and such
        return f" on {start.day} {_MONTHS[start.month - 1]}"
    if monthdays and len(monthdays) == 1 and len(months) == 1 and int(monthdays[0]) > 0:
        return f" on {int(monthdays[0])} {_month(months[0])}"
    if not (days or monthdays or setpos):
        if start is None:
            raise _Unsaid
        return f" on {start.day} {_and([_month(m) for m in months])}"
    return f"{in_month} of {_and([_month(m) for m in months])}"


def _ending(parts: dict[str, list[str]], start: Temporal | None) -> str:
    if "COUNT" in parts:
        count = int(parts["COUNT"][0])
        return ", once" if count == 1 else (", twice" if count == 2 else f", {count} times")
    if "UNTIL" in parts:
        until = _until(parts["UNTIL"][0], start)
        return f", until {until.day} {_MONTHS[until.month - 1]} {until.year}" if until else ""
    return ""


def _until(text: str, start: Temporal | None) -> date | None:
    """The last day, on the series' own clock (a UTC UNTIL late in the evening is the next day in UTC)."""
    try:
        value = icalendar.vDDDTypes.from_ical(text)
    except ValueError:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None and isinstance(start, datetime) and start.tzinfo is not None:
            value = value.astimezone(start.tzinfo)
        return value.date()
    return value if isinstance(value, date) else None


def _plain_days(days: list[str]) -> str:
    if any(not d.isalpha() or d not in _DAYS for d in days):
        raise _Unsaid
    ordered = sorted(set(days), key=_day_index)
    if ordered == _WEEKDAYS:
        return "weekdays"
    if len(ordered) == 7:
        return "every day of the week"
    return _and([_DAYS[d] for d in ordered])


def _day_index(code: str) -> int:
    return list(_DAYS).index(code[-2:])


def _weekday(value: Temporal | None) -> str:
    assert value is not None
    return list(_DAYS)[value.weekday()]


def _ordinal(n: int) -> str:
    if n not in _ORDINALS:
        raise _Unsaid
    return _ORDINALS[n]


def _day_of_month(n: int) -> str:
    if n == -1:
        return "last day"
    if n < 0:
        return f"{_ordinal(n)} day"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _month(text: str) -> str:
    number = int(text)
    if not 1 <= number <= 12:
        raise _Unsaid
    return _MONTHS[number - 1]


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
