"""Provider adapters expand through events.recurrence: a rule from year 1 costs them a window's steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from events.ical import Component, as_utc
from integrations.exchange.adapter import _index_of
from integrations.microsoft.adapter import MicrosoftSide
from tests.hostile import CORPUS, WEEK


def test_graph_cancelled_occurrences_of_a_rule_from_year_one(settings) -> None:  # type: ignore[no-untyped-def]
    settings.MICROSOFT_SYNC_PAST_DAYS, settings.MICROSOFT_SYNC_FUTURE_DAYS = 1, 1
    settings.RECURRENCE_MAX_STEPS = 100  # from year 1 without the jump: 17 million
    side = MicrosoftSide(SimpleNamespace(prefix="/me", owner="me"), "calendar")  # type: ignore[arg-type]
    master = CORPUS["HOURLY from year 1"]().master
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    listed = [{"originalStart": (today + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")} for h in range(24)]
    cancelled = side._cancelled(master, listed)
    assert len(cancelled) == 24 + 1  # yesterday's hours, and the window's inclusive end
    assert min(as_utc(c) for c in cancelled) == today - timedelta(days=1)


def test_ews_occurrence_index_is_bounded() -> None:
    weekly = Component(uid="w", start=WEEK, end=WEEK + timedelta(hours=1), rrule="FREQ=WEEKLY;COUNT=10")
    assert _index_of(weekly, WEEK + timedelta(days=14)) == 3
    assert _index_of(weekly, WEEK + timedelta(days=15)) is None
    # EWS numbers occurrences from the first: past its 5,000-occurrence limit the answer is "not found".
    assert _index_of(CORPUS["HOURLY from year 1"]().master, WEEK) is None
