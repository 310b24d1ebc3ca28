"""Search across a user's calendars: what matches, whose events it may look at, series as their matching
occurrences, pages of results, and a bounded number of queries."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from events import selectors, services
from events.convert import search_text
from events.ical import Attendee, Component, Item, Person
from events.models import Calendar, Event
from scheduling.models import CalendarShare
from tests.factories import CalendarFactory, UserFactory

pytestmark = pytest.mark.django_db

SOON = (timezone.now() + timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)


def _save(calendar, title: str, start: datetime = SOON, **fields) -> Event:  # type: ignore[no-untyped-def]
    component = Component(uid=services.new_uid(), summary=title, start=start, end=start + timedelta(hours=1), **fields)
    return services.item_save(calendar=calendar, item=Item(master=component)).event


def _titles(client, q: str, **params) -> list[str]:  # type: ignore[no-untyped-def]
    response = client.get(reverse("events:search"), {"q": q, **params})
    assert response.status_code == 200
    return [o.title for o in response.context["results"].occurrences]


@pytest.mark.parametrize(
    ("fields", "query"),
    [
        ({"summary": "Quarterly REVIEW"}, "review"),
        ({"location": "Room Zürich"}, "ZÜRICH"),
        ({"description": "Bring the Straße plans"}, "strasse"),  # casefold: ß is ss
        ({"attendees": (Attendee(email="jurgen@example.com", name="Jürgen Äpfel"),)}, "jürgen"),
        ({"attendees": (Attendee(email="Jurgen@Example.com"),)}, "jurgen@example"),
        ({"organizer": Person(email="boss@example.com", name="The Boss")}, "boss"),
    ],
)
def test_matches_title_place_description_and_people(member_client, calendar, fields, query):
    title = fields.pop("summary", "Meeting")
    _save(calendar, title, **fields)
    _save(calendar, "Something else")
    assert _titles(member_client, query) == [title]


def test_every_word_must_match(member_client, calendar):
    _save(calendar, "Budget review", location="Berlin")
    _save(calendar, "Budget planning")
    assert _titles(member_client, "budget berlin") == ["Budget review"]
    assert sorted(_titles(member_client, "budget")) == ["Budget planning", "Budget review"]


def test_changing_an_event_changes_what_finds_it(member_client, calendar):
    event = _save(calendar, "Old name")
    item = Item(master=Component(uid=event.uid, summary="New name", start=SOON, end=SOON + timedelta(hours=1)))
    services.item_save(calendar=calendar, item=item)
    assert _titles(member_client, "old") == []
    assert _titles(member_client, "new") == ["New name"]


def test_other_tenants_and_unshared_colleagues_are_never_searched(member_client, member, calendar, outsider, tenant):
    _save(calendar, "Offsite mine")
    _save(CalendarFactory(owner=outsider), "Offsite globex")
    _save(CalendarFactory(owner=UserFactory(tenant=tenant)), "Offsite colleague")
    assert _titles(member_client, "offsite") == ["Offsite mine"]


def test_a_calendar_shared_to_edit_is_searched_but_never_its_private_events(member_client, member, calendar, tenant):
    colleague = UserFactory(tenant=tenant)
    theirs = CalendarFactory(owner=colleague, name="Theirs")
    CalendarShare.objects.create(tenant=tenant, calendar=theirs, grantee=member, level="edit")
    _save(theirs, "Offsite public")
    _save(theirs, "Offsite secret", visibility="PRIVATE")
    _save(theirs, "Dinner", description="offsite plans", visibility="CONFIDENTIAL")
    _save(calendar, "Offsite my private", visibility="PRIVATE")

    found = _titles(member_client, "offsite")

    assert sorted(found) == ["Offsite my private", "Offsite public"]


def test_a_details_share_gives_no_search(member_client, member, tenant):
    theirs = CalendarFactory(owner=UserFactory(tenant=tenant))
    CalendarShare.objects.create(tenant=tenant, calendar=theirs, grantee=member, level="details")
    _save(theirs, "Offsite details")
    assert _titles(member_client, "offsite") == []


def test_a_series_shows_as_its_matching_occurrences(member_client, calendar):
    series = _save(calendar, "Standup", rrule="FREQ=DAILY;COUNT=5")
    second = SOON + timedelta(days=1)
    third = SOON + timedelta(days=2)
    item = Item(
        master=Component(uid=series.uid, summary="Standup", start=SOON, end=SOON + timedelta(hours=1),
                         rrule="FREQ=DAILY;COUNT=5"),
        overrides=(
            Component(uid=series.uid, summary="Retro instead", recurrence_id=second, start=second,
                      end=second + timedelta(hours=1)),
            Component(uid=series.uid, summary="Standup", location="Garden", recurrence_id=third, start=third,
                      end=third + timedelta(hours=1)),
        ),
    )  # fmt: skip
    services.item_save(calendar=calendar, item=item)

    response = member_client.get(reverse("events:search"), {"q": "standup"})
    found = response.context["results"].occurrences
    assert [o.start for o in found] == [SOON + timedelta(days=d) for d in (0, 2, 3, 4)]  # not the retro
    assert all(o.is_recurring for o in found)
    assert f"?occurrence={found[1].recurrence_key}" in response.content.decode()

    assert [o.title for o in member_client.get(reverse("events:search"), {"q": "retro"}).context["results"]
            .occurrences] == ["Retro instead"]  # fmt: skip
    assert _titles(member_client, "garden") == ["Standup"]


def test_results_start_today_and_earlier_ones_on_request(member_client, calendar):
    _save(calendar, "Kickoff past", start=SOON - timedelta(days=30))
    _save(calendar, "Kickoff next", start=SOON)
    assert _titles(member_client, "kickoff") == ["Kickoff next"]
    earlier = (SOON - timedelta(days=40)).date().isoformat()
    assert _titles(member_client, "kickoff", **{"from": earlier}) == ["Kickoff past", "Kickoff next"]


def test_results_come_in_pages(member_client, calendar):
    for i in range(60):
        _save(calendar, f"Review {i:02}", start=SOON + timedelta(hours=i))
    first = member_client.get(reverse("events:search"), {"q": "review"})
    results = first.context["results"]
    assert [o.title for o in results.occurrences] == [f"Review {i:02}" for i in range(50)]
    assert 'data-testid="search-later"' in first.content.decode()

    second = member_client.get(reverse("events:search"), {"q": "review", "after": results.next_start.isoformat()})
    assert [o.title for o in second.context["results"].occurrences] == [f"Review {i:02}" for i in range(50, 60)]
    assert second.context["results"].next_start is None


def test_an_endless_series_fills_a_page_and_goes_on(member_client, calendar):
    _save(calendar, "Daily check", rrule="FREQ=DAILY")
    results = member_client.get(reverse("events:search"), {"q": "check"}).context["results"]
    assert len(results.occurrences) == selectors.SEARCH_PAGE
    assert results.next_start == SOON + timedelta(days=selectors.SEARCH_PAGE)


def test_a_hostile_series_is_cut_by_the_recurrence_budget(member_client, calendar, settings):
    settings.RECURRENCE_MAX_OCCURRENCES = 20
    _save(calendar, "Spam", rrule="FREQ=HOURLY")
    response = member_client.get(reverse("events:search"), {"q": "spam"})
    assert response.status_code == 200
    assert response.context["results"].occurrences.truncated
    assert 'data-testid="truncated"' in response.content.decode()


def _queries(client) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        client.get(reverse("events:search"), {"q": "sync"})
    return len(captured)


def test_the_number_of_queries_does_not_grow_with_the_calendar(member_client, calendar):
    _save(calendar, "Sync one")
    _save(calendar, "Sync weekly", rrule="FREQ=WEEKLY")
    few = _queries(member_client)
    for i in range(40):
        _save(calendar, f"Sync {i}", start=SOON + timedelta(hours=i))
        _save(calendar, f"Sync series {i}", start=SOON + timedelta(hours=i), rrule="FREQ=WEEKLY;COUNT=3")
    assert _queries(member_client) == few


@pytest.mark.parametrize(
    "params", [{"q": ""}, {"q": "   "}, {"q": "x" * 5000}, {"q": "a", "after": "yesterday"}, {"q": "a", "from": "0"},
               {"q": "a", "after": "2026-01-01T00:00:00"}, {"q": "%_\\"}],
)  # fmt: skip
def test_odd_input_is_an_ordinary_page(member_client, calendar, params):
    _save(calendar, "Anything")
    assert member_client.get(reverse("events:search"), params).status_code == 200


def test_like_wildcards_are_literal(member_client, calendar):
    _save(calendar, "Plain title")
    _save(calendar, "100% done")
    assert _titles(member_client, "%") == ["100% done"]
    assert _titles(member_client, "_") == []


def test_stored_text_is_what_the_migration_computes(calendar):
    """The backfill of existing rows writes exactly what new writes store."""
    fill = importlib.import_module("events.migrations.0007_event_search_text")
    people = {"attendees": (Attendee(email="A@x.test", name="Åsa"),), "organizer": Person(email="o@x.test", name="Ole")}
    event = _save(calendar, "Plan", location="Köln", description="Notes", **people)
    event.refresh_from_db()
    expected = search_text(Component(uid="u", summary="Plan", location="Köln", description="Notes", **people))
    assert fill._text(event) == event.search_text == expected
    assert "åsa" in expected and "a@x.test" in expected and "ole" in expected


def test_the_header_has_a_search_box(member_client, calendar):
    page = member_client.get(reverse("events:calendar")).content.decode()
    assert 'role="search"' in page and f'action="{reverse("events:search")}"' in page
    assert 'aria-label="Search events"' in page


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("events:search"), {"q": "x"})
    assert response.status_code == 302 and "/login" in response["Location"]


def test_calendar_lookups_are_tenant_scoped(member, outsider):
    """The selector itself reads only the calendars it is given."""
    _save(CalendarFactory(owner=outsider), "Globex offsite")
    own = Calendar.objects.filter(owner=member)
    found = selectors.search(calendars=own, viewer=member, text="offsite", start=datetime(2000, 1, 1, tzinfo=UTC))
    assert list(found.occurrences) == []


def test_many_matching_series_fill_a_page_inside_the_budget(member_client, calendar, settings):
    settings.RECURRENCE_MAX_OCCURRENCES = 1000  # two years of 60 daily series would be 43,800
    items = [Item(master=Component(uid=f"daily-{i}", summary=f"Daily {i}", start=SOON + timedelta(minutes=i),
                                   end=SOON + timedelta(minutes=i + 15), rrule="FREQ=DAILY"))
             for i in range(60)]  # fmt: skip
    services.items_create_many(calendar=calendar, items=items)
    results = member_client.get(reverse("events:search"), {"q": "daily"}).context["results"]
    assert len(results.occurrences) == 50 and not results.occurrences.truncated
    assert results.next_start == SOON + timedelta(minutes=50)


def test_a_series_found_only_by_a_changed_occurrence_runs_no_rule(member_client, calendar, settings):
    settings.RECURRENCE_MAX_OCCURRENCES = 30  # one per changed occurrence below, and a little over
    items = []
    for i in range(25):
        moved = SOON + timedelta(days=7, minutes=i)
        items.append(Item(
            master=Component(uid=f"hourly-{i}", summary="Hourly", start=SOON + timedelta(minutes=i),
                             end=SOON + timedelta(minutes=i + 5), rrule="FREQ=HOURLY"),
            overrides=(Component(uid=f"hourly-{i}", summary="Hourly offsite", recurrence_id=moved, start=moved,
                                 end=moved + timedelta(minutes=5)),),
        ))  # fmt: skip
    services.items_create_many(calendar=calendar, items=items)
    results = member_client.get(reverse("events:search"), {"q": "offsite"}).context["results"]
    assert len(results.occurrences) == 25 and not results.occurrences.truncated
    assert {o.title for o in results.occurrences} == {"Hourly offsite"}


def test_a_floating_series_is_found_once_at_its_clock_time(member_client, member, calendar):
    """Floating times happen at that clock time in the reader's zone (Berlin here), across slice boundaries."""
    first = datetime.combine(SOON.date(), datetime.min.time()) + timedelta(minutes=30)  # 00:30, no zone
    _save(calendar, "Night check", start=first, rrule="FREQ=DAILY;COUNT=20")
    found = member_client.get(reverse("events:search"), {"q": "night"}).context["results"].occurrences
    local = [timezone.localtime(o.start, ZoneInfo("Europe/Berlin")) for o in found]
    assert len(found) == 20 and len(set(local)) == 20
    assert {(t.hour, t.minute) for t in local} == {(0, 30)}


def test_a_private_changed_occurrence_of_a_colleagues_public_series_is_not_found(member_client, member, tenant):
    theirs = CalendarFactory(owner=UserFactory(tenant=tenant))
    CalendarShare.objects.create(tenant=tenant, calendar=theirs, grantee=member, level="edit")
    series = _save(theirs, "Offsite", rrule="FREQ=DAILY;COUNT=3")
    moved = SOON + timedelta(days=1)
    item = Item(
        master=Component(uid=series.uid, summary="Offsite", start=SOON, end=SOON + timedelta(hours=1),
                         rrule="FREQ=DAILY;COUNT=3"),
        overrides=(Component(uid=series.uid, summary="Offsite with the lawyer", recurrence_id=moved, start=moved,
                             end=moved + timedelta(hours=1), visibility="PRIVATE"),),
    )  # fmt: skip
    services.item_save(calendar=theirs, item=item)
    found = member_client.get(reverse("events:search"), {"q": "offsite"}).context["results"].occurrences
    assert [o.start for o in found] == [SOON, SOON + timedelta(days=2)]
    assert _titles(member_client, "lawyer") == []
