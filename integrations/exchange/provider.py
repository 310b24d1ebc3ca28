"""Builds the Exchange side of an integration from its stored settings and (encrypted) password."""

from __future__ import annotations

from integrations.addresses import check_public_address
from integrations.models import Integration
from sync.errors import PermanentError

from .adapter import ExchangeSide
from .client import account
from .services import server_for


def build_side(integration: Integration) -> ExchangeSide:
    server = server_for(integration)
    try:
        check_public_address(server.ews_url)  # again at each sync: the name may point elsewhere by now
    except ValueError as exc:
        raise PermanentError(str(exc)) from exc
    ews = account(server, integration.config["account"])
    return ExchangeSide(ews, integration.remote_calendar_id, integration.calendar.timezone)
