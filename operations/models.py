"""What the admins' tools remember: the credential warnings already emailed."""

from __future__ import annotations

from django.db import models

from accounts.models import Tenant
from accounts.tenancy import TenantQuerySet


class CredentialAlert(models.Model):
    """One warning email about one credential for one expiry date and one threshold (30 or 7 days): sent once.
    A credential renewed (a new expiry date) is warned about afresh."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # Which credential: "microsoft", "google", "exchange", or "token:<integration id>".
    key = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    threshold_days = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "key", "expires_at", "threshold_days"], name="credential_alert_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.threshold_days} days before {self.expires_at:%Y-%m-%d}"
