"""Who sees whose time, the organisation's scheduling policy, and each person's working hours.

Defaults live on the policy (one row per organisation); a person's own row only narrows or replaces them,
so an admin's change of default reaches everyone who never chose otherwise.
"""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from accounts.models import Tenant
from accounts.tenancy import TenantQuerySet

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def default_work_days() -> list[int]:
    return [0, 1, 2, 3, 4]  # Chronus: "by default no meetings on weekends"


class SchedulingPolicy(models.Model):
    """The organisation's rules for finding a time; one place, read by every page and command."""

    class FreeBusyDefault(models.TextChoices):
        ORGANISATION = "organisation", "Everyone in the organisation"
        NOBODY = "nobody", "Nobody (each person shares explicitly)"

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="scheduling_policy")
    work_start = models.TimeField(default=time(9))
    work_end = models.TimeField(default=time(17))
    work_days = models.JSONField(default=default_work_days)
    allow_outside_hours = models.BooleanField(
        default=False, help_text="Propose meetings outside people's working hours when nothing inside fits."
    )
    all_day_busy = models.BooleanField(
        default=True, help_text="All-day events make a person unavailable unless they are marked free."
    )
    buffer_minutes = models.PositiveSmallIntegerField(default=0, help_text="Free minutes kept around meetings.")
    default_free_busy = models.CharField(
        max_length=12, choices=FreeBusyDefault.choices, default=FreeBusyDefault.ORGANISATION
    )

    def __str__(self) -> str:
        return f"scheduling policy of {self.tenant}"

    def clean(self) -> None:
        check_hours(self.work_start, self.work_end)
        if not all(isinstance(d, int) and 0 <= d <= 6 for d in self.work_days):
            raise ValidationError({"work_days": "Working days are weekday numbers, Monday 0 to Sunday 6."})


def check_hours(start: time, end: time) -> None:
    if start >= end:
        raise ValidationError("The working day must end after it starts.")


class PersonalScheduling(models.Model):
    """One person's choices: whom they show their free/busy to, and their own working hours."""

    class Sharing(models.TextChoices):
        DEFAULT = "default", "As my organisation decides"
        ORGANISATION = "organisation", "Everyone in my organisation"
        CHOSEN = "chosen", "Only the people I choose"
        NOBODY = "nobody", "Nobody"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scheduling")
    free_busy_sharing = models.CharField(max_length=12, choices=Sharing.choices, default=Sharing.DEFAULT)
    free_busy_with = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    # {"0": ["09:00", "17:00"], ...} by weekday (Monday 0) in the person's zone; empty: the organisation's.
    working_hours = models.JSONField(default=dict, blank=True)

    objects = TenantQuerySet.as_manager()

    def __str__(self) -> str:
        return f"scheduling of {self.user}"


class CalendarShare(models.Model):
    """Details (titles) or edit rights on one calendar, for one colleague or (grantee empty) everyone."""

    class Level(models.TextChoices):
        DETAILS = "details", "See titles"
        EDIT = "edit", "See titles and edit"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    calendar = models.ForeignKey("events.Calendar", on_delete=models.CASCADE, related_name="shares")
    grantee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.DETAILS)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["calendar", "grantee"], name="calendar_share_unique"),
            models.UniqueConstraint(
                fields=["calendar"], condition=models.Q(grantee=None), name="calendar_share_unique_everyone"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.calendar} shared with {self.grantee or 'everyone'}"
