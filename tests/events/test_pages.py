"""What calendar pages show and pre-fill: one event copied into two calendars, floating times, the main calendar."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from events import services
from events.convert import item_from_event
from events.ical import Component, Item
from events.models import Event
from integrations.models import Integration

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


@pytest.mark.parametrize("page", ["events:grid_events", "events:calendar_list"])
def test_the_same_uid_in_two_calendars_shows_both(member_client, two_copies, page) -> None:  # type: ignore[no-untyped-def]
    work, copy = two_copies
    query = "?start=2026-11-23&end=2026-11-30" if page == "events:grid_events" else "?from=2026-11-23&to=2026-11-29"
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


# --- 7b: floating and all-day events keep their kind of time through the web form -----------------------


def _edit_form(member_client, event: Event) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The edit form's fields as the browser sends them back untouched."""
    form = member_client.get(reverse("events:event_edit", args=[event.pk])).context["form"]
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value in (None, False, ""):
            continue
        if value is True:
            data[name] = "on"
        elif isinstance(value, time):
            data[name] = value.strftime("%H:%M")
        else:
            data[name] = value.isoformat() if isinstance(value, date) else str(value)
    return data


def test_a_floating_event_edited_in_the_form_stays_floating(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 24, 9, 30)  # floating: 9:30 wherever the reader is
    event = _save(calendar, "float@example.com", "Morning run", start, start + timedelta(hours=1))
    page = member_client.get(reverse("events:event_edit", args=[event.pk])).content.decode()
    assert 'placeholder="No time zone (floating)"' in page and 'name="timezone" value=' not in page
    data = _edit_form(member_client, event)
    assert data.get("timezone", "") == "" and data["start_time"] == "09:30"
    response = member_client.post(reverse("events:event_edit", args=[event.pk]), {**data, "title": "Evening run"})
    assert response.status_code == 302
    event.refresh_from_db()
    assert (event.title, event.timezone) == ("Evening run", "")
    stored = item_from_event(event).master
    assert stored.start == datetime(2026, 11, 24, 9, 30) and stored.end == datetime(2026, 11, 24, 10, 30)


def test_a_floating_series_keeps_a_floating_until(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 24, 9, 30)
    event = _save(calendar, "float@example.com", "Run", start, start + timedelta(hours=1), rrule="FREQ=DAILY")
    data = {**_edit_form(member_client, event), "repeat_until": "2026-11-30"}
    assert member_client.post(reverse("events:event_edit", args=[event.pk]), data).status_code == 302
    event.refresh_from_db()
    assert event.rrule == "FREQ=DAILY;UNTIL=20261130T235959" and event.timezone == ""


