"""Every size and range guard of events at its boundary: exactly the limit is taken, one more is refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from events.ical import Component, ICalError
from events.limits import validate_component
from events.models import ImportJob
from events.services import CalendarChanges, calendar_properties_check, calendar_properties_update

pytestmark = pytest.mark.django_db

ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:edge\r\nDTSTART:20261123T100000Z\r\n"
    b"DTEND:20261123T110000Z\r\nSUMMARY:Edge\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.mark.parametrize(("spare", "taken"), [(0, True), (-1, False)])
def test_an_import_of_exactly_the_limit_is_taken(member_client, calendar, settings, spare, taken) -> None:  # type: ignore[no-untyped-def]
    settings.ICS_IMPORT_MAX_BYTES = len(ICS) + spare
    upload = SimpleUploadedFile("edge.ics", ICS)
    response = member_client.post(reverse("events:calendar_import", args=[calendar.pk]), {"file": upload})
    assert ImportJob.objects.exists() is taken
    assert ("the limit is" in response.content.decode()) is not taken


_START = datetime(2026, 11, 23, 9, tzinfo=UTC)
# Free-text fields and what the database column holds (events.ical._LIMITS); numbers and their ranges.
_EDGES = [("uid", 255), ("summary", 500), ("location", 500), ("url", 1000), ("client", 200), ("project", 200),
          ("activity_type", 200)]  # fmt: skip


@pytest.mark.parametrize(("field", "limit"), _EDGES)
def test_text_fields_take_exactly_what_the_column_holds(field, limit) -> None:  # type: ignore[no-untyped-def]
    def component(length: int) -> Component:
        return replace(Component(uid="edge", start=_START, end=_START), **{field: "u" * length})

    validate_component(component(limit))
    with pytest.raises(ICalError, match=f"longer than calsync stores \\({limit} characters\\)"):
        validate_component(component(limit + 1))


@pytest.mark.parametrize(("field", "highest"), [("priority", 9), ("percent_complete", 100)])
def test_numbers_take_their_whole_range_and_no_more(field, highest) -> None:  # type: ignore[no-untyped-def]
    for fine in (0, highest):
        validate_component(Component(kind="VTODO", uid="t", **{field: fine}))
    for wrong in (-1, highest + 1):
        with pytest.raises(ICalError, match="must be between 0 and"):
            validate_component(Component(kind="VTODO", uid="t", **{field: wrong}))


def test_client_properties_take_four_kilobytes_each_and_fifty_in_all(calendar) -> None:  # type: ignore[no-untyped-def]
    assert calendar_properties_check(CalendarChanges(dead={"{x}a": "v" * 4096})) == {}
    assert "at most 4 KB" in calendar_properties_check(CalendarChanges(dead={"{x}a": "v" * 4097}))["dead"]
    calendar_properties_update(calendar=calendar, changes=CalendarChanges(dead={f"{{x}}p{n}": "v" for n in range(50)}))
    assert len(calendar.dav_properties) == 50
    with pytest.raises(ValueError, match="at most 50 client properties"):
        calendar_properties_update(calendar=calendar, changes=CalendarChanges(dead={"{x}one-more": "v"}))
