"""Connecting a CalDAV calendar: discover, choose, store the app password encrypted."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from accounts.models import User
from events.models import Calendar
from integrations import services as integration_services
from integrations.addresses import server_address
from integrations.models import Integration
from integrations.providers import Provider

from .client import CalDAVClient, ConnectError, RemoteCalendar
from .colors import color_on_connect


def normalise_server_url(text: str) -> str:
    """People type 'caldav.icloud.com'; CalDAV wants a URL."""
    try:
        parts = server_address(text, allow_http=settings.CALDAV_ALLOW_HTTP, example="https://caldav.example.com/")
    except ValueError as exc:
        raise ConnectError(str(exc), "url") from None
    return parts.geturl() if parts.path else f"{parts.geturl()}/"


def caldav_discover(*, url: str, username: str, password: str) -> list[RemoteCalendar]:
    """The account's calendars, or ConnectError saying exactly what went wrong (an address inside calsync's
    network, or hrefs to another site, included: the outbound guard under the client refuses them)."""
    address = normalise_server_url(url)
    return CalDAVClient(url=address, username=username, password=password).calendars()


def calendar_config(*, url: str, username: str, calendar: RemoteCalendar) -> dict[str, Any]:
    return {
        "url": normalise_server_url(url),
        "username": username,
        "components": list(calendar.components),
        "supports_sync": calendar.supports_sync,
    }


def caldav_connect(
    *, user: User, url: str, username: str, password: str, remote: RemoteCalendar, calendar: Calendar, **settings: Any
) -> Integration:
    if not remote.accepts_events:
        raise ConnectError("This calendar holds no events (only tasks or notes); choose another.", "no_events")
    agreed = color_on_connect(calendar=calendar, direction=settings.get("direction", ""), remote_color=remote.color)
    return integration_services.integration_create(
        user=user,
        provider=Provider.CALDAV,
        calendar=calendar,
        remote_calendar_id=remote.url,
        remote_calendar_name=remote.name,
        config={**calendar_config(url=url, username=username, calendar=remote), "color": agreed},
        credentials={"password": password},
        remote_read_only=not remote.writable,
        **settings,
    )


def caldav_update_credentials(*, integration: Integration, username: str, password: str) -> Integration:
    """Replace the username and app password after checking they work, then sync again."""
    calendars = caldav_discover(url=integration.config["url"], username=username, password=password)
    if not any(c.url == integration.remote_calendar_id for c in calendars):
        raise ConnectError("These credentials work, but they cannot see the connected calendar.", "wrong_account")
    return integration_services.integration_credentials_replaced(
        integration=integration,
        credentials={"password": password},
        config={**integration.config, "username": username},
    )
