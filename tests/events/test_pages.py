"""What calendar pages show and pre-fill: one event copied into two calendars, floating times, the main calendar."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from events import services
from events.ical import Component, Item
from events.models import Event

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def _save(calendar, uid: str, title: str, start, end, **fields) -> Event:  # type: ignore[no-untyped-def]
    component = Component(uid=uid, summary=title, start=start, end=end, **fields)
    return services.item_save(calendar=calendar, item=Item(master=component)).event


# --- 7a: one UID in two calendars is two events --------------------------------------------------------


@pytest.fixture
def two_copies(calendar, member):  # type: ignore[no-untyped-def]
    """The same weekly series exported from Work and imported into Home, then renamed there."""
    home = services.calendar_create(owner=member, name="Home")
    start = datetime(2026, 11, 24, 9, tzinfo=BERLIN)
    work = _save(calendar, "shared@example.com", "Standup", start, start + timedelta(minutes=15), rrule="FREQ=WEEKLY")
    copy = _save(home, "shared@example.com", "Standup (home copy)", start + timedelta(hours=3),
                 start + timedelta(hours=3, minutes=15), rrule="FREQ=WEEKLY")  # fmt: skip
    return work, copy


@pytest.mark.parametrize("page", ["events:calendar", "events:calendar_list"])
def test_the_same_uid_in_two_calendars_shows_both(member_client, two_copies, page) -> None:  # type: ignore[no-untyped-def]
    work, copy = two_copies
    query = "?week=2026-11-23" if page == "events:calendar" else "?from=2026-11-23&to=2026-11-29"
    text = member_client.get(reverse(page) + query).content.decode()
    assert "Standup (home copy)" in text and text.replace("Standup (home copy)", "").count("Standup") == 1
    # Each links to its own event, with its own occurrence key.
    assert f"/events/{work.pk}/?occurrence=20261124T080000Z" in text
    assert f"/events/{copy.pk}/?occurrence=20261124T110000Z" in text


def test_the_occurrence_link_of_each_copy_opens_that_copy(member_client, two_copies) -> None:  # type: ignore[no-untyped-def]
    work, copy = two_copies
    page = member_client.get(reverse("events:event_detail", args=[copy.pk]) + "?occurrence=20261124T110000Z")
    assert "Standup (home copy)" in page.content.decode() and "Home" in page.content.decode()
    edit = member_client.get(reverse("events:occurrence_edit", args=[work.pk, "20261124T080000Z"]))
    assert edit.status_code == 200 and 'value="Standup"' in edit.content.decode()
