"""Calendar pages through Django's test client: validation messages, import and export, query counts."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from events import services
from events.convert import item_from_event
from events.ical import Component, Item, parse_calendar
from events.models import Calendar, Event, ImportJob

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    """`with on_commit():` runs transaction.on_commit callbacks (the import task) as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _form(calendar, **overrides) -> dict[str, str]:  # type: ignore[no-untyped-def]
    data = {
        "calendar": str(calendar.pk), "title": "Planning", "start_date": "2026-11-23", "start_time": "10:00",
        "end_date": "2026-11-23", "end_time": "11:00", "timezone": "Europe/Berlin", "repeat": "",
        "visibility": "PUBLIC", "show_as": "BUSY", "status": "CONFIRMED",
    }  # fmt: skip
    data.update(overrides)
    return data


def test_create_event_with_attendees_reminder_and_business_fields(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    response = member_client.post(
        reverse("events:event_create"),
        _form(calendar, attendees="Ann Smith <ann@example.com>\nbob@example.com", reminder_minutes="15",
              client="Initech", project="Launch", activity_type="Meeting", visibility="PRIVATE"),
    )  # fmt: skip
    assert response.status_code == 302
    event = Event.objects.get(calendar=calendar)
    assert event.start == datetime(2026, 11, 23, 9, tzinfo=ZoneInfo("UTC")) and event.timezone == "Europe/Berlin"
    assert [a["email"] for a in event.attendees] == ["ann@example.com", "bob@example.com"]
    assert event.alarms[0]["trigger"] == "-PT15M"
    assert (event.client, event.project, event.activity_type, event.visibility) == (
        "Initech", "Launch", "Meeting", "PRIVATE",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"end_time": "09:00"}, "ends before it starts"),
        ({"timezone": "Europe/Atlantis"}, "is not a time zone calsync knows"),
        ({"repeat": "CUSTOM", "rrule": "FREQ=SOMETIMES"}, "is not valid"),
        ({"repeat": "CUSTOM", "rrule": ""}, "Enter a rule"),
        ({"start_time": ""}, "Give a start and an end time"),
        ({"attendees": "not-an-address"}, "is not an email address"),
        ({"start_date": "2026-02-30"}, "Enter a valid date"),
        ({"title": ""}, "This field is required"),
    ],
)
def test_bad_event_input_gets_a_clear_message_and_stores_nothing(member_client, calendar, overrides, message) -> None:  # type: ignore[no-untyped-def]
    response = member_client.post(reverse("events:event_create"), _form(calendar, **overrides))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Event.objects.exists()


