"""Builds the Exchange side of an integration from its stored settings and (encrypted) password."""

from __future__ import annotations

from integrations.models import Integration

from .adapter import ExchangeSide
from .client import UPDATE_CREDENTIALS, account
from .services import ASK_ADMIN, server_for


def build_side(integration: Integration) -> ExchangeSide:
    """Every EWS request goes through the outbound guard (integrations.addresses), at connect time."""
    server = server_for(integration)
    ews = account(server, integration.config["account"])
    # Through the organisation's sync account the user has no credentials to update: only an admin can help.
    refused = ASK_ADMIN if integration.config.get("auth") == "organisation" else UPDATE_CREDENTIALS
    return ExchangeSide(ews, integration.remote_calendar_id, integration.calendar.timezone, refused=refused)
