"""The new-meeting page (prefilled from a "find a time" proposal) and the admin's choice of sender."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from meetings.models import InvitationSender, Meeting

pytestmark = pytest.mark.django_db


@pytest.fixture
def olga(client, owner, owner_calendar):  # type: ignore[no-untyped-def]
    owner.timezone = "Europe/Berlin"
    owner.save(update_fields=["timezone"])
    client.force_login(owner)
    return client


def test_the_page_is_prefilled_from_a_proposal_in_the_owners_zone(olga) -> None:  # type: ignore[no-untyped-def]
    query = "?start=2026-12-08T09:00:00%2B00:00&end=2026-12-08T09:30:00Z&attendees=carl@acme.test,b@x.test&title=Sync"
    page = olga.get(reverse("meetings:new") + query).content.decode()
    assert 'value="2026-12-08T10:00"' in page and 'value="2026-12-08T10:30"' in page  # 09:00 UTC in Berlin
    assert "carl@acme.test\nb@x.test</textarea>" in page and 'value="Sync"' in page


def test_an_unencoded_plus_in_the_offset_still_reads(olga) -> None:  # type: ignore[no-untyped-def]
    page = olga.get(reverse("meetings:new") + "?start=2026-12-08T11:00:00+01:00").content.decode()
    assert 'value="2026-12-08T11:00"' in page


def test_nonsense_parameters_leave_the_fields_empty_without_an_error(olga) -> None:  # type: ignore[no-untyped-def]
    response = olga.get(reverse("meetings:new") + "?start=yesterday&end=2026-12-08T10:00&title=" + "x" * 900)
    assert response.status_code == 200
    assert 'name="start"' in response.content.decode() and "yesterday" not in response.content.decode()


def test_colleagues_are_offered_by_name_and_outsiders_are_not(olga, colleague, outsider) -> None:  # type: ignore[no-untyped-def]
    page = olga.get(reverse("meetings:new")).content.decode()
    assert "carl@acme.test" in page and outsider.email not in page


def test_bad_input_gets_clear_errors_and_creates_nothing(olga, owner_calendar) -> None:  # type: ignore[no-untyped-def]
    form = {"calendar": owner_calendar.pk, "title": "X", "timezone": "Mars/Olympus", "start": "2026-12-08T10:00",
            "end": "2026-12-08T09:00", "attendees": "not an address"}  # fmt: skip
    page = olga.post(reverse("meetings:new"), form).content.decode()
    assert "not a known time zone" in page and "is not an email address" in page
    form.update(timezone="Europe/Berlin", attendees="carl@acme.test")
    page = olga.post(reverse("meetings:new"), form).content.decode()
    assert "must end after it starts" in page
    assert not Meeting.objects.exists() and mail.outbox == []


def test_a_colleagues_calendar_cannot_be_chosen(olga, colleague_calendar) -> None:  # type: ignore[no-untyped-def]
    form = {"calendar": colleague_calendar.pk, "title": "X", "timezone": "Europe/Berlin",
            "start": "2026-12-08T10:00", "end": "2026-12-08T11:00", "attendees": "carl@acme.test"}  # fmt: skip
    response = olga.post(reverse("meetings:new"), form)
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Meeting.objects.exists()


def test_the_add_a_colleague_box_adds_to_the_list(olga, owner_calendar, colleague_calendar, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    form = {"calendar": owner_calendar.pk, "title": "Lunch", "timezone": "Europe/Berlin", "start": "2026-12-08T12:00",
            "end": "2026-12-08T13:00", "attendees": "guest@elsewhere.test",
            "add_attendee": "Carl <carl@acme.test>"}  # fmt: skip
    with run_on_commit():
        assert olga.post(reverse("meetings:new"), form).status_code == 302
    assert sorted(m.to[0] for m in mail.outbox) == ["Carl <carl@acme.test>", "guest@elsewhere.test"]


def test_an_admin_chooses_the_sender(client, admin_user) -> None:  # type: ignore[no-untyped-def]
    client.force_login(admin_user)
    response = client.post(reverse("meetings:sender"), {"name": "Acme meetings", "email": "meetings@acme.test"})
    assert response.status_code == 302
    assert "Acme meetings &lt;meetings@acme.test&gt;" in client.get(reverse("meetings:sender")).content.decode()
    assert client.post(reverse("meetings:sender"), {"email": "nonsense"}).status_code == 200
    assert InvitationSender.objects.get().email == "meetings@acme.test"


def test_a_member_cannot_change_the_sender(client, member) -> None:  # type: ignore[no-untyped-def]
    client.force_login(member)
    assert client.post(reverse("meetings:sender"), {"email": "me@acme.test"}).status_code == 403
    assert not InvitationSender.objects.exists()
