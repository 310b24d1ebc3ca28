"""Builds the Exchange side of an integration from its stored settings and (encrypted) password."""

from __future__ import annotations

from integrations.models import Integration

from .adapter import ExchangeSide
from .client import account
from .services import server_for


def build_side(integration: Integration) -> ExchangeSide:
    """Every EWS request goes through the outbound guard (integrations.addresses), at connect time."""
    server = server_for(integration)
    ews = account(server, integration.config["account"])
    return ExchangeSide(ews, integration.remote_calendar_id, integration.calendar.timezone)
