"""Every size guard of the CalDAV side at its boundary: exactly the limit is accepted, one more is refused."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from dav.models import AppPassword
from dav.services import app_password_create
from events.models import Event
from tests.dav.conftest import vevent
from tests.dav.test_protocol import cal_path

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("spare", "stored"), [(0, True), (-1, False)])
def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_refused(dav, calendar, settings, spare,
                                                                          stored) -> None:  # fmt: skip
    body = vevent("edge", "DESCRIPTION:" + "x" * 500)
    settings.DAV_MAX_BODY_BYTES = len(body.encode()) + spare
    response = dav.put(cal_path(calendar) + "edge.ics", body)
    assert response.status_code == (201 if stored else 413), response.content
    assert Event.objects.filter(calendar=calendar, uid="edge").exists() is stored


@pytest.mark.parametrize(("length", "accepted"), [(100, True), (101, False)])
def test_an_app_password_name_may_have_a_hundred_characters(member, length, accepted) -> None:  # type: ignore[no-untyped-def]
    if accepted:
        assert app_password_create(user=member, label="d" * length).app_password.label == "d" * length
    else:
        with pytest.raises(ValidationError, match="under 100 characters"):
            app_password_create(user=member, label="d" * length)
        assert not AppPassword.objects.exists()


@pytest.mark.parametrize(("length", "made"), [(200, True), (201, False)])
def test_a_calendar_address_name_may_have_two_hundred_characters(dav, member, length, made) -> None:  # type: ignore[no-untyped-def]
    from events.models import Calendar

    name = "c" * length
    response = dav.request("MKCALENDAR", f"/caldav/calendars/{member.email}/{name}/")
    assert response.status_code == (201 if made else 400), response.content
    assert Calendar.objects.filter(owner=member, dav_name=name).exists() is made


@pytest.mark.parametrize(("length", "stored"), [(255, True), (256, False)])
def test_a_resource_name_may_have_255_characters(dav, calendar, length, stored) -> None:  # type: ignore[no-untyped-def]
    name = "r" * (length - len(".ics")) + ".ics"
    response = dav.put(cal_path(calendar) + name, vevent(f"named-{length}"))
    assert response.status_code == (201 if stored else 400), response.content
    assert Event.objects.filter(calendar=calendar, uid=f"named-{length}").exists() is stored
