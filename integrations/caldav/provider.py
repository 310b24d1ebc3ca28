"""Builds the CalDAV side of an integration from its stored settings and secrets."""

from __future__ import annotations

from integrations.addresses import check_public_address
from integrations.models import Integration
from sync.errors import PermanentError

from .adapter import CalDAVSide
from .client import CalDAVClient


def client_for(integration: Integration) -> CalDAVClient:
    config = integration.config
    return CalDAVClient(url=config["url"], username=config["username"], password=integration.credentials["password"])


def build_side(integration: Integration) -> CalDAVSide:
    config = integration.config
    try:
        check_public_address(config["url"])  # again at each sync: the name may point elsewhere by now
    except ValueError as exc:
        raise PermanentError(str(exc)) from exc
    return CalDAVSide(
        client=client_for(integration),
        calendar_url=integration.remote_calendar_id,
        components=tuple(config.get("components", ("VEVENT", "VTODO"))),
        supports_sync=config.get("supports_sync", True),
    )
