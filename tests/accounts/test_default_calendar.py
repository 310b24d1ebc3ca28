"""Each user's main calendar: chosen in Settings, used by new events and new integrations, and a deleted choice
falls back to the first calendar left."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import services as account_services
from events import services
from events.models import Calendar
from events.selectors import main_calendar
from tests.factories import CalendarFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def home(member, calendar):  # type: ignore[no-untyped-def]
    """A second calendar, made after `calendar` (Work), so that without a choice Work is the main one."""
    return services.calendar_create(owner=member, name="Home")


def _settings_post(member, **changes):  # type: ignore[no-untyped-def]
    data = {
        "first_name": member.first_name,
        "last_name": member.last_name,
        "timezone": member.timezone,
        "week_start": member.week_start,
    }  # what the settings page posts
    return {**data, **changes}


def test_without_a_choice_the_first_calendar_is_main(member, calendar, home, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert main_calendar(Calendar.objects.filter(owner=member)) == calendar


def test_the_chosen_calendar_is_main(member, calendar, home, django_assert_num_queries):
    account_services.profile_update(user=member, first_name="", last_name="", timezone="UTC", default_calendar=home)
    with django_assert_num_queries(1):
        assert main_calendar(Calendar.objects.filter(owner=member)) == home


def test_settings_page_offers_own_event_calendars_only(member_client, member, calendar, home, outsider):
    tasks = services.calendar_create(owner=member, name="Chores")
    tasks.components = "VTODO"
    tasks.save()
    theirs = CalendarFactory(owner=outsider, name="Globex board")

    page = member_client.get(reverse("settings")).content.decode()

    assert 'name="default_calendar"' in page
    assert f'value="{calendar.pk}" selected' in page and f'value="{home.pk}"' in page
    assert "Chores" not in page and theirs.name not in page


def test_choosing_in_settings(member_client, member, calendar, home):
    response = member_client.post(reverse("settings"), _settings_post(member, default_calendar=home.pk))
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.default_calendar == home


@pytest.mark.parametrize("whose", ["outsider", "colleague", "tasks"])
def test_another_calendar_cannot_be_chosen(member_client, member, calendar, outsider, tenant, whose):
    if whose == "tasks":
        other = services.calendar_create(owner=member, name="Chores")
        other.components = "VTODO"
        other.save()
    else:
        owner = outsider if whose == "outsider" else CalendarFactory(owner__tenant=tenant).owner
        other = CalendarFactory(owner=owner)
    response = member_client.post(reverse("settings"), _settings_post(member, default_calendar=other.pk))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    member.refresh_from_db()
    assert member.default_calendar is None


def test_the_service_refuses_someone_elses_calendar(member, outsider):
    theirs = CalendarFactory(owner=outsider)
    with pytest.raises(ValidationError):
        account_services.profile_update(
            user=member, first_name="", last_name="", timezone="UTC", default_calendar=theirs
        )


def test_new_events_start_in_the_main_calendar(member_client, member, calendar, home):
    member.default_calendar = home
    member.save()
    form = member_client.get(reverse("events:event_create")).context["form"]
    assert form.initial["calendar"] == home


def test_new_integrations_start_on_the_main_calendar(member_client, member, calendar, home):
    member.default_calendar = home
    member.save()
    form = member_client.get(reverse("integrations:connect_calsync")).context["form"]
    assert form.initial["calendar"] == home and form.initial["other"] == calendar


def test_deleting_the_main_calendar_falls_back(member_client, member, calendar, home):
    member.default_calendar = home
    member.save()

    response = member_client.post(reverse("events:calendar_delete", args=[home.pk]), follow=True)

    member.refresh_from_db()
    assert member.default_calendar is None
    assert main_calendar(Calendar.objects.filter(owner=member)) == calendar
    assert "Your main calendar is now “Work”." in response.content.decode()
    assert member_client.get(reverse("events:event_create")).context["form"].initial["calendar"] == calendar


def test_the_calendar_list_marks_the_main_calendar(member_client, member, calendar, home):
    member.default_calendar = home
    member.save()
    rows = member_client.get(reverse("events:calendar_index")).content.decode().split('data-testid="calendar-row"')
    marked = [row.split("</td>")[0] for row in rows[1:] if "main-calendar" in row]
    assert len(marked) == 1 and "Home" in marked[0]