def test_single_events_are_not_shown_as_series(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    member_client.post(reverse("events:event_create"), _form(calendar))
    member_client.post(reverse("events:event_create"), _form(calendar, title="Weekly", repeat="WEEKLY"))
    week = member_client.get(reverse("events:grid_events") + "?start=2026-11-23&end=2026-11-30").json()["events"]
    single = next(e for e in week if e["title"] == "Planning")
    assert single["recurrenceId"] is None and "?occurrence=" not in single["url"] and not single["recurring"]
    assert {e["recurring"] for e in week if e["title"] == "Weekly"} == {True}


def test_all_day_event_end_date_is_inclusive_for_people(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    member_client.post(
        reverse("events:event_create"),
        _form(calendar, all_day="on", start_time="", end_time="", start_date="2026-12-24", end_date="2026-12-26"),
    )
    event = Event.objects.get()
    assert event.all_day and (event.end - event.start) == timedelta(days=3)
    week = member_client.get(reverse("events:grid_events") + "?start=2026-12-21&end=2026-12-28").json()["events"]
    assert [(e["start"], e["end"], e["allDay"]) for e in week] == [("2026-12-24", "2026-12-27", True)]


def test_edit_series_keeps_uid_and_bumps_sequence(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    member_client.post(reverse("events:event_create"), _form(calendar, repeat="WEEKLY", repeat_until="2026-12-31"))
    event = Event.objects.get()
    assert event.rrule == "FREQ=WEEKLY;UNTIL=20261231T225959Z"
    response = member_client.post(
        reverse("events:event_edit", args=[event.pk]), _form(calendar, title="Planning (new room)", repeat="WEEKLY")
    )
    assert response.status_code == 302
    edited = Event.objects.get()
    assert edited.uid == event.uid and edited.seq > event.seq and edited.title == "Planning (new room)"
    assert edited.rrule == "FREQ=WEEKLY"


def test_edit_form_round_trips_without_changing_anything(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    member_client.post(reverse("events:event_create"), _form(calendar, repeat="DAILY", reminder_minutes="10"))
    event = Event.objects.get()
    page = member_client.get(reverse("events:event_edit", args=[event.pk])).content.decode()
    assert 'value="2026-11-23"' in page and 'value="10:00"' in page and 'value="10"' in page


def test_week_and_list_pages_make_a_fixed_number_of_queries(
    member_client, calendar, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 23, 9, tzinfo=BERLIN)
    for i in range(30):
        begin = start + timedelta(hours=i)
        rrule = "FREQ=DAILY" if i % 3 == 0 else ""
        component = Component(
            uid=f"e{i}", summary=f"Event {i}", start=begin, end=begin + timedelta(minutes=30), rrule=rrule
        )
        services.item_save(calendar=calendar, item=Item(master=component))
    with django_assert_max_num_queries(10):
        response = member_client.get(reverse("events:grid_events") + "?start=2026-11-23&end=2026-11-30")
    assert len(response.json()["events"]) > 30
    with django_assert_max_num_queries(10):
        member_client.get(reverse("events:calendar_list") + "?from=2026-11-23&to=2026-12-31")


def test_hidden_calendars_are_left_out(member_client, calendar, member) -> None:  # type: ignore[no-untyped-def]
    other = services.calendar_create(owner=member, name="Personal")
    start = datetime(2026, 11, 24, 9, tzinfo=BERLIN)
    for cal, title in ((calendar, "Work thing"), (other, "Dentist")):
        component = Component(uid=title, summary=title, start=start, end=start + timedelta(hours=1))
        services.item_save(calendar=cal, item=Item(master=component))
    page = member_client.get(reverse("events:calendar_list") + f"?from=2026-11-23&hide={other.pk}").content.decode()
    assert "Work thing" in page and "Dentist" not in page
    member.hidden_calendars = [other.pk]  # the grid remembers it on the user (tests/events/test_grid.py)
    member.save(update_fields=["hidden_calendars"])
    week = member_client.get(reverse("events:grid_events") + "?start=2026-11-23&end=2026-11-30").json()["events"]
    assert [e["title"] for e in week] == ["Work thing"]


def test_export_then_import_into_another_calendar(member_client, calendar, member, on_commit) -> None:  # type: ignore[no-untyped-def]
    member_client.post(reverse("events:event_create"), _form(calendar, repeat="WEEKLY"))
    exported = member_client.get(reverse("events:calendar_export", args=[calendar.pk]))
    assert exported["Content-Type"] == "text/calendar; charset=utf-8"
    assert "BEGIN:VTIMEZONE" in exported.content.decode()
    target = services.calendar_create(owner=member, name="Copy")
    upload = SimpleUploadedFile("work.ics", exported.content, content_type="text/calendar")
    with on_commit():
        response = member_client.post(reverse("events:calendar_import", args=[target.pk]), {"file": upload})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("events:import_status", args=[job.pk])
    status = member_client.get(reverse("events:import_status", args=[job.pk]) + "?format=json").json()
    assert status == {"status": "done", "status_label": "Imported", "created": 1, "updated": 0, "problems": [],
                      "error": "", "finished": True}  # fmt: skip
    assert parse_calendar(exported.content) == parse_calendar(
        member_client.get(reverse("events:calendar_export", args=[target.pk])).content
    )
    # Importing again updates instead of duplicating.
    upload = SimpleUploadedFile("work.ics", exported.content, content_type="text/calendar")
    with on_commit():
        member_client.post(reverse("events:calendar_import", args=[target.pk]), {"file": upload})
    assert Event.objects.filter(calendar=target).count() == 1
    assert ImportJob.objects.first().updated_count == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"hello, this is not a calendar", "does not start with BEGIN:VCALENDAR"),
    ],
)
def test_import_refuses_files_that_are_not_icalendar(member_client, calendar, content, message) -> None:  # type: ignore[no-untyped-def]
    upload = SimpleUploadedFile("x.ics", content)
    response = member_client.post(reverse("events:calendar_import", args=[calendar.pk]), {"file": upload})
    assert response.status_code == 200 and message in response.content.decode()
    assert not ImportJob.objects.exists()


def test_import_refuses_oversized_files(member_client, calendar, settings) -> None:  # type: ignore[no-untyped-def]
    settings.ICS_IMPORT_MAX_BYTES = 100
    upload = SimpleUploadedFile("x.ics", b"BEGIN:VCALENDAR\r\n" + b"X" * 200)
    response = member_client.post(reverse("events:calendar_import", args=[calendar.pk]), {"file": upload})
    assert "the limit is" in response.content.decode()


def test_import_reports_bad_items_and_keeps_the_good_ones(member_client, calendar, on_commit) -> None:  # type: ignore[no-untyped-def]
    body = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
        "BEGIN:VEVENT\r\nUID:good\r\nDTSTART:20261123T100000Z\r\nDTEND:20261123T110000Z\r\nSUMMARY:Good\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:backwards\r\nDTSTART:20261123T100000Z\r\nDTEND:20261122T110000Z\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:badrule\r\nDTSTART:20261123T100000Z\r\nRRULE:FREQ=SOMETIMES\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    upload = SimpleUploadedFile("mixed.ics", body.encode())
    with on_commit():
        member_client.post(reverse("events:calendar_import", args=[calendar.pk]), {"file": upload})
    job = ImportJob.objects.get()
    assert job.status == "done" and job.created_count == 1
    assert {p["uid"] for p in job.problems} == {"backwards", "badrule"}
    page = member_client.get(reverse("events:import_status", args=[job.pk])).content.decode()
    assert "ends before it starts" in page


def test_broken_icalendar_fails_the_job_with_the_reason(member_client, calendar, on_commit) -> None:  # type: ignore[no-untyped-def]
    upload = SimpleUploadedFile("broken.ics", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n")
    with on_commit():
        member_client.post(reverse("events:calendar_import", args=[calendar.pk]), {"file": upload})
    job = ImportJob.objects.get()
    assert job.status == "failed" and "not complete iCalendar" in job.error and job.payload == ""
    assert not Event.objects.exists()


def test_bad_occurrence_keys_are_404_not_500(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    member_client.post(reverse("events:event_create"), _form(calendar, repeat="WEEKLY"))
    event = Event.objects.get()
    assert member_client.get(reverse("events:occurrence_edit", args=[event.pk, "yesterday"])).status_code == 404
    # An unreadable occurrence key shows the series as a whole, not some occurrence and not an error.
    page = member_client.get(reverse("events:event_detail", args=[event.pk]) + "?occurrence=junk")
    assert page.status_code == 200
    when = page.content.decode()
    assert "Monday 23 November 2026, 10:00 – 11:00" in when and "this occurrence" not in when
    assert reverse("events:event_edit", args=[event.pk]) in when and "Edit this occurrence" not in when
    # whereas a real key shows that occurrence
    second = member_client.get(reverse("events:event_detail", args=[event.pk]) + "?occurrence=20261130T090000Z")
    assert "Monday 30 November 2026, 10:00 – 11:00" in second.content.decode()
    assert "this occurrence" in second.content.decode()


def test_calendar_list_counts_events_not_occurrences_or_tasks(
    member_client, calendar, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    member_client.post(reverse("events:event_create"), _form(calendar, repeat="WEEKLY"))
    services.calendar_create(owner=calendar.owner, name="Second")
    services.occurrence_cancel(master=Event.objects.get(), recurrence_id=datetime(2026, 11, 30, 10, tzinfo=BERLIN))
    member_client.post(reverse("events:task_create"), {"calendar": calendar.pk, "title": "A task"})
    with django_assert_max_num_queries(6):
        page = member_client.get(reverse("events:calendar_index")).content.decode()
    assert "<td>1</td>" in page and "<td>0</td>" in page


def test_the_only_calendar_cannot_be_deleted(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    response = member_client.post(reverse("events:calendar_delete", args=[calendar.pk]), follow=True)
    assert "only calendar" in response.content.decode()
    assert Calendar.objects.filter(pk=calendar.pk).exists()


def test_tasks_can_be_created_completed_and_reopened(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    data = {"calendar": calendar.pk, "title": "File report", "due": "2026-11-30T17:00", "priority": "1"}
    member_client.post(reverse("events:task_create"), data)
    task = Event.objects.get(kind="VTODO")
    assert task.due is not None and task.priority == 1 and task.completed is None
    member_client.post(reverse("events:task_edit", args=[task.pk]), {**data, "completed": "on"})
    task.refresh_from_db()
    assert task.status == "COMPLETED" and task.completed is not None and task.percent_complete == 100
    member_client.post(reverse("events:task_edit", args=[task.pk]), data)
    task.refresh_from_db()
    assert task.status == "NEEDS-ACTION" and task.completed is None
    assert "File report" in member_client.get(reverse("events:task_list")).content.decode()


@pytest.mark.parametrize("query", ["?week=0001-01-01", "?week=9999-12-31", "?week=nonsense"])
def test_absurd_dates_in_the_address_fall_back_to_today(member_client, query) -> None:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    week = member_client.get(reverse("events:calendar") + query)
    listing = member_client.get(reverse("events:calendar_list") + query.replace("week", "from"))
    today = timezone.now().astimezone(BERLIN).date().isoformat()  # the member's time zone
    assert week.status_code == listing.status_code == 200
    assert f'data-initial-date="{today}"' in week.content.decode()
    assert f'name="from" value="{today}"' in listing.content.decode()


def test_a_save_based_on_a_stale_form_does_not_overwrite_a_newer_change(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    member_client.post(reverse("events:event_create"), _form(calendar))
    event = Event.objects.get()
    page = member_client.get(reverse("events:event_edit", args=[event.pk])).content.decode()
    assert f'name="version" value="{event.seq}"' in page
    services.item_save(calendar=calendar, item=replace(item_from_event(event), master=replace(
        item_from_event(event).master, summary="Changed by a sync meanwhile")), name=event.name)  # fmt: skip
    response = member_client.post(
        reverse("events:event_edit", args=[event.pk]), _form(calendar, title="My stale edit", version=str(event.seq))
    )
    assert "changed this event while you were editing" in response.content.decode()
    assert Event.objects.get().title == "Changed by a sync meanwhile"
