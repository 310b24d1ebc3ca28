"""A person's busy time from calsync calendars: kinds kept apart, all-day rule, private titles, series with
overrides, DST and zones, the cache and its invalidation, and nothing across tenants or narrowed sharing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from events import services as events
from events.ical import Component, Item
from scheduling import freebusy, selectors
from scheduling.models import PersonalScheduling, SchedulingPolicy
from scheduling.services import calendar_share, personal_update, policy_save
from tests.factories import CalendarFactory, UserFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)


def _save(calendar, uid: str, start, end, **fields):  # type: ignore[no-untyped-def]
    overrides = fields.pop("overrides", ())
    component = Component(uid=uid, summary=fields.pop("summary", uid), start=start, end=end, **fields)
    return events.item_save(calendar=calendar, item=Item(master=component, overrides=overrides)).event


def _busy(viewer, person, start=MONDAY, end=MONDAY + timedelta(days=7)):  # type: ignore[no-untyped-def]
    access = selectors.access(viewer=viewer, people=[person])
    found = freebusy.busy_for(people=[person], access=access, start=start, end=end,
                              policy=selectors.policy_for(viewer.tenant))  # fmt: skip
    return found.get(person.pk)


@pytest.fixture
def colleague(tenant):  # type: ignore[no-untyped-def]
    return UserFactory(tenant=tenant, email="colleague@acme.test", timezone="America/New_York")


@pytest.fixture
def work(colleague):  # type: ignore[no-untyped-def]
    return CalendarFactory(owner=colleague, name="Work")


def test_kinds_are_kept_apart_and_free_time_is_left_out(member, work) -> None:  # type: ignore[no-untyped-def]
    at = datetime(2026, 11, 24, 14, tzinfo=UTC)
    kinds = [{}, {"busy_status": "TENTATIVE"}, {"busy_status": "OOF"}, {"busy_status": "WORKINGELSEWHERE"},
             {"status": "TENTATIVE"}, {"transparency": "TRANSPARENT"}, {"busy_status": "FREE"},
             {"status": "CANCELLED"}]  # fmt: skip
    for i, fields in enumerate(kinds):
        _save(work, f"k{i}", at + timedelta(hours=i), at + timedelta(hours=i, minutes=30), **fields)
    blocks = _busy(member, work.owner).blocks
    assert [(b.start.hour, b.kind) for b in blocks] == [
        (14, "busy"),
        (15, "tentative"),
        (16, "oof"),
        (17, "workingElsewhere"),
        (18, "tentative"),
    ]
    assert [b.blocking for b in blocks] == [True, True, True, False, True]


def test_all_day_events_are_busy_on_the_persons_own_day_unless_free_or_the_organisation_says_otherwise(
    member, work, tenant
) -> None:  # type: ignore[no-untyped-def]
    _save(work, "holiday", date(2026, 11, 26), date(2026, 11, 27))
    _save(work, "birthday", date(2026, 11, 27), date(2026, 11, 28), transparency="TRANSPARENT")
    [block] = _busy(member, work.owner).blocks
    # Thanksgiving in New York: the day starts at 05:00 UTC there, not at midnight UTC.
    assert (block.start, block.end) == (datetime(2026, 11, 26, 5, tzinfo=UTC), datetime(2026, 11, 27, 5, tzinfo=UTC))
    policy_save(policy=SchedulingPolicy(tenant=tenant, all_day_busy=False))
    assert _busy(member, work.owner).blocks == []  # saving the policy dropped the cached answer


def test_private_events_show_as_busy_without_title_even_with_details_shared(member, work) -> None:  # type: ignore[no-untyped-def]
    at = datetime(2026, 11, 24, 14, tzinfo=UTC)
    _save(work, "secret", at, at + timedelta(hours=1), summary="Doctor", visibility="PRIVATE")
    _save(work, "open", at + timedelta(hours=2), at + timedelta(hours=3), summary="Design review")
    assert [b.title for b in _busy(member, work.owner).blocks] == ["", ""]  # free/busy only by default
    calendar_share(calendar=work, grantee=member, level="details")
    assert [(b.title, b.kind) for b in _busy(member, work.owner).blocks] == [("", "busy"), ("Design review", "busy")]
    assert [b.title for b in _busy(work.owner, work.owner).blocks] == ["Doctor", "Design review"]  # their own


def test_a_weekly_series_with_a_moved_and_a_cancelled_occurrence_across_the_dst_change(member, tenant) -> None:  # type: ignore[no-untyped-def]
    person = UserFactory(tenant=tenant, timezone="Europe/Berlin")
    calendar = CalendarFactory(owner=person)
    first = datetime(2026, 3, 16, 10, tzinfo=BERLIN)  # Berlin moves to summer time on 29 March
    moved = Component(uid="weekly", summary="Weekly", recurrence_id=first + timedelta(weeks=1),
                      start=first + timedelta(weeks=1, hours=3), end=first + timedelta(weeks=1, hours=4))  # fmt: skip
    _save(calendar, "weekly", first, first + timedelta(hours=1), rrule="FREQ=WEEKLY;COUNT=4",
          exdates=(first + timedelta(weeks=3),), overrides=(moved,))  # fmt: skip
    blocks = _busy(member, person, datetime(2026, 3, 16, tzinfo=UTC), datetime(2026, 4, 13, tzinfo=UTC)).blocks
    assert [b.start for b in blocks] == [
        datetime(2026, 3, 16, 9, tzinfo=UTC),  # 10:00 CET
        datetime(2026, 3, 23, 12, tzinfo=UTC),  # moved to 13:00 CET
        datetime(2026, 3, 30, 8, tzinfo=UTC),  # 10:00 CEST: an hour earlier in UTC
    ]


def test_floating_times_happen_on_the_persons_clock(member, work) -> None:  # type: ignore[no-untyped-def]
    _save(work, "floating", datetime(2026, 11, 24, 9), datetime(2026, 11, 24, 10))
    [block] = _busy(member, work.owner).blocks
    assert block.start == datetime(2026, 11, 24, 9, tzinfo=NEW_YORK)


def test_nothing_from_another_tenant(member, outsider) -> None:  # type: ignore[no-untyped-def]
    calendar = CalendarFactory(owner=outsider)
    _save(calendar, "x", MONDAY + timedelta(hours=10), MONDAY + timedelta(hours=11), summary="Globex secret")
    calendar_share(calendar=calendar, grantee=None, level="edit")
    assert selectors.access(viewer=member, people=[outsider])[outsider.pk] == selectors.NOTHING
    assert _busy(member, outsider) is None


def test_a_colleague_who_narrowed_sharing_shows_nothing_to_others(member, work, tenant) -> None:  # type: ignore[no-untyped-def]
    chosen = UserFactory(tenant=tenant)
    _save(work, "x", MONDAY + timedelta(hours=10), MONDAY + timedelta(hours=11))
    personal_update(user=work.owner, free_busy_sharing=PersonalScheduling.Sharing.CHOSEN, free_busy_with=[chosen],
                    working_hours={})  # fmt: skip
    assert _busy(member, work.owner) is None
    assert len(_busy(chosen, work.owner).blocks) == 1
    personal_update(user=work.owner, free_busy_sharing=PersonalScheduling.Sharing.NOBODY, free_busy_with=[],
                    working_hours={})  # fmt: skip
    assert _busy(chosen, work.owner) is None
    assert len(_busy(work.owner, work.owner).blocks) == 1  # always their own


def test_the_organisation_default_applies_to_who_never_chose(member, work, tenant) -> None:  # type: ignore[no-untyped-def]
    policy_save(policy=SchedulingPolicy(tenant=tenant, default_free_busy="nobody"))
    assert _busy(member, work.owner) is None
    personal_update(user=work.owner, free_busy_sharing="organisation", free_busy_with=[], working_hours={})
    assert _busy(member, work.owner) is not None


def test_the_cache_answers_without_reading_events(member, work, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    _save(work, "a", MONDAY + timedelta(hours=10), MONDAY + timedelta(hours=11))
    assert len(_busy(member, work.owner).blocks) == 1
    with django_assert_num_queries(4):  # policy, personal choices, shares, own calendars: no event read
        assert len(_busy(member, work.owner).blocks) == 1


def test_a_committed_write_and_a_sync_that_wrote_drop_the_cached_busy_time(member, work, run_on_commit) -> None:  # type: ignore[no-untyped-def]
    from sync.models import SyncRun
    from sync.signals import run_changed

    assert _busy(member, work.owner).blocks == []
    with run_on_commit():
        _save(work, "a", MONDAY + timedelta(hours=10), MONDAY + timedelta(hours=11))
    assert len(_busy(member, work.owner).blocks) == 1
    with events.changes_unannounced():  # how a sync writes: no calendar_changed
        _save(work, "b", MONDAY + timedelta(hours=12), MONDAY + timedelta(hours=13))
    assert len(_busy(member, work.owner).blocks) == 1  # still the cached answer
    run_changed.send(sender=SyncRun, calendar_id=work.pk)
    assert len(_busy(member, work.owner).blocks) == 2