def test_an_all_day_event_edited_in_the_form_stays_all_day(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    event = _save(calendar, "day@example.com", "Offsite", date(2026, 11, 24), date(2026, 11, 26))
    data = _edit_form(member_client, event)
    assert data["all_day"] == "on" and data["end_date"] == "2026-11-25"
    assert (
        member_client.post(reverse("events:event_edit", args=[event.pk]), {**data, "title": "Retreat"}).status_code
        == 302
    )
    stored = item_from_event(Event.objects.get(pk=event.pk)).master
    assert (stored.summary, stored.start, stored.end) == ("Retreat", date(2026, 11, 24), date(2026, 11, 26))


def test_a_zoned_event_keeps_its_own_zone(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 24, 9, tzinfo=ZoneInfo("America/New_York"))
    event = _save(calendar, "ny@example.com", "Call", start, start + timedelta(hours=1))
    data = _edit_form(member_client, event)
    assert (data["timezone"], data["start_time"]) == ("America/New_York", "09:00")
    member_client.post(reverse("events:event_edit", args=[event.pk]), {**data, "title": "Call NY"})
    event.refresh_from_db()
    assert event.timezone == "America/New_York" and event.start == start


def test_an_occurrence_of_a_floating_series_stays_floating(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 24, 9, 30)
    event = _save(calendar, "float@example.com", "Run", start, start + timedelta(hours=1), rrule="FREQ=DAILY")
    url = reverse("events:occurrence_edit", args=[event.pk, "20261125T093000Z"])  # floating instants key as UTC
    form = member_client.get(url).context["form"]
    assert form["timezone"].value() == "" and form["start_time"].value().strftime("%H:%M") == "09:30"
    data = {"title": "Long run", "start_date": "2026-11-25", "start_time": "10:00", "end_date": "2026-11-25",
            "end_time": "12:00", "timezone": "", "visibility": "PUBLIC", "show_as": "BUSY",
            "status": "CONFIRMED", "version": str(event.seq)}  # fmt: skip
    assert member_client.post(url, data).status_code == 302
    (override,) = item_from_event(Event.objects.get(pk=event.pk)).overrides
    assert override.summary == "Long run" and override.start == datetime(2026, 11, 25, 10)


# --- 7d: the main calendar is the one pre-selected ----------------------------------------------------------


@pytest.fixture
def main_and_another(member):  # type: ignore[no-untyped-def]
    """The calendar made at sign-up, and a later one whose name sorts first."""
    main = services.calendar_create(owner=member, name="Work")
    services.calendar_create(owner=member, name="Aardvark club")
    return main


def _selected(response, field: str = "calendar") -> str:  # type: ignore[no-untyped-def]
    form = response.context["form"]
    return str(form[field].value())


def test_new_event_and_new_task_preselect_the_main_calendar(member_client, main_and_another) -> None:  # type: ignore[no-untyped-def]
    assert _selected(member_client.get(reverse("events:event_create"))) == str(main_and_another.pk)
    assert _selected(member_client.get(reverse("events:task_create"))) == str(main_and_another.pk)


def test_the_integration_choice_step_preselects_the_main_calendar(member_client, main_and_another) -> None:  # type: ignore[no-untyped-def]
    choice = member_client.get(reverse("integrations:connect_calsync"))
    assert _selected(choice) == str(main_and_another.pk)
    assert _selected(choice, "other") not in ("", "None", str(main_and_another.pk))  # never paired with itself
    assert not Integration.objects.exists()


# --- floating and all-day times read as given, wherever the reader is -------------------------------------


def test_floating_time_shows_as_its_clock_time(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    event = _save(calendar, "run@example.com", "Run", datetime(2026, 11, 24, 7, 30), datetime(2026, 11, 24, 8, 30))
    week = member_client.get(reverse("events:grid_events") + "?start=2026-11-23&end=2026-11-30").json()["events"]
    assert (week[0]["start"], week[0]["end"]) == ("2026-11-24T07:30:00", "2026-11-24T08:30:00")
    detail = member_client.get(reverse("events:event_detail", args=[event.pk])).content.decode()
    assert "Tuesday 24 November 2026, 07:30 – 08:30" in detail


def test_the_list_groups_by_the_readers_day(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    late = datetime(2026, 11, 24, 0, 30, tzinfo=BERLIN)  # Monday 23:30 in UTC
    _save(calendar, "late@example.com", "Night shift", late, late + timedelta(hours=1))
    page = member_client.get(reverse("events:calendar_list") + "?from=2026-11-23&to=2026-11-29").content.decode()
    assert "Monday 23 November" not in page
    assert page.index("Tuesday 24 November 2026") < page.index("Night shift")


def test_an_all_day_event_shows_its_own_date_west_of_utc(member_client, member, calendar) -> None:  # type: ignore[no-untyped-def]
    member.timezone = "America/New_York"
    member.save(update_fields=["timezone"])
    event = _save(calendar, "day@example.com", "Offsite", date(2026, 11, 24), date(2026, 11, 25))
    detail = member_client.get(reverse("events:event_detail", args=[event.pk])).content.decode()
    assert "Tuesday 24 November 2026 (all day)" in detail
