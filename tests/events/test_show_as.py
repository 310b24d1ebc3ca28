"""How an event's time shows (busy, free, tentative, out of office, working elsewhere) and a provider's event
type (focus time, working location...): on the week and list pages, the event page, and the event form."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from events import services
from events.models import Event
from tests.sync.items import event

from .test_views import _form

pytestmark = pytest.mark.django_db

SHOWN = {  # title: (fields, what the pages say)
    "Holiday": ({"busy_status": "OOF", "event_type": "outOfOffice"}, "Out of office"),
    "Maybe": ({"busy_status": "TENTATIVE"}, "Tentative"),
    "Client site": ({"busy_status": "WORKINGELSEWHERE"}, "Working elsewhere"),
    "Reading": ({"transparency": "TRANSPARENT"}, "Free"),
    "Deep work": ({"event_type": "focusTime"}, "Focus time"),
    "Office": ({"event_type": "workingLocation", "transparency": "TRANSPARENT"}, "Working location"),
    "Plain": ({}, ""),
}


@pytest.fixture
def shown(calendar):  # type: ignore[no-untyped-def]
    for day, (title, (fields, _)) in enumerate(SHOWN.items()):
        services.item_save(calendar=calendar, item=event(f"{day}@x", title, day=day % 5, **fields))
    return calendar


def _badges(page: str) -> dict[str, str]:
    """Each occurrence's title and the words shown under it."""
    found = {}
    for block in re.findall(r'<a class="occurrence.*?</a>', page, re.S):
        title = re.search(r'<span class="title">(.*?)</span>', block)[1]  # type: ignore[index]
        badge = re.search(r'data-testid="show-as">(.*?)</small>', block)
        found[title] = badge[1] if badge else ""
    return found


def test_the_list_says_how_each_event_shows(member_client, shown) -> None:  # type: ignore[no-untyped-def]
    html = member_client.get(reverse("events:calendar_list") + "?from=2026-11-23&to=2026-11-30").content.decode()
    assert _badges(html) == {title: words for title, (_, words) in SHOWN.items()}


def test_the_event_page_says_how_it_shows_and_its_type(member_client, shown) -> None:  # type: ignore[no-untyped-def]
    holiday = Event.objects.get(title="Holiday")
    html = member_client.get(reverse("events:event_detail", args=[holiday.pk])).content.decode()
    assert 'data-testid="show-as">Out of office<' in html and 'data-testid="event-type">Out of office<' in html
    html = member_client.get(reverse("events:event_detail", args=[Event.objects.get(title="Plain").pk])).content
    assert b'data-testid="show-as">Busy<' in html and b"event-type" not in html


@pytest.mark.parametrize(
    ("choice", "stored"),
    [("BUSY", ("OPAQUE", "")), ("FREE", ("TRANSPARENT", "")), ("TENTATIVE", ("OPAQUE", "TENTATIVE")),
     ("OOF", ("OPAQUE", "OOF")), ("WORKINGELSEWHERE", ("OPAQUE", "WORKINGELSEWHERE"))],
)  # fmt: skip
def test_the_form_sets_show_as(member_client, calendar, choice, stored) -> None:  # type: ignore[no-untyped-def]
    response = member_client.post(reverse("events:event_create"), _form(calendar, show_as=choice))
    assert response.status_code == 302
    created = Event.objects.get(calendar=calendar)
    assert (created.transparency, created.busy_status) == stored


def test_editing_keeps_the_event_type_and_shows_the_status(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    services.item_save(calendar=calendar, item=event("ooo@x", "Holiday", busy_status="OOF", event_type="outOfOffice"))
    stored = Event.objects.get(uid="ooo@x")
    page = member_client.get(reverse("events:event_edit", args=[stored.pk])).content.decode()
    assert re.search(r'<option value="OOF" selected>Out of office</option>', page)
    edit = _form(calendar, title="Holiday in Lyon", show_as="OOF", version=str(stored.seq))
    assert member_client.post(reverse("events:event_edit", args=[stored.pk]), edit).status_code == 302
    stored.refresh_from_db()
    assert (stored.title, stored.busy_status, stored.event_type) == ("Holiday in Lyon", "OOF", "outOfOffice")
    # Choosing another status changes it; the event type stays.
    edit = _form(calendar, title="Holiday in Lyon", show_as="TENTATIVE", version=str(stored.seq))
    member_client.post(reverse("events:event_edit", args=[stored.pk]), edit)
    stored.refresh_from_db()
    assert (stored.busy_status, stored.event_type) == ("TENTATIVE", "outOfOffice")


def test_an_explicit_busy_status_from_a_provider_stays_when_unchanged(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    services.item_save(calendar=calendar, item=event("b@x", "Sync", busy_status="BUSY"))
    stored = Event.objects.get(uid="b@x")
    member_client.post(reverse("events:event_edit", args=[stored.pk]), _form(calendar, title="Sync 2",
                       version=str(stored.seq)))  # fmt: skip
    stored.refresh_from_db()
    assert (stored.title, stored.busy_status) == ("Sync 2", "BUSY")
