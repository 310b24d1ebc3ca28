"""The time index's life: beat moves its horizon, operators rebuild it, an owner's clock and a calendar's owner
changing are followed, and a first sync's thousands of items cost a few statements, not a few per item."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import profile_update
from calsync.celery import app
from events import services
from events.ical import Attendee, Component, Item
from reports import index
from reports.models import IndexHorizon, TimeEntry
from tests.factories import CalendarFactory, UserFactory

pytestmark = pytest.mark.django_db


def _rows(**filters: object) -> set[tuple[object, ...]]:
    fields = ("event_id", "recurrence_id", "start", "end", "title", "user_id", "declined", "cancelled")
    return set(TimeEntry.objects.filter(**filters).values_list(*fields))


def _soon(days: int, hour: int = 9) -> datetime:
    day = timezone.now() + timedelta(days=days)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


def _save(calendar, uid: str, start: datetime, *, rrule: str = "", overrides: tuple[Component, ...] = (), **extra):  # type: ignore[no-untyped-def]
    master = Component(uid=uid, summary=uid, start=start, end=start + timedelta(hours=1), rrule=rrule, **extra)
    return services.item_save(calendar=calendar, item=Item(master=master, overrides=overrides)).event


def _horizon_days(settings, days: int) -> None:  # type: ignore[no-untyped-def]
    """Stands for the clock moving on: the horizon is today + these days."""
    settings.REPORTS_HORIZON_DAYS = days


def test_beat_adds_the_next_occurrences_of_open_series_and_events_that_come_into_reach(settings, calendar):
    _horizon_days(settings, 30)
    IndexHorizon.objects.update(horizon=index.horizon())
    first = _soon(1)
    moved_from = first + timedelta(days=28)
    moved = Component(uid="weekly", summary="Moved past the old horizon", recurrence_id=moved_from,
                      start=moved_from + timedelta(days=10), end=moved_from + timedelta(days=10, hours=2))  # fmt: skip
    weekly = _save(calendar, "weekly", first, rrule="FREQ=WEEKLY", overrides=(moved,))
    ended = _save(calendar, "ended", first, rrule="FREQ=DAILY;COUNT=3")
    later = _save(calendar, "later", _soon(45))
    floating = _save(calendar, "floating", _soon(2).replace(tzinfo=None), rrule="FREQ=WEEKLY")
    assert not _rows(event=later)

    _horizon_days(settings, 60)
    extended = index.horizon_extend()

    assert extended is not None and extended.rows > 0
    assert IndexHorizon.objects.get().horizon == extended.horizon
    assert extended.horizon - timezone.now() > timedelta(days=59)
    after_beat = _rows()
    index.reindex([weekly.pk, ended.pk, later.pk, floating.pk])
    assert after_beat == _rows()  # the same rows a rebuild gives
    assert len(_rows(event=later)) == 1
    assert len(_rows(event=ended)) == 3
    assert "Moved past the old horizon" in {r[4] for r in _rows(event=weekly)}
    assert max(r[2] for r in _rows(event=weekly)) > timezone.now() + timedelta(days=52)


def test_beat_does_nothing_while_another_run_holds_the_horizon(settings, calendar):
    IndexHorizon.objects.update(claimed_until=timezone.now() + timedelta(hours=1))

    assert index.horizon_extend() is None

    IndexHorizon.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))  # that run died: it lapses
    assert index.horizon_extend() is not None
    assert IndexHorizon.objects.get().claimed_until is None


def test_beat_runs_the_extension_daily():
    entry = django_settings.CELERY_BEAT_SCHEDULE["extend-reports-horizon"]
    app.loader.import_default_modules()  # what a worker does at start: the apps' tasks modules are found

    assert entry["task"] in app.tasks
    assert entry["schedule"] == 86400.0
    assert app.tasks[entry["task"]]() == 0  # nothing to add: the horizon moved no further since the migration


def test_reindex_command_rebuilds_every_calendar_or_one_organisations(calendar, outsider, capsys):
    other = CalendarFactory(owner=outsider)
    _save(calendar, "mine", _soon(1), rrule="FREQ=DAILY;COUNT=5")
    _save(other, "theirs", _soon(1))
    before = _rows()
    TimeEntry.objects.all().delete()

    call_command("reports_reindex", "--tenant", outsider.tenant.slug, "--json")
    assert _rows() == _rows(tenant=outsider.tenant) and len(_rows()) == 1
    assert json.loads(capsys.readouterr().out) | {"seconds": 0} == {"calendars": 1, "items": 1, "rows": 1, "seconds": 0}
    assert IndexHorizon.objects.get().rebuilt_at is None  # one organisation is not every calendar

    call_command("reports_reindex", "--batch", "2")
    out = capsys.readouterr()
    assert _rows() == before
    assert "Indexed 2 items of 2 calendars: 6 rows" in out.out
    assert "2/2 calendars, 6 rows" in out.err
    assert IndexHorizon.objects.get().rebuilt_at is not None


@pytest.mark.parametrize(("args", "message"), [(["--tenant", "nobody"], "No tenant"), (["--batch", "0"], "--batch")])
def test_reindex_command_refuses_bad_input_clearly(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("reports_reindex", *args)


def test_an_owner_moving_zone_moves_their_floating_times_only(calendar):
    owner = calendar.owner
    profile_update(user=owner, first_name="", last_name="", timezone="Europe/Berlin")
    floating = _save(calendar, "floating", datetime(2026, 7, 1, 9), rrule="FREQ=DAILY;COUNT=2")
    pinned = _save(calendar, "pinned", datetime(2026, 7, 1, 9, tzinfo=UTC))
    assert min(r[2] for r in _rows(event=floating)) == datetime(2026, 7, 1, 7, tzinfo=UTC)

    profile_update(user=owner, first_name="", last_name="", timezone="America/New_York")

    assert sorted(r[2] for r in _rows(event=floating)) == [datetime(2026, 7, d, 13, tzinfo=UTC) for d in (1, 2)]
    assert {r[2] for r in _rows(event=pinned)} == {datetime(2026, 7, 1, 9, tzinfo=UTC)}


def test_a_calendar_given_to_a_colleague_counts_as_their_time_and_their_answers(calendar, member):
    colleague = UserFactory(tenant=member.tenant, timezone="Asia/Tokyo")
    answers = (Attendee(email=member.email, partstat="ACCEPTED"), Attendee(email=colleague.email, partstat="DECLINED"))
    meeting = _save(calendar, "meeting", datetime(2026, 7, 1, 9, tzinfo=UTC), attendees=answers)
    floating = _save(calendar, "floating", datetime(2026, 7, 1, 9))
    assert {(r[5], r[6]) for r in _rows(event=meeting)} == {(member.pk, False)}

    services.calendar_owner_change(calendar=calendar, owner=colleague)

    assert {(r[5], r[6]) for r in _rows(event=meeting)} == {(colleague.pk, True)}
    assert {r[2] for r in _rows(event=floating)} == {datetime(2026, 7, 1, 0, tzinfo=UTC)}  # 9:00 in Tokyo


def test_a_calendar_stays_in_its_organisation(calendar, outsider):
    with pytest.raises(ValueError, match="stays in its organisation"):
        services.calendar_owner_change(calendar=calendar, owner=outsider)
    assert TimeEntry.objects.filter(user=outsider).count() == 0


def _many(n: int) -> list[Item]:
    """n half-hour events, every 50th a series of three."""
    start, half = datetime(2026, 3, 2, 9, tzinfo=UTC), timedelta(minutes=30)
    return [
        Item(
            master=Component(
                uid=f"e{i}",
                summary=f"E{i}",
                start=start + timedelta(hours=i),
                end=start + timedelta(hours=i) + half,
                rrule="" if i % 50 else "FREQ=WEEKLY;COUNT=3",
            )
        )
        for i in range(n)
    ]


def _index_statements(calendar, items: list[Item]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(statements deleting index rows, every statement of the write)."""
    with CaptureQueriesContext(connection) as seen:
        services.items_create_many(calendar=calendar, items=items)
    deletes = sum(q["sql"].startswith('DELETE FROM "reports_timeentry"') for q in seen.captured_queries)
    return deletes, len(seen.captured_queries)


