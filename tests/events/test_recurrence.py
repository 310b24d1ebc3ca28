"""events.recurrence: the one bounded expansion. Counts rule steps and occurrences, never seconds."""

from __future__ import annotations

import ast
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from dateutil import rrule as du
from django.urls import reverse

from events import recurrence
from events.convert import item_span
from events.ical import Component, Item, as_utc, items_to_calendar
from tests.hostile import CORPUS, WEEK, store_unchecked

TALLINN = ZoneInfo("Europe/Tallinn")
WEEK_END = WEEK + timedelta(days=7)


def _budget(**limits: float) -> recurrence.Budget:
    values = {"max_occurrences": 5000, "max_steps": 50_000, "seconds": 3600.0} | limits
    return recurrence.Budget(**values)  # type: ignore[arg-type]


def _expand(item: Item, budget: recurrence.Budget, start: datetime = WEEK, end: datetime = WEEK_END) -> list:  # type: ignore[type-arg]
    return list(recurrence.occurrences(item, start=start, end=end, budget=budget))


def _series(rule: str, start: datetime | date, **fields: object) -> Item:
    end = start + (timedelta(minutes=30) if isinstance(start, datetime) else timedelta(days=1))
    return Item(master=Component(uid="s", summary="s", start=start, end=end, rrule=rule, **fields))  # type: ignore[arg-type]


# --- the rule jumps to the window instead of walking from DTSTART ---------------------------------------


@pytest.mark.parametrize("zone", [UTC, TALLINN])
def test_hourly_from_year_one_takes_a_week_of_steps_not_two_thousand_years(zone) -> None:  # type: ignore[no-untyped-def]
    budget = _budget()
    found = _expand(_series("FREQ=HOURLY", datetime(1, 1, 1, 12, tzinfo=zone)), budget)
    assert len(found) == 7 * 24 and not budget.truncated
    # dateutil's between() would take ~17.7 million steps from year 1; a week and its margin is ~170.
    assert budget.steps <= 7 * 24 + 3


def test_a_count_is_carried_along_when_the_rule_jumps() -> None:
    budget = _budget()
    found = _expand(_series("FREQ=HOURLY;COUNT=1000000000", datetime(1, 1, 1, tzinfo=UTC)), budget)
    assert len(found) == 7 * 24 and budget.steps <= 7 * 24 + 3
    # 17,756,000 hours from year 1 end in 2026: the last one counted, nothing after, none generated before.
    ends = datetime(1, 1, 1, tzinfo=UTC) + timedelta(hours=17_756_000 - 1)
    assert ends.year == 2026
    budget = _budget()
    item = _series("FREQ=HOURLY;COUNT=17756000", datetime(1, 1, 1, tzinfo=UTC))
    last = _expand(item, budget, ends - timedelta(days=1), ends + timedelta(days=1))
    assert as_utc(last[-1].start) == ends and len(last) == 25 and budget.steps <= 30


def test_monthly_and_yearly_rules_keep_their_day_when_they_jump() -> None:
    budget = _budget()
    window = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    monthly = _expand(_series("FREQ=MONTHLY", datetime(1, 1, 31, 9, tzinfo=UTC)), budget, *window)
    assert [o.start.day for o in monthly] == [31] * 7  # the months that have a 31st
    yearly = _expand(_series("FREQ=YEARLY", date(4, 2, 29)), budget, datetime(2020, 1, 1, tzinfo=UTC), window[1])
    assert [o.start for o in yearly] == [date(2020, 2, 29), date(2024, 2, 29)]
    assert budget.steps < 500


@pytest.fixture
def day_walks(monkeypatch):  # type: ignore[no-untyped-def]
    """How many days dateutil stepped through inside its iterator, where no step of ours can see it."""
    calls = [0]
    original = du._iterinfo.ddayset

    def counted(self, *args):  # type: ignore[no-untyped-def]
        calls[0] += 1
        return original(self, *args)

    monkeypatch.setattr(du._iterinfo, "ddayset", counted)
    return calls


def test_a_rule_no_day_can_match_generates_nothing(day_walks) -> None:  # type: ignore[no-untyped-def]
    budget = _budget()
    assert _expand(_series("FREQ=SECONDLY;BYMONTH=4;BYMONTHDAY=31", WEEK - timedelta(days=30)), budget) == []
    # dateutil alone walks day by day to year 9999 looking for a 31 April, without ever yielding.
    assert budget.steps == 0 and not budget.truncated and day_walks[0] == 0
    # Every seventh day is a Monday: a Tuesday never comes.
    assert _expand(_series("FREQ=DAILY;INTERVAL=7;BYDAY=TU", WEEK - timedelta(days=7)), budget) == []
    assert budget.steps == 0
    assert day_walks[0] == 0
    assert len(_expand(_series("FREQ=WEEKLY;BYDAY=TU", WEEK - timedelta(days=7)), budget)) == 1


