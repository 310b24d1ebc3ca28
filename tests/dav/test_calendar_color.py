"""Calendar colours: chosen automatically (distinct from the owner's other calendars), changed on the form, and
the same colour on calsync's CalDAV server (Apple's calendar-color), read by PROPFIND and set by PROPPATCH."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from events import services
from events.models import Calendar
from integrations.models import Integration

from .test_protocol import cal_path, prop, responses

pytestmark = pytest.mark.django_db

COLOR = "{http://apple.com/ns/ical/}calendar-color"
ASK = '<d:propfind xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/"><d:prop><a:calendar-color/></d:prop></d:propfind>'


def _set(color: str) -> str:
    return ('<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:a="http://apple.com/ns/ical/"><d:set>'
            f"<d:prop><a:calendar-color>{color}</a:calendar-color></d:prop></d:set></d:propertyupdate>")  # fmt: skip


def test_new_calendars_each_get_a_colour_of_their_own(member):
    made = [services.calendar_create(owner=member, name=f"C{i}") for i in range(len(services.PALETTE))]
    assert len({c.color for c in made}) == len(services.PALETTE)
    assert made[0].color == services.PALETTE[0]
    # With every colour taken once, the next is one of those used least; a colour given is kept as given.
    made[0].delete()
    assert services.calendar_create(owner=member, name="Again").color == services.PALETTE[0]
    assert services.calendar_create(owner=member, name="Mine", color="#123456").color == "#123456"


def test_other_peoples_calendars_do_not_count(member, outsider):
    services.calendar_create(owner=outsider, name="Theirs")
    assert services.calendar_create(owner=member, name="Mine").color == services.PALETTE[0]


def test_the_new_calendar_form_starts_with_the_next_colour(member_client, calendar):
    calendar.color = services.PALETTE[0]
    calendar.save()
    form = member_client.get(reverse("events:calendar_create")).context["form"]
    assert form.initial["color"] == services.PALETTE[1]
    assert 'type="color"' in str(form["color"])


@pytest.mark.parametrize("bad", ["red", "#12345", "#gggggg", "", "#1234567"])
def test_the_form_refuses_what_is_not_a_colour(member_client, calendar, bad):
    response = member_client.post(
        reverse("events:calendar_edit", args=[calendar.pk]), {"name": "Work", "color": bad, "description": ""}
    )
    assert response.status_code == 200 and response.context["form"].errors["color"]
    calendar.refresh_from_db()
    assert calendar.color != bad


def test_propfind_shows_the_colour_chosen_on_the_form(dav, member_client, calendar):
    member_client.post(
        reverse("events:calendar_edit", args=[calendar.pk]), {"name": "Work", "color": "#0D9488", "description": ""}
    )
    (node,) = responses(dav, dav.propfind(cal_path(calendar), ASK)).values()
    assert prop(node, COLOR).text == "#0D9488FF"


def test_proppatch_sets_the_colour_the_pages_show_and_asks_for_a_sync(dav, member_client, member, calendar,
                                                                     run_on_commit):  # fmt: skip
    later = timezone.now() + timedelta(hours=1)
    integration = Integration.objects.create(tenant=member.tenant, user=member, calendar=calendar, provider="caldav",
                                             next_sync_at=later)  # fmt: skip
    with run_on_commit():
        response = dav.request("PROPPATCH", cal_path(calendar), _set("#DB2777FF"))
    (node,) = responses(dav, response).values()
    assert node.findtext("{DAV:}propstat/{DAV:}status") == "HTTP/1.1 200 OK"

    assert Calendar.objects.get(pk=calendar.pk).color == "#db2777"
    assert 'data-color="#db2777"' in member_client.get(reverse("events:calendar_index")).content.decode()
    integration.refresh_from_db()
    assert integration.next_sync_at < later  # the colour travels to connected calendars at the next dispatch


def test_proppatch_refuses_what_is_not_a_colour(dav, calendar):
    (node,) = responses(dav, dav.request("PROPPATCH", cal_path(calendar), _set("not a colour"))).values()
    assert "403" in node.findtext("{DAV:}propstat/{DAV:}status")
    assert Calendar.objects.get(pk=calendar.pk).color == calendar.color


def test_mkcalendar_without_a_colour_gets_one_of_its_own(dav, member, calendar):
    calendar.color = services.PALETTE[0]
    calendar.save()
    response = dav.request("MKCALENDAR", f"/caldav/calendars/{member.email}/new-one/")
    assert response.status_code == 201
    assert Calendar.objects.get(owner=member, dav_name="new-one").color == services.PALETTE[1]
