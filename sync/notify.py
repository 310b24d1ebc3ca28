"""Error emails: once per new problem, once more when it recovers. They carry no secrets."""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from integrations.models import Integration

from .models import SyncRun

log = logging.getLogger(__name__)


def _problem_key(integration: Integration) -> str:
    return hashlib.sha256(f"{integration.status}:{integration.last_error}".encode()).hexdigest()[:32]


def _link(integration: Integration) -> str:
    return settings.SITE_URL + reverse("integrations:detail", args=[integration.pk])


def _send(integration: Integration, subject: str, body: str) -> None:
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [integration.notification_address], fail_silently=False)


def problem(integration: Integration, run: SyncRun) -> None:
    key = _problem_key(integration)
    if integration.notified_problem == key:
        return  # already told them about this one
    what = {
        Integration.Status.NEEDS_REAUTH: "needs reconnecting",
        Integration.Status.STOPPED: "stopped to protect your events",
    }.get(integration.status, "failed")  # type: ignore[call-overload]
    subject = f"calsync: your {integration.get_provider_display()} sync {what}"
    body = (
        f"Hello,\n\nThe sync between your calsync calendar “{integration.calendar.name}” and "
        f"{integration.get_provider_display()} ({integration.remote_calendar_name or 'your calendar'}) {what}:\n\n"
        f"    {integration.last_error}\n\n"
        f"Open the integration to see the details and its logs:\n{_link(integration)}\n\n"
        "You will not get another email about this problem; we will write once it is resolved.\n"
    )
    _deliver(integration, subject, body, key)


def recovered(integration: Integration) -> None:
    if not integration.notified_problem:
        return
    subject = f"calsync: your {integration.get_provider_display()} sync works again"
    body = (
        f"Hello,\n\nThe sync between “{integration.calendar.name}” and {integration.get_provider_display()} "
        f"is working again.\n\n{_link(integration)}\n"
    )
    _deliver(integration, subject, body, "")


def _deliver(integration: Integration, subject: str, body: str, key: str) -> None:
    try:
        _send(integration, subject, body)
    except OSError:
        # The mail server is down: the problem is still on the integration page; try again next time.
        log.warning("could not send a sync notification", extra={"integration": integration.pk}, exc_info=True)
        return
    integration.notified_problem = key
    integration.save(update_fields=["notified_problem"])
