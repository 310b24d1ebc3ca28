"""Events for the reports page's tests, written through the one write path so the time index follows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest

from business.models import Client
from events import services
from events.ical import parse_calendar
from events.models import Event
from tests.factories import CalendarFactory, UserFactory


@pytest.fixture
def book() -> Callable[..., Event]:
    """book(calendar, "uid", date, hour, hours, client="Acme", private=False): one timed event, in UTC."""

    def save(calendar, uid: str, day: date, hour: int, hours: float, client: str = "", private: bool = False):  # type: ignore[no-untyped-def]
        start = datetime(day.year, day.month, day.day, hour)
        end = start + timedelta(hours=hours)
        lines = [f"UID:{uid}", "DTSTAMP:20261101T000000Z", f"DTSTART:{start:%Y%m%dT%H%M%SZ}",
                 f"DTEND:{end:%Y%m%dT%H%M%SZ}", f"SUMMARY:{uid}"]  # fmt: skip
        lines += [f"X-CALSYNC-CLIENT:{client}"] if client else []
        lines += ["CLASS:PRIVATE"] if private else []
        text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        text += "\r\n".join(lines) + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        return services.item_save(calendar=calendar, item=parse_calendar(text)[0]).event

    return save


@pytest.fixture
def colleague(tenant):  # type: ignore[no-untyped-def]
    return UserFactory(tenant=tenant, email="colleague@acme.test")


@pytest.fixture
def colleague_calendar(colleague):  # type: ignore[no-untyped-def]
    return CalendarFactory(owner=colleague, tenant=colleague.tenant, name="Colleague's")


@pytest.fixture
def outsider_calendar(outsider):  # type: ignore[no-untyped-def]
    return CalendarFactory(owner=outsider, tenant=outsider.tenant, name="Globex work")


@pytest.fixture
def november(book, calendar, colleague_calendar, outsider_calendar):  # type: ignore[no-untyped-def]
    """The member: 3 h Acme (one private), 1 h no client; the colleague: 2 h Acme, 4 h Initech; Globex elsewhere."""
    book(calendar, "member-acme", date(2026, 11, 2), 9, 2, "Acme")
    book(calendar, "member-secret", date(2026, 11, 3), 9, 1, "Acme", private=True)
    book(calendar, "member-none", date(2026, 11, 4), 9, 1)
    book(colleague_calendar, "colleague-acme", date(2026, 11, 5), 9, 2, "Acme")
    book(colleague_calendar, "colleague-initech", date(2026, 11, 6), 9, 4, "Initech", private=True)
    book(outsider_calendar, "outsider-globex", date(2026, 11, 2), 9, 8, "Globex Secret Client")
    return Client.objects.get(tenant=calendar.tenant, name="Acme")
