"""Builds the Exchange side of an integration from its stored settings and (encrypted) password."""

from __future__ import annotations

import logging

from integrations.models import Integration
from sync.errors import SyncError

from .adapter import ExchangeSide
from .client import UPDATE_CREDENTIALS, account
from .services import ASK_ADMIN, server_for

log = logging.getLogger(__name__)


def build_side(integration: Integration) -> ExchangeSide:
    """Every EWS request goes through the outbound guard (integrations.addresses), at connect time."""
    server = server_for(integration)
    ews = account(server, integration.config["account"])
    # Through the organisation's sync account the user has no credentials to update: only an admin can help.
    refused = ASK_ADMIN if integration.config.get("auth") == "organisation" else UPDATE_CREDENTIALS
    return ExchangeSide(ews, integration.remote_calendar_id, integration.calendar.timezone, refused=refused)


def before_disconnect(integration: Integration) -> None:
    """End the EWS subscription the listener held (else it lapses on its own after 30 minutes unheard)."""
    from .subscriptions import Target, unsubscribe

    if not integration.push_channel.startswith("ews-"):
        return
    try:
        unsubscribe(Target.of(integration), integration.push_channel)
    except SyncError as exc:
        log.info("ews unsubscribe failed", extra={"integration": integration.pk, "error": str(exc)})
