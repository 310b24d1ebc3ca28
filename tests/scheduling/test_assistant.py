"""Find a time end to end: working hours in each person's zone, the page, the team grid, the Book link both
ways, the operator command printing exactly what the page shows, and clear refusals."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from events import services as events
from events.ical import Component, Item
from scheduling import assistant, selectors
from scheduling.finder import Slot
from scheduling.models import PersonalScheduling, SchedulingPolicy
from scheduling.services import personal_update, policy_save
from tests.factories import CalendarFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY = date(2031, 11, 25)  # a Tuesday
NOW = datetime(2031, 11, 20, tzinfo=UTC)


@pytest.fixture
def team(tenant, member):  # type: ignore[no-untyped-def]
    """member in Berlin (09-17 = 08-16 UTC), a colleague in London (09-17 UTC), one in New York (14-22 UTC)."""
    london = UserFactory(tenant=tenant, email="london@acme.test", timezone="Europe/London")
    new_york = UserFactory(tenant=tenant, email="ny@acme.test", timezone="America/New_York")
    return [member, london, new_york]


def _busy(person, start: datetime, minutes: int, uid: str, **fields) -> None:  # type: ignore[no-untyped-def]
    calendar = person.calendars.first() or CalendarFactory(owner=person)
    item = Item(master=Component(uid=uid, summary=uid, start=start, end=start + timedelta(minutes=minutes), **fields))
    events.item_save(calendar=calendar, item=item)


def _search(people, **kwargs):  # type: ignore[no-untyped-def]
    fields = {"duration": timedelta(minutes=30), "first_day": DAY, "last_day": DAY, "zone": "Europe/Berlin", **kwargs}
    return assistant.Search(people=people, **fields)


def test_proposals_respect_everyones_hours_busy_time_and_buffer(team) -> None:  # type: ignore[no-untyped-def]
    member, london, new_york = team
    # Common working time on Tuesday: 14:00-16:00 UTC. London is busy 14:00-14:30, tentative 15:00-15:15.
    _busy(london, datetime(2031, 11, 25, 14, tzinfo=UTC), 30, "a")
    _busy(london, datetime(2031, 11, 25, 15, tzinfo=UTC), 15, "b", busy_status="TENTATIVE")
    _busy(new_york, datetime(2031, 11, 25, 15, 30, tzinfo=UTC), 60, "c", busy_status="WORKINGELSEWHERE")
    result = assistant.find_time(viewer=member, search=_search(team), now=NOW)
    assert [(s.start.hour, s.start.minute) for s in result.proposals] == [
        (14, 30),
        (15, 15),
    ]  # proposals do not overlap
    with_buffer = assistant.find_time(viewer=member, search=_search(team, buffer=timedelta(minutes=15)), now=NOW)
    assert [(s.start.hour, s.start.minute) for s in with_buffer.proposals] == [(15, 30)]


def test_personal_hours_and_the_weekend_rule(team, tenant) -> None:  # type: ignore[no-untyped-def]
    member, london, _ = team
    personal_update(user=london, free_busy_sharing="default", free_busy_with=[],
                    working_hours={"5": ["10:00", "12:00"]})  # fmt: skip
    saturday = date(2031, 11, 29)
    alone = assistant.find_time(viewer=member, search=_search([london], first_day=saturday, last_day=saturday),
                                now=NOW)  # fmt: skip
    assert alone.proposals[0].start == datetime(2031, 11, 29, 10, tzinfo=UTC)
    both = _search([member, london], first_day=saturday, last_day=saturday)
    assert assistant.find_time(viewer=member, search=both, now=NOW).proposals == []  # member: no weekends
    policy_save(policy=SchedulingPolicy(tenant=tenant, allow_outside_hours=True))
    outside = assistant.find_time(viewer=member, search=both, now=NOW).proposals[0]
    assert outside.start == datetime(2031, 11, 29, 10, tzinfo=UTC) and outside.outside_hours == (member.pk,)


def test_never_proposes_the_past(team) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2031, 11, 25, 15, 5, tzinfo=UTC)
    result = assistant.find_time(viewer=team[0], search=_search(team), now=now)
    assert result.proposals[0].start == datetime(2031, 11, 25, 15, 15, tzinfo=UTC)


def test_refuses_people_who_do_not_share_and_bad_searches(team) -> None:  # type: ignore[no-untyped-def]
    member, london, _ = team
    personal_update(user=london, free_busy_sharing=PersonalScheduling.Sharing.NOBODY, free_busy_with=[],
                    working_hours={})  # fmt: skip
    with pytest.raises(ValidationError, match=r"london@acme\.test is free"):
        assistant.find_time(viewer=member, search=_search(team), now=NOW)
    for bad in ({"duration": timedelta(minutes=1)}, {"last_day": DAY - timedelta(days=1)},
                {"last_day": DAY + timedelta(days=40)}, {"buffer": timedelta(hours=5)}):  # fmt: skip
        with pytest.raises(ValidationError):
            assistant.find_time(viewer=member, search=_search([member], **bad), now=NOW)


def test_book_url_prefills_the_meetings_page(team) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2031, 11, 25, 15, tzinfo=ZoneInfo("Europe/Berlin"))
    url = assistant.book_url(Slot(start, start + timedelta(minutes=30)), team, "Plan Q1")
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.path == "/meetings/new/"
    assert query == {"start": "2031-11-25T15:00:00+01:00", "end": "2031-11-25T15:30:00+01:00",
                     "attendees": "member@acme.test,london@acme.test,ny@acme.test", "title": "Plan Q1"}  # fmt: skip
    assert datetime.fromisoformat(query["start"]) == start


def _page(client, team, **extra):  # type: ignore[no-untyped-def]
    params = {"people": [p.pk for p in team], "duration": 30, "first_day": "2031-11-25", "last_day": "2031-11-25",
              **extra}  # fmt: skip
    return client.get(reverse("scheduling:find_time"), params)


def test_the_page_shows_proposals_with_book_links_and_the_grid(member_client, team) -> None:  # type: ignore[no-untyped-def]
    _busy(team[1], datetime(2031, 11, 25, 14, tzinfo=UTC), 30, "private one", visibility="PRIVATE")
    response = _page(member_client, team, title="Plan")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Tue 25 Nov, 15:30–16:00" in html  # 14:30 UTC in Berlin
    assert (
        "london@acme.test: Tue 14:30 (Europe/London)" in html and "ny@acme.test: Tue 09:30 (America/New_York)" in html
    )
    assert "/meetings/new/?start=2031-11-25T14%3A30%3A00%2B00%3A00" in html
    assert html.count('class="team-row"') == 3 and 'class="bar busy"' in html
    assert "private one" not in html


def test_the_page_says_why_it_refuses_someone(member_client, team) -> None:  # type: ignore[no-untyped-def]
    personal_update(user=team[2], free_busy_sharing="nobody", free_busy_with=[], working_hours={})
    response = _page(member_client, team)
    assert response.status_code == 200 and "ny@acme.test is free" in response.content.decode()


def test_the_command_prints_what_the_page_shows(team, tenant) -> None:  # type: ignore[no-untyped-def]
    _busy(team[1], datetime(2031, 11, 25, 14, tzinfo=UTC), 30, "a")
    out = StringIO()
    call_command("find_time", "--tenant", "acme", "--people", ",".join(p.email for p in team), "--duration", "30",
                 "--from", "2031-11-25", "--to", "2031-11-25", "--json", stdout=out)  # fmt: skip
    printed = json.loads(out.getvalue())["proposals"]
    shown = assistant.find_time(viewer=team[0], search=_search(team)).as_json()
    assert printed == shown and printed[0]["start"] == "2031-11-25T14:30:00+00:00"
    with pytest.raises(CommandError, match=r"nobody@acme\.test"):
        call_command("find_time", "--tenant", "acme", "--people", "nobody@acme.test", "--from", "2031-11-25",
                     "--to", "2031-11-25")  # fmt: skip
    with pytest.raises(CommandError, match="not a date"):
        call_command("find_time", "--tenant", "acme", "--people", team[0].email, "--from", "soon", "--to", "x")


def test_working_hours_follow_each_persons_clock_across_a_dst_change() -> None:
    from datetime import time

    from scheduling.selectors import working_intervals

    hours = {day: (time(9), time(17)) for day in range(5)}
    # Friday 27 and Monday 30 March 2026: Berlin moves to summer time on Sunday 29 March.
    found = working_intervals(
        hours, "Europe/Berlin", datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC)
    )
    assert found == [
        (datetime(2026, 3, 27, 8, tzinfo=UTC), datetime(2026, 3, 27, 16, tzinfo=UTC)),
        (datetime(2026, 3, 30, 7, tzinfo=UTC), datetime(2026, 3, 30, 15, tzinfo=UTC)),
    ]


def test_settings_pages_save_sharing_hours_shares_and_the_policy(member_client, member, admin_user, tenant) -> None:  # type: ignore[no-untyped-def]
    from django.test import Client

    admin_client_ = Client()
    admin_client_.force_login(admin_user)
    colleague = UserFactory(tenant=tenant, email="c@acme.test")
    calendar = CalendarFactory(owner=member, name="Work")
    form = {"free_busy_sharing": "chosen", "free_busy_with": [colleague.pk], "start_0": "08:00", "end_0": "12:00"}
    assert member_client.post(reverse("scheduling:settings"), form).status_code == 302
    personal = PersonalScheduling.objects.get(user=member)
    assert personal.working_hours == {"0": ["08:00", "12:00"]} and list(personal.free_busy_with.all()) == [colleague]
    bad = member_client.post(reverse("scheduling:settings"), {**form, "end_0": "07:00", "start_1": "09:00"})
    assert bad.status_code == 200 and "the working day must end after it starts" in bad.content.decode()
    assert "Give both times for Tuesday" in bad.content.decode()
    member_client.post(
        reverse("scheduling:share_create", args=[calendar.pk]), {"grantee": colleague.pk, "level": "details"}
    )
    assert selectors.access(viewer=colleague, people=[member])[member.pk].details == frozenset({calendar.pk})
    policy = {"work_start": "10:00", "work_end": "09:00", "work_days": [0, 1], "buffer_minutes": 10,
              "default_free_busy": "nobody"}  # fmt: skip
    assert "must end after it starts" in admin_client_.post(reverse("scheduling:policy"), policy).content.decode()
    assert admin_client_.post(reverse("scheduling:policy"), {**policy, "work_end": "16:00"}).status_code == 302
    saved = selectors.policy_for(tenant)
    assert (saved.work_days, saved.buffer_minutes, saved.default_free_busy) == ([0, 1], 10, "nobody")


def test_the_page_offers_only_colleagues_and_refuses_anyone_else(member_client, team, outsider) -> None:  # type: ignore[no-untyped-def]
    page = _page(member_client, [team[0], outsider])
    html = page.content.decode()
    assert page.status_code == 200 and "someone@globex.test" not in html and "team-row" not in html
    assert "Select a valid choice" in html
