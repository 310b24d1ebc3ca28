"""Meetings made in calsync: who owns one, where it lives, and who the organisation's invitations come from.

The meeting's content (title, time, attendees and their answers) lives in the owner's event and in each
colleague's copy, all with one UID; the Meeting row only says which of those copies is the owner's.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Tenant
from accounts.tenancy import TenantQuerySet


class InvitationSender(models.Model):
    """The name and address invitations are sent from (Chronus fixes its own; an admin chooses ours)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="invitation_sender")
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Meeting(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="meetings")
    # The owner's calendar holding the organiser's copy: the only copy whose title, description and time count.
    calendar = models.ForeignKey("events.Calendar", on_delete=models.CASCADE, related_name="meetings")
    uid = models.CharField(max_length=255)
    # The SEQUENCE (RFC 5545 3.8.7.4) of the last invitation sent, and a digest of what it said, so an owner's
    # change of title, description or time is sent once as an update, whichever way it reached calsync.
    sent_sequence = models.IntegerField(default=0)
    sent_digest = models.CharField(max_length=64, blank=True)
    # Who the last invitation went to (addresses, one a line): someone missing from the next is sent a CANCEL.
    sent_to = models.TextField(blank=True)
    cancelled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "uid"], name="meeting_unique_uid")]

    def __str__(self) -> str:
        return self.uid
