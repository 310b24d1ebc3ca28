"""The day sums give every report the numbers the index gives, and stay in step with writes, deletions, a
rebuild and the organisation moving zone."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.services import tenant_update
from business.models import BusinessSettings
from business.services import settings_for
from events import services
from events.ical import as_utc
from events.models import Event
from reports import engine, summary
from reports.engine import ReportQuery
from reports.models import DaySum, TenantSummary
from tests.events import strategies
from tests.factories import CalendarFactory, UserFactory

pytestmark = pytest.mark.django_db

GROUPINGS = (("client", "user"), ("provider",), ("activity", "project", "calendar"), ("user",))


def _both(query: ReportQuery) -> tuple[engine.Report, engine.Report]:
    """The report from the day sums, and the same report from the index alone."""
    assert summary.covers(query.tenant_id, query.zone)
    summed = engine.report_run(query=query)
    TenantSummary.objects.filter(tenant_id=query.tenant_id).update(ready=False)
    try:
        return summed, engine.report_run(query=query)
    finally:
        TenantSummary.objects.filter(tenant_id=query.tenant_id).update(ready=True)


@st.composite
def organisations(draw: st.DrawFn) -> dict:
    return {
        "zone": draw(st.sampled_from(strategies.ZONES)),
        "people": [(draw(st.sampled_from(strategies.ZONES)), draw(strategies.item_lists(max_size=4))) for _ in "ab"],
        "all_day": draw(st.sampled_from(BusinessSettings.AllDay.values)),
        "overlap": draw(st.sampled_from(BusinessSettings.Overlap.values)),
        "days": draw(st.integers(0, 400)),
        "before": draw(st.integers(0, 40)),
        "grouping": draw(st.sampled_from(GROUPINGS)),
        "period": draw(st.sampled_from(engine.PERIODS)),
    }


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=organisations(), deleted=st.booleans())
def test_the_day_sums_give_the_report_the_index_gives(tenant, admin_user, drawn, deleted) -> None:  # type: ignore[no-untyped-def]
    Event.objects.filter(tenant=tenant, parent=None).delete()  # the last example's (hypothesis shares the test)
    tenant.timezone = drawn["zone"]
    tenant.save(update_fields=["timezone"])
    summary.rebuild(tenant.pk)
    BusinessSettings.objects.filter(pk=settings_for(tenant.pk).pk).update(
        all_day_rule=drawn["all_day"], overlap_rule=drawn["overlap"]
    )
    written = []
    for zone, items in drawn["people"]:
        calendar = CalendarFactory(owner=UserFactory(tenant=tenant, timezone=zone), tenant=tenant)
        written += [r.event for r in services.items_create_many(calendar=calendar, items=items)]
    starts = [as_utc(e.span_start).date() for e in written if e.span_start is not None and e.kind == "VEVENT"]
    if deleted and written:
        services.item_delete(event=written[0])
    first = (min(starts) if starts else date(2026, 1, 1)) - timedelta(days=drawn["before"])
    last = first + timedelta(days=drawn["days"])
    query = ReportQuery(tenant_id=tenant.pk, viewer_id=admin_user.pk, zone=drawn["zone"], start=first, end=last,
                        group_by=drawn["grouping"], period=drawn["period"])  # fmt: skip

    summed, indexed = _both(query)

    assert summed == indexed
    if summed.rows:  # a filter on the first grouping's biggest value, as a drill-down's report asks it
        top = {drawn["grouping"][0]: (summed.rows[0].key[0],)}
        filtered = replace(query, filters=top)
        assert _both(filtered)[0] == _both(filtered)[1]


def test_a_member_sees_their_own_sums_only(calendar, member, admin_user):
    from tests.reports.test_engine import _save, _timed

    _save(calendar, _timed("m", "20261102T090000Z", "20261102T100000Z"))
    colleague = CalendarFactory(owner=admin_user, tenant=admin_user.tenant)
    _save(colleague, _timed("c", "20261102T090000Z", "20261102T110000Z"))
    query = ReportQuery(tenant_id=member.tenant_id, viewer_id=member.pk, zone=member.tenant.timezone,
                        start=date(2026, 11, 1), end=date(2026, 11, 30), group_by=("user",))  # fmt: skip

    summed, indexed = _both(query)

    assert summed == indexed and summed.total_minutes == 60


def test_the_organisation_moving_zone_sums_its_days_again(tenant, calendar, admin_user, run_on_commit):
    from tests.reports.test_engine import _save, _timed

    # 22:30-23:30 UTC: one day in UTC, two halves in Berlin (23:30-00:30).
    _save(calendar, _timed("n", "20261102T223000Z", "20261102T233000Z"))
    assert set(DaySum.objects.values_list("day", "each_ms")) == {(date(2026, 11, 2), 3_600_000)}  # tenant in UTC

    with run_on_commit():
        tenant_update(tenant=tenant, name=tenant.name, timezone="Europe/Berlin",
                      allowed_providers=tenant.allowed_providers, default_can_setup_integrations=True)  # fmt: skip
        assert not summary.covers(tenant.pk, "Europe/Berlin")  # until rebuilt, reports read the index

    assert TenantSummary.objects.get(tenant=tenant).ready  # rebuilt by the task (run at once in tests)
    assert set(DaySum.objects.values_list("day", "each_ms")) == {(date(2026, 11, 2), 1_800_000),
                                                                 (date(2026, 11, 3), 1_800_000)}  # fmt: skip
    query = ReportQuery(tenant_id=tenant.pk, viewer_id=admin_user.pk, zone="Europe/Berlin", start=date(2026, 11, 3),
                        end=date(2026, 11, 3), period="day")  # fmt: skip
    summed, indexed = _both(query)
    assert summed == indexed and summed.total_minutes == 30


def test_a_rebuild_gives_the_sums_the_writes_kept(calendar, admin_user):
    from tests.reports.test_engine import _save, _timed

    _save(calendar, _timed("a", "20261102T090000Z", "20261102T100000Z", "RRULE:FREQ=DAILY;COUNT=40\r\n"))
    _save(calendar, _timed("b", "20261102T093000Z", "20261103T100000Z"))
    kept = set(DaySum.objects.values_list("user_id", "day", "each_ms", "once_ms", "starts", "continuing"))

    summary.rebuild(calendar.tenant_id)

    assert set(DaySum.objects.values_list("user_id", "day", "each_ms", "once_ms", "starts", "continuing")) == kept
    assert (date(2026, 11, 3), 1) in set(DaySum.objects.values_list("day", "continuing"))


def test_two_peoples_identical_occurrences_across_a_month_end_both_count_in_the_series(calendar, admin_user):
    from tests.reports.test_engine import _save, _timed

    colleague = CalendarFactory(owner=admin_user, tenant=admin_user.tenant)
    for owner_calendar in (calendar, colleague):  # 23:00-01:00 UTC over the end of January, the same for both
        _save(owner_calendar, _timed("x", "20260131T230000Z", "20260201T010000Z", "X-CALSYNC-CLIENT:Acme\r\n"))
    query = ReportQuery(tenant_id=admin_user.tenant_id, viewer_id=admin_user.pk, zone="UTC", start=date(2026, 1, 1),
                        end=date(2026, 2, 28), period="month")  # fmt: skip

    summed, indexed = _both(query)

    assert summed == indexed
    assert [m for _, _, m in indexed.series] == [120, 120]  # an hour of each person's in each month
