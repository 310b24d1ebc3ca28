"""calsync's own calendars: the canonical side of every sync.

A calendar's rows change only through events.services, which bumps the
calendar's change sequence in the same transaction. "What changed since N" is
then two indexed range scans: items with seq > N and tombstones with seq > N.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from accounts.models import Tenant, validate_timezone
from accounts.tenancy import TenantQuerySet


def new_feed_token() -> str:
    return secrets.token_urlsafe(24)


def new_dav_name() -> str:
    return str(uuid.uuid4())


class Calendar(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="calendars")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendars")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    color = models.CharField(max_length=7, default="#3b82f6")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # Monotonically increasing; bumped (under a row lock) by every change to the calendar's items.
    change_seq = models.BigIntegerField(default=0)
    # The oldest change sequence still answerable: deletions up to it were compacted away (events.tombstones), so
    # a sync token or cursor below it is refused and its client lists the calendar again (RFC 6578 3.2).
    sync_floor = models.BigIntegerField(default=0)
    # The secret in the calendar's ICS subscription address; rotating it revokes every copy of the link.
    feed_token = models.CharField(max_length=64, unique=True, default=new_feed_token)
    # The calendar's path segment under its owner's CalDAV calendar home (a client may choose it: MKCALENDAR).
    dav_name = models.CharField(max_length=200, default=new_dav_name)
    # WebDAV properties clients set that calsync does not interpret (Apple's calendar-order...), kept as XML.
    dav_properties = models.JSONField(default=dict, blank=True)
    # Which kinds of item the calendar holds (CalDAV supported-calendar-component-set): a task list is "VTODO".
    components = models.CharField(max_length=20, default="VEVENT,VTODO")
    created_at = models.DateTimeField(auto_now_add=True)
    # Last change to the calendar or any of its items: Last-Modified of its feed.
    changed_at = models.DateTimeField(default=now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["owner_id", "name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "dav_name"], name="calendar_unique_dav_name")]

    def __str__(self) -> str:
        return self.name


# How the time shows, in the words Outlook and Google use (keys: events.ical.BUSY_STATUSES).
SHOW_AS = {"BUSY": "Busy", "FREE": "Free", "TENTATIVE": "Tentative", "OOF": "Out of office",
           "WORKINGELSEWHERE": "Working elsewhere"}  # fmt: skip
# Google's event types (events.ical.EVENT_TYPES) as Google Calendar names them.
EVENT_TYPE_LABELS = {"outOfOffice": "Out of office", "focusTime": "Focus time", "workingLocation": "Working location",
                     "fromGmail": "From Gmail", "birthday": "Birthday"}  # fmt: skip


class Event(models.Model):
    """One iCalendar component (VEVENT or VTODO) in a calendar.

    A calendar *item* is a master row (parent is null) plus its overridden
    occurrences: rows with the same UID, a parent and a recurrence_id. The
    item's change sequence (seq) lives on the master and moves whenever the
    master or any of its overrides changes.
    """

    class Kind(models.TextChoices):
        EVENT = "VEVENT", "Event"
        TASK = "VTODO", "Task"

    class Visibility(models.TextChoices):
        PUBLIC = "PUBLIC", "Public"
        PRIVATE = "PRIVATE", "Private"
        CONFIDENTIAL = "CONFIDENTIAL", "Confidential"

    class Transparency(models.TextChoices):
        BUSY = "OPAQUE", "Busy"
        FREE = "TRANSPARENT", "Free"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="events")
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="overrides")
    kind = models.CharField(max_length=6, choices=Kind.choices, default=Kind.EVENT)
    uid = models.CharField(max_length=255)
    # The resource name under which CalDAV clients know the item ("<something>.ics").
    name = models.CharField(max_length=255)
    seq = models.BigIntegerField(default=0)

    recurrence_id = models.DateTimeField(null=True, blank=True)
    title = models.CharField(max_length=500, blank=True)
    description = models.TextField(blank=True)
    location = models.CharField(max_length=500, blank=True)
    # Instants in UTC; `timezone` names the zone they were given in ("" = floating local time).
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    timezone = models.CharField(max_length=64, blank=True, default="UTC")
    # Set only when the end was given in another zone than the start.
    end_timezone = models.CharField(max_length=64, blank=True)
    # The end was given as a DURATION (and is written back as one).
    end_as_duration = models.BooleanField(default=False)
    all_day = models.BooleanField(default=False)
    rrule = models.CharField(max_length=1000, blank=True)
    # Wall-clock values with their zone, as events.ical.temporal_to_text writes them.
    rdates = models.JSONField(default=list, blank=True)
    exdates = models.JSONField(default=list, blank=True)
    # Masters only: the first start and last end of any occurrence (span_end null: repeats
    # forever), so a range query reads only the items that can touch the range.
    span_start = models.DateTimeField(null=True, blank=True)
    span_end = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=16, blank=True)
    transparency = models.CharField(max_length=11, choices=Transparency.choices, default=Transparency.BUSY)
    visibility = models.CharField(max_length=12, choices=Visibility.choices, default=Visibility.PUBLIC)
    organizer = models.JSONField(null=True, blank=True)
    attendees = models.JSONField(default=list, blank=True)
    alarms = models.JSONField(default=list, blank=True)
    categories = models.JSONField(default=list, blank=True)
    url = models.CharField(max_length=1000, blank=True)
    sequence = models.IntegerField(default=0)

    # Tasks (VTODO)
    due = models.DateTimeField(null=True, blank=True)
    completed = models.DateTimeField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(null=True, blank=True)
    percent_complete = models.PositiveSmallIntegerField(null=True, blank=True)

    # Business fields used in reports.
    client = models.CharField(max_length=200, blank=True)
    project = models.CharField(max_length=200, blank=True)
    activity_type = models.CharField(max_length=200, blank=True)
    # The organisation's list entries those names matched (business.services.Resolver): reports group by these;
    # the names above are what travels to providers and calendar apps.
    client_ref = models.ForeignKey(
        "business.Client", on_delete=models.RESTRICT, null=True, blank=True, related_name="events"
    )
    project_ref = models.ForeignKey(
        "business.Project", on_delete=models.RESTRICT, null=True, blank=True, related_name="events"
    )
    activity_ref = models.ForeignKey(
        "business.Activity", on_delete=models.RESTRICT, null=True, blank=True, related_name="events"
    )
    # Where the event was first written from: "" calsync's pages, else a provider key ("google", ...),
    # "dav" (a calendar app writing to calsync's CalDAV server) or "import" (an .ics import).
    origin = models.CharField(max_length=16, blank=True)

    # Finer than transparency, as providers keep it (events.ical.BUSY_STATUSES): "" reads transparency alone.
    busy_status = models.CharField(max_length=16, blank=True)
    # A provider's kind of event other than a plain one (events.ical.EVENT_TYPES), kept so it is written back.
    event_type = models.CharField(max_length=20, blank=True)

    # iCalendar we do not model, kept verbatim so nothing a client wrote is lost.
    extra_properties = models.JSONField(default=list, blank=True)
    extra_components = models.JSONField(default=list, blank=True)
    # Title, location, description and people, case-folded (events.convert.search_text): what search reads.
    search_text = models.TextField(blank=True, default="", editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["calendar", "uid"], condition=models.Q(parent__isnull=True), name="event_unique_uid"
            ),
            models.UniqueConstraint(
                fields=["calendar", "name"], condition=models.Q(parent__isnull=True), name="event_unique_name"
            ),
            models.UniqueConstraint(fields=["parent", "recurrence_id"], name="event_unique_override"),
        ]
        indexes = [
            models.Index(fields=["calendar", "seq"], name="event_changes"),
            models.Index(fields=["calendar", "span_start"], name="event_span_start"),
            models.Index(fields=["calendar", "span_end"], name="event_span_end"),
        ]

    def __str__(self) -> str:
        return self.title or self.uid

    @property
    def show_as(self) -> str:
        """How the time shows to others (one of SHOW_AS): the busy status, or what TRANSP alone says."""
        return self.busy_status or ("FREE" if self.transparency == self.Transparency.FREE else "BUSY")

    @property
    def show_as_label(self) -> str:
        return SHOW_AS.get(self.show_as, "Busy")

    @property
    def badge(self) -> str:
        """What sets this event apart in a week or list: its kind (focus time...), or time not simply busy."""
        return EVENT_TYPE_LABELS.get(self.event_type, "") or (self.show_as_label if self.show_as != "BUSY" else "")

    @property
    def is_recurring(self) -> bool:
        return bool(self.rrule or self.rdates)

    @property
    def etag(self) -> str:
        return f'"{self.seq}"'


class Tombstone(models.Model):
    """A deleted item, so that "what changed since N" can report deletions."""

    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="tombstones")
    uid = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    seq = models.BigIntegerField()
    deleted_at = models.DateTimeField(auto_now_add=True)
    # Who deleted it and from where, for the event's story (sync.history): the calsync user deleting it in the web
    # pages or over CalDAV (null for a sync), and events.services.write_origin() ("" the web pages, "dav", or the
    # provider key of the sync that carried a deletion made there).
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    via = models.CharField(max_length=16, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["calendar", "seq"], name="tombstone_changes"),
            models.Index(fields=["calendar", "uid"], name="tombstone_uid"),  # an event's story finds its deletion
            models.Index(fields=["deleted_at"], name="tombstone_age"),  # what pruning reads, oldest first
        ]

    def __str__(self) -> str:
        return f"deleted {self.uid}"


class ImportJob(models.Model):
    """An ICS file a user uploaded, imported in the background by a worker."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Importing"
        DONE = "done", "Imported"
        FAILED = "failed", "Failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    calendar = models.ForeignKey(Calendar, on_delete=models.CASCADE, related_name="imports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    payload = models.TextField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    # [{"uid": ..., "reason": ...}] for items that could not be imported.
    problems = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import of {self.filename}"
