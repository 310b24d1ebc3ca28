"""App passwords: the only credentials calsync's CalDAV server accepts.

An app password is 120 random bits shown once. Because it is random rather
than chosen by a person, a SHA-256 digest is enough to store it safely, and
checking one costs microseconds instead of a slow password hash per request:
CalDAV clients send credentials with every request.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Tenant
from accounts.tenancy import TenantQuerySet


class AppPassword(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="app_passwords")
    label = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    # The first characters, so a user can tell their passwords apart without the secret.
    hint = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_from = models.GenericIPAddressField(null=True, blank=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.label} ({self.hint}…)"
