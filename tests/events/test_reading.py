"""Reading an event: the repeat rule in words, attendees with their answers, where its copies are synced, how it
shows (icons, never emoji), the business fields; and the occurrence form's three choices."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.urls import reverse

from events import services
from events.ical import Attendee, Component, Item, Person
from events.models import Event
from integrations.models import Integration
from sync.models import SyncMapping
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 2, 10, tzinfo=BERLIN)
EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\u21bb]")


def _meeting(calendar, **fields) -> Event:  # type: ignore[no-untyped-def]
    master = Component(
        uid="review@test", summary="Design review", start=MONDAY, end=MONDAY + timedelta(hours=1),
        rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;UNTIL=20270630T215959Z", location="Room 4",
        organizer=Person("member@acme.test", "Mia Member"),
        attendees=(Attendee("ann@acme.test", "Ann", "ACCEPTED"), Attendee("bob@acme.test", "Bob", "DECLINED"),
                   Attendee("cy@acme.test", "", "TENTATIVE"), Attendee("dee@acme.test", "Dee")),
        client="Globex", project="Relaunch", activity_type="Workshop", **fields,
    )  # fmt: skip
    return services.item_save(calendar=calendar, item=Item(master=master)).event


def test_the_event_page_reads_as_people_say_it(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    event = _meeting(calendar, visibility="PRIVATE", busy_status="OOF")
    page = member_client.get(reverse("events:event_detail", args=[event.pk])).content.decode()
    repeats = re.search(r'data-testid="repeats">(.*?)</dd>', page, re.S)[1]  # type: ignore[index]
    assert "Every 2 weeks on Monday and Wednesday, until 30 June 2027" in repeats and "FREQ" not in page
    attendees = re.search(r'data-testid="attendees">(.*?)</ul>', page, re.S)[1]  # type: ignore[index]
    answers = [("Ann", "Accepted", "circle-check"), ("Bob", "Declined", "circle-x"),
               ("cy@acme.test", "Tentative", "circle-help"), ("Dee", "Not answered yet", "circle-dashed")]  # fmt: skip
    for name, answer, icon in answers:
        line = next(li for li in attendees.split("<li") if name in li)
        assert answer in line and f"icon-{icon}" in line and f'aria-label="{answer}"' in line
    assert 'data-testid="visibility">Private<' in page and "icon-lock" in page
    assert 'data-testid="show-as">Out of office<' in page and "icon-plane" in page
    assert "Globex / Relaunch / Workshop" in page
    assert not EMOJI.search(page)


def test_the_summary_partial_is_the_page_facts_alone(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    event = _meeting(calendar)
    url = reverse("events:event_summary", args=[event.pk]) + "?occurrence=20261104T090000Z"
    page = member_client.get(url).content.decode()
    assert page.lstrip().startswith('<section class="event-summary"') and "<html" not in page
    assert "Wednesday 4 November 2026, 10:00" in page and "this occurrence" in page
    assert "Every 2 weeks on Monday and Wednesday" in page
    assert f'href="/events/{event.pk}/?occurrence=20261104T090000Z">Design review</a>' in page


def test_the_providers_holding_copies_are_named_to_their_owner_only(member_client, client, member, calendar) -> None:  # type: ignore[no-untyped-def]
    event = _meeting(calendar)
    for provider, name in (("google", "ann@gmail.example"), ("caldav", "Fastmail work")):
        integration = Integration.objects.create(tenant=member.tenant, user=member, provider=provider,
                                                 calendar=calendar, remote_calendar_name=name)  # fmt: skip
        SyncMapping.objects.create(integration=integration, uid=event.uid, local_id=str(event.pk), local_version="1",
                                   remote_id="r", remote_version="1", content_hash="x")  # fmt: skip
    Integration.objects.create(tenant=member.tenant, user=member, provider="microsoft", calendar=calendar)  # no copy
    page = member_client.get(reverse("events:event_detail", args=[event.pk])).content.decode()
    copies = re.search(r'data-testid="copies">(.*?)</ul>', page, re.S)[1]  # type: ignore[index]
    assert "Google Calendar" in copies and "ann@gmail.example" in copies and "CalDAV" in copies
    assert "Fastmail work" in copies and "Microsoft" not in copies
    # A colleague the calendar is shared with to edit sees which providers, not the owner's accounts.
    from scheduling.models import CalendarShare

    colleague = UserFactory(tenant=member.tenant, email="col@acme.test")
    CalendarShare.objects.create(tenant=member.tenant, calendar=calendar, grantee=colleague, level="edit")
    client.force_login(colleague)
    theirs = client.get(reverse("events:event_detail", args=[event.pk])).content.decode()
    assert "Google Calendar" in theirs and "ann@gmail.example" not in theirs


def test_others_private_events_show_only_their_time(client, member, calendar) -> None:  # type: ignore[no-untyped-def]
    from scheduling.models import CalendarShare

    event = _meeting(calendar, visibility="PRIVATE", description="Salary talk")
    colleague = UserFactory(tenant=member.tenant, email="col2@acme.test")
    CalendarShare.objects.create(tenant=member.tenant, calendar=calendar, grantee=colleague, level="edit")
    client.force_login(colleague)
    for name in ("events:event_detail", "events:event_summary"):
        page = client.get(reverse(name, args=[event.pk])).content.decode()
        assert "Design review" not in page and "Salary talk" not in page and "Ann" not in page
        assert "Globex" not in page and "only its owner sees" in page


def test_no_template_or_stylesheet_uses_emoji_for_icons() -> None:
    roots = [Path(settings.BASE_DIR) / "templates", Path(settings.BASE_DIR) / "static" / "css"]
    found = [str(p) for root in roots for p in root.rglob("*.*") if EMOJI.search(p.read_text(errors="ignore"))]
    assert found == []


def _occurrence_post(event: Event, scope: str, **fields) -> tuple[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    url = reverse("events:occurrence_edit", args=[event.pk, "20261116T090000Z"])
    data = {"title": "Design review", "start_date": "2026-11-16", "start_time": "11:00", "end_date": "2026-11-16",
            "end_time": "12:00", "timezone": "Europe/Berlin", "location": "Room 4", "visibility": "PUBLIC",
            "show_as": "BUSY", "status": "CONFIRMED", "version": str(event.seq), "scope": scope,
            "attendees": "Ann <ann@acme.test>\nBob <bob@acme.test>\ncy@acme.test\nDee <dee@acme.test>",
            "client": "Globex", "project": "Relaunch", "activity_type": "Workshop", **fields}  # fmt: skip
    return url, data


def test_the_occurrence_form_splits_the_series_from_there(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    event = _meeting(calendar)
    form = member_client.get(reverse("events:occurrence_edit", args=[event.pk, "20261116T090000Z"])).content.decode()
    assert all(f'value="{s}"' in form for s in ("this", "following", "all"))
    url, data = _occurrence_post(event, "following")
    answer = member_client.post(url, data)
    assert answer.status_code == 302, answer.content.decode()[:3000]
    old, new = Event.objects.get(pk=event.pk), Event.objects.exclude(pk=event.pk).get(parent=None)
    assert old.rrule == "FREQ=WEEKLY;UNTIL=20261104T090000Z;INTERVAL=2;BYDAY=MO,WE"  # Wednesday 4th, 10:00 Berlin
    assert new.start == MONDAY + timedelta(weeks=2, hours=1) and new.uid != old.uid
    # UNTIL moves with the series (an hour later), so no occurrence it allowed falls past it.
    assert new.rrule == "FREQ=WEEKLY;UNTIL=20270630T225959Z;INTERVAL=2;BYDAY=MO,WE"
    assert [a["partstat"] for a in new.attendees] == ["ACCEPTED", "DECLINED", "TENTATIVE", "NEEDS-ACTION"]
    followed = member_client.get(answer["Location"], follow=True).content.decode()
    assert "now a series of their own" in followed


def test_the_occurrence_form_refuses_a_stale_version_and_changes_nothing(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    event = _meeting(calendar)
    url, data = _occurrence_post(event, "all", version=str(event.seq - 1))
    page = member_client.post(url, data).content.decode()
    assert "Someone changed this series while you were editing it" in page
    assert Event.objects.get(pk=event.pk).rrule == event.rrule and Event.objects.filter(parent=None).count() == 1


def test_the_occurrence_form_moves_all_and_keeps_one_series(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    event = _meeting(calendar)
    url, data = _occurrence_post(event, "all", start_time="09:00", end_time="09:30")
    assert member_client.post(url, data).status_code == 302
    row = Event.objects.get(parent=None)
    assert row.start == MONDAY - timedelta(hours=1) and row.end - row.start == timedelta(minutes=30)


def test_an_unknown_scope_is_refused(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    event = _meeting(calendar)
    url, data = _occurrence_post(event, "sideways")
    page = member_client.post(url, data).content.decode()
    assert "Select a valid choice" in page and Event.objects.filter(parent=None).count() == 1


def test_an_event_over_midnight_names_both_days(member_client, calendar) -> None:  # type: ignore[no-untyped-def]
    night = Component(uid="night@test", summary="Release", start=datetime(2026, 11, 20, 22, tzinfo=BERLIN),
                      end=datetime(2026, 11, 21, 2, tzinfo=BERLIN))  # fmt: skip
    event = services.item_save(calendar=calendar, item=Item(master=night)).event
    page = member_client.get(reverse("events:event_detail", args=[event.pk])).content.decode()
    when = re.search(r'data-testid="when">(.*?)</dd>', page, re.S)[1]  # type: ignore[index]
    assert "Friday 20 November 2026, 22:00 – Saturday 21 November 2026, 02:00" in when


def test_icons_come_from_the_vendored_set_with_names_for_screen_readers() -> None:
    from events.templatetags.event_display import icon

    named = str(icon("lock", "Private"))
    assert named.startswith('<svg class="icon icon-lock') and 'role="img" aria-label="Private"' in named
    assert "<title>Private</title>" in named and "<path" in named and "@license" not in named
    assert 'aria-hidden="true"' in str(icon("repeat")) and "role=" not in str(icon("repeat"))
    with pytest.raises(ValueError, match="bad icon name"):
        icon("../secrets")
