from __future__ import annotations

import zoneinfo
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models

from integrations.providers import ALL_PROVIDERS, Provider


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"'{value}' is not a known time zone (try e.g. Europe/London).")


def validate_retention_days(value: int) -> None:
    low, high = settings.RETENTION_MIN_DAYS, settings.RETENTION_MAX_DAYS
    if not low <= value <= high:
        raise ValidationError(f"Keep sync logs between {low} and {high} days.")


def default_providers() -> list[str]:
    return list(ALL_PROVIDERS)


class Tenant(models.Model):
    """An organisation. Every row a user can reach hangs off exactly one tenant."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    allowed_providers = models.JSONField(
        default=default_providers,
        help_text="Providers the tenant's users may connect.",
    )
    default_can_setup_integrations = models.BooleanField(
        default=True,
        help_text="Whether new users get the right to set up integrations.",
    )
    # Other email domains the organisation's people have at Google or Microsoft ("acme.io" beside "acme.com"):
    # organisation-wide integrations find a user's mailbox under any of them.
    email_domain_aliases = models.JSONField(default=list, blank=True)
    # Days sync logs (and the losing versions of conflicts) are kept; null: the operator's RETENTION_DEFAULT_DAYS.
    log_retention_days = models.PositiveIntegerField(null=True, blank=True, validators=[validate_retention_days])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def allows(self, provider: str) -> bool:
        return provider in self.allowed_providers

    def addresses_for(self, email: str) -> list[str]:
        """A user's address, then the same name at each alias domain."""
        local, _, domain = email.lower().partition("@")
        aliases = [d.lower() for d in self.email_domain_aliases if d.lower() != domain]
        return [email.lower()] + [f"{local}@{alias}" for alias in aliases]

    @property
    def retention_days(self) -> int:
        """Days its history is kept: its own choice, held within the operator's current limits."""
        days = self.log_retention_days or settings.RETENTION_DEFAULT_DAYS
        return min(max(days, settings.RETENTION_MIN_DAYS), settings.RETENTION_MAX_DAYS)

    def clean(self) -> None:
        unknown = set(self.allowed_providers) - set(ALL_PROVIDERS)
        if unknown:
            raise ValidationError({"allowed_providers": f"Unknown providers: {', '.join(sorted(unknown))}"})

    @property
    def allowed_provider_labels(self) -> list[str]:
        return [Provider(p).label for p in self.allowed_providers if p in ALL_PROVIDERS]


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("Users need an email address.")
        email = self.normalize_email(email).lower()
        extra.setdefault("username", email)
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"), (5, "Saturday"),
            (6, "Sunday")]  # fmt: skip


class User(AbstractUser):
    """A person who signs in with email and password. Operators (superusers) may have no tenant."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    email = models.EmailField(unique=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="users", null=True, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    can_setup_integrations = models.BooleanField(default=False)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    # The day weeks start on in the calendar grid and date pickers: Monday 0 ... Sunday 6 (Python's weekday()).
    week_start = models.PositiveSmallIntegerField(choices=WEEKDAYS, default=0)
    # Calendars the user switched off in the calendar grid (ids), remembered across devices.
    hidden_calendars = models.JSONField(default=list, blank=True)
    # Where new events and new integrations go (events.selectors.main_calendar); null: the first one made.
    default_calendar = models.ForeignKey(
        "events.Calendar", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()  # type: ignore[misc]

    class Meta:
        ordering = ["email"]

    @property
    def is_tenant_admin(self) -> bool:
        return self.tenant_id is not None and self.role == self.Role.ADMIN

    @property
    def may_set_up_integrations(self) -> bool:
        return self.is_tenant_admin or self.can_setup_integrations

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email
