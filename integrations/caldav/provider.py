"""Builds the CalDAV side of an integration from its stored settings and secrets."""

from __future__ import annotations

from integrations.models import Integration

from .adapter import CalDAVSide
from .client import CalDAVClient
from .colors import color_push
from .push import push_drop, push_keep


def client_for(integration: Integration) -> CalDAVClient:
    config = integration.config
    return CalDAVClient(url=config["url"], username=config["username"], password=integration.credentials["password"])


def build_side(integration: Integration) -> CalDAVSide:
    """Every request of the sync goes through the outbound guard (integrations.addresses), at connect time."""
    config = integration.config
    return CalDAVSide(
        client=client_for(integration),
        calendar_url=integration.remote_calendar_id,
        components=tuple(config.get("components", ("VEVENT", "VTODO"))),
        supports_sync=config.get("supports_sync", True),
        own_addresses=own_addresses(integration) if integration.remote_cursor else (),
    )


def own_addresses(integration: Integration) -> tuple[str, ...]:
    """Whose meetings the server may schedule: the calsync user's address, and the login when it is one."""
    username = integration.config.get("username", "")
    return (integration.user.email, *([username] if "@" in username else []))


def after_sync(integration: Integration) -> None:
    """The calendar's colour, when it changed in calsync since the two sides last agreed; and WebDAV-Push, where
    the server offers it, registered or renewed (integrations/caldav/push.py)."""
    client = client_for(integration)
    color_push(integration=integration, client=client)
    push_keep(integration, client)


def before_disconnect(integration: Integration) -> None:
    """The server stops pushing to calsync for this calendar."""
    push_drop(integration, client_for(integration))
