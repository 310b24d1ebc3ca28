"""The team grid: each chosen person's busy blocks and working hours, one row per person, one band per day,
in the organiser's zone. Positions are percentages of the day; static/js/scheduling.js places them (the CSP
forbids style attributes in markup)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .assistant import Result


@dataclass(frozen=True)
class Bar:
    left: float  # percent of the day
    width: float
    kind: str  # busy, tentative, oof, workingElsewhere, hours, proposal
    label: str


@dataclass(frozen=True)
class Row:
    email: str
    name: str
    bars: list[Bar]

    @property
    def html(self) -> SafeString:
        """The row's bars as markup, built here: thousands of them go through a template loop ten times slower,
        and format_html_join's escaping of every argument (numbers too) was most of the page's warm time on
        PostgreSQL (profiled with bench/find_a_time.py); only the kind and the label are text."""
        return mark_safe(  # noqa: S308 - kind and label escaped here, left and width are floats
            "".join(
                f'<span class="bar {escape(b.kind)}" data-left="{b.left}" data-width="{b.width}" '
                f'title="{escape(b.label)}"></span>'
                for b in self.bars
            )
        )


@dataclass(frozen=True)
class Day:
    day: date
    rows: list[Row]
    proposals: list[Bar]


def build(result: Result, zone: ZoneInfo) -> list[Day]:
    first = result.start.astimezone(zone).date()
    last = (result.end - timedelta(microseconds=1)).astimezone(zone).date()
    days = []
    day = first
    while day <= last:
        begin = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        proposals = _bars([(s.start, s.end, "proposal", "Proposed") for s in result.proposals], begin, end)
        rows = [_row(result, p.pk, begin, end, proposals) for p in result.search.people]
        days.append(Day(day, rows, proposals))
        day += timedelta(days=1)
    return days


def _row(result: Result, person_id: int, begin: datetime, end: datetime, proposals: list[Bar]) -> Row:
    person = next(p for p in result.search.people if p.pk == person_id)
    hours = [(a, b, "hours", "Working hours") for a, b in result.hours.get(person_id, [])]
    busy = result.busy[person_id].blocks if person_id in result.busy else []
    blocks = [(b.start, b.end, b.kind, b.title or _label(b.kind)) for b in busy]
    return Row(person.email, person.display_name, _bars(hours + blocks, begin, end) + proposals)


def _label(kind: str) -> str:
    return {"busy": "Busy", "tentative": "Tentative", "oof": "Out of office", "workingElsewhere": "Working elsewhere"}[
        kind
    ]


def _bars(spans: list[tuple[datetime, datetime, str, str]], begin: datetime, end: datetime) -> list[Bar]:
    length = (end - begin).total_seconds()  # 23 or 25 hours on a DST change
    result = []
    for a, b, kind, label in spans:
        if b <= begin or a >= end:
            continue
        a, b = max(a, begin), min(b, end)
        left = (a - begin).total_seconds() / length * 100
        result.append(Bar(round(left, 3), round(max((b - a).total_seconds() / length * 100, 0.3), 3), kind, label))
    return result
