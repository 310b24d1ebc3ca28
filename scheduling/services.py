"""Every write of the scheduling app: the policy, a person's choices, calendar shares."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import User
from events.models import Calendar

from . import cache
from .models import CalendarShare, PersonalScheduling, SchedulingPolicy


def policy_save(*, policy: SchedulingPolicy) -> SchedulingPolicy:
    """Saves the organisation's rules; cached busy time depends on the all-day rule, so everyone's is dropped."""
    policy.full_clean()
    policy.save()
    for user_id in User.objects.filter(tenant=policy.tenant).values_list("pk", flat=True):
        cache.forget_person(user_id)
    return policy


def personal_update(
    *, user: User, free_busy_sharing: str, free_busy_with: list[User], working_hours: dict[str, list[str]]
) -> PersonalScheduling:
    strangers = [u.email for u in free_busy_with if u.tenant_id != user.tenant_id]
    if strangers:
        raise ValueError("free/busy can be shared only within the organisation")
    with transaction.atomic():
        row, _ = PersonalScheduling.objects.get_or_create(user=user, defaults={"tenant_id": user.tenant_id})
        row.free_busy_sharing, row.working_hours = free_busy_sharing, working_hours
        row.save(update_fields=["free_busy_sharing", "working_hours"])
        row.free_busy_with.set([u for u in free_busy_with if u.pk != user.pk])
    return row


def calendar_share(*, calendar: Calendar, grantee: User | None, level: str) -> CalendarShare:
    """Shares a calendar's details (or edit rights) with a colleague or everyone; sharing again changes the level."""
    if grantee is not None and grantee.tenant_id != calendar.tenant_id:
        raise ValueError("calendars are shared only within the organisation")
    try:
        with transaction.atomic():
            share, _ = CalendarShare.objects.update_or_create(
                calendar=calendar, grantee=grantee, defaults={"level": level, "tenant_id": calendar.tenant_id}
            )
    except IntegrityError:  # two saves at once: the other one won; apply ours over it
        share = CalendarShare.objects.get(calendar=calendar, grantee=grantee)
        share.level = level
        share.save(update_fields=["level"])
    return share


def calendar_unshare(*, share: CalendarShare) -> None:
    share.delete()
