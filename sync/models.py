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
        """'2 created and 1 updated in calsync; 1 deleted in the other calendar', or 'no changes'."""
        parts = []
        for target, where in (("calsync", "in calsync"), ("remote", "in the other calendar")):
            done = [
                f"{n} {action}" for action in ("created", "updated", "deleted") if (n := self.count(target, action))
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

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.message[:80]

    @property
    def action_label(self) -> str:
        """The action as the log page names it ("filtered": kept out by the sync controls, not a problem)."""
        return ACTION_LABELS.get(self.action, self.action)


ACTION_LABELS = {"filtered": "Filtered out"}


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