def test_secondly_stops_at_the_occurrence_limit_and_says_so() -> None:
    budget = _budget(max_occurrences=1000)
    found = _expand(_series("FREQ=SECONDLY", datetime(2020, 1, 1, tzinfo=UTC)), budget)
    assert len(found) == 1000 and budget.truncated
    assert budget.steps <= 3600 + 1002  # the one-hour margin before the window, then the limit


def test_the_step_limit_stops_a_rule_that_cannot_jump() -> None:
    # A COUNT with a BYMINUTE cannot be counted without generating it: the step budget bounds it.
    budget = _budget(max_steps=2000)
    assert _expand(_series("FREQ=HOURLY;COUNT=1000000000;BYMINUTE=5", datetime(1, 1, 1, tzinfo=UTC)), budget) == []
    assert budget.truncated and budget.steps == 2001


def test_one_budget_is_shared_by_every_item_of_a_request() -> None:
    budget = _budget(max_occurrences=200)
    _expand(_series("FREQ=HOURLY", WEEK), budget)
    assert budget.occurrences == 168 and not budget.truncated
    assert len(_expand(_series("FREQ=HOURLY", WEEK), budget)) == 32 and budget.truncated


def test_ten_thousand_exdates_and_five_thousand_overrides() -> None:
    budget = _budget()
    assert _expand(CORPUS["10,000 EXDATEs"](), budget) == []
    assert budget.steps <= 9  # the week's days and the margin; the EXDATEs are looked up, not walked
    found = _expand(CORPUS["5,000 overrides"](), budget)
    assert len(found) == 7 and all(o.is_override and o.component.summary.startswith("moved") for o in found)
    assert all(as_utc(o.start) == as_utc(o.recurrence_id) + timedelta(hours=1) for o in found)


def test_rdates_are_found_by_bisection() -> None:
    budget = _budget()
    found = _expand(CORPUS["10,000 RDATEs"](), budget, WEEK - timedelta(days=1), WEEK)
    assert len(found) == 4 * 24 + 1 and budget.steps == 0  # and the one at 23:45 the evening before


def test_an_occurrence_across_a_dst_change_keeps_its_exact_length() -> None:
    # Tallinn leaves summer time at 04:00 on 25 October 2026: a 23:00-09:00 night is 11 hours long that night.
    start = datetime(2026, 10, 23, 23, tzinfo=TALLINN)
    item = Item(master=Component(uid="n", start=start, end=start + timedelta(hours=10), rrule="FREQ=DAILY;COUNT=3"))
    found = _expand(item, _budget(), datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC))
    assert [as_utc(o.end) - as_utc(o.start) for o in found] == [timedelta(hours=10)] * 3


def test_an_occurrence_at_the_end_of_time_ends_there() -> None:
    item = _series("FREQ=HOURLY", datetime(9999, 12, 31, 22, tzinfo=UTC))
    found = _expand(item, _budget(), datetime(9999, 12, 31, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC))
    assert [o.start.hour for o in found] == [22, 23]


def test_span_of_a_billion_hours_is_forever_without_walking_it() -> None:
    assert item_span(CORPUS["HOURLY;COUNT=1000000000"]())[1] is None
    assert item_span(_series("FREQ=WEEKLY;COUNT=3", WEEK))[1] == WEEK + timedelta(days=14, minutes=30)


# --- the same occurrences as recurring-ical-events, where that library can answer --------------------

RULES = ["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=MO,WE", "FREQ=MONTHLY;BYMONTHDAY=31", "FREQ=MONTHLY", "FREQ=YEARLY",
         "FREQ=HOURLY;INTERVAL=5", "FREQ=WEEKLY;INTERVAL=3;BYDAY=TU,SU;WKST=MO", "FREQ=MONTHLY;BYDAY=-1FR",
         "FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=2", "FREQ=DAILY;COUNT=900", "FREQ=HOURLY;COUNT=20000;INTERVAL=7",
         "FREQ=DAILY;UNTIL=20270101T000000Z", "FREQ=YEARLY;BYWEEKNO=1;BYDAY=MO",
         "FREQ=MONTHLY;INTERVAL=7;COUNT=100"]  # fmt: skip
