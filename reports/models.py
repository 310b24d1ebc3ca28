"""The time index reports read: one row per occurrence of every event, written with the event.

Expanding recurring series at report time would cost a year's report over a whole organisation hundreds of
thousands of rule steps; instead each write expands its item once, through the one bounded expansion
(events.recurrence), up to a horizon that beat moves forward, and reports are sums over this table.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Tenant
from accounts.tenancy import TenantQuerySet
from events.models import Calendar, Event


class TimeEntry(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # The series' (or single event's) master row: a write replaces all of its entries.
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="time_entries")
    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # The occurrence's original start (UTC) for a series' occurrence, None for a single event.
    recurrence_id = models.DateTimeField(null=True, blank=True)
    # Timed: the instants (floating times read on the owner's clock). All-day: midnight UTC of the first day
    # and of the day after the last, so day arithmetic needs no zone.
    start = models.DateTimeField()
    end = models.DateTimeField()
    all_day = models.BooleanField(default=False)
    title = models.CharField(max_length=500, blank=True)
    client = models.ForeignKey("business.Client", on_delete=models.DO_NOTHING, null=True, related_name="+",
                               db_constraint=False)  # fmt: skip
    project = models.ForeignKey("business.Project", on_delete=models.DO_NOTHING, null=True, related_name="+",
                                db_constraint=False)  # fmt: skip
    activity = models.ForeignKey("business.Activity", on_delete=models.DO_NOTHING, null=True, related_name="+",
                                 db_constraint=False)  # fmt: skip
    provider = models.CharField(max_length=16, blank=True)  # the event's origin ("" made in calsync)
    private = models.BooleanField(default=False)  # counts as time; its title is shown to its owner only
    free = models.BooleanField(default=False)  # shown as free (transparent): not counted
    declined = models.BooleanField(default=False)  # the owner declined it: not counted
    cancelled = models.BooleanField(default=False)  # STATUS:CANCELLED: not counted

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "start"], name="timeentry_tenant_start"),
            models.Index(fields=["tenant", "user", "start"], name="timeentry_user_start"),
            # The order the overlap rule reads each person's counted time in (reports.counting): PostgreSQL
            # reads it presorted, without sorting a year of an organisation, and from the index alone.
            models.Index(
                fields=["tenant", "user", "all_day", "start", "event", "id"],
                include=["end", "client", "project", "activity", "calendar", "provider"],
                condition=models.Q(free=False, declined=False, cancelled=False),
                name="timeentry_overlap_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title or 'Event'} {self.start:%Y-%m-%d %H:%M}"


class SavedReport(models.Model):
    """A report someone named to open again, shared with chosen colleagues and, if asked, emailed each month.

    It keeps the page's query parameters (as the report form reads them), not figures: whoever opens it, or
    receives it, sees it computed now, with their own permissions (a member their own time only)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_reports")
    name = models.CharField(max_length=120)
    params = models.JSONField(default=dict)
    shared_with = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="reports_shared_with_me")
    # The monthly email: on the 1st, last month's report goes to these people (all in the tenant).
    email_monthly = models.BooleanField(default=False)
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    # The first day of the last month emailed: a second run of the beat task in the same month sends nothing.
    last_sent_month = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["name", "pk"]
        constraints = [models.UniqueConstraint("owner", "name", name="savedreport_owner_name_unique")]

    def __str__(self) -> str:
        return self.name


class IndexHorizon(models.Model):
    """One row: every series is in the index up to `horizon` (writes index further: their own now + the days).

    Beat (reports.tasks.extend_horizon) moves it forward daily, adding the occurrences between the old and the new
    horizon; `claimed_until` keeps two runs from interleaving (a run that died frees it when it lapses).
    """

    horizon = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    # When `manage.py reports_reindex` last rebuilt every calendar (None: never, e.g. events predating the index).
    rebuilt_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Time index up to {self.horizon:%Y-%m-%d %H:%M}"


class DaySum(models.Model):
    """Counted time per day of one person, summed per calendar, client, project, activity and provider: what a
    year's report reads instead of a million index rows. Kept with the index (reports.summary), in the tenant's
    zone (TenantSummary.zone); a report in another zone reads the index itself.

    Timed time is cut at the zone's midnights; an all-day occurrence gives each of its dates a whole day. Time
    not counted (free, declined, cancelled) is left out. Milliseconds, summed: both overlap rules are kept.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    all_day = models.BooleanField(default=False)
    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="+")
    client_id = models.BigIntegerField(null=True)
    project_id = models.BigIntegerField(null=True)
    activity_id = models.BigIntegerField(null=True)
    provider = models.CharField(max_length=16, blank=True)
    each_ms = models.BigIntegerField(default=0)  # every occurrence in full (overlap rule "each")
    once_ms = models.BigIntegerField(default=0)  # overlapping time once, to the one that started first ("once")
    starts = models.IntegerField(default=0)  # occurrences that start this day
    continuing = models.IntegerField(default=0)  # occurrences that started before and go on into this day

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "day"], name="daysum_tenant_day"),
            models.Index(fields=["tenant", "user", "day"], name="daysum_user_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.each_ms // 60000} min"


class TenantSummary(models.Model):
    """Which zone a tenant's DaySum rows are cut in, and whether they are complete (built over every row)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="+")
    zone = models.CharField(max_length=64)
    ready = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"Day sums of {self.tenant_id} in {self.zone}{'' if self.ready else ' (being built)'}"
