"""The sync engine's state and history: mappings, runs, log entries, unsynced items."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import Tenant
from accounts.tenancy import TenantQuerySet


class SyncMapping(models.Model):
    """One synced item: its id and version on both sides, and the hash of the content last synced."""

    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="mappings")
    uid = models.CharField(max_length=255)
    local_id = models.CharField(max_length=1000)
    local_version = models.CharField(max_length=255)
    remote_id = models.CharField(max_length=1000)
    remote_version = models.CharField(max_length=255)
    content_hash = models.CharField(max_length=64)
    # sync.engine.Mapping: the side calsync copied the item from ("calsync", "remote"; "" if both held it), and
    # the hash of a shaped copy (busy-only, title-only).
    origin = models.CharField(max_length=8, blank=True)
    copy_hash = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["integration", "local_id"], name="mapping_local"),
            models.Index(fields=["integration", "remote_id"], name="mapping_remote"),
            models.Index(fields=["integration", "uid"], name="mapping_uid"),
        ]

    def __str__(self) -> str:
        return self.uid


class SyncRun(models.Model):
    class Trigger(models.TextChoices):
        AUTOMATIC = "automatic", "Automatic"
        MANUAL = "manual", "Synchronize now"
        FIRST = "first", "First sync"
        RETRY = "retry", "Retry"
        PUSH = "push", "Change at the provider"
        UNDO = "undo", "Undo"
        RESYNC = "resync", "Resync from scratch"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCESS = "success", "Succeeded"
        PARTIAL = "partial", "Succeeded, some items not synced"
        RETRYING = "retrying", "Failed, will retry"
        FAILED = "failed", "Failed"
        STOPPED = "stopped", "Stopped for safety"
        SKIPPED = "skipped", "Skipped: another sync was running"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # {"calsync": {"created": n, "updated": n, "deleted": n}, "remote": {...}}
    counts = models.JSONField(default=dict, blank=True)
    conflicts = models.PositiveIntegerField(default=0)
    unsynced = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    # When a worker should start it (a retry waits out its back-off): the sweep ends a queued run long past it.
    due_at = models.DateTimeField(default=timezone.now)
    # An undo run (trigger UNDO): the run it puts back, or, with `undo_since`, every run of the integration
    # from that moment on (sync.undo). An undo is itself a run like any other, logged and undoable.
    undo_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="undos")
    undo_since = models.DateTimeField(null=True, blank=True)
    # For an undo: what the user picked ({"uids": [...] of items changed since, to put back anyway;
    # "remove_created": bool}), read by the task that carries it out.
    undo_options = models.JSONField(default=dict, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["integration", "-created_at"], name="run_recent"),
            models.Index(fields=["tenant", "-created_at"], name="run_tenant_recent"),
            models.Index(fields=["status", "due_at"], name="run_unfinished"),
        ]

    def __str__(self) -> str:
        return f"{self.get_trigger_display()} sync {self.pk}"

    def count(self, target: str, action: str) -> int:
        return int(self.counts.get(target, {}).get(action, 0))

    @property
    def to_calsync(self) -> dict[str, int]:
        return {a: self.count("calsync", a) for a in ("created", "updated", "deleted")}

    @property
    def to_remote(self) -> dict[str, int]:
        return {a: self.count("remote", a) for a in ("created", "updated", "deleted")}

    @property
    def changes_text(self) -> str:
        """'2 created and 1 updated in calsync; 1 deleted in the other calendar', or 'no changes'. An undo's
        re-creations ("restored") read as put back: they are what the undo did."""
        parts = []
        for target, where in (("calsync", "in calsync"), ("remote", "in the other calendar")):
            done = [
                f"{n} {ACTION_LABELS.get(action, action).lower()}"
                for action in CHANGES
                if (n := self.count(target, action))
            ]
            if done:
                parts.append(f"{' and '.join(done)} {where}")
        for side, source in (("calsync", "from calsync"), ("remote", "from the other calendar")):
            if n := self.count(side, "filtered"):
                parts.append(f"{n} filtered {source}")
        return "; ".join(parts) or "no changes"

    @property
    def finished(self) -> bool:
        return self.status not in (self.Status.QUEUED, self.Status.RUNNING)


class SyncLogEntry(models.Model):
    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="entries")
    created_at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=7, choices=Level.choices, default=Level.INFO)
    action = models.CharField(max_length=20)
    uid = models.CharField(max_length=255, blank=True)
    title = models.CharField(max_length=500, blank=True)
    message = models.TextField()
    # For a lost conflict: the losing version as iCalendar, so nothing is silently lost.
    detail = models.TextField(blank=True)
    # For a change the run made ("created", "updated", "deleted", "restored") or held back at a safety stop
    # ("withheld"): the side it was made on (sync.engine.Side value), the version it overwrote or deleted there as
    # iCalendar ("" for a creation), and the hash of the content it left (engine.content_hash; "" for a
    # deletion), so an undo can tell the items changed again since (sync.undo).
    side = models.CharField(max_length=8, blank=True)
    before = models.TextField(blank=True)
    after_hash = models.CharField(max_length=64, blank=True)
    # The item is private or confidential (CLASS): pages show its title to its owner only (sync.history).
    private = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        indexes = [
            # An event's story (sync.history) is read by UID across the runs of the integrations that carry it.
            models.Index(fields=["uid", "run"], name="entry_uid"),
        ]

    def __str__(self) -> str:
        return self.message[:80]

    @property
    def action_label(self) -> str:
        """The action as the log page names it ("filtered": kept out by the sync controls, not a problem)."""
        return ACTION_LABELS.get(self.action, self.action)


ACTION_LABELS = {"filtered": "Filtered out", "withheld": "Deletion held back", "restored": "Put back"}
# The actions a run logs for a change it made to an item (with `side`, `before`, `after_hash`).
CHANGES = ("created", "updated", "deleted", "restored")


class UnsyncedItem(models.Model):
    """An item the last runs could not sync, and why; cleared when it syncs or is deleted."""

    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="unsynced_items")
    side = models.CharField(max_length=8)
    uid = models.CharField(max_length=255)
    # "<side>:<id>" of the item where it lives, so its deletion there (reported by id, not UID) clears the row.
    source = models.CharField(max_length=1000, blank=True)
    title = models.CharField(max_length=500, blank=True)
    reason = models.TextField()
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_seen"]
        constraints = [models.UniqueConstraint(fields=["integration", "side", "uid"], name="unsynced_unique")]

    def __str__(self) -> str:
        return f"{self.uid}: {self.reason[:60]}"


class SyncPreview(models.Model):
    """What a sync would do, worked out without writing anything (sync.preview), shown before the first sync, a
    resync from scratch, a change of direction or of the sync controls, and at a safety stop. Nothing is written
    at either calendar until the user confirms; a preview older than PREVIEW_VALID_SECONDS, or made for other
    settings than the integration's, is made again."""

    class Reason(models.TextChoices):
        FIRST = "first", "First sync"
        RESYNC = "resync", "Resync from scratch"
        SETTINGS = "settings", "New direction or sync controls"
        DELETIONS = "deletions", "Deletions held back for safety"

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to start"
        RUNNING = "running", "Looking at both calendars"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"
        CONFIRMED = "confirmed", "Confirmed"
        DISCARDED = "discarded", "Discarded"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    integration = models.ForeignKey("integrations.Integration", on_delete=models.CASCADE, related_name="previews")
    reason = models.CharField(max_length=10, choices=Reason.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # The settings the preview was made for, applied when the user confirms: {"direction", "primary",
    # "controls"} (the integration's own when not changed).
    proposed = models.JSONField(default=dict, blank=True)
    # {"calsync": {"created": n, "updated": n, "deleted": n}, "remote": {...}} as SyncRun.counts names them.
    counts = models.JSONField(default=dict, blank=True)
    # A few items for each (side, action): [{"side", "action", "uid", "title", "start", "attendees"}].
    examples = models.JSONField(default=list, blank=True)
    # Events carrying attendees among what would be written, and the invitations that would go out:
    # {"with_attendees": n, "invitations": n, "why": "..."} (integrations.meetings' rule).
    invitations = models.JSONField(default=dict, blank=True)
    conflicts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["integration", "-created_at"], name="preview_recent")]

    def __str__(self) -> str:
        return f"Preview ({self.get_reason_display()}) of {self.integration_id}"

    def count(self, target: str, action: str) -> int:
        return int(self.counts.get(target, {}).get(action, 0))
