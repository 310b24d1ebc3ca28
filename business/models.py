"""The organisation's lists of clients, projects and activity types, which events point to.

An event carries the names (they travel to every provider and CalDAV client, where people see them) and a
link to the list entry (what reports group by). Entries are archived, never deleted: old events keep
pointing at them. A renamed entry remembers its old names as aliases, so a copy that still carries the old
name finds its way back to the same entry.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from accounts.models import Tenant
from accounts.tenancy import TenantQuerySet


class ListEntry(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    # Earlier names (after renames), matched case-insensitively like the name.
    aliases = models.JSONField(default=list, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # Made by a person on the lists page, or found on an event that arrived with a name nobody had listed.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Client(ListEntry):
    email_domains = models.JSONField(default=list, blank=True)  # the client's own domains, for assignment rules

    class Meta(ListEntry.Meta):
        constraints = [models.UniqueConstraint("tenant", Lower("name"), name="client_name_unique")]


class Project(ListEntry):
    # A project belongs to a client; an internal project has none.
    client = models.ForeignKey(Client, on_delete=models.RESTRICT, null=True, blank=True, related_name="projects")

    class Meta(ListEntry.Meta):
        constraints = [
            models.UniqueConstraint(
                "tenant", "client", Lower("name"), condition=Q(client__isnull=False), name="project_name_unique"
            ),
            models.UniqueConstraint(
                "tenant", Lower("name"), condition=Q(client__isnull=True), name="internal_project_name_unique"
            ),
        ]


class Activity(ListEntry):
    class Meta(ListEntry.Meta):
        verbose_name_plural = "activities"
        constraints = [models.UniqueConstraint("tenant", Lower("name"), name="activity_name_unique")]


class BusinessSettings(models.Model):
    """The organisation's choices about its lists and how its reports count time."""

    class AllDay(models.TextChoices):
        SKIP = "skip", "Not counted"
        WORKDAY = "workday", "As a working day (the hours below)"
        FULL = "full", "As 24 hours"

    class Overlap(models.TextChoices):
        EACH = "each", "Each event counts in full"
        ONCE = "once", "Overlapping time counts once (to the event that started first)"

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="business_settings")
    members_manage_lists = models.BooleanField(
        default=False, help_text="Members may add and rename clients, projects and activities, not only admins."
    )
    all_day_rule = models.CharField(max_length=8, choices=AllDay.choices, default=AllDay.WORKDAY)
    all_day_hours = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("8.00"))
    overlap_rule = models.CharField(max_length=4, choices=Overlap.choices, default=Overlap.EACH)

    class Meta:
        verbose_name_plural = "business settings"

    def __str__(self) -> str:
        return f"Business settings of {self.tenant_id}"


class AssignmentRule(models.Model):
    """Fills an event's client, project or activity when the event was made outside calsync (business.rules).

    Rules apply in `position` order; for each field the first rule that matches and sets that field wins.
    """

    class Kind(models.TextChoices):
        ATTENDEE_DOMAIN = "attendee_domain", "An attendee's email domain is"
        ORGANIZER_DOMAIN = "organizer_domain", "The organiser's email domain is"
        TITLE_KEYWORD = "title_keyword", "The title contains the words"
        CALENDAR = "calendar", "The event is in the calendar"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.CharField(max_length=200, blank=True)  # the domain or the words; empty for a calendar rule
    calendar = models.ForeignKey("events.Calendar", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    client = models.ForeignKey(Client, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    activity = models.ForeignKey(Activity, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["position", "pk"]
        indexes = [models.Index(fields=["tenant", "position"], name="rule_tenant_position")]

    def __str__(self) -> str:
        what = self.calendar.name if self.kind == self.Kind.CALENDAR and self.calendar else self.value
        return f"{self.get_kind_display()} {what}"


class RuleMatch(models.Model):
    """Which rule filled which field of an event (a series' master), shown on the event."""

    class Field(models.TextChoices):
        CLIENT = "client", "Client"
        PROJECT = "project", "Project"
        ACTIVITY = "activity", "Activity"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="rule_matches")
    field = models.CharField(max_length=8, choices=Field.choices)
    # None: the client's own email domains (Client.email_domains) matched, or the rule was deleted since.
    rule = models.ForeignKey(AssignmentRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    rule_label = models.CharField(max_length=300)  # the rule as it read when it matched
    entry_id = models.BigIntegerField()  # the client, project or activity it set; shown while the event keeps it
    reason = models.CharField(max_length=300)  # what matched, e.g. "attendee ann@acme.example"
    matched_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint("event", "field", name="rulematch_event_field")]

    def __str__(self) -> str:
        return f"{self.field} of {self.event_id}: {self.reason}"


class RuleRun(models.Model):
    """The rules applied again to the events of a date range, on request (page or `manage.py apply_rules`)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    start = models.DateField()
    end = models.DateField()  # inclusive
    overwrite = models.BooleanField(default=False)  # replace fields already set, not only fill empty ones
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    checked_count = models.PositiveIntegerField(default=0)
    changed_count = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Rules over {self.start}..{self.end} ({self.status})"
