"""An owner, a colleague in the same organisation and an outsider; a meeting from the owner to them and a stranger."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from events.ical import Attendee
from meetings.services import meeting_create
from tests.factories import CalendarFactory, UserFactory

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 12, 8, 10, tzinfo=BERLIN)
END = datetime(2026, 12, 8, 11, tzinfo=BERLIN)
EXTERNAL = "guest@elsewhere.test"


@pytest.fixture
def owner(tenant):  # type: ignore[no-untyped-def]
    return UserFactory(tenant=tenant, email="olga@acme.test", first_name="Olga", last_name="Owner")


@pytest.fixture
def owner_calendar(owner):  # type: ignore[no-untyped-def]
    return CalendarFactory(owner=owner, name="Olga's work")


@pytest.fixture
def colleague(tenant):  # type: ignore[no-untyped-def]
    return UserFactory(tenant=tenant, email="carl@acme.test", first_name="Carl")


@pytest.fixture
def colleague_calendar(colleague):  # type: ignore[no-untyped-def]
    return CalendarFactory(owner=colleague, name="Carl's calendar")


@pytest.fixture
def make_meeting(owner, owner_calendar, colleague_calendar, run_on_commit):  # type: ignore[no-untyped-def]
    def make(*emails: str, title: str = "Budget review"):  # type: ignore[no-untyped-def]
        people = [Attendee(email=e) for e in (emails or ("carl@acme.test", EXTERNAL))]
        with run_on_commit():
            return meeting_create(
                owner=owner,
                calendar=owner_calendar,
                title=title,
                description="Numbers for Q1",
                start=START,
                end=END,
                attendees=people,
            )

    return make
