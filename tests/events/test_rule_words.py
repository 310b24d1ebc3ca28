"""Repeat rules in words: every rule a calendar app makes reads as a sentence, anything else as a generic one."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.rule_words import rule_in_words
from tests.events.strategies import rrules, starts

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 2, 10, tzinfo=BERLIN)  # Monday 2 November 2026


@pytest.mark.parametrize(
    ("rule", "start", "words"),
    [
        ("FREQ=DAILY", MONDAY, "Every day"),
        ("FREQ=DAILY;INTERVAL=3", MONDAY, "Every 3 days"),
        ("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", MONDAY, "Every weekday"),
        ("FREQ=DAILY;BYDAY=MO,FR;COUNT=4", MONDAY, "Every Monday and Friday, 4 times"),
        ("FREQ=DAILY;INTERVAL=2;BYDAY=MO,FR", MONDAY, "Every 2 days on Monday and Friday"),
        ("FREQ=WEEKLY", MONDAY, "Every week on Monday"),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;UNTIL=20270630T215959Z", MONDAY,
         "Every 2 weeks on Monday and Wednesday, until 30 June 2027"),
        ("FREQ=WEEKLY;BYDAY=WE,MO,FR", MONDAY, "Every week on Monday, Wednesday and Friday"),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;COUNT=10", MONDAY, "Every week on weekdays, 10 times"),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU", MONDAY, "Every week on every day of the week"),
        ("FREQ=WEEKLY;COUNT=1", MONDAY, "Every week on Monday, once"),
        ("FREQ=WEEKLY;COUNT=2", MONDAY, "Every week on Monday, twice"),
        ("FREQ=MONTHLY", MONDAY, "Every month on the 2nd"),
        ("FREQ=MONTHLY;BYMONTHDAY=15", MONDAY, "Every month on the 15th"),
        ("FREQ=MONTHLY;BYMONTHDAY=1,15", MONDAY, "Every month on the 1st and 15th"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", MONDAY, "Every month on the last day"),
        ("FREQ=MONTHLY;BYMONTHDAY=-2", MONDAY, "Every month on the second to last day"),
        ("FREQ=MONTHLY;BYMONTHDAY=11,12,13,21,22,23", MONDAY,
         "Every month on the 11th, 12th, 13th, 21st, 22nd and 23rd"),
        ("FREQ=MONTHLY;BYDAY=2MO", MONDAY, "Every month on the second Monday"),
        ("FREQ=MONTHLY;BYDAY=-1FR", MONDAY, "Every month on the last Friday"),
        ("FREQ=MONTHLY;BYDAY=FR;BYSETPOS=-1", MONDAY, "Every month on the last Friday"),
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=1", MONDAY, "Every month on the first weekday"),
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", MONDAY, "Every month on the last weekday"),
        ("FREQ=MONTHLY;INTERVAL=3;BYDAY=1TU,3TU", MONDAY, "Every 3 months on the first Tuesday and third Tuesday"),
        ("FREQ=MONTHLY;BYDAY=TU", MONDAY, "Every month on every Tuesday"),
        ("FREQ=YEARLY", MONDAY, "Every year on 2 November"),
        ("FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=14", MONDAY, "Every year on 14 March"),
        ("FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", MONDAY, "Every year on the fourth Thursday of November"),
        ("FREQ=YEARLY;BYMONTH=5;BYDAY=-1MO", MONDAY, "Every year on the last Monday of May"),
        ("FREQ=YEARLY;BYMONTH=1,7", MONDAY, "Every year on 2 January and July"),
        ("FREQ=YEARLY;INTERVAL=4;UNTIL=20400101", date(2028, 2, 29),
         "Every 4 years on 29 February, until 1 January 2040"),
        ("FREQ=HOURLY;INTERVAL=4;COUNT=6", MONDAY, "Every 4 hours, 6 times"),
        ("FREQ=MINUTELY;INTERVAL=30", MONDAY, "Every 30 minutes"),
        ("FREQ=DAILY;UNTIL=20261231", date(2026, 12, 1), "Every day, until 31 December 2026"),
        # UNTIL in UTC is read on the series' clock: 23:30 UTC on 30 June is already 1 July in Berlin.
        ("FREQ=DAILY;UNTIL=20270630T233000Z", MONDAY, "Every day, until 1 July 2027"),
        ("FREQ=DAILY;UNTIL=20270630T233000", datetime(2026, 11, 2, 10), "Every day, until 30 June 2027"),
        # Rules no short sentence says: a generic sentence, never the rule's text.
        ("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", MONDAY, "Repeats every year on a custom pattern"),
        ("FREQ=DAILY;BYHOUR=9,17", MONDAY, "Repeats every day on a custom pattern"),
        ("FREQ=YEARLY;BYYEARDAY=100;COUNT=3", MONDAY, "Repeats every year on a custom pattern, 3 times"),
        ("FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=2,3", MONDAY, "Repeats every month on a custom pattern"),
        ("FREQ=MONTHLY;BYDAY=9MO", MONDAY, "Repeats every month on a custom pattern"),
        ("FREQ=YEARLY;BYDAY=20MO", MONDAY, "Repeats every year on a custom pattern"),
        ("FREQ=FORTNIGHTLY", MONDAY, "Repeats on a custom schedule"),
        ("not a rule", MONDAY, "Repeats on a custom schedule"),
        ("", MONDAY, "Repeats on a custom schedule"),
    ],
)  # fmt: skip
def test_rules_in_words(rule: str, start: date | datetime, words: str) -> None:
    assert rule_in_words(rule, start) == words


@given(st.data())
def test_no_rule_reads_as_its_raw_text(data: st.DataObject) -> None:
    start = data.draw(starts())
    words = rule_in_words(data.draw(rrules(start)), start)
    assert "FREQ" not in words and "=" not in words and words[0].isupper()