def test_a_first_sync_indexes_its_batch_in_a_few_statements_whatever_its_size(member):
    small = _index_statements(CalendarFactory(owner=member), _many(20))
    large = _index_statements(CalendarFactory(owner=member), _many(1200))

    assert TimeEntry.objects.count() == (19 + 3) + (1176 + 24 * 3)  # series of three every 50th item
    assert (small[0], large[0]) == (1, 3)  # one pass per 500 items (index.BATCH)
    assert large[1] < 1200 / 10  # a few statements per batch, not per item (the rest are bulk inserts)


def _admin_form(calendar, **changes: object):  # type: ignore[no-untyped-def]
    """The operator's change form of a calendar (Django admin), with these fields changed."""
    from django.contrib import admin
    from django.forms.models import model_to_dict
    from django.test import RequestFactory

    from accounts.models import User
    from events.models import Calendar

    model_admin = admin.site._registry[Calendar]
    request = RequestFactory().post("/operator/")
    request.user = User.objects.create_superuser(username="ops@example.test", email="ops@example.test", password="x")
    form_class = model_admin.get_form(request, calendar, change=True)
    data = {**model_to_dict(calendar, fields=list(form_class.base_fields)), **changes}
    changed = timezone.localtime(calendar.changed_at)  # the admin splits a date and time into two inputs
    data |= {"changed_at_0": changed.date().isoformat(), "changed_at_1": changed.time().strftime("%H:%M:%S")}
    data["dav_properties"] = json.dumps(calendar.dav_properties)
    return model_admin, request, form_class(data, instance=calendar)


def test_the_operator_giving_a_calendar_to_a_colleague_moves_its_time_too(calendar, member):
    colleague = UserFactory(tenant=member.tenant)
    meeting = _save(calendar, "meeting", datetime(2026, 7, 1, 9, tzinfo=UTC))
    model_admin, request, form = _admin_form(calendar, owner=colleague.pk)

    assert form.is_valid(), form.errors
    model_admin.save_model(request, model_admin.save_form(request, form, change=True), form, change=True)

    assert {r[5] for r in _rows(event=meeting)} == {colleague.pk}


def test_the_operator_cannot_give_a_calendar_to_another_organisation(calendar, outsider):
    _, _, form = _admin_form(calendar, owner=outsider.pk)

    assert not form.is_valid()
    assert form.errors["__all__"] == ["The owner must be a person of the calendar's organisation."]
