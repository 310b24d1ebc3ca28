"""Integrations: a calsync calendar paired with one calendar at a provider.

First version: who connected what and with which settings. Credentials,
cursors and the sync mapping arrive with the providers and the sync engine.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Tenant
from accounts.tenancy import TenantQuerySet

from .providers import Provider


class Integration(models.Model):
    class Direction(models.TextChoices):
        BOTH = "both", "Both ways"
        TO_CALSYNC = "to_calsync", "To calsync"
        FROM_CALSYNC = "from_calsync", "From calsync"

    class Primary(models.TextChoices):
        CALSYNC = "calsync", "calsync"
        REMOTE = "remote", "The other calendar"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integrations")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    calendar = models.ForeignKey("events.Calendar", on_delete=models.CASCADE, related_name="integrations")
    remote_calendar_id = models.CharField(max_length=1000, blank=True)
    remote_calendar_name = models.CharField(max_length=500, blank=True)
    sync_enabled = models.BooleanField(default=True)
    direction = models.CharField(max_length=12, choices=Direction.choices, default=Direction.BOTH)
    primary = models.CharField(max_length=8, choices=Primary.choices, default=Primary.CALSYNC)
    automatic = models.BooleanField(default=True)
    error_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.get_provider_display()} for {self.user}"