STARTS = [datetime(2001, 1, 31, 9, 30, tzinfo=TALLINN), datetime(2001, 3, 25, 2, 30),
          datetime(1999, 12, 31, 23, tzinfo=UTC)]  # fmt: skip


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("start", STARTS)
def test_same_occurrences_as_recurring_ical_events(rule: str, start: datetime) -> None:
    # An EXDATE on an occurrence (recurring-ical-events misreads one that is not, in a zone east of UTC).
    item = _series(rule, start, exdates=(start + timedelta(days=7),) if "DAILY" in rule else ())
    for window_start in (datetime(2001, 1, 1, tzinfo=UTC), datetime(2026, 10, 20, tzinfo=UTC)):
        window_end = window_start + timedelta(days=40)
        expected = recurring_ical_events.of(items_to_calendar([item])).between(window_start, window_end)
        found = _expand(item, _budget(), window_start, window_end)
        assert sorted(as_utc(o.start) for o in found) == sorted(as_utc(c.decoded("DTSTART")) for c in expected)


def test_an_override_moves_its_occurrence_in_and_out_of_the_window() -> None:
    item = _series("FREQ=DAILY;COUNT=10", WEEK)
    moved_out = replace(item.master, rrule="", recurrence_id=WEEK, start=WEEK - timedelta(days=3),
                        end=WEEK - timedelta(days=3) + timedelta(minutes=30), summary="moved out")  # fmt: skip
    moved_in = replace(moved_out, recurrence_id=WEEK + timedelta(days=8), start=WEEK + timedelta(days=2),
                       end=WEEK + timedelta(days=2, minutes=30), summary="in")  # fmt: skip
    found = _expand(replace(item, overrides=(moved_out, moved_in)), _budget())
    assert sorted(as_utc(o.start) for o in found) == [WEEK + timedelta(days=d) for d in (1, 2, 2, 3, 4, 5, 6)]
    assert [o.component.summary for o in found if o.is_override] == ["in"]


# --- every reader goes through events.recurrence ----------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
# The emulators stand in for Google and Microsoft and expand as those services do; ical.py parses a rule
# to refuse it at the door, and expands nothing.
_ALLOWED = {"events/recurrence.py", "events/ical.py"}
_EXPANDERS = {"recurring_ical_events", "dateutil.rrule"}


def test_no_reader_expands_a_rule_on_its_own() -> None:
    offenders = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if relative.split("/")[0] in {"tests", "bench", "emulators", ".venv", "var"} or relative in _ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == e or n.startswith(e + ".") or (n == "dateutil" and isinstance(node, ast.ImportFrom)
                                                       and any(a.name == "rrule" for a in node.names))
                   for n in names for e in _EXPANDERS):  # fmt: skip
                offenders.append(relative)
    assert offenders == []


# --- the pages, with the hostile corpus stored past the door --------------------------------------------


@pytest.fixture
def hostile(calendar, settings):  # type: ignore[no-untyped-def]
    settings.RECURRENCE_MAX_OCCURRENCES = 2000
    settings.RECURRENCE_MAX_STEPS = 20_000
    for make in CORPUS.values():
        store_unchecked(calendar, make())
    return calendar


@pytest.mark.django_db
def test_week_and_list_views_answer_and_say_what_they_left_out(member_client, hostile) -> None:  # type: ignore[no-untyped-def]
    week = member_client.get(reverse("events:grid_events") + "?start=2026-03-16&end=2026-03-23")
    assert week.status_code == 200
    assert len(week.json()["events"]) <= 2000 and week.json()["truncated"] is True
    listing = member_client.get(reverse("events:calendar_list") + "?from=2026-03-16&to=2026-03-22")
    assert listing.status_code == 200 and len(listing.context["occurrences"]) <= 2000
    # Events that do not repeat cost no steps and come first: a hostile series cannot crowd them out.
    assert "Everyone" in listing.content.decode()
    assert "Some occurrences are not shown" in listing.content.decode()


@pytest.mark.django_db
def test_a_calm_week_has_no_notice(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    store_unchecked(calendar, CORPUS["HOURLY from year 1"]())
    week = member_client.get(reverse("events:grid_events") + "?start=2026-03-16&end=2026-03-23").json()
    assert len(week["events"]) >= 168 and week["truncated"] is False
