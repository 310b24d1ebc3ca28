"""What an admin does from the health board: ask an owner to reconnect, synchronize now, resync from scratch.

Nobody connects on someone else's behalf: the admin can only ask the owner, who signs in to calsync and to the
provider as themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import Truncator

from accounts.models import User
from integrations.models import Integration
from sync.errors import QueueUnavailable
from sync.models import SyncRun
from sync.services import resync_request, sync_request_manual

from .health import RECONNECT_ASKED_AT, RECONNECT_ASKED_BY, RECONNECTABLE, BoardStatus, board_status, reconnect_asked_at

log = logging.getLogger(__name__)

ASK_AGAIN_AFTER = timedelta(hours=24)  # one reminder a day at most, however often the button is pressed


class ActionRefused(Exception):
    """A board action that was not taken, and why, in words for the admin."""


@dataclass(frozen=True)
class ReconnectAsk:
    sent: bool  # False: an ask within ASK_AGAIN_AFTER already went out, at asked_at
    asked_at: datetime


def reconnect_ask(*, integration: Integration, admin: User) -> ReconnectAsk:
    """Email the integration's owner the link to reconnect it, once a day at most.

    The email goes to the owner's own address, not the integration's error address: that can be a shared team or
    helpdesk mailbox, and only the owner can reconnect (they sign in at the provider as themselves)."""
    status = board_status(integration)
    if status not in RECONNECTABLE:
        raise ActionRefused(f"{_name(integration)} is “{status.label}”: there is nothing to reconnect.")
    now = timezone.now()
    claimed, earlier = _ask_claim(integration, admin, now)
    if not claimed:
        assert earlier is not None
        return ReconnectAsk(sent=False, asked_at=earlier)
    try:
        _send_ask(integration, admin, status)
    except OSError as exc:
        log.warning("could not send a reconnect request", extra={"integration": integration.pk}, exc_info=True)
        integration.config_merge({RECONNECT_ASKED_AT: earlier.isoformat() if earlier else None})
        raise ActionRefused("The email could not be sent: the mail server did not answer. Try again later.") from exc
    return ReconnectAsk(sent=True, asked_at=now)


def _ask_claim(integration: Integration, admin: User, now: datetime) -> tuple[bool, datetime | None]:
    """Record this ask under the row's lock, unless one was recorded within ASK_AGAIN_AFTER (two admins clicking
    at once send one email): whether it was recorded, and the ask before it."""
    with transaction.atomic():
        stored = Integration.objects.select_for_update().filter(pk=integration.pk).values_list("config", flat=True)
        earlier = reconnect_asked_at(stored.get())
        if earlier is not None and now - earlier < ASK_AGAIN_AFTER:
            return False, earlier
        integration.config_merge({RECONNECT_ASKED_AT: now.isoformat(), RECONNECT_ASKED_BY: admin.email})
    return True, earlier


def _send_ask(integration: Integration, admin: User, status: BoardStatus) -> None:
    owner = integration.user
    link = settings.SITE_URL + reverse("integrations:detail", args=[integration.pk])
    why = "needs reconnecting" if status == BoardStatus.NEEDS_RECONNECTING else "keeps failing"
    error = Truncator(integration.last_error or "No details were recorded.").chars(300)
    subject = f"calsync: please reconnect your {integration.get_provider_display()} calendar"
    body = (
        f"Hello {owner.first_name or owner.email},\n\n"
        f"{admin.get_full_name() or admin.email}, an admin of {integration.tenant.name}, asks you to reconnect "
        f"your calendar. The sync between your calsync calendar “{integration.calendar.name}” and "
        f"{_name(integration)} {why}:\n\n    {error}\n\n"
        "Only you can reconnect it. Open this link, sign in to calsync as yourself, and choose Reconnect (or "
        f"update the password):\n{link}\n"
    )
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [owner.email], fail_silently=False)


def _name(integration: Integration) -> str:
    remote = integration.remote_calendar_name or integration.remote_calendar_id
    return f"{integration.get_provider_display()} ({remote})" if remote else integration.get_provider_display()


def board_sync_now(*, integration: Integration) -> SyncRun:
    """ "Synchronize now" for someone's integration; the run already queued or running if there is one."""
    _require_syncable(integration)
    try:
        return sync_request_manual(integration=integration)
    except QueueUnavailable as exc:
        raise ActionRefused(str(exc)) from exc


def board_resync(*, integration: Integration) -> SyncRun:
    """ "Resync from scratch" (sync.services.resync_request): duplicates nothing, and deletions still meet the
    mass-delete guard and its confirmation by the owner."""
    _require_syncable(integration)
    try:
        return resync_request(integration=integration)
    except QueueUnavailable as exc:
        raise ActionRefused(str(exc)) from exc


def _require_syncable(integration: Integration) -> None:
    """An admin does not override the owner's choices: a paused sync stays paused, a first sync waits for the
    owner to confirm its preview."""
    if integration.awaiting_confirmation:
        raise ActionRefused(
            f"{_name(integration)} waits for {integration.user.email} to confirm what its first sync will do; "
            "nothing syncs until they do."
        )
    if not integration.sync_enabled:
        raise ActionRefused(f"{integration.user.email} paused {_name(integration)}; only they can resume it.")
