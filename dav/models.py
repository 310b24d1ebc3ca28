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


class PushRegistration(models.Model):
    """A WebDAV-Push subscription to one calendar (draft-bitfire-webdav-push): where to POST a push message when
    the calendar changes, and the keys to encrypt it with (RFC 8291). The push resource identifies it: registering
    the same one again renews it. It ends at `expires_at` unless renewed, and is pruned after."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    calendar = models.ForeignKey("events.Calendar", on_delete=models.CASCADE, related_name="push_registrations")
    # The last segment of the registration URL the client deletes it by: random, so nobody can guess another's.
    key = models.CharField(max_length=32, unique=True)
    push_resource = models.URLField(max_length=2000)
    client_public_key = models.CharField(max_length=120)  # P-256, uncompressed, base64url
    auth_secret = models.CharField(max_length=40)  # 16 bytes, base64url
    expires_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["calendar", "push_resource"], name="push_registration_unique_resource")
        ]

    def __str__(self) -> str:
        return f"push registration {self.key[:6]}… for calendar {self.calendar_id}"
