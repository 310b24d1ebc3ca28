"""Integrations: a calsync calendar paired with one calendar at a provider, with the user's sync settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Tenant
from accounts.tenancy import TenantQuerySet
from calsync import crypto

from .providers import Provider


class Integration(models.Model):
    class Direction(models.TextChoices):
        BOTH = "both", "Both ways"
        TO_CALSYNC = "to_calsync", "To calsync"
        FROM_CALSYNC = "from_calsync", "From calsync"

    class Primary(models.TextChoices):
        CALSYNC = "calsync", "calsync"
        REMOTE = "remote", "The other calendar"

    class PushState(models.TextChoices):
        ACTIVE = "active", "Changes arrive at once"
        POLLING = "polling", "Checked regularly"  # the provider offers no push, or refused it: polled
        FAILED = "failed", "Push failed; checked regularly"

    class Status(models.TextChoices):
        OK = "ok", "Working"
        ERROR = "error", "Sync failed"
        NEEDS_REAUTH = "needs_reauth", "Needs reconnecting"
        STOPPED = "stopped", "Stopped for safety"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integrations")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    calendar = models.ForeignKey("events.Calendar", on_delete=models.CASCADE, related_name="integrations")
    # Which calendar at the provider (its URL or id) and what the user calls it.
    remote_calendar_id = models.CharField(max_length=1000, blank=True)
    remote_calendar_name = models.CharField(max_length=500, blank=True)
    # Non-secret connection settings (server URL, username...) and the encrypted secrets.
    config = models.JSONField(default=dict, blank=True)
    credentials_encrypted = models.TextField(blank=True)

    # The user's settings, as the seeds describe them.
    sync_enabled = models.BooleanField(default=True)
    direction = models.CharField(max_length=12, choices=Direction.choices, default=Direction.BOTH)
    primary = models.CharField(max_length=8, choices=Primary.choices, default=Primary.CALSYNC)
    automatic = models.BooleanField(default=True)
    error_email = models.EmailField(blank=True)

    # Sync state.
    # Where each side's change feed was last read ("" = never: the next run lists everything).
    local_cursor = models.TextField(blank=True)
    remote_cursor = models.TextField(blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    lock_token = models.CharField(max_length=64, blank=True)
    lock_expires_at = models.DateTimeField(null=True, blank=True)
    # When the sync holding the lock took it, and what started it (sync.models.SyncRun.Trigger): a scheduled or
    # pushed sync writes no run row until it has something to say, so the pages read "running since" here.
    lock_taken_at = models.DateTimeField(null=True, blank=True)
    lock_trigger = models.CharField(max_length=10, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OK)
    last_error = models.TextField(blank=True)
    # The problem the user was last emailed about, so each problem is emailed once.
    notified_problem = models.CharField(max_length=64, blank=True)
    allow_mass_delete = models.BooleanField(default=False)
    # What is copied each way, filters, the sync window, how conflicts end: sync.controls.Controls.to_json().
    controls = models.JSONField(default=dict, blank=True)
    # The calendar at the provider cannot be written (a read-only shared calendar, an ICS feed): it syncs one way,
    # into calsync, whatever else changes.
    remote_read_only = models.BooleanField(default=False)
    # The provider's id for the push channel (a Google watch channel) that notifies us of changes: a webhook finds
    # its integration by this, indexed, whatever the number of integrations.
    push_channel = models.CharField(max_length=200, blank=True, db_index=True)
    # When the provider ends that channel or subscription unless renewed (Google channel, Graph subscription,
    # EWS subscription), indexed for the renewal task; and how push stands, for the pages.
    push_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    push_state = models.CharField(max_length=12, choices=PushState.choices, blank=True)
    # Which notification listener process holds the provider subscription (`manage.py ews_listen`), and until when:
    # a holder that stops renewing (it died) loses the integration to another when the lease runs out.
    push_holder = models.CharField(max_length=64, blank=True, db_index=True)
    push_lease_expires_at = models.DateTimeField(null=True, blank=True)
    # How long to wait between polls of a calendar without push (CalDAV, ICS), adapted to its activity; 0: the
    # operator's default interval.
    poll_seconds = models.PositiveIntegerField(default=0)
    # Until when the owner counts as active in calsync (a page or CalDAV request): polled at the shortest interval.
    owner_active_until = models.DateTimeField(null=True, blank=True)
    # A change on either side asked for this sync (sync_soon): the dispatcher hands it to the push queue.
    push_pending = models.BooleanField(default=False)
    # A sync that found nothing to do leaves no run row; it is counted here instead (sync.services).
    last_synced_at = models.DateTimeField(null=True, blank=True)
    quiet_syncs = models.PositiveIntegerField(default=0)
    quiet_since = models.DateTimeField(null=True, blank=True)
    # Connected, and waiting for its owner to look at the preview of the first sync and confirm it (sync.preview):
    # no sync of any kind runs meanwhile.
    awaiting_confirmation = models.BooleanField(default=False)
    # When the provider last gave calsync a new refresh token (or the user signed in): the credential radar
    # (operations.radar) warns before a token unused for the provider's lifetime lapses.
    token_refreshed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        indexes = [
            # The dispatcher's query: only automatic, enabled integrations are in the index.
            models.Index(
                fields=["next_sync_at"],
                name="integration_due",
                condition=Q(sync_enabled=True, automatic=True, next_sync_at__isnull=False),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "remote_calendar_id", "calendar"], name="integration_unique_pairing"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()}: {self.remote_calendar_name or self.remote_calendar_id}"

    @property
    def credentials(self) -> dict[str, Any]:
        return crypto.decrypt(self.credentials_encrypted)

    def set_credentials(self, values: dict[str, Any]) -> None:
        self.credentials_encrypted = crypto.encrypt(values) if values else ""

    @property
    def effective_direction(self) -> str:
        """The direction the integration syncs in: a calendar calsync may only read is never written, so it syncs
        into calsync only, whatever direction is stored."""
        return self.Direction.TO_CALSYNC if self.remote_read_only else self.Direction(self.direction)

    @staticmethod
    def syncing(calendar_id: int) -> Q:
        """The integrations that sync a calsync calendar: its own, and calsync-to-calsync pairings whose other
        end it is."""
        return Q(calendar_id=calendar_id) | Q(provider=Provider.CALSYNC, remote_calendar_id=str(calendar_id))

    def config_merge(self, values: dict[str, Any], *, holding: dict[str, Any] | None = None, **fields: Any) -> bool:
        """Add `values` to the config as stored now (row locked), writing `fields` with it: keys others wrote
        since this instance was read (a run's colour, the compare-all mark of controls saved) are kept. With
        `holding`, only if the row still has those values (of two racing renewals, one wins); False if not."""
        with transaction.atomic():
            stored = (
                Integration.objects.select_for_update()
                .filter(pk=self.pk, **(holding or {}))
                .values_list("config", flat=True)
                .first()
            )
            if stored is None:
                return False
            self.config = {**stored, **values}
            Integration.objects.filter(pk=self.pk).update(config=self.config, **fields)
        for name, value in fields.items():
            setattr(self, name, value)
        return True

    @property
    def status_label(self) -> str:
        """The status as the pages say it: a first sync waiting for its preview to be confirmed is not "Working"."""
        if self.awaiting_confirmation:
            return "Waiting for you to confirm the first sync"
        return str(self.get_status_display())

    @property
    def notification_address(self) -> str:
        return self.error_email or self.user.email

    @property
    def is_running(self) -> bool:
        from django.utils import timezone

        return bool(self.lock_token) and self.lock_expires_at is not None and self.lock_expires_at > timezone.now()


class OrganisationWide(models.Model):
    """What every organisation-wide connection has: on/off, and the result of its last "Test settings"."""

    enabled = models.BooleanField(default=False)
    tested_at = models.DateTimeField(null=True, blank=True)
    test_ok = models.BooleanField(default=False)
    test_message = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True

    def record_test(self, ok: bool, message: str) -> None:
        """What the last "Test settings" found; only a passed test lets people connect through it."""
        self.test_ok, self.test_message, self.tested_at = ok, message, timezone.now()
        self.save(update_fields=["test_ok", "test_message", "tested_at"])

    @classmethod
    def usable_for(cls, user: Any) -> Any:
        """The user's organisation's settings, if switched on and tested; else None."""
        return cls.objects.filter(tenant_id=user.tenant_id, enabled=True, test_ok=True).first()


class GoogleWorkspace(OrganisationWide):
    """A tenant's Google Workspace service account with domain-wide delegation (organisation-wide sync)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="google_workspace")
    client_email = models.CharField(max_length=254)
    # The whole JSON key file, encrypted like every other secret; never shown again once uploaded.
    key_encrypted = models.TextField()
    # When the key was made (from Google's key metadata where calsync can read it, else when it was uploaded):
    # the credential radar (operations.radar) reports its age against the organisation's rotation period.
    key_created_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Google Workspace for {self.tenant}"

    @property
    def key(self) -> dict[str, Any]:
        return crypto.decrypt(self.key_encrypted)


class MicrosoftOrganisation(OrganisationWide):
    """A tenant's Microsoft 365 app registration with Calendars.ReadWrite application permission (org-wide sync)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="microsoft_organisation")
    directory_id = models.CharField("Microsoft 365 tenant id", max_length=100)
    client_id = models.CharField(max_length=100)
    # One of the two app credentials: a client secret, or a certificate (its private key and certificate, PEM).
    secret_encrypted = models.TextField(blank=True)
    certificate_encrypted = models.TextField(blank=True)
    # The certificate's SHA-1 thumbprint as the Entra portal shows it, so admins can match the two.
    certificate_thumbprint = models.CharField(max_length=64, blank=True)
    # When the credential stops working (operations.radar): read from the certificate, or from the app's
    # registration in Graph where calsync may read it, else the date the admin entered; `credential_expiry_source`
    # says which ("certificate", "graph", "admin").
    credential_expires_at = models.DateTimeField(null=True, blank=True)
    credential_expiry_source = models.CharField(max_length=12, blank=True)

    def __str__(self) -> str:
        return f"Microsoft 365 for {self.tenant}"

    @property
    def secret(self) -> str:
        return str(crypto.decrypt(self.secret_encrypted)["secret"])

    @property
    def client_credential(self) -> str | dict[str, str]:
        """What msal signs in with: the secret, or the certificate's key and certificate."""
        if self.certificate_encrypted:
            pem = crypto.decrypt(self.certificate_encrypted)
            return {"private_key": pem["private_key"], "public_certificate": pem["certificate"]}
        return self.secret


class ExchangeServer(OrganisationWide):
    """A tenant's on-premises Exchange server and the sync account calsync logs in with (organisation-wide sync)."""

    class Access(models.TextChoices):
        IMPERSONATION = "impersonation", "Impersonation (the account has the ApplicationImpersonation role)"
        DELEGATE = "delegate", "Delegate access (each person gives the account access to their calendar)"

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="exchange_server")
    ews_url = models.URLField("Exchange server", max_length=500)
    domain = models.CharField("Network domain name (NetBIOS)", max_length=64, blank=True)
    username = models.CharField(max_length=254)
    password_encrypted = models.TextField()
    sync_email = models.EmailField("Sync user email address")
    access = models.CharField(max_length=16, choices=Access.choices, default=Access.IMPERSONATION)
    # The date the admin says the sync account's password expires (Active Directory's policy): the credential
    # radar (operations.radar) warns before it.
    password_expires_on = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Exchange server for {self.tenant}"

    @property
    def password(self) -> str:
        return str(crypto.decrypt(self.password_encrypted)["password"])
