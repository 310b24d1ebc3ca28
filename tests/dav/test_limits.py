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
