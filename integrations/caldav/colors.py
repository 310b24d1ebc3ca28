"""A CalDAV calendar's colour both ways (Apple's calendar-color, http://apple.com/ns/ical/, which Apple Calendar,
DAVx5, Thunderbird, Radicale and Xandikos all keep).

On connecting, the calsync calendar takes the remote calendar's colour, so it looks the same in both places
(unless the integration only copies calsync out: then calsync's colour wins). `config["color"]` is the colour
the two sides last agreed on; after a sync, a calsync colour that differs from it (the user changed it in
calsync or in an app on calsync's CalDAV server) is PROPPATCHed to the remote calendar.
"""

from __future__ import annotations

import logging

from events import services as event_services
from events.models import Calendar
from integrations.models import Integration

from .client import CalDAVClient

log = logging.getLogger(__name__)


def color_on_connect(*, calendar: Calendar, direction: str, remote_color: str) -> str:
    """Give the calsync calendar the remote calendar's colour (if it has one and may come in); returns the
    remote's colour, the integration's starting `config["color"]`."""
    color = event_services.hex_color(remote_color) if remote_color else None
    if color and direction != Integration.Direction.FROM_CALSYNC:
        event_services.calendar_update(calendar=calendar, name=calendar.name, color=color,
                                       description=calendar.description)  # fmt: skip
    return color or ""


def color_push(*, integration: Integration, client: CalDAVClient) -> None:
    """PROPPATCH the calsync calendar's colour when it changed since the sides last agreed. A server that refuses
    the property is not asked again for the same colour; a server that cannot be reached raises TransientError,
    and the sync is retried."""
    wanted = integration.calendar.color.lower()
    if "color" not in integration.config:
        # Connected before colours travelled: take today's colour as agreed rather than repaint the remote.
        return _agreed(integration, wanted)
    if integration.direction == Integration.Direction.TO_CALSYNC or integration.config["color"] == wanted:
        return None
    if not client.color_set(integration.remote_calendar_id, wanted):
        log.info("CalDAV server keeps no calendar colour", extra={"integration": integration.pk})
    return _agreed(integration, wanted)


def _agreed(integration: Integration, color: str) -> None:
    integration.config_merge({"color": color})
