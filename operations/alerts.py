"""The credential radar's writes: the admins' warning emails, each sent once per credential, date and threshold."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Tenant, User
from integrations.microsoft.organisation import credential_expiry_read
from integrations.models import MicrosoftOrganisation

from . import radar
from .models import CredentialAlert

log = logging.getLogger(__name__)

# CredentialAlert rows are kept this long after the date they warned about, then pruned (alerts_prune).
ALERT_KEEP_DAYS = 365


def radar_refresh(*, tenant: Tenant | None = None) -> int:
    """Re-read each enabled Microsoft 365 app's credential end from Graph (a secret may be renewed in Entra without
    calsync hearing of it). Returns how many apps were asked."""
    organisations = MicrosoftOrganisation.objects.filter(enabled=True, test_ok=True)
    if tenant is not None:
        organisations = organisations.filter(tenant=tenant)
    count = 0
    for organisation in organisations.iterator():
        credential_expiry_read(organisation)
        count += 1
    return count


def radar_notify(*, now: datetime | None = None, tenant: Tenant | None = None) -> int:
    """Email each organisation's admins about credentials that reached 30 or 7 days before their end, or ended,
    once per (credential, end date, threshold): a renewed credential (a new date) is warned about afresh. One
    email per organisation per run lists all that are new. Returns the number of emails sent."""
    now = now or timezone.now()
    tenants = Tenant.objects.filter(pk=tenant.pk) if tenant is not None else Tenant.objects.order_by("pk")
    return sum(_notify_tenant(each, now) for each in tenants.iterator())


def _notify_tenant(tenant: Tenant, now: datetime) -> int:
    found = radar.warnings(tenant, now)
    if not found:
        return 0
    admins = list(User.objects.filter(tenant=tenant, role=User.Role.ADMIN, is_active=True)
                  .values_list("email", flat=True))  # fmt: skip
    if not admins:
        return 0
    with transaction.atomic():
        # The rows claim the warnings; a failed send rolls them back, so tomorrow's run tries again.
        new = [w for w in found if _claim(tenant, w)]
        if new:
            send_mail(_subject(new), _body(tenant, new), settings.DEFAULT_FROM_EMAIL, admins, fail_silently=False)
    if new:
        log.info("credential warnings emailed", extra={"tenant": tenant.pk, "warnings": len(new)})
    return 1 if new else 0


def _claim(tenant: Tenant, warning: radar.Warning) -> bool:
    try:
        with transaction.atomic():
            CredentialAlert.objects.create(tenant=tenant, key=warning.key, expires_at=warning.expires_at,
                                           threshold_days=warning.threshold)  # fmt: skip
    except IntegrityError:
        return False  # already sent (or being sent by another worker)
    return True


def _subject(new: list[radar.Warning]) -> str:
    if any(w.expired for w in new):
        return "calsync: a credential has expired and sync stops"
    soonest = min(w.days_left for w in new)
    return f"calsync: a credential expires in {soonest} day{'s' if soonest != 1 else ''}"


def _body(tenant: Tenant, new: list[radar.Warning]) -> str:
    lines = [f"Hello,\n\nThese credentials of {tenant.name} in calsync end soon. When one ends, the calendars that "
             "depend on it stop syncing.\n"]  # fmt: skip
    for warning in new:
        when = (f"EXPIRED on {warning.expires_at:%d %b %Y}" if warning.expired
                else f"expires on {warning.expires_at:%d %b %Y} (in {warning.days_left} days)")  # fmt: skip
        lines.append(f"- {warning.label}: {when}; {warning.source}.\n  {settings.SITE_URL}{warning.action_url}")
    lines.append("\nYou get one email per credential 30 days and 7 days before, and one when it has expired.\n")
    return "\n".join(lines)


def alerts_prune(*, now: datetime, limit: int) -> int:
    """Forget warnings about dates more than ALERT_KEEP_DAYS past (a renewed credential has a new date, so the old
    date's rows are of no further use); at most `limit` rows."""
    cutoff = now - timedelta(days=ALERT_KEEP_DAYS)
    old = CredentialAlert.objects.filter(expires_at__lt=cutoff).order_by("pk")
    ids = list(old.values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    deleted, _ = CredentialAlert.objects.filter(pk__in=ids).delete()
    return deleted
