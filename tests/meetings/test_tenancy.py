"""Meetings never cross organisations: scope helpers, copies, answers and replies."""

from __future__ import annotations

from dataclasses import replace

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from accounts.tenancy import Scope
from events.convert import item_from_event
from events.models import Event
from events.services import item_save
from meetings import links, services
from meetings.models import Meeting
from tests.factories import CalendarFactory, UserFactory

from .conftest import EXTERNAL

pytestmark = pytest.mark.django_db


def test_the_colleagues_offered_are_the_organisations_active_members_only(owner, colleague, outsider, tenant) -> None:  # type: ignore[no-untyped-def]
    gone = UserFactory(tenant=tenant, email="gone@acme.test", is_active=False)
    found = set(Scope(owner).colleagues())
    assert colleague in found and owner not in found and outsider not in found and gone not in found


def test_meeting_of_answers_only_for_the_users_own_events(make_meeting, owner, colleague, colleague_calendar) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    copy = Event.objects.get(calendar=colleague_calendar, uid=meeting.uid)
    assert Scope(colleague).meeting_of(copy) == meeting
    with pytest.raises(PermissionDenied):
        Scope(owner).meeting_of(copy)


def test_the_same_uid_in_another_organisation_is_not_this_meeting(make_meeting, outsider) -> None:  # type: ignore[no-untyped-def]
    meeting = make_meeting()
    mine = Event.objects.get(calendar=meeting.calendar, uid=meeting.uid)
    theirs = item_save(calendar=CalendarFactory(owner=outsider), item=item_from_event(mine)).event
    assert Scope(outsider).meeting_of(theirs) is None
    # Their edits are theirs: nothing refuses them and nothing reaches the meeting.
    item = item_from_event(theirs)
    item_save(calendar=theirs.calendar, item=replace(item, master=replace(item.master, summary="Theirs")))
    assert Event.objects.get(pk=mine.pk).title == "Budget review"


def test_an_answer_link_answers_for_its_own_person_and_meeting_only(client, make_meeting, owner_calendar) -> None:  # type: ignore[no-untyped-def]
    first = make_meeting()
    second = make_meeting(title="Second")
    url = reverse("meetings:answer", args=[links.answer_token(first, EXTERNAL)])
    client.post(url, {"answer": "accept"})
    answers = {
        m.uid: {a["email"]: a["partstat"] for a in Event.objects.get(calendar=owner_calendar, uid=m.uid).attendees}
        for m in (first, second)
    }
    assert answers[first.uid][EXTERNAL] == "ACCEPTED" and answers[second.uid][EXTERNAL] == "NEEDS-ACTION"
    assert answers[first.uid]["carl@acme.test"] == "NEEDS-ACTION"


def test_another_organisations_admin_cannot_see_or_set_our_sender(client, owner, outsider) -> None:  # type: ignore[no-untyped-def]
    services.sender_update(tenant=owner.tenant, name="Acme meetings", email="meetings@acme.test")
    client.force_login(outsider)
    page = client.get(reverse("meetings:sender")).content.decode()
    assert "meetings@acme.test" not in page
    client.post(reverse("meetings:sender"), {"name": "Globex", "email": "x@globex.test"})
    assert services.sender_for(owner.tenant) == "Acme meetings <meetings@acme.test>"
    assert Meeting.objects.count() == 0
