"""The import size guard at its boundary: a file of exactly the limit is taken, one byte more is refused."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from events.models import ImportJob

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
