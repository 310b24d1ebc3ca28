"""Retention: history older than each organisation keeps it is pruned in bounded batches, and nothing else."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from business.models import RuleRun
from events.models import Event, ImportJob
from integrations.models import Integration
from sync import retention
from sync.models import SyncLogEntry, SyncMapping, SyncRun, UnsyncedItem
from tests.factories import CalendarFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture(autouse=True)
def _fresh_resume_point():  # type: ignore[no-untyped-def]
    cache.delete(retention.RESUME_KEY)
    yield
    cache.delete(retention.RESUME_KEY)


def _integration(user) -> Integration:  # type: ignore[no-untyped-def]
    calendar, other = CalendarFactory(owner=user), CalendarFactory(owner=user)
    return Integration.objects.create(tenant=user.tenant, user=user, provider="calsync", calendar=calendar,
                                      remote_calendar_id=str(other.pk))  # fmt: skip


def _run(integration: Integration, days_ago: float, status: str = "success", entries: int = 2) -> SyncRun:
    run = SyncRun.objects.create(tenant=integration.tenant, integration=integration, trigger="automatic",
                                 status=status)  # fmt: skip
    SyncRun.objects.filter(pk=run.pk).update(created_at=NOW - timedelta(days=days_ago))
    SyncLogEntry.objects.bulk_create(
        SyncLogEntry(run=run, action="conflict", message=f"entry {n}", detail="BEGIN:VCALENDAR...")
        for n in range(entries)
    )
    return run


def _left(*runs: SyncRun) -> set[int]:
    return set(SyncRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("pk", flat=True))


def test_only_runs_older_than_each_tenants_period_go_with_their_entries(member, outsider) -> None:
    member.tenant.log_retention_days = 30
    member.tenant.save(update_fields=["log_retention_days"])  # the outsider's tenant keeps the default, 90 days
    ours, theirs = _integration(member), _integration(outsider)
    ours_old, ours_mid, ours_new = _run(ours, 100), _run(ours, 40), _run(ours, 10)
    theirs_old, theirs_mid, theirs_new = _run(theirs, 100), _run(theirs, 40), _run(theirs, 1)
    SyncMapping.objects.create(integration=ours, uid="u1", local_id="1", local_version="1", remote_id="r1",
                               remote_version="1", content_hash="h")  # fmt: skip
    UnsyncedItem.objects.create(integration=ours, side="remote", uid="u2", reason="too big")
    events = Event.objects.count()

    done = retention.prune(now=NOW)

    assert _left(ours_old, ours_mid, ours_new, theirs_old, theirs_mid, theirs_new) == {
        ours_new.pk, theirs_mid.pk, theirs_new.pk,
    }  # fmt: skip
    assert done.counts["runs"] == 3 and done.counts["entries"] == 6 and done.complete
    assert set(SyncLogEntry.objects.values_list("run_id", flat=True)) == {ours_new.pk, theirs_mid.pk, theirs_new.pk}
    assert SyncLogEntry.objects.count() == 6
    assert SyncMapping.objects.count() == 1 and UnsyncedItem.objects.count() == 1 and Event.objects.count() == events
    assert Integration.objects.count() == 2
    assert retention.prune(now=NOW).total == 0  # nothing more to do


def test_unfinished_runs_and_the_result_a_page_shows_are_kept_however_old(member) -> None:
    member.tenant.log_retention_days = 7
    member.tenant.save(update_fields=["log_retention_days"])
    lonely, busy, skipping = _integration(member), _integration(member), _integration(member)
    only_result = _run(lonely, 400, status="failed")  # its page shows this as the last result
    superseded, running, queued = _run(busy, 300), _run(busy, 200, status="running"), _run(busy, 100, "queued")
    busy_result = _run(busy, 150)
    last_real, skipped = _run(skipping, 50, status="partial"), _run(skipping, 40, status="skipped")
    older = _run(skipping, 60)

    retention.prune(now=NOW)

    assert _left(only_result, superseded, running, queued, busy_result, last_real, skipped, older) == {
        only_result.pk, running.pk, queued.pk, busy_result.pk, last_real.pk, skipped.pk,
    }  # fmt: skip
    # A skipped run is kept while no real result is newer than it; the page's last result never goes.


def test_every_statement_and_every_call_is_bounded_and_the_next_call_resumes(member, settings) -> None:
    settings.RETENTION_PRUNE_BATCH, settings.RETENTION_PRUNE_BUDGET = 5, 12
    integration = _integration(member)
    old = [_run(integration, 200, entries=9) for _ in range(3)]
    kept = _run(integration, 1, entries=3)

    calls = []
    while True:
        with CaptureQueriesContext(connection) as queries:
            done = retention.prune(now=NOW)
        calls.append(done)
        deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
        assert done.total <= 12 and done.largest_statement <= 5
        assert done.statements <= len(deletes)  # a run's delete also asks for its (already gone) entries
        if done.complete:
            break
        assert cache.get(retention.RESUME_KEY) == member.tenant_id
        assert len(calls) < 10
    assert len(calls) == 3  # 27 entries and 3 runs: 12 + 12 + 6 rows
    assert sum(c.counts["entries"] for c in calls) == 27 and sum(c.counts["runs"] for c in calls) == 3
    assert _left(*old, kept) == {kept.pk} and SyncLogEntry.objects.count() == 3
    assert cache.get(retention.RESUME_KEY) is None


def test_a_call_that_ran_out_resumes_at_the_tenant_it_stopped_at(member, outsider, settings) -> None:
    settings.RETENTION_PRUNE_BATCH, settings.RETENTION_PRUNE_BUDGET = 10, 10
    first, second = sorted([member, outsider], key=lambda u: u.tenant_id)
    a, b = _integration(first), _integration(second)
    _run(a, 1), _run(b, 1)  # the newest result of each
    b_old = _run(b, 200, entries=4)
    cache.set(retention.RESUME_KEY, second.tenant_id)  # where the last call ran out
    a_old = _run(a, 200, entries=20)

    done = retention.prune(now=NOW)

    assert not _left(b_old)  # the tenant it stopped at went first
    # b_old's 4 entries and itself, then 5 of a_old's 20 entries: the budget of 10 rows is spent
    assert done.counts == {"runs": 1, "entries": 9, "imports": 0, "rule_runs": 0, "previews": 0} and not done.complete
    assert _left(a_old) and SyncLogEntry.objects.filter(run=a_old).count() == 15
    assert cache.get(retention.RESUME_KEY) == first.tenant_id


def test_finished_imports_and_rule_runs_go_too(member) -> None:
    calendar = CalendarFactory(owner=member)
    jobs = {
        status: ImportJob.objects.create(tenant=member.tenant, calendar=calendar, created_by=member,
                                         filename="a.ics", payload="BEGIN:VCALENDAR", status=status)
        for status in ("done", "failed", "pending", "running")
    }  # fmt: skip
    recent = ImportJob.objects.create(tenant=member.tenant, calendar=calendar, created_by=member, filename="b.ics",
                                      payload="", status="done")  # fmt: skip
    rules = {
        status: RuleRun.objects.create(tenant=member.tenant, start=date(2026, 1, 1), end=date(2026, 1, 31),
                                       status=status)
        for status in ("done", "pending")
    }  # fmt: skip
    ImportJob.objects.exclude(pk=recent.pk).update(created_at=NOW - timedelta(days=100))
    RuleRun.objects.update(created_at=NOW - timedelta(days=100))

    done = retention.prune(now=NOW)

    assert set(ImportJob.objects.values_list("pk", flat=True)) == {jobs["pending"].pk, jobs["running"].pk, recent.pk}
    assert list(RuleRun.objects.values_list("pk", flat=True)) == [rules["pending"].pk]
    assert done.counts["imports"] == 2 and done.counts["rule_runs"] == 1


def test_the_command_counts_in_a_dry_run_and_deletes_for_real(member, capsys) -> None:
    integration = _integration(member)
    old, _ = _run(integration, 100, entries=4), _run(integration, 1)
    call_command("prune", "--dry-run")
    assert "Would delete 1 sync runs, 4 log entries" in capsys.readouterr().out and _left(old)
    call_command("prune", "--tenant", member.tenant.slug, "--json")
    assert '"runs": 1' in capsys.readouterr().out and not _left(old)


def test_beat_prunes_through_the_task(member, settings) -> None:
    from sync.tasks import prune

    assert settings.CELERY_BEAT_SCHEDULE["prune-history"]["task"] == prune.name
    integration = _integration(member)
    old, _ = _run(integration, 100), _run(integration, 1)
    assert prune.delay().get() == 3 and not _left(old)


# --- the organisation's setting ---------------------------------------------------------------------------


def _save(admin_client_, days: str):  # type: ignore[no-untyped-def]
    form = {"name": "Acme", "timezone": "UTC", "allowed_providers": ["google"], "log_retention_days": days}
    return admin_client_.post(reverse("admin_tenant"), form)


def test_admins_set_the_period_and_nonsense_is_refused(admin_client_, tenant, settings) -> None:
    page = admin_client_.get(reverse("admin_tenant")).content.decode()
    assert 'name="log_retention_days"' in page and "Empty: 90 days (7 to 3650)" in page
    assert _save(admin_client_, "30").status_code == 302
    tenant.refresh_from_db()
    assert tenant.log_retention_days == 30 and tenant.retention_days == 30
    for nonsense, message in (("abc", "Enter a whole number of days."), ("0", "between 7 and 3650 days"),
                              ("-5", "between 7 and 3650 days"), ("99999999999", "between 7 and 3650 days"),
                              ("1.5", "Enter a whole number of days.")):  # fmt: skip
        response = _save(admin_client_, nonsense)
        assert response.status_code == 200 and message in response.content.decode(), nonsense
    tenant.refresh_from_db()
    assert tenant.log_retention_days == 30
    assert _save(admin_client_, "").status_code == 302
    tenant.refresh_from_db()
    assert tenant.log_retention_days is None and tenant.retention_days == 90
    settings.RETENTION_DEFAULT_DAYS = 60
    assert tenant.retention_days == 60  # the operator's default, read when pruning


def test_members_cannot_change_it(member_client) -> None:
    assert member_client.post(reverse("admin_tenant"), {"log_retention_days": "7"}).status_code == 403


def test_a_period_outside_the_operators_current_limits_is_held_within_them(tenant, settings) -> None:
    tenant.log_retention_days = 3000
    settings.RETENTION_MAX_DAYS = 365
    assert tenant.retention_days == 365
    assert UserFactory(tenant=tenant).tenant.retention_days == 365
