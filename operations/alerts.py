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

# CredentialAlert rows are kept this long after the date they warned about, then pruned (alerts_prune): longer than
# the radar warns about an ended credential, so a pruned row's warning can never come back.
ALERT_KEEP_DAYS = 365
assert ALERT_KEEP_DAYS > radar.SILENT_AFTER_DAYS


def radar_refresh(*, tenant: Tenant | None = None) -> int:
    """Re-read each enabled Microsoft 365 app's credential end from Graph (a secret may be renewed in Entra without
    calsync hearing of it). Returns how many apps were asked. credential_expiry_read keeps the stored date when
    Graph cannot tell, so one organisation's broken app registration costs no other its warnings."""
    organisations = MicrosoftOrganisation.objects.filter(enabled=True, test_ok=True).order_by("pk")
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
    # The committed rows claim the warnings (another worker sends none of them twice); the mail goes after the
    # commit, and a failed send gives the claims back, so tomorrow's run tries again.
    claimed = {w: pk for w in found if (pk := _claim(tenant, w)) is not None}
    if not claimed:
        return 0
    new = list(claimed)
    try:
        send_mail(_subject(new), _body(tenant, new), settings.DEFAULT_FROM_EMAIL, admins, fail_silently=False)
    except Exception:
        CredentialAlert.objects.filter(pk__in=claimed.values()).delete()
        raise
    log.info("credential warnings emailed", extra={"tenant": tenant.pk, "warnings": len(new)})
    return 1


def _claim(tenant: Tenant, warning: radar.Warning) -> int | None:
    """The claim's row id, or None: already sent (or being sent by another worker)."""
    try:
        with transaction.atomic():
            return CredentialAlert.objects.create(tenant=tenant, key=warning.key, expires_at=warning.expires_at,
                                                  threshold_days=warning.threshold).pk  # fmt: skip
    except IntegrityError:
        return None


def _subject(new: list[radar.Warning]) -> str:
    if any(w.expired and w.stops for w in new):
        return "calsync: a credential has expired and sync stops"
    return f"calsync: a credential {min(new, key=lambda w: w.days_left).status}"


def _body(tenant: Tenant, new: list[radar.Warning]) -> str:
    lines = [f"Hello,\n\nThese credentials of {tenant.name} in calsync need renewing. When one ends, the calendars "
             "that depend on it stop syncing; a key due for rotation keeps working, but your policy says to replace "
             "it.\n"]  # fmt: skip
    lines += [f"- {w.label}: {_when(w)}; {w.source}.\n  {settings.SITE_URL}{w.action_url}" for w in new]
    lines.append("\nYou get one email per credential 30 days and 7 days before its date, and one when it is past.\n")
    return "\n".join(lines)


def _when(warning: radar.Warning) -> str:
    date = f"{warning.expires_at:%d %b %Y}"
    if warning.kind == radar.ROTATION:
        return f"due for rotation since {date}" if warning.expired else f"due for rotation on {date}"
    return f"EXPIRED on {date}" if warning.expired else f"expires on {date} (in {warning.days_left} days)"


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
