"""Edit rights shared per calendar: a colleague given "edit" opens and changes that calendar's events through
the normal event pages (reached through accounts/tenancy.py's Scope); "details", another calendar, another
person's share or another organisation give nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from accounts.tenancy import Scope
from events import services as events
from events.ical import Component, Item
from events.models import Event
from scheduling.services import calendar_share
from tests.events.test_views import _form
from tests.factories import CalendarFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(tenant):  # type: ignore[no-untyped-def]
    return UserFactory(tenant=tenant, email="boss@acme.test")


@pytest.fixture
def boss_calendar(boss):  # type: ignore[no-untyped-def]
    return CalendarFactory(owner=boss, name="Boss's diary")


def _event(calendar, title: str = "Board meeting") -> Event:  # type: ignore[no-untyped-def]
    start = datetime(2026, 11, 23, 9, tzinfo=UTC)
    item = Item(master=Component(uid=f"{title}-{calendar.pk}", summary=title, start=start,
                                 end=start + timedelta(hours=1)))  # fmt: skip
    return events.item_save(calendar=calendar, item=item).event


def _client(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("grantee", ["member", "everyone"])
def test_a_colleague_with_edit_rights_opens_and_edits_the_calendars_events(boss_calendar, member, grantee) -> None:  # type: ignore[no-untyped-def]
    calendar_share(calendar=boss_calendar, grantee=member if grantee == "member" else None, level="edit")
    event = _event(boss_calendar)
    client = _client(member)
    assert client.get(reverse("events:event_detail", args=[event.pk])).status_code == 200
    page = client.get(reverse("events:event_edit", args=[event.pk]))
    assert page.status_code == 200 and "Board meeting" in page.content.decode()
    response = client.post(
        reverse("events:event_edit", args=[event.pk]), _form(boss_calendar, title="Board meeting (moved)")
    )
    assert response.status_code == 302
    edited = Event.objects.get(pk=event.pk)
    assert edited.title == "Board meeting (moved)" and edited.calendar_id == boss_calendar.pk


@pytest.mark.parametrize("share", ["none", "details", "someone else", "other calendar"])
def test_without_edit_rights_on_that_calendar_the_event_is_not_found(
    boss, boss_calendar, member, tenant, share
) -> None:  # type: ignore[no-untyped-def]
    if share == "details":
        calendar_share(calendar=boss_calendar, grantee=member, level="details")
    elif share == "someone else":
        calendar_share(calendar=boss_calendar, grantee=UserFactory(tenant=tenant), level="edit")
    elif share == "other calendar":
        calendar_share(calendar=CalendarFactory(owner=boss), grantee=member, level="edit")
    event = _event(boss_calendar)
    client = _client(member)
    for name in ("events:event_detail", "events:event_edit"):
        assert client.get(reverse(name, args=[event.pk])).status_code == 404
    assert client.post(reverse("events:event_delete", args=[event.pk])).status_code == 404
    response = client.post(reverse("events:event_edit", args=[event.pk]), _form(boss_calendar, title="Hijacked"))
    assert response.status_code == 404 and Event.objects.get(pk=event.pk).title == "Board meeting"


def test_a_share_for_everyone_reaches_no_other_organisation(boss_calendar, outsider) -> None:  # type: ignore[no-untyped-def]
    calendar_share(calendar=boss_calendar, grantee=None, level="edit")
    event = _event(boss_calendar)
    assert _client(outsider).get(reverse("events:event_edit", args=[event.pk])).status_code == 404


def test_an_edit_share_does_not_put_the_colleagues_events_in_your_own_lists(boss_calendar, member, calendar) -> None:  # type: ignore[no-untyped-def]
    calendar_share(calendar=boss_calendar, grantee=member, level="edit")
    _event(boss_calendar)
    _event(calendar, title="Mine")
    assert [e.title for e in Scope(member).events()] == ["Mine"]
